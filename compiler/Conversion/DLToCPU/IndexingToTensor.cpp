//===- IndexingToTensor.cpp - embeddings, concat, slice, causal mask ------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace dlc {
namespace {

Value indexConst(OpBuilder &b, Location loc, int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

} // namespace

void checkIndices(PatternRewriter &rw, Location loc, Operation *op, Value ids, Value limit) {
  auto idsT = cast<RankedTensorType>(ids.getType());
  Value count = indexConst(rw, loc, 1);
  for (int64_t i = 0; i < idsT.getRank(); ++i) count = arith::MulIOp::create(rw, loc, count, dimOf(rw, loc, ids, i));
  KernelCall(rw, loc, op, "dlrt_k_check_ids")
      .in(ids)
      .in(i64Value(rw, loc, count))
      .in(i64Const(rw, loc, idsT.getElementType().getIntOrFloatBitWidth() / 8))
      .in(i64Value(rw, loc, limit))
      .emit();
}

std::pair<Value, Value> idsAsRows(PatternRewriter &rw, Location loc, Value ids, Value grad) {
  int64_t rank = cast<RankedTensorType>(ids.getType()).getRank();
  if (rank == 1) return {ids, grad};
  SmallVector<ReassociationIndices> all(1);
  for (int64_t i = 0; i < rank; ++i) all[0].push_back(i);
  Value flatIds = tensor::CollapseShapeOp::create(rw, loc, ids, all);
  Value rows = tensor::CollapseShapeOp::create(rw, loc, grad, SmallVector<ReassociationIndices>{all[0], {rank}});
  return {flatIds, rows};
}

Value clampIndex(OpBuilder &b, Location loc, Value id, Value limit) {
  Value i = arith::IndexCastOp::create(b, loc, b.getIndexType(), id);
  Value last = arith::SubIOp::create(b, loc, limit, indexConst(b, loc, 1));
  return arith::MinSIOp::create(b, loc, arith::MaxSIOp::create(b, loc, i, indexConst(b, loc, 0)), last);
}

namespace {

/// Ids out of range are reported by the runtime, naming the op's source location; the
/// gather clamps them so that nothing is read out of bounds meanwhile.
struct EmbeddingLowering : public OpRewritePattern<dl::EmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::EmbeddingOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value ids = op.getIds();
    auto idsT = op.getIds().getType();
    auto rt = op.getResult().getType();
    int64_t rank = idsT.getRank();
    Value num = dimOf(rw, loc, op.getWeight(), 0);
    checkIndices(rw, loc, op, ids, num);
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < rank; ++i)
      if (rt.isDynamicDim(i)) dyn.push_back(tensor::DimOp::create(rw, loc, ids, i));
    Value init = tensor::EmptyOp::create(rw, loc, rt, dyn);
    SmallVector<AffineExpr> idExprs;
    for (int64_t i = 0; i < rank; ++i) idExprs.push_back(rw.getAffineDimExpr(i));
    AffineMap idsMap = AffineMap::get(rank + 1, 0, idExprs, rw.getContext());
    SmallVector<utils::IteratorType> iters(rank + 1, utils::IteratorType::parallel);
    Value weight = op.getWeight();
    auto g = linalg::GenericOp::create(
        rw, loc, rt, ValueRange{ids}, init, ArrayRef<AffineMap>{idsMap, rw.getMultiDimIdentityMap(rank + 1)}, iters,
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value row = clampIndex(b, l, a[0], num);
          Value col = linalg::IndexOp::create(b, l, rank);
          linalg::YieldOp::create(b, l, tensor::ExtractOp::create(b, l, weight, ValueRange{row, col}).getResult());
        });
    rw.replaceOp(op, g.getResult(0));
    return success();
  }
};

