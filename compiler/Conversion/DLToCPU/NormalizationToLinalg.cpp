//===- NormalizationToLinalg.cpp - layer_norm and batch_norm -> linalg ----===//
//
// Both follow PyTorch's formulas: layer_norm with the biased variance of the last dim,
// batch_norm (inference) with the running statistics; (x - mean) / sqrt(var + eps).
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;

namespace dlc {
namespace {

Value floatConst(OpBuilder &b, Location loc, Type t, double v) {
  return arith::ConstantOp::create(b, loc, t, b.getFloatAttr(t, v));
}

struct LayerNormLowering : public OpRewritePattern<dl::LayerNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::LayerNormOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = op.getInput().getType();
    Type elt = xt.getElementType();
    int64_t axis = xt.getRank() - 1;
    if (xt.isDynamicDim(axis)) return rw.notifyMatchFailure(op, "the normalised dim must be static");
    Value n = floatConst(rw, loc, elt, double(xt.getDimSize(axis)));
    // The mean in float64: a float32 sum of a row of near-equal values loses the digits
    // that x - mean consists of, which the division by sqrt(var + eps) then magnifies (a
    // row of one value came out 6e-4 off, where x - mean is 0). x - mean is rounded once,
    // to float32, from the exact difference.
    Type f64 = rw.getF64Type();
    Value n64 = floatConst(rw, loc, f64, double(xt.getDimSize(axis)));
    Value sum = reduce(rw, loc, x, {axis}, Combine::Add, elt.getIntOrFloatBitWidth() < 64 ? f64 : Type());
    Value centred = mapWithReduced(rw, loc, x, sum, axis, [&](OpBuilder &b, Location l, Value v, Value s) {
      Value wide = v.getType() == f64 ? v : arith::ExtFOp::create(b, l, f64, v).getResult();
      Value d = arith::SubFOp::create(b, l, wide, arith::DivFOp::create(b, l, s, n64));
      return v.getType() == f64 ? d : arith::TruncFOp::create(b, l, v.getType(), d).getResult();
    });
    Value sq = mapWithReduced(rw, loc, centred, sum, axis, [&](OpBuilder &b, Location l, Value v, Value) {
      return arith::MulFOp::create(b, l, v, v).getResult();
    });
    Value var = reduce(rw, loc, sq, {axis}, Combine::Add);
    Value eps = floatConst(rw, loc, elt, op.getEps().convertToDouble());
    // A variance past the type's range makes the row NaN, as torch's float32 layer_norm
    // does, rather than x / inf = 0 and every output the bias (difftest seed 164268).
    Value inf = floatConst(rw, loc, elt, std::numeric_limits<double>::infinity());
    Value nan = floatConst(rw, loc, elt, std::numeric_limits<double>::quiet_NaN());
    Value normed = mapWithReduced(rw, loc, centred, var, axis, [&](OpBuilder &b, Location l, Value v, Value s) {
      Value mean2 = arith::DivFOp::create(b, l, s, n);
      Value denom = math::SqrtOp::create(b, l, arith::AddFOp::create(b, l, mean2, eps));
      Value overflow = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, mean2, inf);
      denom = arith::SelectOp::create(b, l, overflow, nan, denom);
      return arith::DivFOp::create(b, l, v, denom).getResult();
    });
    // y = normed * weight + bias, the vectors broadcast along the last dim.
    int64_t rank = xt.getRank();
    AffineMap id = rw.getMultiDimIdentityMap(rank);
    AffineMap last = AffineMap::get(rank, 0, {rw.getAffineDimExpr(axis)}, rw.getContext());
    Value init = tensor::EmptyOp::create(rw, loc, xt, broadcastDynamicSizes(rw, loc, xt, ValueRange{x}));
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    auto g = linalg::GenericOp::create(
        rw, loc, xt, ValueRange{normed, op.getWeight(), op.getBias()}, init,
        ArrayRef<AffineMap>{id, last, last, id}, iters, [&](OpBuilder &b, Location l, ValueRange a) {
          linalg::YieldOp::create(b, l, arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, a[0], a[1]), a[2]).getResult());
        });
    rw.replaceOp(op, g.getResult(0));
    return success();
  }
};

