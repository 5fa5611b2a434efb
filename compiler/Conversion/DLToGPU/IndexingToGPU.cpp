//===- IndexingToGPU.cpp - gathers' gradients as parallel sums ------------===//
//
// The portable embedding_grad scatters the gradient row by row in a host loop, each row
// added at the table row its id names: the id steers the host, which on the GPU would
// mean reading device memory for every row. Here every element (r, d) of the table's
// gradient is its own thread's sum over the gradient rows whose (clamped) id is r: no
// host reads, no atomics, and the same order of additions on every run (bit-equal
// reruns). The work grows with the table's rows, which a GPU spreads over threads.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToGPU/Patterns.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace dlc {
namespace {

struct EmbeddingGradAsSum : public OpRewritePattern<dl::EmbeddingGradOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::EmbeddingGradOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto [ids, grad] = idsAsRows(rw, loc, op.getIds(), op.getGrad());
    auto rt = op.getResult().getType();
    Type elt = rt.getElementType();
    Value zero = arith::ConstantOp::create(rw, loc, rw.getFloatAttr(elt, 0.0));
    Value table = linalg::FillOp::create(rw, loc, zero, tensor::EmptyOp::create(rw, loc, rt, ValueRange{}).getResult())
                      .getResult(0);
    Value num = arith::ConstantIndexOp::create(rw, loc, rt.getDimSize(0));
    // (r, d, i): out[r, d] += ids[i] == r ? grad[i, d] : 0
    MLIRContext *ctx = rw.getContext();
    AffineExpr r, d, i;
    bindDims(ctx, r, d, i);
    SmallVector<AffineMap> maps{AffineMap::get(3, 0, {i}, ctx), AffineMap::get(3, 0, {i, d}, ctx),
                                AffineMap::get(3, 0, {r, d}, ctx)};
    auto sum = linalg::GenericOp::create(
        rw, loc, rt, ValueRange{ids, grad}, table, maps,
        ArrayRef<utils::IteratorType>{utils::IteratorType::parallel, utils::IteratorType::parallel,
                                      utils::IteratorType::reduction},
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value row = linalg::IndexOp::create(b, l, 0);
          Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, clampIndex(b, l, a[0], num), row);
          Value add = arith::AddFOp::create(b, l, a[2], a[1]);
          linalg::YieldOp::create(b, l, arith::SelectOp::create(b, l, hit, add, a[2]).getResult());
        });
    rw.replaceOp(op, sum.getResult(0));
    return success();
  }
};

} // namespace

void populateIndexingToGPU(RewritePatternSet &patterns) {
  // Preferred over the portable lowering.
  patterns.add<EmbeddingGradAsSum>(patterns.getContext(), /*benefit=*/2);
}

} // namespace dlc
