//===- NormalizationToOneDNN.cpp - layer_norm, batch_norm, softmax -> oneDNN ===//
//
// With --kernels=onednn these run as oneDNN primitives (benefit 2: preferred over the
// linalg lowerings, which stay for the portable path and the GPU), their gradients too.
// Inference passes no statistics buffers; the kernels' training forms take them.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/Activation.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;

namespace dlc {
namespace {

constexpr unsigned kPreferred = 2;

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

/// layer_norm's rows (every dim but the last, multiplied) and columns, as index values.
std::pair<Value, Value> rowsAndCols(OpBuilder &b, Location loc, Value x) {
  SmallVector<Value> dims = allDims(b, loc, x);
  Value rows = arith::ConstantIndexOp::create(b, loc, 1);
  for (size_t i = 0; i + 1 < dims.size(); ++i) rows = arith::MulIOp::create(b, loc, rows, dims[i]);
  return {rows, dims.back()};
}

/// Whether `back` is the gradient of the layer_norm `fwd` (same weight and eps, f32).
bool sameLayerNorm(dl::LayerNormOp fwd, dl::LayerNormBackwardOp back) {
  return fwd.getWeight() == back.getWeight() && fwd.getEps() == back.getEps() &&
         fwd.getInput().getType().getElementType().isF32();
}

struct LayerNormToOneDNN : public OpRewritePattern<dl::LayerNormOp> {
  LayerNormToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::LayerNormOp op, PatternRewriter &rw) const override {
    auto xt = op.getInput().getType();
    if (!xt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    if (hasPairedBackward<dl::LayerNormBackwardOp>(op, op.getInput(), sameLayerNorm))
      return rw.notifyMatchFailure(op, "lowered with its gradient, in training form");
    Location loc = op.getLoc();
    auto [rows, cols] = rowsAndCols(rw, loc, op.getInput());
    KernelCall call(rw, loc, op, "dlrt_k_layer_norm_f32");
    call.in(i64Value(rw, loc, rows)).in(i64Value(rw, loc, cols)).in(op.getInput()).in(op.getWeight())
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
    resultOverInput(call, op.getInput())
        .in(f64Const(rw, loc, op.getEps().convertToDouble()))
        .in(i64Const(rw, loc, 0))  // inference
        .in(i64Const(rw, loc, 0))  // NCHW: the layout pass folds an inference batch_norm into its conv2d
        .optional(Value());        // no residual
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
    if (poolsTrainingBatchNorm(op)) return rw.notifyMatchFailure(op, "lowered with the max pooling of its result");
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
                                     .in(i64Const(rw, loc, op.getActivation() == dl::ActivationRelu ? 2 : 1))
                                     .in(i64Const(rw, loc, op.getChannelsLast() ? 1 : 0))
                                     .optional(op.getResidual())
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
                                     .in(i64Const(rw, loc, op.getChannelsLast() ? 1 : 0))
                                     .emit();
    rw.replaceOp(op, results);
    return success();
  }
};

/// layer_norm's training form: its result and the mean and variance of each row.
SmallVector<Value> layerNormTraining(OpBuilder &b, Location loc, Operation *op, Value x, Value weight, Value bias,
                                     double eps) {
  auto xt = cast<RankedTensorType>(x.getType());
  auto [rows, cols] = rowsAndCols(b, loc, x);
  int64_t staticRows = 1; // dynamic where any leading dim is
  for (int64_t d : xt.getShape().drop_back())
    staticRows = ShapedType::isDynamic(d) || ShapedType::isDynamic(staticRows) ? ShapedType::kDynamic : staticRows * d;
  auto stat = RankedTensorType::get({staticRows}, xt.getElementType());
  SmallVector<Value> statSizes;
  if (ShapedType::isDynamic(staticRows)) statSizes.push_back(rows);
  return KernelCall(b, loc, op, "dlrt_k_layer_norm_f32")
      .in(i64Value(b, loc, rows))
      .in(i64Value(b, loc, cols))
      .in(x)
      .in(weight)
      .in(bias)
      .out(xt, broadcastDynamicSizes(b, loc, xt, ValueRange{x}))
      .in(f64Const(b, loc, eps))
      .out(stat, statSizes)
      .out(stat, statSizes)
      .emit();
}

/// Its gradients on oneDNN's layer_normalization_backward, from the statistics of the
/// train step's forward, which then runs in training form; without one beside it, from a
/// training-form forward of its own (its result unused).
struct LayerNormBackwardToOneDNN : public OpRewritePattern<dl::LayerNormBackwardOp> {
  LayerNormBackwardToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::LayerNormBackwardOp op, PatternRewriter &rw) const override {
    auto xt = op.getInput().getType();
    if (!xt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    Value x = op.getInput();
    double eps = op.getEps().convertToDouble();
    SmallVector<Value> forward;
    if (auto fwd = forwardOf<dl::LayerNormOp>(op, x, sameLayerNorm)) {
      OpBuilder::InsertionGuard guard(rw);
      rw.setInsertionPoint(fwd);
      forward = layerNormTraining(rw, fwd.getLoc(), fwd, x, fwd.getWeight(), fwd.getBias(), eps);
      rw.replaceOp(fwd, forward[0]);
    } else {
      // The bias only shifts the unused result: the weight serves.
      forward = layerNormTraining(rw, loc, op, x, op.getWeight(), op.getWeight(), eps);
    }
    auto [rows, cols] = rowsAndCols(rw, loc, x);
    auto vec = op.getWeight().getType();
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_layer_norm_backward_f32")
                         .in(i64Value(rw, loc, rows))
                         .in(i64Value(rw, loc, cols))
                         .in(x)
                         .in(op.getWeight())
                         .in(forward[1])
                         .in(forward[2])
                         .in(op.getGrad())
                         .out(xt, broadcastDynamicSizes(rw, loc, xt, ValueRange{x}))
                         .out(vec, {})
                         .out(vec, {})
                         .in(f64Const(rw, loc, eps))
                         .emit());
    return success();
  }
};

/// softmax's and log_softmax's gradient on oneDNN's softmax backward, from the output.
struct SoftmaxBackwardToOneDNN : public OpRewritePattern<dl::SoftmaxBackwardOp> {
  SoftmaxBackwardToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, kPreferred) {}
  LogicalResult matchAndRewrite(dl::SoftmaxBackwardOp op, PatternRewriter &rw) const override {
    auto yt = cast<RankedTensorType>(op.getOutput().getType());
    if (!yt.getElementType().isF32()) return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    Value y = op.getOutput();
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_softmax_backward_f32")
                         .in(i64Const(rw, loc, yt.getRank()))
                         .in(i64Array(rw, loc, allDims(rw, loc, y)))
                         .in(i64Const(rw, loc, op.getAxis()))
                         .in(y)
                         .in(op.getGrad())
                         .out(yt, broadcastDynamicSizes(rw, loc, yt, ValueRange{y}))
                         .in(i64Const(rw, loc, op.getLog()))
                         .emitResult());
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
  patterns.add<LayerNormToOneDNN, LayerNormBackwardToOneDNN, BatchNormToOneDNN, BatchNormTrainToOneDNN,
               BatchNormBackwardToOneDNN, SoftmaxToOneDNN<dl::SoftmaxOp, false>, SoftmaxToOneDNN<dl::LogSoftmaxOp, true>,
               SoftmaxBackwardToOneDNN>(patterns.getContext());
}

} // namespace dlc
