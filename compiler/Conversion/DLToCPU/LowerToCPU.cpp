//===- LowerToCPU.cpp - the dl-lower-to-cpu pass --------------------------===//
#include "compiler/Conversion/DLToCPU/Boundary.h"
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/IR/Dominance.h"
#include "mlir/Transforms/CSE.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLLOWERTOCPU
#include "compiler/Conversion/Passes.h.inc"

namespace {

struct LowerToCPUPass : public impl::DLLowerToCPUBase<LowerToCPUPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The lowering erases what it leaves dead as it goes; simplifying the regions after
    // every round as well walked the whole (for a deep model, huge) module again each
    // time, 0.26 s of TinyGpt-64's compile, and canonicalize follows anyway.
    GreedyRewriteConfig config;
    config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
    numberCallSites(module);
    if (failed(recordPluginCalls(module))) return signalPassFailure();

    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>()))
      if (!fn.isPrivate() && failed(lowerEntryBoundary(fn))) return signalPassFailure();

    // Fusion first, on the dl graph, before the producers turn into kernel calls.
    RewritePatternSet fusion(&getContext());
    populateFuseActivations(fusion);
    // A gradient's generic takes every operand of its op, used or not (see
    // buildElementwiseGradient): an unused one would count as a second reader of a
    // convolution's result and keep its activation out of the kernel.
    linalg::populateEraseUnusedOperandsAndResultsPatterns(fusion);
    if (failed(applyPatternsGreedily(module, std::move(fusion), config))) return signalPassFailure();

    if (kernels != "onednn" && kernels != "linalg") {
      module.emitError("dl-lower-to-cpu: kernels must be onednn or linalg, not '") << kernels << "'";
      return signalPassFailure();
    }
    // Layouts: oneDNN's convolutions and pooling run on NHWC, Winograd convolutions on
    // channel blocks; the portable linalg kernels keep PyTorch's NCHW.
    if (channelBlock != 8 && channelBlock != 16) {
      module.emitError("dl-lower-to-cpu: channel blocks of 8 or 16, not ") << channelBlock;
      return signalPassFailure();
    }
    if (kernels == "onednn") {
      RewritePatternSet layout(&getContext());
      populateChannelsLast(layout);
      if (failed(applyPatternsGreedily(module, std::move(layout), config))) return signalPassFailure();
      RewritePatternSet blocked(&getContext());
      populateBlockedChannels(blocked, channelBlock);
      if (failed(applyPatternsGreedily(module, std::move(blocked), config))) return signalPassFailure();
      // One transpose or blocking of a tensor that several convolutions read (and a skip
      // connection's add: then the one a batch norm before it can take as its residual).
      {
        IRRewriter rewriter(&getContext());
        DominanceInfo dominance(module);
        eliminateCommonSubExpressions(rewriter, dominance, module);
      }
      RewritePatternSet poolRelu(&getContext());
      populateFuseReluIntoRuntimeKernels(poolRelu);
      if (failed(applyPatternsGreedily(module, std::move(poolRelu), config))) return signalPassFailure();
      RewritePatternSet convPool(&getContext());
      populateFuseConvIntoMaxPool(convPool);
      if (failed(applyPatternsGreedily(module, std::move(convPool), config))) return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    if (kernels == "linalg") { // preferred: a higher benefit
      populateKernelsToLinalg(patterns);
      populateRecurrentToLinalg(patterns);
    } else {
      populateLayoutTransposeToOneDNN(patterns);
      populateNormalizationToOneDNN(patterns);
      populateSelfAttentionKernelCalls(patterns);
    }
    populateMatmulToOneDNN(patterns);
    populateConvolutionToOneDNN(patterns);
    populateRecurrentToOneDNN(patterns);
    populatePortableLowerings(patterns);
    if (failed(applyPatternsGreedily(module, std::move(patterns), config))) return signalPassFailure();

    if (failed(requireAllLowered(module, "CPU"))) signalPassFailure();
  }
};

} // namespace

void populatePortableLowerings(RewritePatternSet &patterns) {
  populateElementwiseToLinalg(patterns);
  populateSoftmaxToLinalg(patterns);
  populateReductionToLinalg(patterns);
  populateShapeToTensor(patterns);
  populateNormalizationToLinalg(patterns);
  populateSelfAttentionExpansion(patterns);
  populateIndexingToTensor(patterns);
  populateLossToLinalg(patterns);
  populateOptimizerToLinalg(patterns);
  populateDropoutToLinalg(patterns);
  populatePluginLowering(patterns);
}

} // namespace dlc