struct BatchNormLowering : public OpRewritePattern<dl::BatchNormOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::BatchNormOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = op.getInput().getType();
    int64_t rank = xt.getRank();
    Value eps = floatConst(rw, loc, xt.getElementType(), op.getEps().convertToDouble());
    AffineMap id = rw.getMultiDimIdentityMap(rank);
    AffineMap chan = AffineMap::get(rank, 0, {rw.getAffineDimExpr(1)}, rw.getContext());
    Value init = tensor::EmptyOp::create(rw, loc, xt, broadcastDynamicSizes(rw, loc, xt, ValueRange{x}));
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    auto g = linalg::GenericOp::create(
        rw, loc, xt, ValueRange{x, op.getRunningMean(), op.getRunningVar(), op.getWeight(), op.getBias()}, init,
        ArrayRef<AffineMap>{id, chan, chan, chan, chan, id}, iters, [&](OpBuilder &b, Location l, ValueRange a) {
          Value centred = arith::SubFOp::create(b, l, a[0], a[1]);
          Value denom = math::SqrtOp::create(b, l, arith::AddFOp::create(b, l, a[2], eps));
          Value normed = arith::DivFOp::create(b, l, centred, denom);
          linalg::YieldOp::create(b, l, arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, normed, a[3]), a[4]).getResult());
        });
    rw.replaceOp(op, g.getResult(0));
    return success();
  }
};

/// batch_norm_train and its backward on the portable path, as the dl ops they consist of
/// (whose lowerings follow): statistics over every dim but 1, kept as [1, C, 1, ...] to
/// broadcast against the input.
struct BatchNormDecomposition {
  OpBuilder &b;
  Location loc;
  RankedTensorType xt, kept;
  SmallVector<int64_t> axes;

  BatchNormDecomposition(OpBuilder &b, Location loc, Value x) : b(b), loc(loc), xt(cast<RankedTensorType>(x.getType())) {
    SmallVector<int64_t> shape(xt.getRank(), 1);
    shape[1] = xt.getDimSize(1);
    kept = RankedTensorType::get(shape, xt.getElementType());
    for (int64_t d = 0; d < xt.getRank(); ++d)
      if (d != 1) axes.push_back(d);
  }
  Value mean(Value v) { return dl::MeanOp::create(b, loc, kept, v, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(true)); }
  Value sum(Value v, Type vec) {
    return dl::SumOp::create(b, loc, vec, v, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(false));
  }
  Value asKept(Value v) { return dl::ReshapeOp::create(b, loc, kept, v, b.getDenseI64ArrayAttr({})); }
  Value asVector(Value v, Type vec) { return dl::ReshapeOp::create(b, loc, vec, v, b.getDenseI64ArrayAttr({})); }
  /// 1 / sqrt(var + eps), kept-shaped.
  Value invStd(Value var, double eps) {
    auto scalar = [&](double v) -> Value {
      auto t = RankedTensorType::get({}, xt.getElementType());
      return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(t, b.getFloatAttr(xt.getElementType(), v)));
    };
    Value std = dl::SqrtOp::create(b, loc, var.getType(), dl::AddOp::create(b, loc, var, scalar(eps)));
    return dl::DivOp::create(b, loc, scalar(1.0), std);
  }
};

