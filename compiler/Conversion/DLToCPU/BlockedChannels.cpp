//===- BlockedChannels.cpp - keep Winograd convolutions' activations blocked ----===//
//
// A 3x3 stride-1 convolution of 64 channels and more runs faster by Winograd's algorithm
// (model_abi.h's dlrt_conv2d_winograd), which oneDNN implements on 16-channel blocks
// (nChw16c) only; the runtime uses it for the convolutions handed blocked activations.
// Handed NHWC, a Winograd convolution reordered its input into blocks and its result back:
// in ResNet-18 twice per convolution, 6-10% of a call at batch 16. After the
// channels_last patterns, this marks those convolutions `blocked_channels` between
// explicit dl.block_channels ops:
//
//   conv(x)  ->  unblock(conv_blocked(block(x)))
//
// Pairs that meet fold away (a convolution's unblocked result blocked again for the next
// one), and unblocks move down through elementwise ops whose operands are all blocked, so
// that a run of such convolutions (a ResNet stage) stays blocked from its first input to
// its last output. The types stay NHWC: only the buffers' byte order differs, and only
// these ops read a blocked tensor. (A tensor blocked for several convolutions, such as a
// skip connection, is blocked once: dl-lower-to-cpu runs CSE after the layout patterns.)
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"
#include "runtime/include/dlrt/model_abi.h"

using namespace mlir;

namespace dlc {
namespace {

Value blockChannels(PatternRewriter &rw, Location loc, Value v, bool inverse) {
  auto op = dl::BlockChannelsOp::create(rw, loc, v.getType(), v);
  if (inverse) op.setInverse(true);
  return op.getResult();
}

/// Whether the function updates the parameter `w` (a train step): Winograd transforms the
/// weight once per parameter version, here on every call. In ResNet-18's train step
/// (batch 16, AMD EPYC, 1 thread) the transforms took 366 ms a step for 178 ms of
/// Winograd convolutions; the same convolutions run direct (brgconv on NHWC) in 395 ms.
bool updatedHere(Value w) {
  return llvm::any_of(w.getUses(), [](OpOperand &use) {
    return isa<dl::SgdUpdateOp, dl::AdamUpdateOp>(use.getOwner()) && use.getOperandNumber() == 0;
  });
}

struct BlockWinogradConvolution : public OpRewritePattern<dl::Conv2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::Conv2DOp op, PatternRewriter &rw) const override {
    if (!op.getChannelsLast() || op.getBlockedChannels() || updatedHere(op.getWeight())) return failure();
    auto x = op.getInput().getType();
    auto w = op.getWeight().getType();
    int64_t c = x.getDimSize(3), oc = w.getDimSize(0);
    auto s = op.getStride(), d = op.getDilation();
    if (ShapedType::isDynamic(c) || c % 16 != 0 || oc % 16 != 0 ||
        !dlrt_conv2d_winograd(c, oc, w.getDimSize(2), w.getDimSize(3), s[0], s[1], d[0], d[1], op.getGroups()))
      return failure();
    Location loc = op.getLoc();
    rw.setInsertionPoint(op);
    Value input = blockChannels(rw, loc, op.getInput(), false);
    Value residual = op.getResidual() ? blockChannels(rw, loc, op.getResidual(), false) : Value();
    rw.modifyOpInPlace(op, [&] {
      op.getInputMutable().assign(input);
      if (residual) op.getResidualMutable().assign(residual);
      op.setBlockedChannels(true);
    });
    rw.setInsertionPointAfter(op);
    Value out = blockChannels(rw, loc, op.getResult(), true);
    rw.replaceAllUsesExcept(op.getResult(), out, out.getDefiningOp());
    return success();
  }
};

/// f(unblock(a), unblock(b), ...) -> unblock(f(a, b, ...)) for an elementwise f (see
/// sinkLayoutThroughElementwise): the same function of the same elements in the same byte
/// order.
struct SinkUnblockThroughElementwise : public OpInterfaceRewritePattern<dl::ScalarElementwiseOpInterface> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;
  LogicalResult matchAndRewrite(dl::ScalarElementwiseOpInterface iface, PatternRewriter &rw) const override {
    Operation *op = iface.getOperation();
    if (op->getNumResults() != 1 || op->getNumOperands() == 0) return failure();
    auto unwrap = [](Value v) -> Value {
      auto b = v.getDefiningOp<dl::BlockChannelsOp>();
      return b && b.getInverse() ? b.getInput() : Value();
    };
    return sinkLayoutThroughElementwise(op, rw, unwrap, op->getResult(0).getType(),
                                        [&](Value moved) { return blockChannels(rw, op->getLoc(), moved, true); });
  }
};

} // namespace

void populateBlockedChannels(RewritePatternSet &patterns) {
  patterns.add<BlockWinogradConvolution, SinkUnblockThroughElementwise>(patterns.getContext());
}

} // namespace dlc
