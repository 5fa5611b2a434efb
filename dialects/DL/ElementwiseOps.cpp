//===- ElementwiseOps.cpp - the scalar body of each elementwise op --------===//
//
// Each elementwise op says how one element is computed; the linalg lowering (and later
// fusion, the GPU path and autodiff's elementwise rules) build loops around these bodies.
// Formulas follow PyTorch's CPU kernels so that results match to float rounding.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"
#include "dialects/DL/Activation.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <cmath>

using namespace mlir;
using namespace mlir::dl;

static bool isFloat(Value v) { return isa<FloatType>(v.getType()); }

static Value sigmoidOf(OpBuilder &b, Location loc, Value x) {
  Type t = x.getType();
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, x));
  return arith::DivFOp::create(b, loc, floatConst(b, loc, t, 1.0),
                               arith::AddFOp::create(b, loc, floatConst(b, loc, t, 1.0), e));
}

Value ReluOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  Type t = a[0].getType();
  if (isFloat(a[0])) {
    // max(x, 0) that keeps NaN, as torch.relu does.
    Value zero = floatConst(b, loc, t, 0.0);
    Value gt = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UGT, a[0], zero);
    return arith::SelectOp::create(b, loc, gt, a[0], zero);
  }
  Value zero = arith::ConstantOp::create(b, loc, t, b.getIntegerAttr(t, 0));
  return arith::MaxSIOp::create(b, loc, a[0], zero);
}

Value LeakyReluOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  Type t = a[0].getType();
  Value zero = floatConst(b, loc, t, 0.0);
  Value gt = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, a[0], zero);
  Value scaled = arith::MulFOp::create(b, loc, a[0], floatConst(b, loc, t, getAlpha().convertToDouble()));
  return arith::SelectOp::create(b, loc, gt, a[0], scaled);
}

Value SigmoidOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  return sigmoidOf(b, loc, a[0]);
}

Value TanhOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  return math::TanhOp::create(b, loc, a[0]);
}

Value SiluOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  return arith::MulFOp::create(b, loc, a[0], sigmoidOf(b, loc, a[0]));
}

Value GeluOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  Value x = a[0];
  Type t = x.getType();
  Value half = floatConst(b, loc, t, 0.5), one = floatConst(b, loc, t, 1.0);
  Value inner;
  if (getTanhApprox()) {
    // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    Value x3 = arith::MulFOp::create(b, loc, x, arith::MulFOp::create(b, loc, x, x));
    Value poly = arith::AddFOp::create(
        b, loc, x, arith::MulFOp::create(b, loc, floatConst(b, loc, t, 0.044715), x3));
    inner = math::TanhOp::create(
        b, loc, arith::MulFOp::create(b, loc, floatConst(b, loc, t, 0.7978845608028654), poly));
  } else {
    // 0.5 x (1 + erf(x / sqrt(2)))
    inner = math::ErfOp::create(
        b, loc, arith::MulFOp::create(b, loc, x, floatConst(b, loc, t, 0.7071067811865476)));
  }
  Value hx = arith::MulFOp::create(b, loc, half, x);
  return arith::MulFOp::create(b, loc, hx, arith::AddFOp::create(b, loc, one, inner));
}

Value ExpOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  return math::ExpOp::create(b, loc, a[0]);
}
Value LogOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  return math::LogOp::create(b, loc, a[0]);
}
Value SqrtOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  return math::SqrtOp::create(b, loc, a[0]);
}
Value AbsOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  if (isFloat(a[0])) return math::AbsFOp::create(b, loc, a[0]);
  return math::AbsIOp::create(b, loc, a[0]);
}
Value NegOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  if (isFloat(a[0])) return arith::NegFOp::create(b, loc, a[0]);
  Value zero = arith::ConstantOp::create(b, loc, a[0].getType(),
                                         b.getIntegerAttr(a[0].getType(), 0));
  return arith::SubIOp::create(b, loc, zero, a[0]);
}

