//===- NormalizationToOneDNN.cpp - layer_norm, batch_norm, softmax -> oneDNN ===//
//
// With --kernels=onednn these run as oneDNN primitives (benefit 2: preferred over the
// linalg lowerings, which stay for the portable path and the GPU). Inference passes no
// statistics buffers; the kernels' training forms take them.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;

namespace dlc {
namespace {

constexpr unsigned kPreferred = 2;

Value f64Const(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF64Type(), b.getF64FloatAttr(v));
}

/// Every dim of `t` as index values.
SmallVector<Value> allDims(OpBuilder &b, Location loc, Value t) {
  SmallVector<Value> dims;
  for (int64_t i = 0; i < cast<RankedTensorType>(t.getType()).getRank(); ++i) dims.push_back(dimOf(b, loc, t, i));
  return dims;
}

/// These kernels read each position of their input before writing it (oneDNN runs them
/// in place), so the result may take over the input's buffer where it is dead afterwards;
/// otherwise it gets one of its own (the destination is not read).
KernelCall &resultOverInput(KernelCall &call, Value input) { return call.into(input, /*readsDest=*/false).inPlace(); }

struct LayerNormToOneDNN : public OpRewritePattern<dl::LayerNormOp> {
  LayerNormToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::LayerNormOp op, PatternRewriter &rw) const override {
    auto xt = op.getInput().getType();
    if (!xt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    SmallVector<Value> dims = allDims(rw, loc, op.getInput());
    Value rows = arith::ConstantIndexOp::create(rw, loc, 1);
    for (size_t i = 0; i + 1 < dims.size(); ++i) rows = arith::MulIOp::create(rw, loc, rows, dims[i]);
    KernelCall call(rw, loc, op, "dlrt_k_layer_norm_f32");
    call.in(i64Value(rw, loc, rows)).in(i64Value(rw, loc, dims.back())).in(op.getInput()).in(op.getWeight())
        .in(op.getBias());
    resultOverInput(call, op.getInput())
        .in(f64Const(rw, loc, op.getEps().convertToDouble()))
        .optional(Value())  // mean and variance: training form only
        .optional(Value());
    rw.replaceOp(op, call.emitResult());
    return success();
  }
};

struct BatchNormToOneDNN : public OpRewritePattern<dl::BatchNormOp> {
  BatchNormToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::BatchNormOp op, PatternRewriter &rw) const override {
    auto xt = op.getInput().getType();
    if (!xt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    if (xt.getRank() < 2 || xt.getRank() > 5) return rw.notifyMatchFailure(op, "oneDNN takes ranks 2 to 5");
    Location loc = op.getLoc();
    // Inference reads the running statistics; the kernel writes them only in training form.
    KernelCall call(rw, loc, op, "dlrt_k_batch_norm_f32");
    call.in(i64Const(rw, loc, xt.getRank()))
        .in(i64Array(rw, loc, allDims(rw, loc, op.getInput())))
        .in(op.getInput())
        .in(op.getWeight())
        .in(op.getBias())
        .in(op.getRunningMean())
        .in(op.getRunningVar());
    resultOverInput(call, op.getInput()).in(f64Const(rw, loc, op.getEps().convertToDouble())).in(i64Const(rw, loc, 0));
    rw.replaceOp(op, call.emitResult());
    return success();
  }
};

/// Training: the kernel's training form computes the batch statistics into two new vectors.
/// The result gets its own buffer, since the backward pass reads the input.
struct BatchNormTrainToOneDNN : public OpRewritePattern<dl::BatchNormTrainOp> {
  BatchNormTrainToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::BatchNormTrainOp op, PatternRewriter &rw) const override {
    auto xt = op.getInput().getType();
    if (!xt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    if (xt.getRank() < 2 || xt.getRank() > 5) return rw.notifyMatchFailure(op, "oneDNN takes ranks 2 to 5");
    Location loc = op.getLoc();
    SmallVector<Value> dims = allDims(rw, loc, op.getInput());
    auto vec = op.getMean().getType();
    SmallVector<Value> results = KernelCall(rw, loc, op, "dlrt_k_batch_norm_f32")
                                     .in(i64Const(rw, loc, xt.getRank()))
                                     .in(i64Array(rw, loc, dims))
                                     .in(op.getInput())
                                     .in(op.getWeight())
                                     .in(op.getBias())
                                     .out(vec, {})
                                     .out(vec, {})
                                     .out(xt, broadcastDynamicSizes(rw, loc, xt, ValueRange{op.getInput()}))
                                     .in(f64Const(rw, loc, op.getEps().convertToDouble()))
                                     .in(i64Const(rw, loc, 1))
                                     .emit();
    rw.replaceOp(op, ValueRange{results[2], results[0], results[1]});
    return success();
  }
};

/// Its gradients on oneDNN's batch_normalization_backward.
struct BatchNormBackwardToOneDNN : public OpRewritePattern<dl::BatchNormBackwardOp> {
  BatchNormBackwardToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::BatchNormBackwardOp op, PatternRewriter &rw) const override {
    auto xt = op.getInput().getType();
    if (!xt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    if (xt.getRank() < 2 || xt.getRank() > 5) return rw.notifyMatchFailure(op, "oneDNN takes ranks 2 to 5");
    Location loc = op.getLoc();
    auto vec = op.getWeight().getType();
    SmallVector<Value> results = KernelCall(rw, loc, op, "dlrt_k_batch_norm_backward_f32")
                                     .in(i64Const(rw, loc, xt.getRank()))
                                     .in(i64Array(rw, loc, allDims(rw, loc, op.getInput())))
                                     .in(op.getInput())
                                     .in(op.getWeight())
                                     .in(op.getMean())
                                     .in(op.getVar())
                                     .in(op.getGrad())
                                     .out(xt, broadcastDynamicSizes(rw, loc, xt, ValueRange{op.getInput()}))
                                     .out(vec, {})
                                     .out(vec, {})
                                     .in(f64Const(rw, loc, op.getEps().convertToDouble()))
                                     .emit();
    rw.replaceOp(op, results);
    return success();
  }
};

template <typename OpT, bool isLog> struct SoftmaxToOneDNN : public OpRewritePattern<OpT> {
  SoftmaxToOneDNN(MLIRContext *ctx) : OpRewritePattern<OpT>(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rw) const override {
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    if (!xt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    KernelCall call(rw, loc, op, "dlrt_k_softmax_f32");
    call.in(i64Const(rw, loc, xt.getRank()))
        .in(i64Array(rw, loc, allDims(rw, loc, op.getInput())))
        .in(i64Const(rw, loc, op.getAxis()))
        .in(op.getInput());
    resultOverInput(call, op.getInput()).in(i64Const(rw, loc, isLog));
    rw.replaceOp(op, call.emitResult());
    return success();
  }
};

} // namespace

void populateNormalizationToOneDNN(RewritePatternSet &patterns) {
  patterns.add<LayerNormToOneDNN, BatchNormToOneDNN, BatchNormTrainToOneDNN, BatchNormBackwardToOneDNN, SoftmaxToOneDNN<dl::SoftmaxOp, false>,
               SoftmaxToOneDNN<dl::LogSoftmaxOp, true>>(patterns.getContext());
}

} // namespace dlc
