//===- Normalization.cpp - gradients of softmax, log_softmax, layer_norm --===//
//
// (and of channel_count_check, batch_norm's training-time guard: the identity).
//
// Each is one backward op (softmax_backward from the forward's result, layer_norm_backward
// from its input and weight, batch_norm_backward from the batch statistics), which a
// target runs on its normalisation kernels or decomposes into dl ops (PyTorch's formulas:
// _softmax_backward_data, native_layer_norm's backward).
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"

using namespace mlir;
using namespace mlir::dl;

LogicalResult SoftmaxOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  grads.push_back(needed[0] ? Value(SoftmaxBackwardOp::create(b, getLoc(), getType(), resultGrads[0], getResult(),
                                                              getAxisAttr(), b.getBoolAttr(false)))
                            : Value());
  return success();
}

LogicalResult LogSoftmaxOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                          SmallVectorImpl<Value> &grads) {
  grads.push_back(needed[0] ? Value(SoftmaxBackwardOp::create(b, getLoc(), getType(), resultGrads[0], getResult(),
                                                              getAxisAttr(), b.getBoolAttr(true)))
                            : Value());
  return success();
}

LogicalResult LayerNormOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  auto back = LayerNormBackwardOp::create(
      b, getLoc(), TypeRange{getInput().getType(), getWeight().getType(), getBias().getType()}, resultGrads[0],
      getInput(), getWeight(), getEpsAttr());
  grads.push_back(needed[0] ? back.getInputGrad() : Value());
  grads.push_back(needed[1] ? back.getWeightGrad() : Value());
  grads.push_back(needed[2] ? back.getBiasGrad() : Value());
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
  // A fused residual or relu comes after the gradient is built (FuseActivations).
  if (getResidual() || getActivation() != 0) return emitOpError("has no gradient rule with a fused residual or relu");
  auto back = BatchNormBackwardOp::create(
      b, getLoc(), TypeRange{getInput().getType(), getWeight().getType(), getBias().getType()}, resultGrads[0],
      getInput(), getWeight(), getMean(), getVar(), getEpsAttr());
  grads.push_back(needed[0] ? back.getInputGrad() : Value());
  grads.push_back(needed[1] ? back.getWeightGrad() : Value());
  grads.push_back(needed[2] ? back.getBiasGrad() : Value());
  return success();
}
