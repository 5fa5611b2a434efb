//===- FuseActivations.cpp - relu into the producing oneDNN op ------------===//
//
// relu(dense(...)) and relu(conv2d(...)) become one kernel call with a oneDNN ReLU
// post-op: the activation is applied while the result is still in cache, and one pass
// over memory disappears.
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

} // namespace

void populateFuseActivations(RewritePatternSet &patterns) {
  patterns.add<FuseRelu<dl::DenseOp>, FuseRelu<dl::Conv2DOp>>(patterns.getContext());
}

} // namespace dlc
