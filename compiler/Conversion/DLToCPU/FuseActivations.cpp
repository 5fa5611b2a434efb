//===- FuseActivations.cpp - batch_norm and activations into the producer ===//
//
// act(dense(...)) and act(conv2d(...)), for the activations oneDNN applies as post-ops
// (KernelActivationOpInterface: sigmoid, tanh, silu, gelu), become one kernel call: the
// activation is applied while the result is still in cache, and one pass over memory
// disappears. relu stays a loop of its own: oneDNN's relu post-op is max(x, 0) by
// vmaxps, which turns NaN into 0, where torch.relu (and dlc's relu loop) keeps it. A NaN
// must reach the loss (dlrun train stops there, naming the step) and the outputs; fused,
// a NaN input trained the weights into NaN one step later, with a finite loss reported.
// Unfused, the CNN's inference costs 5-9% more (b1 0.030 -> 0.032 ms, b64 1.31 -> 1.42
// ms, AMD EPYC, 1 thread); ResNet-18 and the MLP do not move. An inference batch_norm after a conv2d folds into it: the
// runtime scales the weights and bias by gamma / sqrt(var + eps) whenever the parameters
// change, so loaded and set weights stay right.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/Activation.h"
#include "dialects/DL/DLOps.h"

using namespace mlir;

namespace dlc {
namespace {

/// `into` now also computes `absorbed`: its location names both (a profile shows
/// "dense at model.dl:6:8 + gelu at model.dl:6:25").
void absorbLocation(Operation *into, Operation *absorbed) {
  into->setLoc(FusedLoc::get(into->getContext(), {into->getLoc(), absorbed->getLoc()}));
}

struct FuseActivation : public OpInterfaceRewritePattern<dl::KernelActivationOpInterface> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;
  LogicalResult matchAndRewrite(dl::KernelActivationOpInterface act, PatternRewriter &rw) const override {
    if (isa<dl::ReluOp>(act.getOperation())) return failure(); // NaN (see the file comment)
    Operation *producer = act->getOperand(0).getDefiningOp();
    if (!producer || !producer->hasOneUse() || producer->getResult(0).getType() != act->getResult(0).getType())
      return failure();
    auto fuse = [&](auto op) -> LogicalResult {
      if (op.getActivation() != 0) return failure();
      rw.modifyOpInPlace(op, [&] {
        op.setActivation(act.getKernelActivation());
        absorbLocation(op, act);
      });
      rw.replaceOp(act, op.getResult());
      return success();
    };
    if (auto dense = dyn_cast<dl::DenseOp>(producer)) return fuse(dense);
    if (auto conv = dyn_cast<dl::Conv2DOp>(producer)) return fuse(conv);
    return failure();
  }
};

/// relu(max_pool2d(x)) -> max_pool2d(x) with activation relu, where nothing else reads the
/// pooled tensor and the pooling is in inference form (no gradient reads its input): the
/// runtime applies relu, keeping NaN, as it stores each maximum, and the relu's own pass
/// over memory disappears (the CNN sample at b64, one Zen 5 core: the first relu's 0.008-0.009
/// ms of a 0.82 ms call; the pooling takes 0.002 ms more). After the layout passes, which
/// move unblocks and transposes below relu onto the pooling.
struct FuseReluIntoMaxPool : public OpRewritePattern<dl::ReluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ReluOp relu, PatternRewriter &rw) const override {
    auto pool = relu.getInput().getDefiningOp<dl::Pool2DOp>();
    if (!pool || !pool.getIsMax() || pool.getActivation() != 0 || !pool->hasOneUse() ||
        pool.getType() != relu.getType() || !pool.getType().getElementType().isF32() ||
        llvm::any_of(pool.getInput().getUsers(), [](Operation *u) { return isa<dl::Pool2DBackwardOp>(u); }))
      return failure();
    rw.modifyOpInPlace(pool, [&] {
      pool.setActivation(dl::ActivationRelu);
      absorbLocation(pool, relu);
    });
    rw.replaceOp(relu, pool.getResult());
    return success();
  }
};

/// relu(batch_norm_train(x)) -> batch_norm_train(x) with activation relu, where nothing else
/// reads the normalised tensor: the runtime's batch norm applies relu, keeping NaN, as it
/// stores each value, and the relu's own pass over memory disappears. After the gradient
/// is built, which reads relu's result (threshold_backward's), never the tensor before it;
/// batch_norm's own gradient reads its input. ResNet-18's train step at batch 16, one
/// Sapphire Rapids core: the eight relus after a batch norm took 6.6 ms.
struct FuseReluIntoBatchNormTrain : public OpRewritePattern<dl::ReluOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ReluOp relu, PatternRewriter &rw) const override {
    auto bn = relu.getInput().getDefiningOp<dl::BatchNormTrainOp>();
    if (!bn || bn.getActivation() != 0 || !bn.getResult().hasOneUse() || bn.getResult().getType() != relu.getType() ||
        !bn.getResult().getType().getElementType().isF32())
      return failure();
    rw.modifyOpInPlace(bn, [&] {
      bn.setActivation(dl::ActivationRelu);
      absorbLocation(bn, relu);
    });
    rw.replaceOp(relu, bn.getResult());
    return success();
  }
};

/// relu(add(batch_norm_train(x), skip)) -> batch_norm_train(x) with residual skip and
/// activation relu, where nothing else reads the normalised tensor or the sum: the
/// runtime's batch norm adds the skip tensor and applies relu as it stores each value,
/// and the add-and-relu pass over memory (reading two tensors, writing one) disappears.
/// The batch norm stays where it is, so the skip tensor must be computed before it (of
/// ResNet's bn(conv2) + bn(downsample), the second takes the first as its residual; the
/// statistics' readers after a batch norm keep it from moving down). ResNet-18's train
/// step at batch 16, one Sapphire Rapids core: the eight relu(h + x) took 7.8 ms.
struct FuseResidualReluIntoBatchNormTrain : public OpRewritePattern<dl::ReluOp> {
  using OpRewritePattern::OpRewritePattern;

