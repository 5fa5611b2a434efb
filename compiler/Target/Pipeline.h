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

/// What the CPU pipeline is asked for.
struct CpuPipelineOptions {
  /// "onednn" or "linalg" (see the dl-lower-to-cpu pass).
  std::string kernels = "onednn";
  /// Every call of a `fn` calls one function (dl-share-fn-bodies); off, each call is
  /// compiled anew.
  bool shareFnBodies = true;
  /// Generated loop nests run their rows over the session's threads (dl-outline-kernels'
  /// parallel-rows).
  bool parallelLoops = true;
  /// Channels per block of the convolutions' blocked layout: 16 for a target CPU with
  /// AVX-512, 8 for one without (dl-lower-to-cpu's channel-block).
  int64_t channelBlock = 16;
};

/// The CPU pipeline as a textual pass pipeline (also printed by `dlc --print-pipeline`).
std::string cpuPipeline(const CpuPipelineOptions &opts = {});

/// The GPU architectures a `--target cuda` model carries PTX for, oldest first.
inline constexpr const char *kCudaArchs[] = {"sm_80", "sm_90"};

/// The CUDA pipeline: dl -> linalg -> buffers -> kernels (gpu -> NVVM -> PTX, embedded)
/// and host code that launches them through the runtime.
std::string cudaPipeline();

/// Runs the pipeline of `target` ("cpu" or "cuda") on a dl-dialect module, leaving an
/// LLVM-dialect module.
mlir::LogicalResult lowerToLLVMDialect(mlir::ModuleOp module, const std::string &target, const CpuPipelineOptions &cpu,
                                       llvm::function_ref<void(mlir::PassManager &)> configure);

} // namespace dlc
#endif
