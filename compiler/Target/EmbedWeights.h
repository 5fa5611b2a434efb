//===- EmbedWeights.h - baking trained weights into model.so ----*- C++ -*-===//
//
// dlc model.dl -o model.so --weights w.safetensors: the file is checked against the
// model's parameters (every one present, with its dtype and shape, as loading it at run
// time would require) and embedded whole; model.so exports dl_model_weights()
// (model_abi.h) and new sessions start from those weights.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_TARGET_EMBEDWEIGHTS_H
#define DLC_TARGET_EMBEDWEIGHTS_H

#include "compiler/Target/ObjectEmitter.h"

#include "llvm/IR/Module.h"

#include <cstdint>
#include <string>
#include <vector>

namespace dlc {

struct WeightSpec {
  std::string name;
  std::string dtype; // f32, i64, ...
  std::vector<int64_t> shape;
};

/// Reads `path` and checks it against `params`. On success `bytes` holds the file and
/// `warning` names tensors the model does not have (ignored, as at run time); on failure
/// `error` says what is wrong.
bool readWeightsFor(const std::string &path, const std::vector<WeightSpec> &params, std::vector<uint8_t> &bytes,
                    std::string &error, std::string &warning);

/// A part of model.so of its own (an object, or assembly or LLVM IR text as `kind`
/// says): the file as a constant and dl_model_weights() returning it. Apart from the
/// model's module because LLVM's bitcode, which the parts of that are read back from,
/// stores a byte array a record per byte: ResNet-18's 47 MB took 4.5 s through it.
mlir::LogicalResult emitWeightsPart(const std::vector<uint8_t> &bytes, const CodegenOptions &opts, CodeKind kind,
                                    std::string &out, std::string &error);

} // namespace dlc
#endif
