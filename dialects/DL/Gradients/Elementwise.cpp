//===- Elementwise.cpp - gradients of the elementwise ops ----------------===//
//
// One rule serves every elementwise op: loops around the op's buildScalarGradient (its
// derivative at one element, times the incoming gradient), then the broadcast dims
// summed back to each operand's shape. Formulas follow PyTorch's backward kernels
// (derivatives.yaml), so results match to float rounding.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::dl;

LogicalResult mlir::dl::buildElementwiseGradient(Operation *op, OpBuilder &b, ValueRange resultGrads,
                                                 ArrayRef<bool> needed, SmallVectorImpl<Value> &operandGrads) {
  auto iface = dyn_cast<ScalarElementwiseOpInterface>(op);
  if (!iface) return op->emitOpError("has no gradient rule");
  Location loc = op->getLoc();
  Value y = op->getResult(0), g = resultGrads[0];
  unsigned n = op->getNumOperands();
  SmallVector<Value> operands(op->getOperands());
  operands.push_back(y);
  operands.push_back(g);
  for (unsigned i = 0; i < n; ++i) {
    auto ot = cast<RankedTensorType>(op->getOperand(i).getType());
    if (!needed[i] || !g || !isa<FloatType>(ot.getElementType())) {
      operandGrads.push_back(Value());
      continue;
    }
    Value full = mapLike(b, loc, y, ot.getElementType(), operands, [&](OpBuilder &nb, Location l, ValueRange a) {
      return iface.buildScalarGradient(nb, l, a.take_front(n), a[n], a[n + 1], i);
    });
    operandGrads.push_back(sumTo(b, loc, full, ot));
  }
  return success();
}

namespace {
Value cst(OpBuilder &b, Location loc, Value like, double v) { return floatConst(b, loc, like.getType(), v); }
Value mul(OpBuilder &b, Location loc, Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
Value sub(OpBuilder &b, Location loc, Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
Value add(OpBuilder &b, Location loc, Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
Value div(OpBuilder &b, Location loc, Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
Value cmp(OpBuilder &b, Location loc, arith::CmpFPredicate p, Value x, Value y) {
  return arith::CmpFOp::create(b, loc, p, x, y);
}
Value select(OpBuilder &b, Location loc, Value c, Value x, Value y) { return arith::SelectOp::create(b, loc, c, x, y); }
} // namespace

// threshold_backward(grad, result, 0): the gradient passes where the result is positive.
Value ReluOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange, Value y, Value g, unsigned) {
  return select(b, loc, cmp(b, loc, arith::CmpFPredicate::OGT, y, cst(b, loc, y, 0)), g, cst(b, loc, g, 0));
}
Value LeakyReluOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange a, Value, Value g, unsigned) {
  Value pos = cmp(b, loc, arith::CmpFPredicate::OGT, a[0], cst(b, loc, a[0], 0));
  return select(b, loc, pos, g, mul(b, loc, g, cst(b, loc, g, getAlpha().convertToDouble())));
}
Value SigmoidOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange, Value y, Value g, unsigned) {
  return mul(b, loc, mul(b, loc, g, sub(b, loc, cst(b, loc, y, 1), y)), y);
}
Value TanhOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange, Value y, Value g, unsigned) {
  return mul(b, loc, g, sub(b, loc, cst(b, loc, y, 1), mul(b, loc, y, y)));
}
Value SiluOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange a, Value, Value g, unsigned) {
  Value x = a[0], one = cst(b, loc, x, 1);
  Value s = div(b, loc, one, add(b, loc, one, math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x))));
  return mul(b, loc, mul(b, loc, g, s), add(b, loc, one, mul(b, loc, x, sub(b, loc, one, s))));
}
// The exact form's derivative, cdf(x) + x pdf(x), takes the cdf back from the result the
// forward computed, y = (x / 2) (1 + erf(x / sqrt 2)) = x cdf(x), as y / x (within two
// ulp of the forward's cdf, which is PyTorch's: exactly 0 where erf rounds to -1), rather
// than another erf: MLIR's polynomial erf was most of the backward's work (TinyGpt's train
// step at batch 16 on one Sapphire Rapids core, its two GELU gradients side by side: 1.83-
// 1.88 -> 0.96-1.03 ms, the step 29.4-29.8 -> 28.1-28.2; capped at AVX2 2.80-2.85 -> 1.61-
// 1.64). It reads y, which the next layer's weight gradient keeps anyway where a dense
// follows. Where x is within 2^-60 of 0 (x / 2 may round there, and x = 0 has no
// quotient) the cdf is 1/2 to float precision. Non-finite x gives NaN, as before.
Value GeluOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange a, Value y, Value g, unsigned) {
  Value x = a[0], one = cst(b, loc, x, 1), half = cst(b, loc, x, 0.5);
  if (getTanhApprox()) {
    const double beta = 0.7978845608028654, kappa = 0.044715;
    Value x2 = mul(b, loc, x, x);
    Value inner = mul(b, loc, cst(b, loc, x, beta), add(b, loc, x, mul(b, loc, cst(b, loc, x, kappa), mul(b, loc, x2, x))));
    Value t = math::TanhOp::create(b, loc, inner);
    Value leftDerivative = mul(b, loc, half, add(b, loc, one, t));
    Value rightDerivative =
        mul(b, loc, mul(b, loc, mul(b, loc, half, x), sub(b, loc, one, mul(b, loc, t, t))),
            mul(b, loc, cst(b, loc, x, beta), add(b, loc, one, mul(b, loc, cst(b, loc, x, 3 * kappa), x2))));
    return mul(b, loc, g, add(b, loc, leftDerivative, rightDerivative));
  }
  Value nearZero = cmp(b, loc, arith::CmpFPredicate::OLT, math::AbsFOp::create(b, loc, x), cst(b, loc, x, 0x1p-60));
  Value cdf = select(b, loc, nearZero, half, div(b, loc, y, x));
  Value pdf = mul(b, loc, cst(b, loc, x, 0.3989422804014327),
                  math::ExpOp::create(b, loc, mul(b, loc, mul(b, loc, x, x), cst(b, loc, x, -0.5))));
  return mul(b, loc, g, add(b, loc, cdf, mul(b, loc, x, pdf)));
}
Value ExpOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange, Value y, Value g, unsigned) {
  return mul(b, loc, g, y);
}
Value LogOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange a, Value, Value g, unsigned) {
  return div(b, loc, g, a[0]);
}
Value SqrtOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange, Value y, Value g, unsigned) {
  return div(b, loc, g, mul(b, loc, cst(b, loc, y, 2), y));
}
// sgn(x) * grad, with sgn(0) = 0.
Value AbsOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange a, Value, Value g, unsigned) {
  Value x = a[0], zero = cst(b, loc, x, 0);
  Value neg = select(b, loc, cmp(b, loc, arith::CmpFPredicate::OLT, x, zero), arith::NegFOp::create(b, loc, g),
                     cst(b, loc, g, 0));
  return select(b, loc, cmp(b, loc, arith::CmpFPredicate::OGT, x, zero), g, neg);
}
Value NegOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange, Value, Value g, unsigned) {
  return arith::NegFOp::create(b, loc, g);
}

