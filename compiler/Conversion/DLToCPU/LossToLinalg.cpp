//===- LossToLinalg.cpp - losses and argmax -> linalg ---------------------===//
//
// Each loss is a mean, accumulated in float64 over every position (or element) and
// rounded once: cross_entropy as log-sum-exp (max-shifted) less the label's score, nll
// as minus the label's score, mse as squared differences, bce_with_logits in PyTorch's
// stable form (1 - t) x + m + log(e^-m + e^(-x-m)), m = max(-x, 0). Labels are checked
// by the runtime (an out-of-range label is an error naming the loss); the gather clamps
// them meanwhile, so nothing is read out of bounds.
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

using namespace mlir;
using mlir::dl::iota;

namespace dlc {
namespace {

/// sum over every element of `term(operands...)` (operands all of `like`'s rank, or of
/// its positions' rank where `dims` says), in f64, divided by `count`, as a 0-d tensor
/// of `resultType`. The adds may be reordered (vectorised), as reduce()'s are.
Value meanOf(OpBuilder &b, Location loc, ValueRange operands, ArrayRef<AffineMap> inMaps, int64_t rank,
             Value count, RankedTensorType resultType,
             function_ref<Value(OpBuilder &, Location, ValueRange)> term) {
  Type f64 = b.getF64Type();
  auto accType = RankedTensorType::get({}, f64);
  Value init = linalg::FillOp::create(b, loc, mlir::dl::floatConst(b, loc, f64, 0.0),
                                      tensor::EmptyOp::create(b, loc, accType, ValueRange{}).getResult())
                   .getResult(0);
  SmallVector<AffineMap> maps(inMaps);
  maps.push_back(AffineMap::get(rank, 0, {}, b.getContext()));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::reduction);
  Value sum = linalg::GenericOp::create(b, loc, accType, operands, init, maps, iters,
                                        [&](OpBuilder &nb, Location l, ValueRange a) {
                                          Value v = term(nb, l, a.drop_back());
                                          if (v.getType() != f64) v = arith::ExtFOp::create(nb, l, f64, v);
                                          linalg::YieldOp::create(
                                              nb, l, arith::AddFOp::create(nb, l, a.back(), v, arith::FastMathFlags::reassoc)
                                                         .getResult());
                                        })
                  .getResult(0);
  Value out = tensor::EmptyOp::create(b, loc, resultType, ValueRange{});
  AffineMap scalar = AffineMap::get(0, 0, {}, b.getContext());
  return linalg::GenericOp::create(b, loc, resultType, sum, out, ArrayRef<AffineMap>{scalar, scalar},
                                   ArrayRef<utils::IteratorType>{}, [&](OpBuilder &nb, Location l, ValueRange a) {
                                     Value m = arith::DivFOp::create(nb, l, a[0], count);
                                     Type elt = resultType.getElementType();
                                     if (elt != f64) m = arith::TruncFOp::create(nb, l, elt, m);
                                     linalg::YieldOp::create(nb, l, m);
                                   })
      .getResult(0);
}

/// `x[pos..., label]`, the label clamped into [0, C).
Value scoreOfLabel(OpBuilder &b, Location loc, Value x, Value label, int64_t positionsRank, Value classes) {
  SmallVector<Value> idx;
  for (int64_t i = 0; i < positionsRank; ++i) idx.push_back(linalg::IndexOp::create(b, loc, i));
  idx.push_back(clampIndex(b, loc, label, classes));
  return tensor::ExtractOp::create(b, loc, x, idx);
}

/// cross_entropy and nll: the mean over positions of (log-sum-exp, or 0) - x[label].
template <typename OpT, bool logSumExp>
struct ClassLossLowering : public OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput(), labels = op.getTarget();
    auto xt = op.getInput().getType();
    int64_t rank = xt.getRank(), last = rank - 1;
    Value classes = dimOf(rw, loc, x, last);
    checkIndices(rw, loc, op, labels, classes); // an out-of-range label is an error naming the loss
    SmallVector<Value> operands{labels};
    SmallVector<AffineMap> maps{rw.getMultiDimIdentityMap(last)};
    if (logSumExp) {
      Type f64 = rw.getF64Type();
      Value m = reduce(rw, loc, x, {last}, Combine::Max);
      Value e = mapWithReduced(rw, loc, x, m, last, [](OpBuilder &b, Location l, Value v, Value mx) -> Value {
        return math::ExpOp::create(b, l, arith::SubFOp::create(b, l, v, mx));
      });
      Value s = reduce(rw, loc, e, {last}, Combine::Add, f64);
      operands.append({m, s});
      maps.append({rw.getMultiDimIdentityMap(last), rw.getMultiDimIdentityMap(last)});
    }
    Type f64 = rw.getF64Type();
    Value count = mlir::dl::countOf(rw, loc, labels, iota(last), f64);
    Value loss = meanOf(rw, loc, operands, maps, last, count, op.getResult().getType(),
                        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                          Value picked = scoreOfLabel(b, l, x, a[0], last, classes);
                          picked = arith::ExtFOp::create(b, l, f64, picked);
                          if (!logSumExp) return arith::NegFOp::create(b, l, picked);
                          Value mx = arith::ExtFOp::create(b, l, f64, a[1]);
                          Value lse = arith::AddFOp::create(b, l, mx, math::LogOp::create(b, l, a[2]));
                          return arith::SubFOp::create(b, l, lse, picked);
                        });
    rw.replaceOp(op, loss);
    return success();
  }
};

