//===- DropoutToLinalg.cpp - dropout masks from a counter-based generator -===//
//
// Each element's keep bit is Philox4x32-10 (Salmon et al., "Parallel random numbers: as
// easy as 1, 2, 3") of the counter (element index low and high 32 bits, the dropout's
// stream, the step) under the key (seed low, seed high): a pure function of those, so
// masks do not depend on threads, tiling or the device, the gradient recomputes the
// forward's mask, and a test can rebuild it. The element is kept when the top 24 bits
// of the first output word are below (1 - p) 2^24.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <cmath>

using namespace mlir;

namespace dlc {
namespace {

Value u32(OpBuilder &b, Location loc, uint32_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI32Type(), int64_t(int32_t(v))); // the same 32 bits, as a signed value
}

/// Philox4x32-10's first output word.
Value philoxWord0(OpBuilder &b, Location loc, std::array<Value, 4> ctr, std::array<Value, 2> key) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] = arith::AddIOp::create(b, loc, key[0], u32(b, loc, 0x9E3779B9u));
      key[1] = arith::AddIOp::create(b, loc, key[1], u32(b, loc, 0xBB67AE85u));
    }
    auto p0 = arith::MulUIExtendedOp::create(b, loc, u32(b, loc, 0xD2511F53u), ctr[0]);
    auto p1 = arith::MulUIExtendedOp::create(b, loc, u32(b, loc, 0xCD9E8D57u), ctr[2]);
    Value c0 = arith::XOrIOp::create(b, loc, arith::XOrIOp::create(b, loc, p1.getHigh(), ctr[1]), key[0]);
    Value c2 = arith::XOrIOp::create(b, loc, arith::XOrIOp::create(b, loc, p0.getHigh(), ctr[3]), key[1]);
    ctr = {c0, p1.getLow(), c2, p0.getLow()};
  }
  return ctr[0];
}

struct DropoutLowering : public OpRewritePattern<mlir::dl::DropoutOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(mlir::dl::DropoutOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = op.getInput().getType();
    int64_t rank = xt.getRank();
    Type elt = xt.getElementType(), i32 = rw.getI32Type(), i64 = rw.getI64Type();
    double p = op.getP().convertToDouble();
    auto trunc32 = [&](OpBuilder &b, Value v64) { return arith::TruncIOp::create(b, loc, i32, v64).getResult(); };
    auto shr32 = [&](OpBuilder &b, Value v64) {
      return arith::ShRUIOp::create(b, loc, v64, arith::ConstantIntOp::create(b, loc, i64, 32)).getResult();
    };
    Value seed = tensor::ExtractOp::create(rw, loc, op.getSeed(), ValueRange{});
    Value step = tensor::ExtractOp::create(rw, loc, op.getStep(), ValueRange{});
    std::array<Value, 2> key = {trunc32(rw, seed), trunc32(rw, shr32(rw, seed))};
    Value stream = u32(rw, loc, uint32_t(op.getStream()));
    Value step32 = trunc32(rw, step);
    // Row-major strides of x, for each element's linear index.
    SmallVector<Value> strides(rank);
    Value stride = arith::ConstantIndexOp::create(rw, loc, 1);
    for (int64_t d = rank - 1; d >= 0; --d) {
      strides[d] = stride;
      stride = arith::MulIOp::create(rw, loc, stride, dimOf(rw, loc, x, d));
    }
    int64_t threshold = int64_t(std::ceil((1.0 - p) * 16777216.0));
    Value scale = mlir::dl::floatConst(rw, loc, elt, 1.0 / (1.0 - p));
    Value y = mlir::dl::mapLike(rw, loc, x, elt, x, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
      Value index = arith::ConstantIndexOp::create(b, l, 0);
      for (int64_t d = 0; d < rank; ++d)
        index = arith::AddIOp::create(b, l, index,
                                      arith::MulIOp::create(b, l, linalg::IndexOp::create(b, l, d), strides[d]));
      Value index64 = arith::IndexCastUIOp::create(b, l, i64, index);
      Value word = philoxWord0(b, l, {trunc32(b, index64), trunc32(b, shr32(b, index64)), stream, step32}, key);
      Value top = arith::ShRUIOp::create(b, l, word, u32(b, l, 8));
      Value keep = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, top, u32(b, l, uint32_t(threshold)));
      return arith::SelectOp::create(b, l, keep, arith::MulFOp::create(b, l, a[0], scale),
                                     mlir::dl::floatConst(b, l, elt, 0.0));
    });
    rw.replaceOp(op, y);
    return success();
  }
};

} // namespace

void populateDropoutToLinalg(RewritePatternSet &patterns) { patterns.add<DropoutLowering>(patterns.getContext()); }

} // namespace dlc