struct PositionEmbeddingLowering : public OpRewritePattern<dl::PositionEmbeddingOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::PositionEmbeddingOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    auto wt = op.getWeight().getType();
    Value t = dimOf(rw, loc, op.getIds(), 1);
    if (op.getIds().getType().isDynamicDim(1))
      KernelCall(rw, loc, op, "dlrt_k_check_size")
          .in(i64Value(rw, loc, t))
          .in(i64Value(rw, loc, dimOf(rw, loc, op.getWeight(), 0)))
          .emit();
    SmallVector<OpFoldResult> offsets = {rw.getIndexAttr(0), rw.getIndexAttr(0)};
    SmallVector<OpFoldResult> sizes = {rt.isDynamicDim(1) ? OpFoldResult(t) : rw.getIndexAttr(rt.getDimSize(1)),
                                       rw.getIndexAttr(wt.getDimSize(1))};
    SmallVector<OpFoldResult> strides = {rw.getIndexAttr(1), rw.getIndexAttr(1)};
    auto sliceType = RankedTensorType::get({rt.getDimSize(1), wt.getDimSize(1)}, wt.getElementType());
    Value rows = tensor::ExtractSliceOp::create(rw, loc, sliceType, op.getWeight(), offsets, sizes, strides);
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < 2; ++i)
      if (rt.isDynamicDim(i)) dyn.push_back(tensor::DimOp::create(rw, loc, op.getIds(), i));
    Value init = tensor::EmptyOp::create(rw, loc, rt, dyn);
    AffineMap rowsMap = AffineMap::get(3, 0, {rw.getAffineDimExpr(1), rw.getAffineDimExpr(2)}, rw.getContext());
    SmallVector<utils::IteratorType> iters(3, utils::IteratorType::parallel);
    auto g = linalg::GenericOp::create(rw, loc, rt, ValueRange{rows}, init,
                                       ArrayRef<AffineMap>{rowsMap, rw.getMultiDimIdentityMap(3)}, iters,
                                       [&](OpBuilder &b, Location l, ValueRange a) { linalg::YieldOp::create(b, l, a[0]); });
    rw.replaceOp(op, g.getResult(0));
    return success();
  }
};

struct ConcatLowering : public OpRewritePattern<dl::ConcatOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ConcatOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    int64_t axis = op.getAxis();
    Value first = op.getInputs()[0];
    Value total = indexConst(rw, loc, 0);
    for (Value v : op.getInputs()) total = arith::AddIOp::create(rw, loc, total, dimOf(rw, loc, v, axis));
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < rt.getRank(); ++i)
      if (rt.isDynamicDim(i)) dyn.push_back(i == axis ? total : dimOf(rw, loc, first, i));
    Value acc = tensor::EmptyOp::create(rw, loc, rt, dyn);
    Value offset = indexConst(rw, loc, 0);
    for (Value v : op.getInputs()) {
      SmallVector<OpFoldResult> offsets(rt.getRank(), rw.getIndexAttr(0));
      offsets[axis] = offset;
      SmallVector<OpFoldResult> strides(rt.getRank(), rw.getIndexAttr(1));
      acc = tensor::InsertSliceOp::create(rw, loc, v, acc, offsets, tensorSizes(rw, loc, v), strides);
      offset = arith::AddIOp::create(rw, loc, offset, dimOf(rw, loc, v, axis));
    }
    rw.replaceOp(op, acc);
    return success();
  }
};

struct SliceLowering : public OpRewritePattern<dl::SliceOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::SliceOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    int64_t axis = op.getAxis();
    SmallVector<OpFoldResult> offsets(rt.getRank(), rw.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes = tensorSizes(rw, loc, op.getInput());
    std::tie(offsets[axis], sizes[axis]) = op.offsetAndSize(rw, loc);
    SmallVector<OpFoldResult> strides(rt.getRank(), rw.getIndexAttr(1));
    Value s = tensor::ExtractSliceOp::create(rw, loc, rt, op.getInput(), offsets, sizes, strides);
    rw.replaceOp(op, s);
    return success();
  }
};

