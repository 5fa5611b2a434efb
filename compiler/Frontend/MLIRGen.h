//===- MLIRGen.h - emits the dl dialect for a checked model -----*- C++ -*-===//
#ifndef DLC_FRONTEND_MLIRGEN_H
#define DLC_FRONTEND_MLIRGEN_H

#include "compiler/Basic/Diagnostics.h"
#include "compiler/Frontend/ModelGraph.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace dlc {

/// The JSON signature of a model: inputs, outputs, parameters with their initialisers,
/// symbolic dims. Stored in the module as `dl.signature` and in model.so for the runtime.
std::string buildSignature(const ModelGraph &g, Diagnostics &diags);

/// Builds a module with `func.func @infer` in the dl dialect: model inputs and parameters
/// as arguments (tagged dl.input / dl.param), outputs as results (dl.output). With a train
/// block also @eval_step (loss, predicted classes, outputs) and the forward part of
/// @train_step, tagged `dl.train` for dl-autodiff. Every op carries the location of the
/// .dl call it came from. Reports layers without a lowering.
mlir::OwningOpRef<mlir::ModuleOp> emitModule(const ModelGraph &g, Diagnostics &diags);

} // namespace dlc
#endif
