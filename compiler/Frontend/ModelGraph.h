//===- ModelGraph.h - a checked, unrolled model -----------------*- C++ -*-===//
//
// What Sema makes of a .dl file: every `fn` call and `repeat` unrolled, every layer
// named by the parameter naming rule, every value typed. MLIRGen turns it into dl ops;
// `dlc --list-params` prints its parameters.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_FRONTEND_MODELGRAPH_H
#define DLC_FRONTEND_MODELGRAPH_H

#include "compiler/Layers/LayerRegistry.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dlc {

struct GraphValue {
  enum Kind { Input, Param, Constant, Result } kind;
  TensorType type;
  std::string name;     // inputs and parameters
  int node = -1;        // Result: the producing node
  double constant = 0;  // Constant: a scalar literal, already of `type`'s dtype
  bool weak = false;    // came from a literal: promotion treats it as a Python scalar
  SrcLoc loc;
};

struct GraphNode {
  const LayerDef *def;
  std::vector<int> operands; // value ids: inputs, then the layer's parameters
  std::map<std::string, AttrValue> attrs;
  std::vector<int64_t> axes;
  std::vector<TensorType> inputTypes;
  int result = -1;
  std::string layerName; // the naming rule's name, for layers with parameters
  SrcLoc loc;
  std::vector<TensorType> saved; // a plugin layer's saved results (LayerCall::saved)
  /// The fn calls the node was made in, outermost first: "block.3." for a layer of the
  /// fourth call of block, "enc.0.layer.1." inside a nested call; empty at model level.
  /// The compiler gives every call of one fn one body (dl-share-fn-bodies).
  std::string fnScope;
  std::vector<LayerCall::SizeNeed> needs = {}; // LayerCall::needs
};

struct GraphParam {
  std::string name; // full name: block.0.attention.in_proj_weight
  ParamSpec spec;
  int value = -1;
  SrcLoc loc;
};

struct GraphOutput {
  std::string name;
  int value;
  SrcLoc loc;
};

struct TrainSpec {
  int loss = -1;
  std::string optimizer;
  std::map<std::string, AttrValue> optimizerAttrs;
  std::optional<double> clipGradNorm;
  SrcLoc loc;
};

struct ModelGraph {
  std::string name;
  std::vector<GraphValue> values;
  std::vector<GraphNode> nodes;
  std::vector<int> inputs; // value ids in declaration order
  std::vector<GraphParam> params;
  std::vector<GraphOutput> outputs;
  std::vector<std::string> symbols; // symbolic dims in order of first appearance
  std::optional<TrainSpec> train;
  /// Inputs that only the train block reads (labels, targets).
  std::vector<bool> inputTrainOnly;
};

} // namespace dlc
#endif
