//===- SelfAttentionLowering.cpp - self_attention and its gradient --------===//
//
// With --kernels=onednn both are calls of the runtime's attention kernels (benefit 2; in
// f32, and not under --precision bf16), which keep each head's T x T weights in a
// thread's cache instead of tensors between ops, skip the masked half of a causal
// product, and read q, k and v from the packed projection where they lie. Elsewhere (the
// portable path, the GPU) they expand into matmul, causal_mask and softmax and those
// ops' gradients (dialects/DL/SelfAttention.h).
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/SelfAttention.h"

using namespace mlir;

namespace dlc {
namespace {

constexpr unsigned kPreferred = 2;

/// Whether the attention may run on the kernels: f32, and not under --precision bf16,
/// which promises bf16 operands to matmul (the expansion's products take them there).
LogicalResult kernelRuns(Operation *op, Type element, PatternRewriter &rw) {
  if (!element.isF32()) return rw.notifyMatchFailure(op, "the kernel takes f32");
  auto module = op->getParentOfType<ModuleOp>();
  if (auto p = module ? module->getAttrOfType<StringAttr>("dl.precision") : StringAttr(); p && p.getValue() == "bf16")
    return rw.notifyMatchFailure(op, "--precision bf16: the products take bf16 operands");
  return success();
}

/// The dynamic sizes of a [B, T, ...] result, from qkv's.
SmallVector<Value> sequenceSizes(OpBuilder &b, Location loc, Value qkv, RankedTensorType result) {
  SmallVector<Value> sizes;
  for (int64_t d : {0, 1})
    if (result.isDynamicDim(d)) sizes.push_back(dimOf(b, loc, qkv, d));
  return sizes;
}

/// The kernels' geometry: B, T, E, heads, causal.
SmallVector<Value> geometry(OpBuilder &b, Location loc, Value qkv, int64_t heads, bool causal) {
  auto t = cast<RankedTensorType>(qkv.getType());
  return {i64Value(b, loc, dimOf(b, loc, qkv, 0)), i64Value(b, loc, dimOf(b, loc, qkv, 1)),
          i64Const(b, loc, t.getDimSize(2) / 3), i64Const(b, loc, heads), i64Const(b, loc, causal)};
}

struct SelfAttentionToKernel : public OpRewritePattern<dl::SelfAttentionOp> {
  SelfAttentionToKernel(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::SelfAttentionOp op, PatternRewriter &rw) const override {
    if (failed(kernelRuns(op, op.getQkv().getType().getElementType(), rw))) return failure();
    Location loc = op.getLoc();
    KernelCall call(rw, loc, op, "dlrt_k_self_attention_f32");
    for (Value v : geometry(rw, loc, op.getQkv(), op.getHeads(), op.getCausal())) call.in(v);
    auto rt = op.getType();
    rw.replaceOp(op, call.in(op.getQkv()).out(rt, sequenceSizes(rw, loc, op.getQkv(), rt)).emit());
    return success();
  }
};

struct SelfAttentionBackwardToKernel : public OpRewritePattern<dl::SelfAttentionBackwardOp> {
  SelfAttentionBackwardToKernel(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::SelfAttentionBackwardOp op, PatternRewriter &rw) const override {
    auto qt = cast<RankedTensorType>(op.getQkv().getType());
    if (failed(kernelRuns(op, qt.getElementType(), rw))) return failure();
    Location loc = op.getLoc();
    KernelCall call(rw, loc, op, "dlrt_k_self_attention_backward_f32");
    for (Value v : geometry(rw, loc, op.getQkv(), op.getHeads(), op.getCausal())) call.in(v);
    rw.replaceOp(op,
                 call.in(op.getQkv()).in(op.getGrad()).out(qt, sequenceSizes(rw, loc, op.getQkv(), qt)).emit());
    return success();
  }
};

struct SelfAttentionExpansion : public OpRewritePattern<dl::SelfAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::SelfAttentionOp op, PatternRewriter &rw) const override {
    rw.replaceOp(op, dl::expandSelfAttention(rw, op.getLoc(), op.getQkv(), op.getHeads(), op.getCausal()));
    return success();
  }
};

struct SelfAttentionBackwardExpansion : public OpRewritePattern<dl::SelfAttentionBackwardOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::SelfAttentionBackwardOp op, PatternRewriter &rw) const override {
    FailureOr<Value> grad =
        dl::expandSelfAttentionGradient(rw, op.getLoc(), op.getGrad(), op.getQkv(), op.getHeads(), op.getCausal());
    if (failed(grad)) return failure();
    rw.replaceOp(op, *grad);
    return success();
  }
};

} // namespace

void populateSelfAttentionKernelCalls(RewritePatternSet &patterns) {
  patterns.add<SelfAttentionToKernel, SelfAttentionBackwardToKernel>(patterns.getContext());
}

void populateSelfAttentionExpansion(RewritePatternSet &patterns) {
  patterns.add<SelfAttentionExpansion, SelfAttentionBackwardExpansion>(patterns.getContext());
}

} // namespace dlc
