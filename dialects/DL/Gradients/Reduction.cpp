//===- Reduction.cpp - gradients of sum, mean and max ---------------------===//
//
// The incoming gradient spreads back over the reduced dims: as is for sum, divided by
// the count for mean, and for max (PyTorch's amax) split evenly among the elements
// equal to the maximum.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::dl;

namespace {

/// `body` over x and values reduced from it over `axes` (kept as size-1 dims or not),
/// broadcast back to x's shape.
Value mapWithReduced(OpBuilder &b, Location loc, Value x, ValueRange reduced, ArrayRef<int64_t> axes, bool keepdims,
                     ScalarBody body) {
  auto xt = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> identity = iota(xt.getRank());
  SmallVector<SmallVector<int64_t>> maps{identity};
  for (size_t k = 0; k < reduced.size(); ++k) maps.push_back(keepdims ? identity : keptDimsOf(xt.getRank(), axes));
  SmallVector<Value> operands{x};
  operands.append(reduced.begin(), reduced.end());
  return buildBroadcastGeneric(b, loc, xt, dynamicSizes(b, loc, x), operands, body, maps);
}

} // namespace

LogicalResult SumOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  if (!needed[0] || !isFloatTensor(getInput())) return grads.push_back(Value()), success();
  grads.push_back(expandReduced(b, getLoc(), resultGrads[0], getInput(), getAxes(), getKeepdims()));
  return success();
}

LogicalResult MeanOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                    SmallVectorImpl<Value> &grads) {
  if (!needed[0] || !isFloatTensor(getInput())) return grads.push_back(Value()), success();
  Location loc = getLoc();
  Value x = getInput();
  Value n = countOf(b, loc, x, getAxes(), getInput().getType().getElementType());
  grads.push_back(mapWithReduced(b, loc, x, resultGrads[0], getAxes(), getKeepdims(),
                                 [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                                   return arith::DivFOp::create(nb, l, a[1], n);
                                 }));
  return success();
}

LogicalResult MaxOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  if (!needed[0] || !isFloatTensor(getInput())) return grads.push_back(Value()), success();
  Location loc = getLoc();
  Value x = getInput();
  auto xt = getInput().getType();
  Type elt = xt.getElementType();
  Value mask = mapWithReduced(b, loc, x, getResult(), getAxes(), getKeepdims(),
                              [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                                Value eq = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, a[0], a[1]);
                                return arith::SelectOp::create(nb, l, eq, floatConst(nb, l, elt, 1.0),
                                                               floatConst(nb, l, elt, 0.0));
                              });
  SmallVector<int64_t> countShape(xt.getShape());
  for (int64_t a : getAxes()) countShape[a] = 1;
  Value count = SumOp::create(b, loc, RankedTensorType::get(countShape, elt), mask, getAxesAttr(), b.getBoolAttr(true));
  SmallVector<int64_t> identity = iota(xt.getRank());
  SmallVector<SmallVector<int64_t>> maps = {identity, identity,
                                            getKeepdims() ? identity : keptDimsOf(xt.getRank(), getAxes())};
  grads.push_back(buildBroadcastGeneric(b, loc, xt, dynamicSizes(b, loc, x), ValueRange{mask, count, resultGrads[0]},
                                        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                                          Value share = arith::DivFOp::create(nb, l, a[2], a[1]);
                                          return arith::MulFOp::create(nb, l, share, a[0]);
                                        },
                                        maps));
  return success();
}
