//===- ApproximateMath.cpp - inline polynomial erf, exp, tanh and log -----===//
//
// libm's erff, expf, tanhf and logf are scalar calls: a loop that calls them does not
// vectorise. In a transformer the exact GELU's erf alone took a fifth of the time;
// tanh over 524k floats took 7.6 ms, 0.13 ms approximated (AMD EPYC, one thread), log
// 3.3 ms. MLIR's polynomial approximations are plain arithmetic that LLVM vectorises.
// Measured against float64 over [-30, 30], +-[1e-40, 1e38] and the non-finite values:
// tanh within 4.3 ulp, log within 0.81 ulp on normal numbers, infinities, NaN and signed
// zeros as libm gives them.
//
// MLIR's log treats a subnormal input as the smallest normal one (log(1e-40) gave -87.3,
// not -92.1): inputs below FLT_MIN are scaled by 2^23 first and the result shifted back.
//
// f32 erf is our own (RationalErf), not MLIR's: that one picks one of three intervals'
// coefficients per lane with blends, 95 instructions a vector in the exact GELU's loop
// against 57. A lone GELU over 1024 x 512 floats, one Zen 5 core capped at AVX2: 0.38-0.47
// -> 0.31-0.36 ms (in L2, 256 x 512: 0.092 -> 0.077); with AVX-512 0.16-0.17 -> 0.14-0.15.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLAPPROXIMATEMATH
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// The f32 constant v, splat to `type` where that is a vector (the patterns here rewrite
/// scalar and vectorised math alike).
Value f32Splat(OpBuilder &b, Location loc, Type type, float v) {
  Attribute a = b.getF32FloatAttr(v);
  if (auto vt = dyn_cast<VectorType>(type)) a = DenseElementsAttr::get(vt, a);
  return arith::ConstantOp::create(b, loc, cast<TypedAttr>(a));
}

/// log(x) as log(x < FLT_MIN ? x * 2^23 : x) - (x < FLT_MIN ? 23 log(2) : 0), for the
/// approximation that mishandles subnormal x (zero and negative x keep -inf and NaN).
template <typename LogOp> void rescaleSubnormals(LogOp op, double shift) {
  Type t = op.getType();
  if (!getElementTypeOrSelf(t).isF32()) return;
  OpBuilder b(op);
  Location loc = op.getLoc();
  auto splat = [&](double v) { return f32Splat(b, loc, t, float(v)); };
  Value x = op.getOperand();
  Value tiny = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, splat(1.1754943508222875e-38));
  Value scaled = arith::SelectOp::create(b, loc, tiny, arith::MulFOp::create(b, loc, x, splat(8388608.0)), x);
  op->setOperand(0, scaled);
  b.setInsertionPointAfter(op);
  Value shifted = arith::SubFOp::create(b, loc, op.getResult(), splat(shift));
  Value result = arith::SelectOp::create(b, loc, tiny, shifted, op.getResult());
  Operation *sub = shifted.getDefiningOp(), *select = result.getDefiningOp();
  op.getResult().replaceUsesWithIf(result, [&](OpOperand &use) {
    return use.getOwner() != sub && use.getOwner() != select;
  });
}

