//===- BlockedChannels.cpp - keep convolutions' activations in channel blocks ----===//
//
// oneDNN's convolutions run faster on 16-channel blocks (nChw16c) than on NHWC where
// channels in and out are whole blocks: Winograd's algorithm (model_abi.h's
// dlrt_conv2d_winograd; ResNet's 3x3 layers of 64 channels and more) exists only there,
// and its direct kernel on blocks beat brgconv on NHWC on most shapes measured (one Zen 4
// core: the CNN sample's 16 -> 32 3x3 at b64 0.91 against 1.00 ms, ResNet's 1x1 64 ->
// 128 stride 2 at b16 1.88 against 2.19, 256 -> 512 3x3 stride 2 14.5 against 16.2;
// 128 -> 256 3x3 stride 2 17.3 against 16.8 the one loss). Handed NHWC, such a
// convolution would reorder its input into blocks and its result back (in ResNet-18 twice
// per convolution, 6-10% of a call at batch 16). After the channels_last patterns, this
// marks those convolutions `blocked_channels` between explicit dl.block_channels ops:
//
//   conv(x)  ->  unblock(conv_blocked(block(x)))
//
// Pairs that meet fold away (a convolution's unblocked result blocked again for the next
// one), and unblocks move down through elementwise ops whose operands are all blocked and
// through max pooling, so that a run of such convolutions (a ResNet stage, the CNN's
// conv-relu-pool blocks) stays blocked from its first input to its last output, and into
// a classifier head that flattens it. The
// types stay NHWC: only the buffers' byte order differs, and only these ops read a
// blocked tensor. (A tensor blocked for several convolutions, such as a skip connection,
// is blocked once: dl-lower-to-cpu runs CSE after the layout patterns.)
//
// The block is the target CPU's vector of floats (dl-lower-to-cpu's channel-block, which
// dlc sets from -mcpu): 16 with AVX-512, 8 with AVX2 only. oneDNN's AVX2 convolutions
// read and write nChw8c; handed nChw16c they reordered it to 8-channel blocks on the way
// in and back on the way out of every call. Which convolutions are blocked does not
// depend on it: channels in whole blocks of 16 either way.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"

using namespace mlir;