/// A batch's per-channel mean of `x` ([N, C, ...]) and x - mean, the mean summed and
/// divided in float64 (PyTorch's CPU batch norm accumulates its statistics in double):
/// a float32 mean of many near-equal values (a mostly dead relu's channel, through
/// sqrt(|x| + 0.5)) is off by 1e-7 of their magnitude, which x - mean carries, the
/// division by sqrt(var + eps) magnifies 300-fold and a layer norm of a nearly flat row
/// after it further (difftest seed 165981 on --kernels linalg: a train step's outputs 3%
/// off). x - mean is rounded once, to x's type, from the float64 difference. Returns
/// (mean as a [C] vector of x's type, x - mean).
std::pair<Value, Value> centredByChannel(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> axes) {
  auto xt = cast<RankedTensorType>(x.getType());
  Type elt = xt.getElementType(), f64 = b.getF64Type();
  int64_t rank = xt.getRank();
  Value sum = reduce(b, loc, x, axes, Combine::Add, elt.getIntOrFloatBitWidth() < 64 ? f64 : Type());
  Value count = arith::ConstantIndexOp::create(b, loc, 1);
  for (int64_t a : axes) count = arith::MulIOp::create(b, loc, count, tensor::DimOp::create(b, loc, x, a));
  Value countF = arith::UIToFPOp::create(b, loc, f64, arith::IndexCastUIOp::create(b, loc, b.getI64Type(), count));
  auto wide = [&](OpBuilder &ob, Location l, Value v) {
    return v.getType() == f64 ? v : arith::ExtFOp::create(ob, l, f64, v).getResult();
  };
  auto narrow = [&](OpBuilder &ob, Location l, Value v) {
    return elt == f64 ? v : arith::TruncFOp::create(ob, l, elt, v).getResult();
  };
  // The mean, [C] in float64 and in x's type.
  auto vt = RankedTensorType::get({xt.getDimSize(1)}, elt), vt64 = RankedTensorType::get({xt.getDimSize(1)}, f64);
  AffineMap vid = b.getMultiDimIdentityMap(1);
  SmallVector<utils::IteratorType> one(1, utils::IteratorType::parallel);
  auto mean64 = linalg::GenericOp::create(
      b, loc, vt64, ValueRange{sum}, tensor::EmptyOp::create(b, loc, vt64, ValueRange{}).getResult(),
      ArrayRef<AffineMap>{vid, vid}, one, [&](OpBuilder &ob, Location l, ValueRange a) {
        linalg::YieldOp::create(ob, l, arith::DivFOp::create(ob, l, wide(ob, l, a[0]), countF).getResult());
      });
  auto mean = linalg::GenericOp::create(
      b, loc, vt, ValueRange{mean64.getResult(0)}, tensor::EmptyOp::create(b, loc, vt, ValueRange{}).getResult(),
      ArrayRef<AffineMap>{vid, vid}, one, [&](OpBuilder &ob, Location l, ValueRange a) {
        linalg::YieldOp::create(ob, l, narrow(ob, l, a[0]));
      });
  // x - mean, from the float64 difference.
  AffineMap id = b.getMultiDimIdentityMap(rank);
  AffineMap channel = AffineMap::get(rank, 0, {b.getAffineDimExpr(1)}, b.getContext());
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  Value init = tensor::EmptyOp::create(b, loc, xt, broadcastDynamicSizes(b, loc, xt, ValueRange{x}));
  auto centred = linalg::GenericOp::create(
      b, loc, xt, ValueRange{x, mean64.getResult(0)}, init, ArrayRef<AffineMap>{id, channel, id}, iters,
      [&](OpBuilder &ob, Location l, ValueRange a) {
        linalg::YieldOp::create(ob, l, narrow(ob, l, arith::SubFOp::create(ob, l, wide(ob, l, a[0]), a[1])));
      });
  return {mean.getResult(0), centred.getResult(0)};
}

struct BatchNormTrainDecomposition : public OpRewritePattern<dl::BatchNormTrainOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::BatchNormTrainOp op, PatternRewriter &rw) const override {
    if (op.getChannelsLast()) return rw.notifyMatchFailure(op, "the decomposition takes channels in dim 1");
    if (op.getActivation() != 0) return rw.notifyMatchFailure(op, "a fused relu is the oneDNN path's");
    BatchNormDecomposition d(rw, op.getLoc(), op.getInput());
    Value x = op.getInput();
    auto [mean, xc] = centredByChannel(rw, op.getLoc(), x, d.axes);
    Value var = d.mean(dl::MulOp::create(rw, op.getLoc(), xc, xc));
    Value y = dl::MulOp::create(rw, op.getLoc(), xc, d.invStd(var, op.getEps().convertToDouble()));
    y = dl::AddOp::create(rw, op.getLoc(), dl::MulOp::create(rw, op.getLoc(), y, d.asKept(op.getWeight())),
                          d.asKept(op.getBias()));
    Type vec = op.getMean().getType();
    rw.replaceOp(op, ValueRange{y, mean, d.asVector(var, vec)});
    return success();
  }
};

struct BatchNormBackwardDecomposition : public OpRewritePattern<dl::BatchNormBackwardOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::BatchNormBackwardOp op, PatternRewriter &rw) const override {
    if (op.getChannelsLast()) return rw.notifyMatchFailure(op, "the decomposition takes channels in dim 1");
    Location loc = op.getLoc();
    BatchNormDecomposition d(rw, loc, op.getInput());
    Value g = op.getGrad();
    Value invStd = d.invStd(d.asKept(op.getVar()), op.getEps().convertToDouble());
    Value xhat = dl::MulOp::create(rw, loc, dl::SubOp::create(rw, loc, op.getInput(), d.asKept(op.getMean())), invStd);
    Type vec = op.getWeight().getType();
    Value dx = dl::normalizedInputGrad(rw, loc, dl::MulOp::create(rw, loc, g, d.asKept(op.getWeight())), xhat, invStd,
                                       [&](Value v) { return d.mean(v); });
    rw.replaceOp(op, ValueRange{dx, d.sum(dl::MulOp::create(rw, loc, g, xhat), vec), d.sum(g, vec)});
    return success();
  }
};

