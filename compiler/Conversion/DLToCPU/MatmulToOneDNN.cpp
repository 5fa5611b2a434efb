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
      SmallVector<Value> words;
      for (int64_t v : *chw) words.push_back(arith::ConstantIndexOp::create(rw, loc, v));
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

struct MatmulToOneDNN : public OpRewritePattern<dl::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::MatmulOp op, PatternRewriter &rw) const override {
    if (!op.getLhs().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    int64_t rank = rt.getRank();
    // Both operands' dims, left-padded with 1s to the result's rank, in one i64 array.
    Value one = i64Const(rw, loc, 1);
    SmallVector<Value> words;
    for (Value operand : {op.getLhs(), op.getRhs()}) {
      auto t = cast<RankedTensorType>(operand.getType());
      for (int64_t i = 0; i < rank; ++i) {
        int64_t src = i - (rank - t.getRank());
        words.push_back(src < 0 ? one : dimOf(rw, loc, operand, src));
      }
    }
    Value dims = i64Array(rw, loc, words);
    SmallVector<Value> dyn = broadcastDynamicSizes(rw, loc, rt, ValueRange{op.getLhs(), op.getRhs()});
    // The row and column dims come from one operand each, not by broadcasting.
    if (rt.isDynamicDim(rank - 2) || rt.isDynamicDim(rank - 1)) {
      dyn.clear();
      for (int64_t i = 0; i < rank; ++i) {
        if (!rt.isDynamicDim(i)) continue;
        if (i == rank - 2) dyn.push_back(dimOf(rw, loc, op.getLhs(), op.getLhs().getType().getRank() - 2));
        else if (i == rank - 1) dyn.push_back(dimOf(rw, loc, op.getRhs(), op.getRhs().getType().getRank() - 1));
        else {
          for (Value o : {op.getLhs(), op.getRhs()}) {
            auto t = cast<RankedTensorType>(o.getType());
            int64_t src = i - (rank - t.getRank());
            if (src >= 0 && t.isDynamicDim(src)) { dyn.push_back(dimOf(rw, loc, o, src)); break; }
          }
        }
      }
    }
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_matmul_f32")
                         .in(i64Const(rw, loc, rank))
                         .in(dims)
                         .in(op.getLhs())
                         .in(op.getRhs())
                         .out(rt, dyn)
                         .emitResult());
    return success();
  }
};

} // namespace

void populateMatmulToOneDNN(RewritePatternSet &patterns) {
  patterns.add<DenseToOneDNN, MatmulToOneDNN>(patterns.getContext());
}

} // namespace dlc