struct CausalMaskLowering : public OpRewritePattern<dl::CausalMaskOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::CausalMaskOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto t = op.getResult().getType();
    int64_t rank = t.getRank();
    Value init = tensor::EmptyOp::create(rw, loc, t, broadcastDynamicSizes(rw, loc, t, ValueRange{op.getInput()}));
    AffineMap id = rw.getMultiDimIdentityMap(rank);
    SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
    Value negInf = reductionInit(rw, loc, t.getElementType(), /*isMax=*/true);
    auto g = linalg::GenericOp::create(rw, loc, t, ValueRange{op.getInput()}, init, ArrayRef<AffineMap>{id, id}, iters,
                                       [&](OpBuilder &b, Location l, ValueRange a) {
                                         Value row = linalg::IndexOp::create(b, l, rank - 2);
                                         Value col = linalg::IndexOp::create(b, l, rank - 1);
                                         Value future = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ugt, col, row);
                                         linalg::YieldOp::create(b, l, arith::SelectOp::create(b, l, future, negInf, a[0]).getResult());
                                       });
    rw.replaceOp(op, g.getResult(0));
    return success();
  }
};

/// The table's gradient: zeros, then each position's gradient row added to the row its id
/// names, one position after the other (repeated ids accumulate). The ids were checked
/// by the forward embedding; they are clamped here too, so nothing is written out of
/// bounds when that check failed.
struct EmbeddingGradLowering : public OpRewritePattern<dl::EmbeddingGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::EmbeddingGradOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto [ids, grad] = idsAsRows(rw, loc, op.getIds(), op.getGrad());
    auto rt = op.getResult().getType();
    int64_t dim = rt.getDimSize(1);
    Value zero = arith::ConstantOp::create(rw, loc, rw.getFloatAttr(rt.getElementType(), 0.0));
    Value empty = tensor::EmptyOp::create(rw, loc, rt, ValueRange{});
    Value table = linalg::FillOp::create(rw, loc, zero, empty).getResult(0);
    Value n = dimOf(rw, loc, ids, 0), num = indexConst(rw, loc, rt.getDimSize(0));
    auto rowType = RankedTensorType::get({1, dim}, rt.getElementType());
    auto loop = scf::ForOp::create(
        rw, loc, indexConst(rw, loc, 0), n, indexConst(rw, loc, 1), ValueRange{table},
        [&](OpBuilder &b, Location l, Value i, ValueRange acc) {
          Value id = clampIndex(b, l, tensor::ExtractOp::create(b, l, ids, i), num);
          SmallVector<OpFoldResult> sizes = {b.getIndexAttr(1), b.getIndexAttr(dim)};
          SmallVector<OpFoldResult> strides = {b.getIndexAttr(1), b.getIndexAttr(1)};
          Value src = tensor::ExtractSliceOp::create(b, l, rowType, grad, ArrayRef<OpFoldResult>{i, b.getIndexAttr(0)},
                                                     sizes, strides);
          Value dst = tensor::ExtractSliceOp::create(b, l, rowType, acc[0],
                                                     ArrayRef<OpFoldResult>{id, b.getIndexAttr(0)}, sizes, strides);
          AffineMap idm = b.getMultiDimIdentityMap(2);
          Value sum = linalg::GenericOp::create(
                          b, l, rowType, src, dst, ArrayRef<AffineMap>{idm, idm},
                          ArrayRef<utils::IteratorType>{utils::IteratorType::parallel, utils::IteratorType::parallel},
                          [&](OpBuilder &nb, Location nl, ValueRange a) {
                            linalg::YieldOp::create(nb, nl, arith::AddFOp::create(nb, nl, a[1], a[0]).getResult());
                          })
                          .getResult(0);
          Value next = tensor::InsertSliceOp::create(b, l, sum, acc[0], ArrayRef<OpFoldResult>{id, b.getIndexAttr(0)},
                                                     sizes, strides);
          scf::YieldOp::create(b, l, next);
        });
    rw.replaceOp(op, loop.getResult(0));
    return success();
  }
};

} // namespace

void populateIndexingToTensor(RewritePatternSet &patterns) {
  patterns.add<EmbeddingLowering, PositionEmbeddingLowering, ConcatLowering, SliceLowering, CausalMaskLowering,
               EmbeddingGradLowering>(
      patterns.getContext());
}

} // namespace dlc
