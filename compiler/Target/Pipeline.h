//===- Pipeline.h - from the dl dialect to the LLVM dialect -----*- C++ -*-===//
#ifndef DLC_TARGET_PIPELINE_H
#define DLC_TARGET_PIPELINE_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"

namespace dlc {

/// Registers every dialect dlc's pipelines touch, with the external models that
/// bufferization and LLVM translation need.
void registerDialects(mlir::DialectRegistry &registry);

/// Registers dlc's passes and the upstream ones its pipeline uses, for dlc-opt.
void registerPasses();

/// The passes that complete the train step on the dl graph, before lowering: the
/// target's preparation (dl-unroll-recurrent, keeping the recurrences whose gradient the
/// oneDNN path runs fused), then dl-autodiff.
void addTrainStepPasses(mlir::PassManager &pm, const std::string &kernels, bool allowInferenceOnly);

/// The CPU pipeline as a textual pass pipeline (also printed by `dlc --print-pipeline`).
/// `kernels`: "onednn" or "linalg" (see the dl-lower-to-cpu pass). `shareFnBodies`: every
/// call of a `fn` calls one function (dl-share-fn-bodies); off, each call is compiled anew.
/// `parallelLoops`: generated loop nests run their rows over the session's threads
/// (dl-outline-kernels' parallel-rows).
std::string cpuPipeline(const std::string &kernels = "onednn", bool shareFnBodies = true, bool parallelLoops = true);

/// The GPU architectures a `--target cuda` model carries PTX for, oldest first.
inline constexpr const char *kCudaArchs[] = {"sm_80", "sm_90"};

/// The CUDA pipeline: dl -> linalg -> buffers -> kernels (gpu -> NVVM -> PTX, embedded)
/// and host code that launches them through the runtime.
std::string cudaPipeline();

/// Runs the pipeline of `target` ("cpu" or "cuda") on a dl-dialect module, leaving an
/// LLVM-dialect module.
mlir::LogicalResult lowerToLLVMDialect(mlir::ModuleOp module, const std::string &target, const std::string &kernels,
                                       llvm::function_ref<void(mlir::PassManager &)> configure,
                                       bool shareFnBodies = true, bool parallelLoops = true);

} // namespace dlc
#endif
