//===- Signature.h - a model's signature, read from its JSON ----*- C++ -*-===//
#ifndef DLRT_SRC_SIGNATURE_H
#define DLRT_SRC_SIGNATURE_H

#include "dlrt/dlrt.h"
#include "io/Tensor.h" // parseDtype

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dlrt {

struct ValueSpec {
  std::string name;
  dlrt_dtype dtype = DLRT_F32;
  std::vector<std::string> dims; // decimal or an expression of symbols
  std::vector<const char *> dimPtrs;
  bool trainOnly = false;
  bool buffer = false;
  std::string initKind; // parameters: uniform, normal, zeros, ones
  double initA = 0, initB = 0;
};

/// The `train` block as compiled: the optimizer, its slots per trainable parameter, and
/// whether the steps return predicted classes (a classification loss).
struct TrainSignature {
  bool present = false;
  std::string optimizer;
  double lr = 0;
  std::vector<std::string> slots;
  bool predictions = false;
  std::vector<std::string> predictionDims; // the labels' shape
  std::string labels;                      // the input the loss reads its labels from, if one
  std::string unavailable;                 // why model.so has no train step, if it has none
};

/// A plugin whose run-time part the model needs (its kernels), and one call of a kernel.
struct PluginNeed {
  std::string name, file;
  uint32_t major = 0, minor = 0, abi = 0;
};
struct PluginCallSpec {
  int64_t site = -1;
  std::string plugin, kernel;
  bool backward = false;
  struct Attr {
    std::string name, kind, s; // kind: int, float, bool, string, ints, none
    int64_t i = 0;
    double f = 0;
    std::vector<int64_t> ints;
  };
  std::vector<Attr> attrs;
  std::vector<std::pair<dlrt_dtype, int32_t>> inputs, outputs; // dtype and rank of each view
};

/// A size a call of the model needs of its symbols' values (the compiler's "requires"):
/// `size`, an expression of them, at least `atLeast` and a multiple of `multipleOf`; else
/// the call fails, naming the layer (`where`) and `why`.
struct SizeNeed {
  std::string size;
  int64_t atLeast = 0, multipleOf = 1;
  std::string where, why;
};

struct Signature {
  std::string json;
  std::string model;
  std::vector<std::string> symbols;
  std::vector<SizeNeed> needs;
  std::vector<ValueSpec> inputs, outputs, params;
  std::vector<std::string> sites; // source location of each kernel call site
  std::vector<std::string> profileUnits; // what each profile mark's unit is (dl-profile-marks)
  std::string target = "cpu";     // "cpu" or "cuda" (dlc --target)
  std::string precision = "fp32"; // "fp32" or "bf16" (dlc --precision)
  /// The symbol along which inference may run on slices of the batch, one per thread
  /// (dl-mark-batch-split proved row i of every output depends on row i of the inputs
  /// whose dim 0 it is, alone); empty where it may not.
  std::string batchSplit;
  std::vector<std::string> gpuArchs, gpuKernels; // cuda: PTX images, kernel table
  std::vector<int64_t> gpuWords;                  // cuda: each kernel's parameter count
  std::vector<PluginNeed> plugins;
  std::vector<PluginCallSpec> pluginCalls;
  TrainSignature train;
};

bool parseSignature(const std::string &json, Signature &out, std::string &error);

/// Evaluates a dim expression ("64", "B", "((B*T)/2)") with the given symbol values;
/// `read`, where given, receives the symbols it read, each once.
std::optional<int64_t> evalDim(const std::string &expr, const std::map<std::string, int64_t> &symbols,
                               std::vector<std::string> *read = nullptr);


} // namespace dlrt
#endif