namespace dlc {
namespace {

Value blockChannels(PatternRewriter &rw, Location loc, Value v, int64_t block, bool inverse) {
  auto op = dl::BlockChannelsOp::create(rw, loc, v.getType(), v, block);
  if (inverse) op.setInverse(true);
  return op.getResult();
}

/// Whether the function updates the parameter `w` (a train step): Winograd transforms the
/// weight once per parameter version, here on every call. In ResNet-18's train step
/// (batch 16, AMD EPYC, 1 thread) the transforms took 366 ms a step for 178 ms of
/// Winograd convolutions; the same convolutions run direct (brgconv on NHWC) in 395 ms.
/// (The backward kernels read NHWC: a train step's convolutions stay so.)
bool updatedHere(Value w) {
  return llvm::any_of(w.getUses(), [](OpOperand &use) {
    return isa<dl::SgdUpdateOp, dl::AdamUpdateOp>(use.getOwner()) && use.getOperandNumber() == 0;
  });
}

/// The patterns below, for one block size.
struct Blocks {
  int64_t block;
};

struct BlockConvolution : public OpRewritePattern<dl::Conv2DOp>, Blocks {
  BlockConvolution(MLIRContext *ctx, int64_t block) : OpRewritePattern(ctx), Blocks{block} {}
  LogicalResult matchAndRewrite(dl::Conv2DOp op, PatternRewriter &rw) const override {
    if (!op.getChannelsLast() || op.getBlockedChannels() || updatedHere(op.getWeight())) return failure();
    auto x = op.getInput().getType();
    auto w = op.getWeight().getType();
    int64_t c = x.getDimSize(3), oc = w.getDimSize(0);
    // Whole blocks of 16 either way: the rule for Winograd (model_abi.h) and the
    // measurements behind this pass are in those, and so a model blocks the same
    // convolutions on either CPU family.
    if (ShapedType::isDynamic(c) || c % 16 != 0 || oc % 16 != 0 || op.getGroups() != 1) return failure();
    Location loc = op.getLoc();
    rw.setInsertionPoint(op);
    Value input = blockChannels(rw, loc, op.getInput(), block, false);
    Value residual = op.getResidual() ? blockChannels(rw, loc, op.getResidual(), block, false) : Value();
    rw.modifyOpInPlace(op, [&] {
      op.getInputMutable().assign(input);
      if (residual) op.getResidualMutable().assign(residual);
      op.setBlockedChannels(block);
    });
    rw.setInsertionPointAfter(op);
    Value out = blockChannels(rw, loc, op.getResult(), block, true);
    rw.replaceAllUsesExcept(op.getResult(), out, out.getDefiningOp());
    return success();
  }
};

/// f(unblock(a), unblock(b), ...) -> unblock(f(a, b, ...)) for an elementwise f (see
/// sinkLayoutThroughElementwise): the same function of the same elements in the same byte
/// order.
struct SinkUnblockThroughElementwise : public OpInterfaceRewritePattern<dl::ScalarElementwiseOpInterface>, Blocks {
  SinkUnblockThroughElementwise(MLIRContext *ctx, int64_t block) : OpInterfaceRewritePattern(ctx), Blocks{block} {}
  LogicalResult matchAndRewrite(dl::ScalarElementwiseOpInterface iface, PatternRewriter &rw) const override {
    Operation *op = iface.getOperation();
    if (op->getNumResults() != 1 || op->getNumOperands() == 0) return failure();
    auto unwrap = [this](Value v) -> Value {
      auto b = v.getDefiningOp<dl::BlockChannelsOp>();
      return b && b.getInverse() && int64_t(b.getBlock()) == block ? b.getInput() : Value();
    };
    return sinkLayoutThroughElementwise(op, rw, unwrap, op->getResult(0).getType(), [&](Value moved) {
      return blockChannels(rw, op->getLoc(), moved, block, true);
    });
  }
};

/// max_pool2d(unblock(x)) -> unblock(max_pool2d_blocked(x)): the runtime pools the
/// blocks as they are (inference form only: a pooling whose gradient the call takes keeps
/// NHWC, as its convolutions do).
struct SinkUnblockThroughMaxPool : public OpRewritePattern<dl::Pool2DOp>, Blocks {
  SinkUnblockThroughMaxPool(MLIRContext *ctx, int64_t block) : OpRewritePattern(ctx), Blocks{block} {}
  LogicalResult matchAndRewrite(dl::Pool2DOp op, PatternRewriter &rw) const override {
    auto unblock = op.getInput().getDefiningOp<dl::BlockChannelsOp>();
    if (!unblock || !unblock.getInverse() || int64_t(unblock.getBlock()) != block || !op.getIsMax() ||
        !op.getChannelsLast() || op.getBlockedChannels() ||
        llvm::any_of(op.getInput().getUsers(), [](Operation *u) { return isa<dl::Pool2DBackwardOp>(u); }))
      return failure();
    rw.modifyOpInPlace(op, [&] {
      op.getInputMutable().assign(unblock.getInput());
      op.setBlockedChannels(block);
    });
    rw.setInsertionPointAfter(op);
    Value out = blockChannels(rw, op.getLoc(), op.getResult(), block, true);
    rw.replaceAllUsesExcept(op.getResult(), out, out.getDefiningOp());
    return success();
  }
};

/// dense(flatten(unblock(x))) with nhwc_input [C, H, W] -> dense(flatten(x)) with
/// [C, H, W, B]: a classifier head reads the blocked activations as they are, its weight's
/// columns permuted to their order once per parameter version, instead of the activations
/// being reordered back to NHWC on every call (the CNN sample: 1.6 us of a 21 us call at
/// batch 1, 9 of 750 at batch 64). The flattened tensor is blocked like its input, read
/// by the dense alone.
struct FoldUnblockIntoDense : public OpRewritePattern<dl::DenseOp>, Blocks {
  FoldUnblockIntoDense(MLIRContext *ctx, int64_t block) : OpRewritePattern(ctx), Blocks{block} {}
  LogicalResult matchAndRewrite(dl::DenseOp dense, PatternRewriter &rw) const override {
    auto chw = dense.getNhwcInput();
    if (!chw || chw->size() != 3) return failure();
    auto flatten = dense.getInput().getDefiningOp<dl::ReshapeOp>();
    if (!flatten || !flatten->hasOneUse()) return failure();
    auto unblock = flatten.getInput().getDefiningOp<dl::BlockChannelsOp>();
    if (!unblock || !unblock.getInverse() || int64_t(unblock.getBlock()) != block || !unblock->hasOneUse())
      return failure();
    SmallVector<int64_t> chwb(*chw);
    chwb.push_back(block);
    rw.modifyOpInPlace(flatten, [&] { flatten.getInputMutable().assign(unblock.getInput()); });
    rw.modifyOpInPlace(dense, [&] { dense.setNhwcInput(chwb); });
    rw.eraseOp(unblock);
    return success();
  }
};

} // namespace

void populateBlockedChannels(RewritePatternSet &patterns, int64_t block) {
  patterns.add<BlockConvolution, SinkUnblockThroughElementwise, SinkUnblockThroughMaxPool, FoldUnblockIntoDense>(
      patterns.getContext(), block);
}

} // namespace dlc
