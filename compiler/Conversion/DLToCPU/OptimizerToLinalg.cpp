//===- OptimizerToLinalg.cpp - optimizer updates -> linalg ----------------===//
//
// One elementwise pass per parameter updates it and its slots together. Scalars follow
// PyTorch 1.13's single-tensor code: hyperparameters and bias corrections are computed
// in double (Python floats) and enter the f32 arithmetic rounded to float, in the order
// of its in-place ops.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using mlir::dl::floatConst;

namespace dlc {
namespace {

Value scalarOf(OpBuilder &b, Location loc, Value zeroD) {
  return tensor::ExtractOp::create(b, loc, zeroD, ValueRange{});
}
Value toF32(OpBuilder &b, Location loc, Value d, Type elt) { return arith::TruncFOp::create(b, loc, elt, d); }

/// A generic over tensors of one shape: `body` maps the operands' elements to the results'.
SmallVector<Value> updateLoop(OpBuilder &b, Location loc, ValueRange operands, unsigned numResults,
                              function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)> body) {
  Value like = operands[0];
  auto t = cast<RankedTensorType>(like.getType());
  SmallVector<Value> inits;
  SmallVector<Type> types;
  for (unsigned i = 0; i < numResults; ++i) {
    inits.push_back(tensor::EmptyOp::create(b, loc, t, mlir::dl::dynamicSizes(b, loc, like)));
    types.push_back(t);
  }
  SmallVector<AffineMap> maps(operands.size() + numResults, b.getMultiDimIdentityMap(t.getRank()));
  SmallVector<utils::IteratorType> iters(t.getRank(), utils::IteratorType::parallel);
  auto g = linalg::GenericOp::create(b, loc, types, operands, inits, maps, iters,
                                     [&](OpBuilder &nb, Location l, ValueRange a) {
                                       linalg::YieldOp::create(nb, l, body(nb, l, a.take_front(operands.size())));
                                     });
  return SmallVector<Value>(g.getResults());
}

struct SgdLowering : public OpRewritePattern<mlir::dl::SgdUpdateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::dl::SgdUpdateOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Type elt = op.getParam().getType().getElementType();
    Value negLr = toF32(rw, loc, arith::NegFOp::create(rw, loc, scalarOf(rw, loc, op.getLr())), elt);
    double wd = op.getWeightDecay().convertToDouble(), mom = op.getMomentum().convertToDouble();
    bool nesterov = op.getNesterov();
    SmallVector<Value> operands{op.getParam(), op.getGrad()};
    if (op.getMomentumBuffer()) operands.push_back(op.getMomentumBuffer());
    auto results = updateLoop(rw, loc, operands, operands.size() - 1, [&](OpBuilder &b, Location l, ValueRange a) {
      Value p = a[0], g = a[1];
      if (wd != 0) g = arith::AddFOp::create(b, l, g, arith::MulFOp::create(b, l, p, floatConst(b, l, elt, wd)));
      SmallVector<Value> out;
      Value buf;
      if (a.size() > 2) {
        buf = arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, a[2], floatConst(b, l, elt, mom)), g);
        g = nesterov ? Value(arith::AddFOp::create(b, l, g, arith::MulFOp::create(b, l, buf, floatConst(b, l, elt, mom))))
                     : buf;
      }
      out.push_back(arith::AddFOp::create(b, l, p, arith::MulFOp::create(b, l, g, negLr)));
      if (buf) out.push_back(buf);
      return out;
    });
    rw.replaceOp(op, results);
    return success();
  }
};

struct AdamLowering : public OpRewritePattern<mlir::dl::AdamUpdateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::dl::AdamUpdateOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Type elt = op.getParam().getType().getElementType(), f64 = rw.getF64Type();
    double beta1 = op.getBeta1().convertToDouble(), beta2 = op.getBeta2().convertToDouble();
    double eps = op.getEps().convertToDouble(), wd = op.getWeightDecay().convertToDouble();
    bool decoupled = op.getDecoupled();
    Value lr = scalarOf(rw, loc, op.getLr());
    Value t = arith::SIToFPOp::create(rw, loc, f64, scalarOf(rw, loc, op.getStep()));
    auto one = [&](OpBuilder &b) { return floatConst(b, loc, f64, 1.0); };
    Value bc1 = arith::SubFOp::create(rw, loc, one(rw), math::PowFOp::create(rw, loc, floatConst(rw, loc, f64, beta1), t));
    Value bc2 = arith::SubFOp::create(rw, loc, one(rw), math::PowFOp::create(rw, loc, floatConst(rw, loc, f64, beta2), t));
    Value negStepSize = toF32(rw, loc, arith::NegFOp::create(rw, loc, arith::DivFOp::create(rw, loc, lr, bc1)), elt);
    Value bc2Sqrt = toF32(rw, loc, math::SqrtOp::create(rw, loc, bc2), elt);
    Value decay = toF32(rw, loc, arith::SubFOp::create(rw, loc, one(rw),
                                                       arith::MulFOp::create(rw, loc, lr, floatConst(rw, loc, f64, wd))),
                        elt);
    auto results = updateLoop(
        rw, loc, ValueRange{op.getParam(), op.getGrad(), op.getExpAvg(), op.getExpAvgSq()}, 3,
        [&](OpBuilder &b, Location l, ValueRange a) {
          auto c = [&](double v) { return floatConst(b, l, elt, v); };
          Value p = a[0], g = a[1];
          if (decoupled && wd != 0) p = arith::MulFOp::create(b, l, p, decay);
          if (!decoupled && wd != 0) g = arith::AddFOp::create(b, l, g, arith::MulFOp::create(b, l, p, c(wd)));
          Value m = arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, a[2], c(beta1)),
                                          arith::MulFOp::create(b, l, g, c(1 - beta1)));
          Value v = arith::AddFOp::create(b, l, arith::MulFOp::create(b, l, a[3], c(beta2)),
                                          arith::MulFOp::create(b, l, arith::MulFOp::create(b, l, c(1 - beta2), g), g));
          Value denom = arith::AddFOp::create(b, l, arith::DivFOp::create(b, l, math::SqrtOp::create(b, l, v), bc2Sqrt),
                                              c(eps));
          Value step = arith::DivFOp::create(b, l, arith::MulFOp::create(b, l, negStepSize, m), denom);
          return SmallVector<Value>{arith::AddFOp::create(b, l, p, step), m, v};
        });
    rw.replaceOp(op, results);
    return success();
  }
};

} // namespace

void populateOptimizerToLinalg(RewritePatternSet &patterns) {
  patterns.add<SgdLowering, AdamLowering>(patterns.getContext());
}

} // namespace dlc