RankedTensorType keepDimsType(Value v, int64_t axis) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape[axis] = 1;
  return RankedTensorType::get(shape, t.getElementType());
}
Value sumKeep(OpBuilder &b, Location loc, Value v, int64_t axis) {
  return dl::SumOp::create(b, loc, keepDimsType(v, axis), v, b.getDenseI64ArrayAttr({axis}), b.getBoolAttr(true));
}
Value meanKeep(OpBuilder &b, Location loc, Value v, int64_t axis) {
  return dl::MeanOp::create(b, loc, keepDimsType(v, axis), v, b.getDenseI64ArrayAttr({axis}), b.getBoolAttr(true));
}
Value scalarTensor(OpBuilder &b, Location loc, Type elt, double v) {
  auto t = RankedTensorType::get({}, elt);
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(t, b.getFloatAttr(elt, v)));
}

/// layer_norm_backward in dl ops, its mean and 1/std recomputed from the input.
struct LayerNormBackwardDecomposition : public OpRewritePattern<dl::LayerNormBackwardOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::LayerNormBackwardOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value g = op.getGrad(), x = op.getInput();
    auto xt = op.getInput().getType();
    int64_t last = xt.getRank() - 1;
    Type elt = xt.getElementType();
    auto mean = [&](Value v) { return meanKeep(rw, loc, v, last); };
    Value xc = dl::SubOp::create(rw, loc, x, mean(x));
    Value var = mean(dl::MulOp::create(rw, loc, xc, xc));
    Value std = dl::SqrtOp::create(
        rw, loc, var.getType(), dl::AddOp::create(rw, loc, var, scalarTensor(rw, loc, elt, op.getEps().convertToDouble())));
    Value rstd = dl::DivOp::create(rw, loc, scalarTensor(rw, loc, elt, 1.0), std);
    Value xhat = dl::MulOp::create(rw, loc, xc, rstd);
    Value dx = dl::normalizedInputGrad(rw, loc, dl::MulOp::create(rw, loc, g, op.getWeight()), xhat, rstd, mean);
    Value dw = dl::sumTo(rw, loc, dl::MulOp::create(rw, loc, g, xhat), op.getWeightGrad().getType());
    Value db = dl::sumTo(rw, loc, g, op.getBiasGrad().getType());
    rw.replaceOp(op, ValueRange{dx, dw, db});
    return success();
  }
};

/// softmax_backward in dl ops: y (dY - sum(dY y)) for softmax, dY - exp(y) sum(dY) for
/// log_softmax.
struct SoftmaxBackwardDecomposition : public OpRewritePattern<dl::SoftmaxBackwardOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::SoftmaxBackwardOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value g = op.getGrad(), y = op.getOutput();
    int64_t axis = op.getAxis();
    Value dx;
    if (op.getLog()) {
      Value p = dl::ExpOp::create(rw, loc, y.getType(), y);
      dx = dl::SubOp::create(rw, loc, g, dl::MulOp::create(rw, loc, p, sumKeep(rw, loc, g, axis)));
    } else {
      Value s = sumKeep(rw, loc, dl::MulOp::create(rw, loc, g, y), axis);
      dx = dl::MulOp::create(rw, loc, y, dl::SubOp::create(rw, loc, g, s));
    }
    rw.replaceOp(op, dx);
    return success();
  }
};

/// The run-time check of the values per channel, then the input itself.
struct ChannelCountCheckLowering : public OpRewritePattern<dl::ChannelCountCheckOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ChannelCountCheckOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    Value count = arith::ConstantIndexOp::create(rw, loc, 1);
    for (int64_t d = 0; d < op.getInput().getType().getRank(); ++d)
      if (d != int64_t(op.getAxis())) count = arith::MulIOp::create(rw, loc, count, dimOf(rw, loc, x, d));
    KernelCall(rw, loc, op, "dlrt_k_check_count").in(i64Value(rw, loc, count)).in(i64Const(rw, loc, op.getMin())).emit();
    rw.replaceOp(op, x);
    return success();
  }
};

} // namespace

void populateNormalizationToLinalg(RewritePatternSet &patterns) {
  patterns.add<LayerNormLowering, BatchNormLowering, ChannelCountCheckLowering, BatchNormTrainDecomposition,
               BatchNormBackwardDecomposition, LayerNormBackwardDecomposition, SoftmaxBackwardDecomposition>(
      patterns.getContext());
}

} // namespace dlc
