//===- FuseActivations.cpp - batch_norm and relu into the producing op ----===//
//
// relu(dense(...)) and relu(conv2d(...)) become one kernel call with a oneDNN ReLU
// post-op: the activation is applied while the result is still in cache, and one pass
// over memory disappears. An inference batch_norm after a conv2d folds into it: the
// runtime scales the weights and bias by gamma / sqrt(var + eps) whenever the parameters
// change, so loaded and set weights stay right.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"

using namespace mlir;

namespace dlc {
namespace {

template <typename ProducerOp>
struct FuseRelu : public OpRewritePattern<dl::ReluOp> {
  using OpRewritePattern<dl::ReluOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ReluOp relu, PatternRewriter &rw) const override {
    auto producer = relu.getInput().template getDefiningOp<ProducerOp>();
    if (!producer || producer.getFusedRelu() || !producer->hasOneUse()) return failure();
    rw.modifyOpInPlace(producer, [&] { producer.setFusedRelu(true); });
    rw.replaceOp(relu, producer.getResult());
    return success();
  }
};

struct FoldBatchNorm : public OpRewritePattern<dl::BatchNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::BatchNormOp bn, PatternRewriter &rw) const override {
    auto conv = bn.getInput().getDefiningOp<dl::Conv2DOp>();
    if (!conv || !conv.getBn().empty() || conv.getResidual() || conv.getFusedRelu() || !conv->hasOneUse())
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
      if (!conv || conv.getResidual() || conv.getFusedRelu() || !conv->hasOneUse()) continue;
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
  patterns.add<FuseRelu<dl::DenseOp>, FuseRelu<dl::Conv2DOp>, FoldBatchNorm, FuseResidual>(patterns.getContext());
}

} // namespace dlc
