//===- Indexing.cpp - gradients of the embeddings -------------------------===//
//
// An embedding's table gets the incoming rows summed into the rows its ids name
// (repeated ids accumulate: dl.embedding_grad); a position embedding's table the
// incoming gradient summed over the batch, in its first T rows. Ids have no gradient.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::dl;

LogicalResult EmbeddingOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  grads.push_back(Value());
  grads.push_back(needed[1] ? Value(EmbeddingGradOp::create(b, getLoc(), getWeight().getType(), getIds(), resultGrads[0]))
                            : Value());
  return success();
}

LogicalResult PositionEmbeddingOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                                 SmallVectorImpl<Value> &grads) {
  grads.push_back(Value());
  if (!needed[1]) return grads.push_back(Value()), success();
  Location loc = getLoc();
  Value g = resultGrads[0];
  auto gt = cast<RankedTensorType>(g.getType());
  auto rowsType = RankedTensorType::get(gt.getShape().drop_front(), gt.getElementType());
  Value rows = SumOp::create(b, loc, rowsType, g, b.getDenseI64ArrayAttr({0}), b.getBoolAttr(false));
  SmallVector<OpFoldResult> offsets(2, b.getIndexAttr(0)), strides(2, b.getIndexAttr(1));
  SmallVector<OpFoldResult> sizes;
  for (int64_t d = 0; d < 2; ++d)
    sizes.push_back(rowsType.isDynamicDim(d) ? OpFoldResult(tensor::DimOp::create(b, loc, rows, d).getResult())
                                             : OpFoldResult(b.getIndexAttr(rowsType.getDimSize(d))));
  grads.push_back(tensor::InsertSliceOp::create(b, loc, rows, zerosLike(b, loc, getWeight()), offsets, sizes, strides));
  return success();
}
