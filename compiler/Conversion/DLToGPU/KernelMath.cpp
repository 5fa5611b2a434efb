//===- KernelMath.cpp - the dl-expand-gpu-math pass -----------------------===//
//
// A kernel's math must be in its PTX: the driver links nothing. convert-gpu-to-nvvm
// sends math ops to libdevice (__nv_expf, __nv_log, ...), which gpu-module-to-binary
// links only where it finds a CUDA toolkit, so the same model would compile to PTX that
// loads on one machine and to PTX with unresolved calls on another. dlc's kernels call
// no library instead, whatever is installed:
//   - pow becomes exp(y log|x|) with its sign rules (MLIR's expansion);
//   - f32 exp, log, tanh and erf take dl-approximate-math's polynomials (a few ulp);
//   - f64 exp and log (the losses' sums, Adam's bias correction) are expanded here:
//     exp by k = round(x / ln 2), a Cody-Waite reduction and a degree-13 Taylor
//     polynomial, scaled by 2^k as two exact powers of two; log by x = m 2^e with m in
//     [sqrt(1/2), sqrt(2)) and 2 atanh((m - 1) / (m + 1)) to s^23 (|s| <= 0.172). Both
//     are within a few ulp and keep IEEE's special values (NaN, +-inf, 0, subnormals).
//   - what has an instruction (sqrt, fma, abs, floor, ...) becomes a call of its LLVM
//     intrinsic (dl-gpu-math-to-intrinsics, after dl-approximate-math), which NVPTX emits
//     as that instruction. convert-gpu-to-nvvm would turn the LLVM dialect's own ops
//     for them (llvm.intr.sqrt, ...) into libdevice calls; llvm.call_intrinsic it leaves.
//   - any other math op left in a kernel is an error, not a library call.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLEXPANDGPUMATH
#define GEN_PASS_DEF_DLGPUMATHTOINTRINSICS
#include "compiler/Conversion/Passes.h.inc"

namespace {

constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;

struct F64 {
  OpBuilder &b;
  Location loc;
  Value c(double v) { return arith::ConstantOp::create(b, loc, b.getF64FloatAttr(v)); }
  Value i(int64_t v) { return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v)); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value cmp(arith::CmpFPredicate p, Value x, Value y) { return arith::CmpFOp::create(b, loc, p, x, y); }
  Value select(Value c, Value x, Value y) { return arith::SelectOp::create(b, loc, c, x, y); }
  Value bits(Value x) { return arith::BitcastOp::create(b, loc, b.getI64Type(), x); }
  Value real(Value bits) { return arith::BitcastOp::create(b, loc, b.getF64Type(), bits); }
  /// 2^k for an i64 k in [-1022, 1023], exactly.
  Value pow2(Value k) {
    Value e = arith::AddIOp::create(b, loc, k, i(1023));
    return real(arith::ShLIOp::create(b, loc, e, i(52)));
  }
  /// c[0] + x (c[1] + x (c[2] + ...)).
  Value horner(Value x, ArrayRef<double> coeffs) {
    Value acc = c(coeffs.back());
    for (size_t k = coeffs.size() - 1; k-- > 0;) acc = add(c(coeffs[k]), mul(x, acc));
    return acc;
  }
};

struct ExpandExpF64 : public OpRewritePattern<math::ExpOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::ExpOp op, PatternRewriter &rw) const override {
    if (!op.getType().isF64()) return failure();
    F64 f{rw, op.getLoc()};
    Value x = op.getOperand();
    // Beyond +-1100 ln 2 the result is inf or 0 anyway; the clamp keeps k in range (and
    // maps +-inf there). NaN is restored at the end.
    Value clamped = arith::MinimumFOp::create(rw, f.loc, arith::MaximumFOp::create(rw, f.loc, x, f.c(-762.5)),
                                              f.c(762.5));
    // k = round(x / ln 2), half away from zero (|x / ln 2| <= 1100).
    Value t = f.mul(clamped, f.c(1.4426950408889634));
    Value halfAway = f.select(f.cmp(arith::CmpFPredicate::OGE, t, f.c(0.0)), f.c(0.5), f.c(-0.5));
    Value k = arith::FPToSIOp::create(rw, f.loc, rw.getI64Type(), f.add(t, halfAway));
    Value kf = arith::SIToFPOp::create(rw, f.loc, rw.getF64Type(), k);
    Value r = f.sub(f.sub(clamped, f.mul(kf, f.c(kLn2Hi))), f.mul(kf, f.c(kLn2Lo)));
    // exp(r) for |r| <= ln2/2 by Taylor: 1/n! up to n = 13.
    SmallVector<double> coeffs;
    double fact = 1;
    for (int n = 0; n <= 13; ++n) {
      if (n) fact *= n;
      coeffs.push_back(1.0 / fact);
    }
    Value p = f.horner(r, coeffs);
    // 2^k as 2^(k/2) 2^(k - k/2): each factor a normal number for |k| <= 1100.
    Value half = arith::DivSIOp::create(rw, f.loc, k, f.i(2));
    Value rest = arith::SubIOp::create(rw, f.loc, k, half);
    Value y = f.mul(f.mul(p, f.pow2(half)), f.pow2(rest));
    Value isNan = f.cmp(arith::CmpFPredicate::UNO, x, x);
    rw.replaceOp(op, f.select(isNan, x, y));
    return success();
  }
};