Value AddOp::buildScalarGradient(OpBuilder &, Location, ValueRange, Value, Value g, unsigned) { return g; }
Value SubOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange, Value, Value g, unsigned i) {
  return i == 0 ? g : Value(arith::NegFOp::create(b, loc, g));
}
Value MulOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange a, Value, Value g, unsigned i) {
  return mul(b, loc, g, a[1 - i]);
}
Value DivOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange a, Value, Value g, unsigned i) {
  if (i == 0) return div(b, loc, g, a[1]);
  // -grad * self / (other * other)
  return div(b, loc, mul(b, loc, arith::NegFOp::create(b, loc, g), a[0]), mul(b, loc, a[1], a[1]));
}
// pow_backward_self: grad * p * x^(p-1), 0 where p == 0; pow_backward_exponent:
// grad * x^p * log(x), 0 where x == 0 and p >= 0.
Value PowOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange a, Value y, Value g, unsigned i) {
  Value x = a[0], p = a[1], zero = cst(b, loc, x, 0);
  if (i == 0) {
    Value d = mul(b, loc, mul(b, loc, g, p), math::PowFOp::create(b, loc, x, sub(b, loc, p, cst(b, loc, p, 1))));
    return select(b, loc, cmp(b, loc, arith::CmpFPredicate::OEQ, p, zero), cst(b, loc, g, 0), d);
  }
  Value d = mul(b, loc, mul(b, loc, g, y), math::LogOp::create(b, loc, x));
  Value masked = arith::AndIOp::create(b, loc, cmp(b, loc, arith::CmpFPredicate::OEQ, x, zero),
                                       cmp(b, loc, arith::CmpFPredicate::OGE, p, zero));
  return select(b, loc, masked, cst(b, loc, g, 0), d);
}

// The gradient goes back to the operand's float type.
Value CastOp::buildScalarGradient(OpBuilder &b, Location loc, ValueRange a, Value, Value g, unsigned) {
  auto from = cast<FloatType>(g.getType()), to = cast<FloatType>(a[0].getType());
  if (from == to) return g;
  if (from.getWidth() == to.getWidth()) // bf16 <-> f16: through f32
    g = arith::ExtFOp::create(b, loc, b.getF32Type(), g), from = b.getF32Type();
  if (from.getWidth() < to.getWidth()) return arith::ExtFOp::create(b, loc, to, g);
  return arith::TruncFOp::create(b, loc, to, g);
}
