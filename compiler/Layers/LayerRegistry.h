//===- LayerRegistry.h - the one table of layer definitions -----*- C++ -*-===//
//
// Every call in a .dl model resolves here: built-in layers and plugin layers enter the
// same registry with their name, typed attributes and defaults, shape rule, parameters,
// lowering and (later) gradient. The front end never special-cases an op by name.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_LAYERS_LAYERREGISTRY_H
#define DLC_LAYERS_LAYERREGISTRY_H

#include "compiler/Basic/SourceLocation.h"
#include "compiler/Layers/TensorType.h"
#include "dialects/DL/PluginLayer.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dlc {

class Diagnostics;

/// A compile-time attribute value as written in the source.
struct AttrValue {
  enum Kind { None, Int, Float, Bool, String, Tuple, Dtype } kind = None;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  DType dtype = DType::F32;
  std::vector<AttrValue> elems;

  static AttrValue ofInt(int64_t v) { AttrValue a; a.kind = Int; a.i = v; return a; }
  static AttrValue ofFloat(double v) { AttrValue a; a.kind = Float; a.f = v; return a; }
  static AttrValue ofBool(bool v) { AttrValue a; a.kind = Bool; a.b = v; return a; }
  static AttrValue ofString(std::string v) { AttrValue a; a.kind = String; a.s = std::move(v); return a; }
  static AttrValue none() { return AttrValue(); }
  std::string str() const;
};

/// What an attribute accepts; the front end checks and normalises values against it.
enum class AttrType {
  Int,        // an integer
  Float,      // a number (ints widen)
  Bool,
  String,     // one of `choices`
  IntOrPair,  // 3 or (3, 3): normalised to a 2-tuple
  IntOrTuple, // 3 or (3,) or (1, 2): normalised to a tuple
  OptAxes,    // like IntOrTuple, or absent (None) for every dim
  IntTuple,   // a tuple of ints (shapes, permutations)
  PadOrSame,  // like IntOrPair, or the string "same"
  Dtype,      // a bare dtype name: f32, i64, ...
};

struct AttrSpec {
  std::string name;
  AttrType type;
  std::optional<AttrValue> dflt; // nullopt: required
  std::vector<std::string> aliases = {};
  std::vector<std::string> choices = {}; // for String
};

/// How a parameter is initialised (PyTorch's default for the layer, from the session's
/// seeded generator).
struct ParamInit {
  enum Kind { Uniform, Normal, Zeros, Ones } kind = Zeros;
  double a = 0, b = 0; // Uniform: [a, b); Normal: mean a, std b
  std::string str() const;
};

struct ParamSpec {
  std::string name; // relative to the layer: "weight", "out_proj.bias"
  TensorType type;
  ParamInit init;
  bool buffer = false; // running statistics: saved, not trained
};

struct LayerDef;

/// The integers of an int or tuple attribute.
std::vector<int64_t> attrInts(const AttrValue &v);
/// An attribute value as an MLIR attribute: i64, f64, bool, string, i64 array (tuples),
/// the dtype's name, unit for an absent optional one.
mlir::Attribute toMLIR(const AttrValue &v, mlir::Builder &b);

/// One call of a layer as the shape rule sees it.
struct LayerCall {
  const LayerDef &def;
  std::vector<TensorType> inputs;
  std::map<std::string, AttrValue> attrs; // every attribute, defaults filled in
  std::vector<bool> weakInputs;           // inputs that came from literals
  SrcLoc loc;
  Diagnostics &diags;

  // Filled by the shape rule.
  TensorType result;
  std::vector<ParamSpec> params;
  std::vector<int64_t> axes; // axes resolved to [0, rank), passed on to the lowering
  /// Plugin layers: what the forward saves for the gradient (its extra results). A
  /// dynamic dim must equal one of the inputs' dims.
  std::vector<TensorType> saved;
  /// What the call needs of its symbolic sizes at run time, beyond its result's dims being
  /// 0 or more (which every call needs): a window's output at least 1, a reshape's input
  /// a whole number of its rows, as where the sizes are known the shape rule says so at
  /// compile time. They go into the signature ("requires"), and a call of the model that
  /// breaks one fails before it runs.
  struct SizeNeed {
    SymExpr size;
    int64_t atLeast = 0, multipleOf = 1;
    std::string why;
  };
  std::vector<SizeNeed> needs;

  int64_t getInt(const std::string &n) const { return attrs.at(n).i; }
  double getFloat(const std::string &n) const { return attrs.at(n).f; }
  bool getBool(const std::string &n) const { return attrs.at(n).b; }
  const std::string &getString(const std::string &n) const { return attrs.at(n).s; }
  std::vector<int64_t> getInts(const std::string &n) const;
  bool has(const std::string &n) const { return attrs.at(n).kind != AttrValue::None; }
  /// Reports an error at the call and returns false, for `return call.error(...)`.
  bool error(const std::string &msg) const;
  /// An axis normalised to [0, rank), or an error.
  std::optional<int64_t> axis(int64_t a, size_t rank, const char *what = "axis") const;
};

