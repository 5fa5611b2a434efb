//===- ShapeToTensor.cpp - reshape and transpose -> tensor/linalg ---------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace dlc {
namespace {

struct ReshapeLowering : public OpRewritePattern<dl::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ReshapeOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value in = op.getInput();
    auto inT = op.getInput().getType();
    auto outT = op.getResult().getType();
    auto dimOf = [&](int64_t i) -> Value {
      if (inT.isDynamicDim(i)) return tensor::DimOp::create(rw, loc, in, i);
      return arith::ConstantIndexOp::create(rw, loc, inT.getDimSize(i));
    };
    Value total = arith::ConstantIndexOp::create(rw, loc, 1);
    for (int64_t i = 0; i < inT.getRank(); ++i) total = arith::MulIOp::create(rw, loc, total, dimOf(i));
    int64_t staticProduct = 1;
    for (int64_t d : outT.getShape())
      if (!ShapedType::isDynamic(d)) staticProduct *= d;
    SmallVector<Value> dims;
    size_t next = 0;
    for (int64_t d : outT.getShape()) {
      if (!ShapedType::isDynamic(d)) {
        dims.push_back(arith::ConstantIndexOp::create(rw, loc, d));
        continue;
      }
      int64_t lo = op.getFrom()[next], hi = op.getFrom()[next + 1];
      next += 2;
      if (lo < 0) {
        dims.push_back(arith::DivUIOp::create(rw, loc, total,
                                              arith::ConstantIndexOp::create(rw, loc, staticProduct)));
        continue;
      }
      Value p = arith::ConstantIndexOp::create(rw, loc, 1);
      for (int64_t i = lo; i < hi; ++i) p = arith::MulIOp::create(rw, loc, p, dimOf(i));
      dims.push_back(p);
    }
    if (dims.empty()) {
      // A rank-0 result: collapse everything.
      rw.replaceOpWithNewOp<tensor::CollapseShapeOp>(op, outT, in, ArrayRef<ReassociationIndices>{});
      return success();
    }
    Value shape = tensor::FromElementsOp::create(rw, loc, dims);
    rw.replaceOpWithNewOp<tensor::ReshapeOp>(op, outT, in, shape);
    return success();
  }
};

struct TransposeLowering : public OpRewritePattern<dl::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::TransposeOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto inT = op.getInput().getType();
    auto outT = op.getResult().getType();
    // A transpose that only moves size-1 dims (NCHW -> NHWC with one channel) keeps the
    // elements in order: a reshape, which bufferizes to a view instead of a copy.
    if (inT.getRank() == 0) {
      rw.replaceOp(op, op.getInput());
      return success();
    }
    if (op.keepsElementOrder()) {
      // (collapse_shape + expand_shape would say the same, but MLIR 22's canonicalizer
      // folds that pair into an invalid expand_shape when a dim is dynamic.)
      SmallVector<Value> sizes;
      for (int64_t p : op.getPerm()) sizes.push_back(dimOf(rw, loc, op.getInput(), p));
      Value shape = tensor::FromElementsOp::create(rw, loc, sizes);
      rw.replaceOpWithNewOp<tensor::ReshapeOp>(op, outT, op.getInput(), shape);
      return success();
    }
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < outT.getRank(); ++i)
      if (outT.isDynamicDim(i)) dyn.push_back(tensor::DimOp::create(rw, loc, op.getInput(), op.getPerm()[i]));
    Value init = tensor::EmptyOp::create(rw, loc, outT, dyn);
    auto t = linalg::TransposeOp::create(rw, loc, op.getInput(), init, op.getPerm());
    rw.replaceOp(op, t.getResult());
    return success();
  }
};

} // namespace

void populateShapeToTensor(RewritePatternSet &patterns) {
  patterns.add<ReshapeLowering, TransposeLowering>(patterns.getContext());
}

} // namespace dlc