  /// Whether v is available where op is: an argument of op's block or of a block around
  /// it, or the result of an op before it in its block.
  static bool availableAt(Value v, Operation *op) {
    if (auto arg = dyn_cast<BlockArgument>(v))
      return arg.getOwner() == op->getBlock() || arg.getOwner()->getParentOp()->isProperAncestor(op);
    Operation *def = v.getDefiningOp();
    return def->getBlock() == op->getBlock() && def->isBeforeInBlock(op);
  }
  /// The batch norm that can take `other` as its residual, if `mine` is one.
  static dl::BatchNormTrainOp candidate(Value mine, Value other, dl::AddOp add) {
    auto bn = mine.getDefiningOp<dl::BatchNormTrainOp>();
    if (!bn || bn.getResidual() || bn.getActivation() != 0 || !bn.getResult().hasOneUse() || other == mine ||
        bn.getResult().getType() != add.getType() || other.getType() != add.getType() ||
        !add.getType().getElementType().isF32() || !availableAt(other, bn))
      return {};
    return bn;
  }

  LogicalResult matchAndRewrite(dl::ReluOp relu, PatternRewriter &rw) const override {
    auto add = relu.getInput().getDefiningOp<dl::AddOp>();
    if (!add || !add->hasOneUse() || add.getType() != relu.getType()) return failure();
    dl::BatchNormTrainOp bn = candidate(add.getLhs(), add.getRhs(), add);
    Value other = add.getRhs();
    if (!bn) {
      bn = candidate(add.getRhs(), add.getLhs(), add);
      other = add.getLhs();
    }
    if (!bn) return failure();
    rw.modifyOpInPlace(bn, [&] {
      bn.getResidualMutable().assign(other);
      bn.setActivation(dl::ActivationRelu);
      absorbLocation(bn, add);
      absorbLocation(bn, relu);
    });
    rw.replaceOp(relu, bn.getResult());
    rw.eraseOp(add);
    return success();
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
      absorbLocation(conv, bn);
    });
    rw.replaceOp(bn, conv.getResult());
    return success();
  }
};

/// add(conv2d(...), skip) -> conv2d with `residual`: oneDNN's sum post-op adds the skip
/// connection while the convolution's output is in cache.
struct FuseResidual : public OpRewritePattern<dl::AddOp> {
  using OpRewritePattern::OpRewritePattern;

  /// The conv2d that can take `other` as its residual, if `mine` is one.
  static dl::Conv2DOp candidate(Value mine, Value other, dl::AddOp add) {
    auto conv = mine.getDefiningOp<dl::Conv2DOp>();
    if (!conv || conv.getResidual() || conv.getActivation() != 0 || !conv->hasOneUse()) return {};
    if (other.getType() != add.getType() || conv.getType() != add.getType() || other == mine) return {};
    return conv;
  }
  /// A batch_norm that FoldBatchNorm has yet to fold into its convolution.
  static bool pendingFold(Value v) {
    auto bn = v.getDefiningOp<dl::BatchNormOp>();
    auto conv = bn ? bn.getInput().getDefiningOp<dl::Conv2DOp>() : dl::Conv2DOp();
    return conv && conv.getBn().empty() && !conv.getResidual() && conv.getActivation() == 0 && conv->hasOneUse();
  }
  /// Multiply-adds per output element.
  static int64_t window(dl::Conv2DOp conv) {
    auto w = conv.getWeight().getType();
    return w.getDimSize(1) * w.getDimSize(2) * w.getDimSize(3);
  }

  LogicalResult matchAndRewrite(dl::AddOp add, PatternRewriter &rw) const override {
    // Both sides settled first (ResNet's h + d: bn(conv2) + bn(downsample)), so that the
    // choice below does not depend on which batch_norm folded first.
    if (pendingFold(add.getLhs()) || pendingFold(add.getRhs())) return failure();
    dl::Conv2DOp lhs = candidate(add.getLhs(), add.getRhs(), add), rhs = candidate(add.getRhs(), add.getLhs(), add);
    // Of two convolutions, the one with the larger window takes the sum: in ResNet the 3x3
    // one, whose layout (16-channel blocks for Winograd) the skip tensor then joins,
    // rather than the 1x1 downsampling one.
    dl::Conv2DOp conv = lhs && rhs ? (window(rhs) > window(lhs) ? rhs : lhs) : lhs ? lhs : rhs;
    if (!conv) return failure();
    Value other = conv == lhs ? add.getRhs() : add.getLhs();
    // The skip value may be computed after the convolution (ResNet's downsample branch):
    // the convolution moves down to the add, where all its operands are available.
    rw.moveOpBefore(conv, add);
    rw.modifyOpInPlace(conv, [&] {
      conv.getResidualMutable().assign(other);
      absorbLocation(conv, add);
    });
    rw.replaceOp(add, conv.getResult());
    return success();
  }
};

} // namespace

void populateFuseActivations(RewritePatternSet &patterns) {
  patterns.add<FuseActivation, FoldBatchNorm, FuseResidual>(patterns.getContext());
}

void populateFuseReluIntoRuntimeKernels(RewritePatternSet &patterns) {
  patterns.add<FuseReluIntoMaxPool, FuseReluIntoBatchNormTrain, FuseResidualReluIntoBatchNormTrain>(
      patterns.getContext());
}

} // namespace dlc
