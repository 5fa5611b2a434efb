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

/// Every dim of `t` as index values, and the result buffer of the same shape.
std::pair<SmallVector<Value>, Value> sameShapeResult(OpBuilder &b, Location loc, Value t) {
  auto tt = cast<RankedTensorType>(t.getType());
  SmallVector<Value> dims, dyn;
  for (int64_t i = 0; i < tt.getRank(); ++i) {
    dims.push_back(dimOf(b, loc, t, i));
    if (tt.isDynamicDim(i)) dyn.push_back(dims.back());
  }
  return {dims, allocResult(b, loc, tt, dyn)};
}

struct LayerNormToOneDNN : public OpRewritePattern<dl::LayerNormOp> {
  LayerNormToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::LayerNormOp op, PatternRewriter &rw) const override {
    auto xt = op.getInput().getType();
    if (!xt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    auto [dims, out] = sameShapeResult(rw, loc, op.getInput());
    Value rows = arith::ConstantIndexOp::create(rw, loc, 1);
    for (size_t i = 0; i + 1 < dims.size(); ++i) rows = arith::MulIOp::create(rw, loc, rows, dims[i]);
    Value none = optionalPointer(rw, loc, Value());
    callRuntime(rw, loc, op, "dlrt_k_layer_norm_f32",
                {runtimeContext(op), siteOf(rw, loc, op), i64Value(rw, loc, rows), i64Value(rw, loc, dims.back()),
                 bufferPointer(rw, loc, op.getInput()), bufferPointer(rw, loc, op.getWeight()),
                 bufferPointer(rw, loc, op.getBias()), bufferPointer(rw, loc, out),
                 f64Const(rw, loc, op.getEps().convertToDouble()), none, none});
    rw.replaceOp(op, asTensor(rw, loc, out, xt));
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
    auto [dims, out] = sameShapeResult(rw, loc, op.getInput());
    // Inference reads the running statistics; the kernel writes them only in training form.
    callRuntime(rw, loc, op, "dlrt_k_batch_norm_f32",
                {runtimeContext(op), siteOf(rw, loc, op), i64Const(rw, loc, xt.getRank()),
                 i64ArrayPointer(rw, loc, dims), bufferPointer(rw, loc, op.getInput()),
                 bufferPointer(rw, loc, op.getWeight()), bufferPointer(rw, loc, op.getBias()),
                 bufferPointer(rw, loc, op.getRunningMean()), bufferPointer(rw, loc, op.getRunningVar()),
                 bufferPointer(rw, loc, out), f64Const(rw, loc, op.getEps().convertToDouble()),
                 i64Const(rw, loc, 0)});
    rw.replaceOp(op, asTensor(rw, loc, out, xt));
    return success();
  }
};

template <typename OpT, bool isLog> struct SoftmaxToOneDNN : public OpRewritePattern<OpT> {
  SoftmaxToOneDNN(MLIRContext *ctx) : OpRewritePattern<OpT>(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rw) const override {
    auto xt = cast<RankedTensorType>(op.getInput().getType());
    if (!xt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    auto [dims, out] = sameShapeResult(rw, loc, op.getInput());
    callRuntime(rw, loc, op, "dlrt_k_softmax_f32",
                {runtimeContext(op), siteOf(rw, loc, op), i64Const(rw, loc, xt.getRank()),
                 i64ArrayPointer(rw, loc, dims), i64Const(rw, loc, op.getAxis()),
                 bufferPointer(rw, loc, op.getInput()), bufferPointer(rw, loc, out), i64Const(rw, loc, isLog)});
    rw.replaceOp(op, asTensor(rw, loc, out, xt));
    return success();
  }
};

} // namespace

void populateNormalizationToOneDNN(RewritePatternSet &patterns) {
  patterns.add<LayerNormToOneDNN, BatchNormToOneDNN, SoftmaxToOneDNN<dl::SoftmaxOp, false>,
               SoftmaxToOneDNN<dl::LogSoftmaxOp, true>>(patterns.getContext());
}

} // namespace dlc