/// One call as the MLIR generator sees it.
struct GenCall {
  mlir::OpBuilder &b;
  mlir::Location loc;
  std::vector<mlir::Value> operands; // inputs, then the parameters in ParamSpec order
  const std::map<std::string, AttrValue> &attrs;
  mlir::RankedTensorType resultType;
  const std::vector<int64_t> &normalisedAxes; // set by shape rules that resolve axes
  const std::vector<TensorType> &inputTypes;  // the symbolic shapes Sema computed
  const TensorType &resultSym;
  /// Set while building the train step: layers whose behaviour differs in training
  /// (dropout) read the step's seed and step number (0-d i64 tensors) and number their
  /// random streams from `nextStream`.
  bool training = false;
  mlir::Value seed = {}, step = {};
  int64_t *nextStream = nullptr;
  /// Set while building the train step: layers with buffers that training changes
  /// (batch_norm's running statistics) add (the buffer operand, its new value) here.
  std::vector<std::pair<mlir::Value, mlir::Value>> *bufferUpdates = nullptr;
  /// What the shape rule said the layer saves (LayerCall::saved).
  const std::vector<TensorType> *saved = nullptr;
};

struct LayerDef {
  std::string name;
  unsigned numInputs = 1;      // tensor operands, given positionally first
  bool tupleInput = false;     // the first operand is a tuple of tensors (concat)
  std::vector<AttrSpec> attrs; // positional after the tensors, in this order
  bool withParams = false;
  bool isLoss = false;
  bool trainOnlyBehaviour = false; // dropout: differs between training and inference
  std::string origin = "built-in"; // or "plugin 'name'" for a plugin's layer
  /// Elementwise arithmetic: operands are cast to the promoted result dtype first.
  bool promotesOperands = false;

  /// The shape and dtype rule; false after reporting an error.
  std::function<bool(LayerCall &)> infer;
  /// Emits dl ops; empty where this layer has no lowering yet. A plugin's layer leaves
  /// it empty: the registrar makes it emit dl.plugin.
  std::function<mlir::Value(GenCall &)> build;
  /// Plugin layers: how the layer runs and differentiates (dialects/DL/PluginLayer.h).
  mlir::dl::PluginLayer plugin;
};

/// One optimizer step for one parameter, as the autodiff pass asks for it.
struct OptimizerUpdate {
  mlir::OpBuilder &b;
  mlir::Location loc;
  mlir::DictionaryAttr hyper; // the optimizer's attributes (f64 / bool), defaults filled in
  mlir::Value param, grad;
  llvm::ArrayRef<mlir::Value> slots; // in the order of OptimizerDef::slots
  mlir::Value lr;                    // 0-d f64: settable between steps
  mlir::Value step;                  // 0-d i64: this step's number, from 1
};

struct OptimizerDef {
  std::string name;
  std::vector<AttrSpec> attrs;
  /// The state kept per trainable parameter, PyTorch's names ("exp_avg"), given the
  /// optimizer's attributes.
  std::function<std::vector<std::string>(const std::map<std::string, AttrValue> &)> slots;
  /// Emits the update: returns the new parameter, then the new value of each slot.
  std::function<llvm::SmallVector<mlir::Value>(const OptimizerUpdate &)> update;
};

class LayerRegistry {
public:
  /// The registry with every built-in layer.
  static LayerRegistry &instance();

  /// Adds or replaces a built-in layer.
  void add(LayerDef def);
  /// Adds a plugin's layer; false, with `error` set, when the name is taken.
  bool addPluginLayer(LayerDef def, std::string &error);
  void addOptimizer(OptimizerDef def);
  const LayerDef *lookup(const std::string &name) const;
  const OptimizerDef *lookupOptimizer(const std::string &name) const;
  std::vector<std::string> names() const;
  std::vector<std::string> optimizerNames() const;

private:
  std::map<std::string, std::unique_ptr<LayerDef>> layers;
  std::map<std::string, OptimizerDef> optimizers;
};

// Registration of the built-in families, one file each.
void registerElementwiseLayers(LayerRegistry &r);
void registerLinearLayers(LayerRegistry &r);
void registerEmbeddingLayers(LayerRegistry &r);
void registerConvolutionLayers(LayerRegistry &r);
void registerPoolingLayers(LayerRegistry &r);
void registerNormalizationLayers(LayerRegistry &r);
void registerRecurrentLayers(LayerRegistry &r);
void registerAttentionLayers(LayerRegistry &r);
void registerShapeLayers(LayerRegistry &r);
void registerReductionLayers(LayerRegistry &r);
void registerLossLayers(LayerRegistry &r);
void registerOptimizers(LayerRegistry &r);

// Helpers shared by the shape rules.
mlir::RankedTensorType toMLIR(const TensorType &t, mlir::MLIRContext *ctx);
/// Broadcast two shapes as NumPy does; nullopt if they do not broadcast.
std::optional<std::vector<SymExpr>> broadcast(const std::vector<SymExpr> &a,
                                              const std::vector<SymExpr> &b);
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's kaiming_uniform_(a=sqrt(5)) for weights
/// and the matching bias bound of Linear, Conv and friends.
ParamInit fanInUniform(int64_t fanIn);
/// A dl.reshape from `in` (shape `from`) to `to`, recording for each dynamic result dim
/// which input dims it is the product of, or that it is the quotient of the total.
mlir::Value emitReshape(mlir::OpBuilder &b, mlir::Location loc, mlir::Value in,
                        const std::vector<SymExpr> &from, const TensorType &to);

} // namespace dlc
#endif
