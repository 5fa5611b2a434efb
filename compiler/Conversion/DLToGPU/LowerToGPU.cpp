//===- LowerToGPU.cpp - the dl-lower-to-gpu pass --------------------------===//
//
// The GPU target starts from the portable lowerings every op keeps (DESIGN.md): dl ops
// become linalg and tensor ops, which dl-map-to-gpu later turns into kernels. dense,
// matmul and convolutions call the runtime (the same kernel names as on the CPU: a cuda
// session runs them on cuBLAS and cuDNN); the checks stay runtime calls too (shapes, or a
// few words copied back). oneDNN's kernels, the layout passes that serve them and the
// fusion of activations into them are CPU matters and do not run here.
//
// A plugin layer with only a C++ kernel cannot run on the GPU: that is an error naming
// the layer, not a silent fallback to the host.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Boundary.h"
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/DLToGPU/Patterns.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLLOWERTOGPU
#include "compiler/Conversion/Passes.h.inc"

namespace {

struct LowerToGPUPass : public impl::DLLowerToGPUBase<LowerToGPUPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    bool cpuOnly = false;
    module.walk([&](dl::PluginOp op) {
      if (!pluginRunsKernel(op)) return;
      op.emitError(op.describe() + ": the plugin runs it with a CPU kernel only; --target cuda needs a plugin "
                                   "layer that lowers to linalg" +
                   (op.getBackward() ? " (its gradient is a CPU kernel)" : ""));
      cpuOnly = true;
    });
    if (cpuOnly) return signalPassFailure();

    numberCallSites(module);
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>()))
      if (!fn.isPrivate() && failed(lowerEntryBoundary(fn))) return signalPassFailure();

    RewritePatternSet patterns(&getContext());
    // dense and matmul call the runtime, which runs them on cuBLAS, and convolutions
    // (symmetrically padded) on cuDNN; the rest (pooling, transposed and asymmetrically
    // padded convolutions) are generated kernels.
    populateMatmulToOneDNN(patterns, /*benefit=*/3);
    populateConvolutionKernelCalls(patterns, /*benefit=*/3);
    populateKernelsToLinalg(patterns);
    populateRecurrentToLinalg(patterns);
    populateIndexingToGPU(patterns);
    populatePortableLowerings(patterns);
    if (failed(applyPatternsGreedily(module, std::move(patterns)))) return signalPassFailure();

    if (failed(requireAllLowered(module, "GPU"))) signalPassFailure();
  }
};

} // namespace
} // namespace dlc