/// mse and bce_with_logits: the mean over elements of term(x, t).
template <typename OpT>
struct PairLossLowering : public OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    int64_t rank = op.getInput().getType().getRank();
    Type f64 = rw.getF64Type();
    Value count = mlir::dl::countOf(rw, loc, op.getInput(), iota(rank), f64);
    AffineMap id = rw.getMultiDimIdentityMap(rank);
    Value loss = meanOf(rw, loc, ValueRange{op.getInput(), op.getTarget()}, {id, id}, rank, count,
                        op.getResult().getType(), [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                          return term(b, l, arith::ExtFOp::create(b, l, f64, a[0]),
                                      arith::ExtFOp::create(b, l, f64, a[1]));
                        });
    rw.replaceOp(op, loss);
    return success();
  }
  static Value term(OpBuilder &b, Location l, Value x, Value t);
};

template <>
Value PairLossLowering<mlir::dl::MseOp>::term(OpBuilder &b, Location l, Value x, Value t) {
  Value d = arith::SubFOp::create(b, l, x, t);
  return arith::MulFOp::create(b, l, d, d);
}

template <>
Value PairLossLowering<mlir::dl::BceWithLogitsOp>::term(OpBuilder &b, Location l, Value x, Value t) {
  Type f = x.getType();
  Value zero = mlir::dl::floatConst(b, l, f, 0.0), one = mlir::dl::floatConst(b, l, f, 1.0);
  Value negX = arith::NegFOp::create(b, l, x);
  Value m = arith::MaximumFOp::create(b, l, negX, zero);
  Value lhs = arith::MulFOp::create(b, l, arith::SubFOp::create(b, l, one, t), x);
  Value e = arith::AddFOp::create(b, l, math::ExpOp::create(b, l, arith::NegFOp::create(b, l, m)),
                                  math::ExpOp::create(b, l, arith::SubFOp::create(b, l, negX, m)));
  return arith::AddFOp::create(b, l, arith::AddFOp::create(b, l, lhs, m), math::LogOp::create(b, l, e));
}

