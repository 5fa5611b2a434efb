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
    if (!conv || !conv.getBn().empty() || conv.getFusedRelu() || !conv->hasOneUse()) return failure();
    rw.modifyOpInPlace(conv, [&] {
      conv.getBnMutable().assign(ValueRange{bn.getWeight(), bn.getBias(), bn.getRunningMean(), bn.getRunningVar()});
      conv.setBnEpsAttr(bn.getEpsAttr());
    });
    rw.replaceOp(bn, conv.getResult());
    return success();
  }
};

} // namespace

void populateFuseActivations(RewritePatternSet &patterns) {
  patterns.add<FuseRelu<dl::DenseOp>, FuseRelu<dl::Conv2DOp>, FoldBatchNorm>(patterns.getContext());
}

} // namespace dlc