Value AddOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  if (isFloat(a[0])) return arith::AddFOp::create(b, loc, a[0], a[1]);
  return arith::AddIOp::create(b, loc, a[0], a[1]);
}
Value SubOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  if (isFloat(a[0])) return arith::SubFOp::create(b, loc, a[0], a[1]);
  return arith::SubIOp::create(b, loc, a[0], a[1]);
}
Value MulOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  if (isFloat(a[0])) return arith::MulFOp::create(b, loc, a[0], a[1]);
  return arith::MulIOp::create(b, loc, a[0], a[1]);
}
Value DivOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  // `/` is true division: the front end casts integer operands to float first.
  return arith::DivFOp::create(b, loc, a[0], a[1]);
}
/// b^e for integers as PyTorch computes it: square-and-multiply, wrapping on overflow;
/// a negative exponent gives 1 for b = 1, +-1 for b = -1 and 0 otherwise (0^0 = 1).
/// Branch-free over every exponent bit, so that the loop around it still vectorises.
static Value integerPower(OpBuilder &b, Location loc, Value base, Value exp) {
  Type t = base.getType();
  unsigned width = t.getIntOrFloatBitWidth();
  auto c = [&](int64_t v) -> Value { return arith::ConstantOp::create(b, loc, t, b.getIntegerAttr(t, v)); };
  Value one = c(1), zero = c(0);
  Value result = one, square = base;
  for (unsigned i = 0; i + 1 < width; ++i) { // the sign bit is handled below
    Value bit = arith::AndIOp::create(b, loc, arith::ShRUIOp::create(b, loc, exp, c(i)), one);
    Value set = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, bit, zero);
    result = arith::SelectOp::create(b, loc, set, arith::MulIOp::create(b, loc, result, square), result);
    square = arith::MulIOp::create(b, loc, square, square);
  }
  Value negative = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, exp, zero);
  Value odd = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, arith::AndIOp::create(b, loc, exp, one), zero);
  Value isOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, base, one);
  Value isMinusOne = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, base, c(-1));
  Value minusOnePower = arith::SelectOp::create(b, loc, odd, c(-1), one);
  Value negativePower =
      arith::SelectOp::create(b, loc, isOne, one, arith::SelectOp::create(b, loc, isMinusOne, minusOnePower, zero));
  return arith::SelectOp::create(b, loc, negative, negativePower, result);
}

Value PowOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  if (isa<IntegerType>(a[0].getType())) return integerPower(b, loc, a[0], a[1]);
  return math::PowFOp::create(b, loc, a[0], a[1]);
}

Value CastOp::buildScalar(OpBuilder &b, Location loc, ValueRange a) {
  Value x = a[0];
  Type from = x.getType(), to = getResult().getType().getElementType();
  if (from == to) return x;
  auto fFrom = dyn_cast<FloatType>(from), fTo = dyn_cast<FloatType>(to);
  if (fFrom && fTo) {
    if (fFrom.getWidth() < fTo.getWidth()) return arith::ExtFOp::create(b, loc, to, x);
    return arith::TruncFOp::create(b, loc, to, x);
  }
  if (fFrom) {
    if (to.isInteger(1))
      return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNE, x, floatConst(b, loc, from, 0));
    // NaN, infinities and values out of the integer's range become its lowest value, as
    // torch's casts on x86 give (cvttss2si's "integer indefinite"). arith.fptosi of such a
    // value is poison to LLVM, which folded the int-and-back cast of an infinity into the
    // infinity itself.
    unsigned width = to.getIntOrFloatBitWidth();
    Value low = floatConst(b, loc, from, -std::ldexp(1.0, int(width) - 1));
    Value high = floatConst(b, loc, from, std::ldexp(1.0, int(width) - 1));
    Value inRange = arith::AndIOp::create(b, loc, arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGE, x, low),
                                          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, high));
    Value lowest = arith::ConstantOp::create(b, loc, to, b.getIntegerAttr(to, APInt::getSignedMinValue(width)));
    return arith::SelectOp::create(b, loc, inRange, arith::FPToSIOp::create(b, loc, to, x), lowest);
  }
  if (fTo) {
    if (from.isInteger(1)) return arith::UIToFPOp::create(b, loc, to, x);
    return arith::SIToFPOp::create(b, loc, to, x);
  }
  unsigned wf = from.getIntOrFloatBitWidth(), wt = to.getIntOrFloatBitWidth();
  if (wt == 1) {
    Value zero = arith::ConstantOp::create(b, loc, from, b.getIntegerAttr(from, 0));
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne, x, zero);
  }
  if (wf == 1) return arith::ExtUIOp::create(b, loc, to, x);
  if (wf < wt) return arith::ExtSIOp::create(b, loc, to, x);
  return arith::TruncIOp::create(b, loc, to, x);
}

// The activations a kernel can apply as a oneDNN post-op, and back.

int64_t ReluOp::getKernelActivation() { return ActivationRelu; }
int64_t SigmoidOp::getKernelActivation() { return ActivationSigmoid; }
int64_t TanhOp::getKernelActivation() { return ActivationTanh; }
int64_t SiluOp::getKernelActivation() { return ActivationSilu; }
int64_t GeluOp::getKernelActivation() {
  return getTanhApprox() ? ActivationGeluTanh : ActivationGeluErf;
}

Value mlir::dl::createKernelActivation(OpBuilder &b, Location loc, int64_t code, Value x) {
  Type t = x.getType();
  switch (code) {
  case ActivationRelu: return ReluOp::create(b, loc, t, x);
  case ActivationSigmoid: return SigmoidOp::create(b, loc, t, x);
  case ActivationTanh: return TanhOp::create(b, loc, t, x);
  case ActivationSilu: return SiluOp::create(b, loc, t, x);
  case ActivationGeluErf: return GeluOp::create(b, loc, t, x, false);
  case ActivationGeluTanh: return GeluOp::create(b, loc, t, x, true);
  default: return x;
  }
}
