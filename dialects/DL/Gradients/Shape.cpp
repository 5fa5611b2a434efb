//===- Shape.cpp - gradients of reshape, transpose, slice, concat, mask ---===//
//
// Pure data movement: each gradient moves the incoming gradient back where its elements
// came from (the inverse reshape or permutation, a slice into zeros, a concat's parts),
// and the causal mask stops it at the masked positions.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::dl;

namespace {
OpFoldResult sizeOf(OpBuilder &b, Location loc, Value t, int64_t d) {
  auto tt = cast<RankedTensorType>(t.getType());
  if (tt.isDynamicDim(d)) return tensor::DimOp::create(b, loc, t, d).getResult();
  return b.getIndexAttr(tt.getDimSize(d));
}
} // namespace

LogicalResult ReshapeOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  bool want = needed[0] && isFloatTensor(getInput());
  grads.push_back(want ? reshapeLike(b, getLoc(), resultGrads[0], getInput()) : Value());
  return success();
}

LogicalResult TransposeOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  if (!needed[0] || !isFloatTensor(getInput())) return grads.push_back(Value()), success();
  SmallVector<int64_t> inverse(getPerm().size());
  for (auto [i, p] : llvm::enumerate(getPerm())) inverse[p] = int64_t(i);
  grads.push_back(TransposeOp::create(b, getLoc(), getInput().getType(), resultGrads[0],
                                      b.getDenseI64ArrayAttr(inverse)));
  return success();
}

LogicalResult SliceOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  if (!needed[0] || !isFloatTensor(getInput())) return grads.push_back(Value()), success();
  Location loc = getLoc();
  Value g = resultGrads[0];
  int64_t rank = getInput().getType().getRank();
  SmallVector<OpFoldResult> offsets(rank, b.getIndexAttr(0)), sizes, strides(rank, b.getIndexAttr(1));
  offsets[getAxis()] = offsetAndSize(b, loc).first;
  for (int64_t d = 0; d < rank; ++d) sizes.push_back(sizeOf(b, loc, g, d));
  grads.push_back(tensor::InsertSliceOp::create(b, loc, g, zerosLike(b, loc, getInput()), offsets, sizes, strides));
  return success();
}

LogicalResult ConcatOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value g = resultGrads[0];
  int64_t axis = getAxis();
  OpFoldResult offset = b.getIndexAttr(0);
  for (auto [k, in] : llvm::enumerate(getInputs())) {
    auto it = cast<RankedTensorType>(in.getType());
    OpFoldResult extent = sizeOf(b, loc, in, axis);
    if (needed[k] && isFloatTensor(in)) {
      SmallVector<OpFoldResult> offsets(it.getRank(), b.getIndexAttr(0)), sizes,
          strides(it.getRank(), b.getIndexAttr(1));
      offsets[axis] = offset;
      for (int64_t d = 0; d < it.getRank(); ++d) sizes.push_back(sizeOf(b, loc, in, d));
      grads.push_back(tensor::ExtractSliceOp::create(b, loc, it, g, offsets, sizes, strides));
    } else {
      grads.push_back(Value());
    }
    auto asValue = [&](OpFoldResult f) -> Value {
      if (auto v = dyn_cast<Value>(f)) return v;
      return arith::ConstantIndexOp::create(b, loc, cast<IntegerAttr>(cast<Attribute>(f)).getInt());
    };
    if (isa<Attribute>(offset) && isa<Attribute>(extent))
      offset = b.getIndexAttr(cast<IntegerAttr>(cast<Attribute>(offset)).getInt() +
                              cast<IntegerAttr>(cast<Attribute>(extent)).getInt());
    else
      offset = arith::AddIOp::create(b, loc, asValue(offset), asValue(extent)).getResult();
  }
  return success();
}

// Masked positions (column > row in the last two dims) were constants: no gradient.
LogicalResult CausalMaskOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                          SmallVectorImpl<Value> &grads) {
  if (!needed[0]) return grads.push_back(Value()), success();
  Location loc = getLoc();
  int64_t rank = getInput().getType().getRank();
  Type elt = getInput().getType().getElementType();
  grads.push_back(mapLike(b, loc, getInput(), elt, resultGrads[0], [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value row = linalg::IndexOp::create(nb, l, rank - 2), col = linalg::IndexOp::create(nb, l, rank - 1);
    Value masked = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ugt, col, row);
    return arith::SelectOp::create(nb, l, masked, floatConst(nb, l, elt, 0.0), a[0]);
  }));
  return success();
}
