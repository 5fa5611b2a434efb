//===- FuseElementwise.cpp - elementwise fusion that keeps fn calls apart -===//
//
// MLIR's elementwise fusion (linalg-fuse-elementwise-ops), with one more condition when fn
// bodies are shared: a producer and a consumer made by different calls of a `fn` (or one
// inside a call and one outside) stay apart. Fused across the boundary, the first call of
// a block took in the embedding sum before it and the last one lost its residual add to
// the layer_norm after it, so their ops differed from the calls in between and
// dl-share-fn-bodies compiled them separately: a 2-layer TinyGpt shared nothing. The cost
// is one pass over memory per call boundary that fusion would have saved.
//
//===----------------------------------------------------------------------===//
#include "compiler/Basic/Diagnostics.h"
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLFUSEELEMENTWISE
#include "compiler/Conversion/Passes.h.inc"

namespace {

struct FuseElementwisePass : impl::DLFuseElementwiseBase<FuseElementwisePass> {
  using DLFuseElementwiseBase::DLFuseElementwiseBase;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    bool keepCallsApart = withinFnCalls;
    // Upstream's condition (the producer has no other use), and the same fn call.
    linalg::ControlFusionFn control = [keepCallsApart](OpOperand *fused) {
      Operation *producer = fused->get().getDefiningOp();
      if (!producer || !producer->hasOneUse()) return false;
      return !keepCallsApart || fnScopeOf(producer->getLoc()) == fnScopeOf(fused->getOwner()->getLoc());
    };
    // The pattern set of linalg-fuse-elementwise-ops.
    RewritePatternSet patterns(ctx);
    linalg::populateElementwiseOpsFusionPatterns(patterns, control);
    linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, control);
    tensor::populateBubbleUpExpandShapePatterns(patterns);
    affine::AffineApplyOp::getCanonicalizationPatterns(patterns, ctx);
    linalg::GenericOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, ctx);
    tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, ctx);
    ctx->getLoadedDialect<linalg::LinalgDialect>()->getCanonicalizationPatterns(patterns);
    linalg::populateConstantFoldLinalgOperations(patterns, control);
    // Top-down, as upstream, for compile time.
    (void)applyPatternsGreedily(getOperation(), std::move(patterns), GreedyRewriteConfig().setUseTopDownTraversal());
  }
};

} // namespace
} // namespace dlc
