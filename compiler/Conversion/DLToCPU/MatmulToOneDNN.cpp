//===- MatmulToOneDNN.cpp - dense and matmul -> the runtime's oneDNN kernels ===//
//
// Compiled code passes shapes and pointers only: the runtime owns the oneDNN primitives,
// created once per session, call site and shape. Each call site gets a number (`dl.site`,
// assigned by the pass before these patterns run) that keys the runtime's cache.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;

namespace dlc {

namespace {

struct DenseToOneDNN : public OpRewritePattern<dl::DenseOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::DenseOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = op.getInput().getType();
    auto rt = op.getResult().getType();
    Value m = arith::ConstantIndexOp::create(rw, loc, 1);
    SmallVector<Value> dyn;
    for (int64_t i = 0; i + 1 < xt.getRank(); ++i) {
      Value d = dimOf(rw, loc, x, i);
      m = arith::MulIOp::create(rw, loc, m, d);
      if (rt.isDynamicDim(i)) dyn.push_back(d);
    }
    Value k = dimOf(rw, loc, op.getWeight(), 1), n = dimOf(rw, loc, op.getWeight(), 0);
    Value nhwc;
    if (auto chw = op.getNhwcInput()) {
      // [C, H, W, B] for the kernel, B = C for NHWC (one block of every channel).
      SmallVector<int64_t> chwb(*chw);
      if (chwb.size() == 3) chwb.push_back(chwb[0]);
      SmallVector<Value> words;
      for (int64_t v : chwb) words.push_back(arith::ConstantIndexOp::create(rw, loc, v));
      nhwc = i64Array(rw, loc, words);
    }
    Value result = KernelCall(rw, loc, op, "dlrt_k_dense_f32")
                       .in(i64Value(rw, loc, m))
                       .in(i64Value(rw, loc, k))
                       .in(i64Value(rw, loc, n))
                       .in(x)
                       .in(op.getWeight())
                       .optional(op.getBias())
                       .out(rt, dyn)
                       .in(i64Const(rw, loc, op.getActivation()))
                       .optional(nhwc)
                       .emitResult();
    rw.replaceOp(op, result);
    return success();
  }
};

/// An operand made by a dl.transpose that only exchanges the last two dims: the transpose's
/// input, which the kernel reads with exchanged strides instead of a copy being made.
Value swappedSource(Value operand) {
  auto t = operand.getDefiningOp<dl::TransposeOp>();
  if (!t) return {};
  ArrayRef<int64_t> perm = t.getPerm();
  int64_t r = int64_t(perm.size());
  if (r < 2 || perm[r - 1] != r - 2 || perm[r - 2] != r - 1) return {};
  for (int64_t i = 0; i + 2 < r; ++i)
    if (perm[i] != i) return {};
  return t.getInput();
}

struct MatmulToOneDNN : public OpRewritePattern<dl::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::MatmulOp op, PatternRewriter &rw) const override {
    if (!op.getLhs().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    int64_t rank = rt.getRank();
    // Each operand as the kernel reads it: a transposed one as its source, and dim `d` of
    // the logical operand read from the dim it came from.
    Value stored[2];
    int64_t transposed = 0;
    Value operands[2] = {op.getLhs(), op.getRhs()};
    for (int k = 0; k < 2; ++k) {
      Value src = swappedSource(operands[k]);
      stored[k] = src ? src : operands[k];
      if (src) transposed |= int64_t(1) << k;
    }
    auto logicalDim = [&](int k, int64_t d) -> Value {
      int64_t r = cast<RankedTensorType>(operands[k].getType()).getRank();
      if (transposed & (int64_t(1) << k)) d = d == r - 1 ? r - 2 : d == r - 2 ? r - 1 : d;
      return dimOf(rw, loc, stored[k], d);
    };
    // Both operands' dims, left-padded with 1s to the result's rank, in one i64 array.
    Value one = i64Const(rw, loc, 1);
    SmallVector<Value> words;
    for (int k = 0; k < 2; ++k) {
      auto t = cast<RankedTensorType>(operands[k].getType());
      for (int64_t i = 0; i < rank; ++i) {
        int64_t src = i - (rank - t.getRank());
        words.push_back(src < 0 ? one : logicalDim(k, src));
      }
    }
    Value dims = i64Array(rw, loc, words);
    // Each dynamic result dim from the operand it comes from: rows from the lhs, columns
    // from the rhs, batch dims from whichever operand has them dynamic.
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < rank; ++i) {
      if (!rt.isDynamicDim(i)) continue;
      auto fromOperand = [&](int k) -> Value {
        auto t = cast<RankedTensorType>(operands[k].getType());
        int64_t src = i - (rank - t.getRank());
        return src >= 0 && t.isDynamicDim(src) ? logicalDim(k, src) : Value();
      };
      Value d = i == rank - 2 ? fromOperand(0) : i == rank - 1 ? fromOperand(1) : Value();
      if (!d && i < rank - 2) d = fromOperand(0) ? fromOperand(0) : fromOperand(1);
      if (!d) return rw.notifyMatchFailure(op, "a dynamic result dim no operand gives");
      dyn.push_back(d);
    }
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_matmul_f32")
                         .in(i64Const(rw, loc, rank))
                         .in(dims)
                         .in(stored[0])
                         .in(stored[1])
                         .out(rt, dyn)
                         .in(i64Const(rw, loc, transposed))
                         .emitResult());
    return success();
  }
};

} // namespace

void populateMatmulToOneDNN(RewritePatternSet &patterns, PatternBenefit benefit) {
  patterns.add<DenseToOneDNN, MatmulToOneDNN>(patterns.getContext(), benefit);
}

} // namespace dlc