/// The index of the largest element along the last axis, the first where several are,
/// the first NaN where there is one (torch.argmax); the class count where the class axis
/// is empty. Two reductions: the maximum (NaN propagating), then the least index holding
/// it (or a NaN). One reduction keeping value and index together is a select chain the
/// vectoriser leaves scalar: TinyGpt's train step at b16 spent 0.77 ms of 35 on its
/// predictions so.
struct ArgmaxLowering : public OpRewritePattern<mlir::dl::ArgmaxOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::dl::ArgmaxOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = op.getInput().getType();
    int64_t rank = xt.getRank(), last = rank - 1;
    auto rt = op.getResult().getType();
    Type elt = xt.getElementType();
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < last; ++i)
      if (xt.isDynamicDim(i)) dyn.push_back(tensor::DimOp::create(rw, loc, x, i));
    auto maxType = RankedTensorType::get(rt.getShape(), elt);
    SmallVector<AffineExpr> outExprs;
    for (int64_t i = 0; i < last; ++i) outExprs.push_back(rw.getAffineDimExpr(i));
    AffineMap all = rw.getMultiDimIdentityMap(rank), outMap = AffineMap::get(rank, 0, outExprs, rw.getContext());
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    iters.back() = utils::IteratorType::reduction;

    Value maxInit = linalg::FillOp::create(rw, loc, reductionInit(rw, loc, elt, true),
                                           tensor::EmptyOp::create(rw, loc, maxType, dyn).getResult())
                        .getResult(0);
    Value max = linalg::GenericOp::create(rw, loc, TypeRange{maxType}, x, ValueRange{maxInit},
                                          ArrayRef<AffineMap>{all, outMap}, iters,
                                          [&](OpBuilder &b, Location l, ValueRange a) {
                                            linalg::YieldOp::create(
                                                b, l, ValueRange{arith::MaximumFOp::create(b, l, a[0], a[1])});
                                          })
                    .getResult(0);

    // "No element yet" is the class count, not smin's identity INT64_MAX: with the identity,
    // instcombine folds min(select(hit, i, MAX), acc) into select(hit, min(i, acc), acc), a
    // chain the loop vectoriser leaves scalar (0.26 ms of TinyGpt's train step at b16 on one
    // Sapphire Rapids core); min(select(hit, i, C), acc) is a plain vectorised min. Every
    // row has a hit (the maximum, or a NaN) unless the class axis is empty, where it is C.
    Value none = arith::IndexCastOp::create(rw, loc, rw.getI64Type(), dimOf(rw, loc, x, last));
    Value idxInit = linalg::FillOp::create(rw, loc, none, tensor::EmptyOp::create(rw, loc, rt, dyn).getResult())
                        .getResult(0);
    auto first = linalg::GenericOp::create(
        rw, loc, TypeRange{rt}, ValueRange{x, max}, ValueRange{idxInit}, ArrayRef<AffineMap>{all, outMap, outMap},
        iters, [&](OpBuilder &b, Location l, ValueRange a) {
          Value i = arith::IndexCastOp::create(b, l, b.getI64Type(), linalg::IndexOp::create(b, l, last));
          // x == max, or x is NaN: then max is NaN too, which nothing equals, and where max
          // is not NaN no element is.
          Value equal = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, a[0], a[1]);
          Value isNaN = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, a[0], a[0]);
          Value hit = arith::OrIOp::create(b, l, equal, isNaN);
          Value candidate = arith::SelectOp::create(b, l, hit, i, none);
          linalg::YieldOp::create(b, l, ValueRange{arith::MinSIOp::create(b, l, candidate, a[2])});
        });
    rw.replaceOp(op, first.getResult(0));
    return success();
  }
};

} // namespace

void populateLossToLinalg(RewritePatternSet &patterns) {
  patterns.add<ClassLossLowering<mlir::dl::CrossEntropyOp, true>, ClassLossLowering<mlir::dl::NllOp, false>,
               PairLossLowering<mlir::dl::MseOp>, PairLossLowering<mlir::dl::BceWithLogitsOp>, ArgmaxLowering>(
      patterns.getContext());
}

} // namespace dlc
