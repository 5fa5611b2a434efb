//===- Normalization.cpp - gradients of softmax, log_softmax, layer_norm --===//
//
// (and of channel_count_check, batch_norm's training-time guard: the identity).
//
// Written with dl ops, PyTorch's formulas (_softmax_backward_data, native_layer_norm's
// backward): y (dY - sum(dY y)) for softmax, dY - exp(y) sum(dY) for log_softmax; layer
// norm recomputes its mean and 1/std from the input rather than keeping them.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::dl;

namespace {
RankedTensorType keepDimsType(Value v, int64_t axis) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape[axis] = 1;
  return RankedTensorType::get(shape, t.getElementType());
}
Value sumKeep(OpBuilder &b, Location loc, Value v, int64_t axis) {
  return SumOp::create(b, loc, keepDimsType(v, axis), v, b.getDenseI64ArrayAttr({axis}), b.getBoolAttr(true));
}
Value meanKeep(OpBuilder &b, Location loc, Value v, int64_t axis) {
  return MeanOp::create(b, loc, keepDimsType(v, axis), v, b.getDenseI64ArrayAttr({axis}), b.getBoolAttr(true));
}
Value scalarTensor(OpBuilder &b, Location loc, Type elt, double v) {
  auto t = RankedTensorType::get({}, elt);
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(t, b.getFloatAttr(elt, v)));
}
} // namespace

LogicalResult SoftmaxOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value g = resultGrads[0], y = getResult();
  Value s = sumKeep(b, loc, MulOp::create(b, loc, g, y), getAxis());
  grads.push_back(needed[0] ? Value(MulOp::create(b, loc, y, SubOp::create(b, loc, g, s))) : Value());
  return success();
}

LogicalResult LogSoftmaxOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                          SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value g = resultGrads[0], y = getResult();
  Value p = ExpOp::create(b, loc, y.getType(), y);
  Value dx = SubOp::create(b, loc, g, MulOp::create(b, loc, p, sumKeep(b, loc, g, getAxis())));
  grads.push_back(needed[0] ? dx : Value());
  return success();
}

LogicalResult LayerNormOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value g = resultGrads[0], x = getInput();
  auto xt = getInput().getType();
  int64_t last = xt.getRank() - 1;
  Type elt = xt.getElementType();
  Value mean = meanKeep(b, loc, x, last);
  Value xc = SubOp::create(b, loc, x, mean);
  Value var = meanKeep(b, loc, MulOp::create(b, loc, xc, xc), last);
  Value std = SqrtOp::create(b, loc, var.getType(),
                             AddOp::create(b, loc, var, scalarTensor(b, loc, elt, getEps().convertToDouble())));
  Value rstd = DivOp::create(b, loc, scalarTensor(b, loc, elt, 1.0), std);
  Value xhat = MulOp::create(b, loc, xc, rstd);
  Value dx, dw, db;
  if (needed[0]) {
    dx = normalizedInputGrad(b, loc, MulOp::create(b, loc, g, getWeight()), xhat, rstd,
                             [&](Value v) { return meanKeep(b, loc, v, last); });
  }
  if (needed[1]) dw = sumTo(b, loc, MulOp::create(b, loc, g, xhat), getWeight().getType());
  if (needed[2]) db = sumTo(b, loc, g, getBias().getType());
  grads.append({dx, dw, db});
  return success();
}

LogicalResult ChannelCountCheckOp::buildGradient(OpBuilder &, ValueRange resultGrads, ArrayRef<bool> needed,
                                                 SmallVectorImpl<Value> &grads) {
  grads.push_back(needed[0] ? resultGrads[0] : Value());
  return success();
}

LogicalResult BatchNormTrainOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                              SmallVectorImpl<Value> &grads) {
  // The statistics feed only the running ones, which carry no gradient.
  if (resultGrads[1] || resultGrads[2]) return emitOpError("has no gradient for its batch statistics");
  auto back = BatchNormBackwardOp::create(
      b, getLoc(), TypeRange{getInput().getType(), getWeight().getType(), getBias().getType()}, resultGrads[0],
      getInput(), getWeight(), getMean(), getVar(), getEpsAttr());
  grads.push_back(needed[0] ? back.getInputGrad() : Value());
  grads.push_back(needed[1] ? back.getWeightGrad() : Value());
  grads.push_back(needed[2] ? back.getBiasGrad() : Value());
  return success();
}
