//===- FuseActivations.cpp - batch_norm and activations into the producer ===//
//
// act(dense(...)) and act(conv2d(...)), for the activations oneDNN applies as post-ops
// (KernelActivationOpInterface: relu, sigmoid, tanh, silu, gelu), become one kernel call:
// the activation is applied while the result is still in cache, and one pass over memory
// disappears. An inference batch_norm after a conv2d folds into it: the
// runtime scales the weights and bias by gamma / sqrt(var + eps) whenever the parameters
// change, so loaded and set weights stay right.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"

using namespace mlir;

namespace dlc {
namespace {

struct FuseActivation : public OpInterfaceRewritePattern<dl::KernelActivationOpInterface> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;
  LogicalResult matchAndRewrite(dl::KernelActivationOpInterface act, PatternRewriter &rw) const override {
    Operation *producer = act->getOperand(0).getDefiningOp();
    if (!producer || !producer->hasOneUse() || producer->getResult(0).getType() != act->getResult(0).getType())
      return failure();
    auto fuse = [&](auto op) -> LogicalResult {
      if (op.getActivation() != 0) return failure();
      rw.modifyOpInPlace(op, [&] { op.setActivation(act.getKernelActivation()); });
      rw.replaceOp(act, op.getResult());
      return success();
    };
    if (auto dense = dyn_cast<dl::DenseOp>(producer)) return fuse(dense);
    if (auto conv = dyn_cast<dl::Conv2DOp>(producer)) return fuse(conv);
    return failure();
  }
};

struct FoldBatchNorm : public OpRewritePattern<dl::BatchNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::BatchNormOp bn, PatternRewriter &rw) const override {
    auto conv = bn.getInput().getDefiningOp<dl::Conv2DOp>();
    if (!conv || !conv.getBn().empty() || conv.getResidual() || conv.getActivation() != 0 ||
        !conv->hasOneUse())
      return failure();
    rw.modifyOpInPlace(conv, [&] {
      conv.getBnMutable().assign(ValueRange{bn.getWeight(), bn.getBias(), bn.getRunningMean(), bn.getRunningVar()});
      conv.setBnEpsAttr(bn.getEpsAttr());
    });
    rw.replaceOp(bn, conv.getResult());
    return success();
  }
};

/// add(conv2d(...), skip) -> conv2d with `residual`: oneDNN's sum post-op adds the skip
/// connection while the convolution's output is in cache.
struct FuseResidual : public OpRewritePattern<dl::AddOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::AddOp add, PatternRewriter &rw) const override {
    for (auto [mine, other] : {std::pair{add.getLhs(), add.getRhs()}, std::pair{add.getRhs(), add.getLhs()}}) {
      auto conv = mine.getDefiningOp<dl::Conv2DOp>();
      if (!conv || conv.getResidual() || conv.getActivation() != 0 || !conv->hasOneUse()) continue;
      if (other.getType() != add.getType() || conv.getType() != add.getType() || other == mine) continue;
      // The skip value may be computed after the convolution (ResNet's downsample branch):
      // the convolution moves down to the add, where all its operands are available.
      rw.moveOpBefore(conv, add);
      rw.modifyOpInPlace(conv, [&] { conv.getResidualMutable().assign(other); });
      rw.replaceOp(add, conv.getResult());
      return success();
    }
    return failure();
  }
};

} // namespace

void populateFuseActivations(RewritePatternSet &patterns) {
  patterns.add<FuseActivation, FoldBatchNorm, FuseResidual>(patterns.getContext());
}

} // namespace dlc