/// erf(x) for f32, on a = |x| and its sign copied back: below 2, a P(a^2) / Q(a^2) (P of
/// degree 4, Q of 3); from 2, a polynomial of degree 10 in a - 3 on a clamped to 4 (erf(4)
/// is 1 - 1.5e-8, 1 in float). Both are fits made for this pass (scripts/fit_erf.py:
/// float64, the largest error reweighted down; 1.1e-8 relative below 2, 9.4e-9 absolute
/// above). One rational function over all of [0, 4] needs its polynomials at a^2 up to
/// 16, where float's rounding of them left errors of 6 ulp; the polynomial in a - 3 keeps
/// the sum near 1 in its first term. In float, against erf in float64 rounded: every 7th
/// float of (0, 4.5] within 4 ulp (0.63 on average, 1% above 1 ulp), every float of
/// [2, 4] within 1 ulp and at most 1, so erf saturates at exactly +-1. NaN stays NaN: the
/// clamp is a comparison and a select that keeps its operand when the comparison is
/// false, and a NaN takes the upper branch, whose polynomial keeps it.
struct RationalErf : public OpRewritePattern<math::ErfOp> {
  RationalErf(MLIRContext *context) : OpRewritePattern(context, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(math::ErfOp op, PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32()) return failure(); // MLIR's pattern takes the rest
    // scripts/fit_erf.py derives these and checks them in float arithmetic.
    static constexpr float p[] = {1.12837923f, 0.102549054f, 0.0347335227f, -0.000280955603f, 2.51881338e-05f};
    static constexpr float q[] = {1.0f, 0.424215525f, 0.072183907f, 0.00520827854f};
    static constexpr float u[] = {0.999977887f,     0.000139151467f,  -0.000417668314f, 0.000791158935f,
                                  -0.00104535092f,  0.00100485701f,   -0.000734234811f, 0.000417780364f,
                                  -0.0001419935f,   -1.40786306e-05f, 2.24642827e-05f};
    Location loc = op.getLoc();
    auto splat = [&](float v) { return f32Splat(rewriter, loc, type, v); };
    auto horner = [&](ArrayRef<float> c, Value z) -> Value {
      Value sum = splat(c.back());
      for (size_t i = c.size() - 1; i-- > 0;) sum = math::FmaOp::create(rewriter, loc, sum, z, splat(c[i]));
      return sum;
    };
    Value x = op.getOperand();
    Value a = math::AbsFOp::create(rewriter, loc, x), four = splat(4.0f);
    a = arith::SelectOp::create(rewriter, loc, arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OLT, four, a),
                                four, a);
    Value a2 = arith::MulFOp::create(rewriter, loc, a, a);
    Value below = arith::DivFOp::create(rewriter, loc, arith::MulFOp::create(rewriter, loc, a, horner(p, a2)),
                                        horner(q, a2));
    Value above = horner(u, arith::SubFOp::create(rewriter, loc, a, splat(3.0f)));
    Value isBelow = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OLT, a, splat(2.0f));
    Value r = arith::SelectOp::create(rewriter, loc, isBelow, below, above);
    rewriter.replaceOp(op, math::CopySignOp::create(rewriter, loc, r, x));
    return success();
  }
};

struct ApproximateMathPass : public impl::DLApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    getOperation()->walk([](math::LogOp op) { rescaleSubnormals(op, 23 * 0.6931471805599453); });
    getOperation()->walk([](math::Log2Op op) { rescaleSubnormals(op, 23.0); });
    RewritePatternSet patterns(&getContext());
    patterns.add<RationalErf>(&getContext());
    populatePolynomialApproximateErfPattern(patterns);
    populateMathPolynomialApproximationPatterns(
        patterns, [](StringRef name) { return llvm::StringSwitch<bool>(name).Cases({"math.exp", "math.expm1", "math.tanh", "math.log", "math.log1p", "math.log2"}, true).Default(false); });
    FrozenRewritePatternSet frozen(std::move(patterns));
    // On a module, only the functions with math in them: the driver would otherwise fold
    // and sweep every op of the host code too (a train step's thousands), 7 ms of
    // TinyGpt's compile.
    Operation *root = getOperation();
    if (!root->hasTrait<OpTrait::SymbolTable>()) {
      if (failed(applyPatternsGreedily(root, frozen))) signalPassFailure();
      return;
    }
    auto hasMath = [](Operation *f) {
      return f->walk([](Operation *op) {
                return isa<math::MathDialect>(op->getDialect()) ? WalkResult::interrupt() : WalkResult::advance();
              }).wasInterrupted();
    };
    for (Region &region : root->getRegions())
      for (Operation &f : region.getOps()) // rewriting inside f leaves this list as it is
        if (hasMath(&f) && failed(applyPatternsGreedily(&f, frozen))) signalPassFailure();
  }
};

} // namespace
} // namespace dlc