struct ExpandLogF64 : public OpRewritePattern<math::LogOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::LogOp op, PatternRewriter &rw) const override {
    if (!op.getType().isF64()) return failure();
    F64 f{rw, op.getLoc()};
    Value x = op.getOperand();
    // Subnormals scaled into the normal range first.
    Value tiny = f.cmp(arith::CmpFPredicate::OLT, x, f.c(2.2250738585072014e-308));
    Value xs = f.select(tiny, f.mul(x, f.c(18014398509481984.0 /* 2^54 */)), x);
    Value bits = f.bits(xs);
    Value biased = arith::AndIOp::create(rw, f.loc, arith::ShRUIOp::create(rw, f.loc, bits, f.i(52)), f.i(0x7ff));
    Value e = arith::SubIOp::create(rw, f.loc, biased, f.i(1023));
    // m in [1, 2), then into [sqrt(1/2), sqrt(2)).
    Value mantissa = arith::AndIOp::create(rw, f.loc, bits, f.i(0x000fffffffffffffLL));
    Value m = f.real(arith::OrIOp::create(rw, f.loc, mantissa, f.i(0x3ff0000000000000LL)));
    Value big = f.cmp(arith::CmpFPredicate::OGT, m, f.c(1.4142135623730951));
    m = f.select(big, f.mul(m, f.c(0.5)), m);
    e = arith::SelectOp::create(rw, f.loc, big, arith::AddIOp::create(rw, f.loc, e, f.i(1)), e);
    Value ef = arith::SIToFPOp::create(rw, f.loc, rw.getF64Type(), e);
    ef = f.select(tiny, f.sub(ef, f.c(54.0)), ef);
    // log m = 2 atanh(s), s = (m - 1) / (m + 1): 2 s (1 + s^2/3 + s^4/5 + ... + s^22/23).
    Value s = f.div(f.sub(m, f.c(1.0)), f.add(m, f.c(1.0)));
    Value s2 = f.mul(s, s);
    SmallVector<double> coeffs;
    for (int n = 1; n <= 23; n += 2) coeffs.push_back(1.0 / n);
    Value logm = f.mul(f.mul(f.c(2.0), s), f.horner(s2, coeffs));
    Value y = f.add(f.mul(ef, f.c(kLn2Hi)), f.add(f.mul(ef, f.c(kLn2Lo)), logm));
    // IEEE's special values: log(+-0) = -inf, log(x < 0) = NaN, log(+inf) = +inf, NaN.
    Value inf = f.c(std::numeric_limits<double>::infinity());
    y = f.select(f.cmp(arith::CmpFPredicate::OEQ, x, inf), inf, y);
    y = f.select(f.cmp(arith::CmpFPredicate::OEQ, x, f.c(0.0)), f.c(-std::numeric_limits<double>::infinity()), y);
    y = f.select(f.cmp(arith::CmpFPredicate::ULT, x, f.c(0.0)), f.c(std::numeric_limits<double>::quiet_NaN()), y);
    rw.replaceOp(op, y);
    return success();
  }
};

/// A math op that has an instruction -> llvm.call_intrinsic of its LLVM intrinsic.
template <typename Op> struct ToIntrinsic : public OpRewritePattern<Op> {
  ToIntrinsic(MLIRContext *ctx, StringRef name) : OpRewritePattern<Op>(ctx), name(name.str()) {}
  LogicalResult matchAndRewrite(Op op, PatternRewriter &rw) const override {
    Type t = op->getResult(0).getType();
    if (!t.isF32() && !t.isF64()) return failure();
    std::string intrinsic = "llvm." + name + (t.isF32() ? ".f32" : ".f64");
    auto call = LLVM::CallIntrinsicOp::create(rw, op.getLoc(), t, rw.getStringAttr(intrinsic), op->getOperands());
    rw.replaceOp(op, call.getResults());
    return success();
  }
  std::string name;
};

struct RsqrtToDivSqrt : public OpRewritePattern<math::RsqrtOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(math::RsqrtOp op, PatternRewriter &rw) const override {
    Value one = arith::ConstantOp::create(rw, op.getLoc(), rw.getFloatAttr(op.getType(), 1.0));
    rw.replaceOpWithNewOp<arith::DivFOp>(op, one, math::SqrtOp::create(rw, op.getLoc(), op.getOperand()));
    return success();
  }
};

struct GPUMathToIntrinsicsPass : public impl::DLGPUMathToIntrinsicsBase<GPUMathToIntrinsicsPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    patterns.add<RsqrtToDivSqrt>(ctx);
    patterns.add<ToIntrinsic<math::SqrtOp>>(ctx, "sqrt");
    patterns.add<ToIntrinsic<math::AbsFOp>>(ctx, "fabs");
    patterns.add<ToIntrinsic<math::FloorOp>>(ctx, "floor");
    patterns.add<ToIntrinsic<math::CeilOp>>(ctx, "ceil");
    patterns.add<ToIntrinsic<math::TruncOp>>(ctx, "trunc");
    patterns.add<ToIntrinsic<math::RoundEvenOp>>(ctx, "roundeven");
    patterns.add<ToIntrinsic<math::RoundOp>>(ctx, "round");
    patterns.add<ToIntrinsic<math::FmaOp>>(ctx, "fma");
    patterns.add<ToIntrinsic<math::CopySignOp>>(ctx, "copysign");
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns)))) return signalPassFailure();
    WalkResult left = getOperation()->walk([](Operation *op) {
      if (!isa<math::MathDialect>(op->getDialect())) return WalkResult::advance();
      op->emitError("internal error: '") << op->getName() << "' on " << op->getResult(0).getType()
                                         << " has no expansion for GPU kernels";
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted()) signalPassFailure();
  }
};

struct ExpandGPUMathPass : public impl::DLExpandGPUMathBase<ExpandGPUMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    math::populateExpansionPatterns(patterns, {"powf", "fpowi"});
    patterns.add<ExpandExpF64, ExpandLogF64>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns)))) signalPassFailure();
  }
};

} // namespace
} // namespace dlc
