//===- Convolution.cpp - gradients of conv2d, conv_transpose2d and pool2d -===//
//
// A convolution's input gradient and weight gradient are their own ops
// (conv2d_backward_data, conv2d_backward_weights), which the CPU path runs on oneDNN's
// backward primitives and the portable path as linalg. A transposed convolution is a
// convolution's backward-data pass, so its gradients are a forward conv2d (for the input)
// and conv2d_backward_weights with the roles of input and gradient exchanged. Biases get
// the gradient summed over N, H and W. Autodiff runs before fusion and layout choice, so
// the ops seen here are NCHW without folded batch norm, residual or activation.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

using namespace mlir;
using namespace mlir::dl;

namespace {

/// The bias gradient: g [N, C, H, W] summed to [C].
Value channelSum(OpBuilder &b, Location loc, Value g, Value bias) {
  return SumOp::create(b, loc, bias.getType(), g, b.getDenseI64ArrayAttr({0, 2, 3}), b.getBoolAttr(false));
}

} // namespace

LogicalResult Conv2DOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &grads) {
  if (!getBn().empty() || getResidual() || getActivation() != 0 || getChannelsLast())
    return emitOpError("has no gradient once fused or laid out for a kernel (autodiff runs before fusion)");
  Location loc = getLoc();
  Value g = resultGrads[0], x = getInput(), w = getWeight();
  Value dx, dw, db;
  if (needed[0]) {
    auto xt = getInput().getType();
    if (xt.isDynamicDim(2) || xt.isDynamicDim(3))
      return emitOpError("has no gradient for its input when H or W is dynamic");
    dx = Conv2DBackwardDataOp::create(b, loc, xt, g, w, getStrideAttr(), getPaddingAttr(), getDilationAttr(),
                                      getGroupsAttr());
  }
  if (needed[1])
    dw = Conv2DBackwardWeightsOp::create(b, loc, getWeight().getType(), g, x, getStrideAttr(), getPaddingAttr(),
                                         getDilationAttr(), getGroupsAttr());
  grads.append({dx, dw});
  if (getBias()) grads.push_back(needed[2] ? channelSum(b, loc, g, getBias()) : Value());
  return success();
}

LogicalResult ConvTranspose2DOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                               SmallVectorImpl<Value> &grads) {
  if (getChannelsLast()) return emitOpError("has no gradient once laid out for a kernel");
  // The padding at the end is PyTorch's less output_padding; the convolution that undoes
  // the transposed one needs it non-negative.
  if (llvm::any_of(getPadding(), [](int64_t p) { return p < 0; }))
    return emitOpError("has no gradient when output_padding exceeds padding");
  Location loc = getLoc();
  Value g = resultGrads[0], x = getInput(), w = getWeight();
  Value dx, dw;
  if (needed[0])
    dx = Conv2DOp::create(b, loc, getInput().getType(), g, w, /*bias=*/Value(), /*bn=*/ValueRange{},
                          /*residual=*/Value(), getStrideAttr(), getPaddingAttr(), getDilationAttr(), getGroupsAttr(),
                          b.getI64IntegerAttr(0), FloatAttr(), UnitAttr(), UnitAttr());
  if (needed[1])
    dw = Conv2DBackwardWeightsOp::create(b, loc, getWeight().getType(), x, g, getStrideAttr(), getPaddingAttr(),
                                         getDilationAttr(), getGroupsAttr());
  grads.append({dx, dw});
  if (getBias()) grads.push_back(needed[2] ? channelSum(b, loc, g, getBias()) : Value());
  return success();
}

LogicalResult Pool2DOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &grads) {
  if (getChannelsLast()) return emitOpError("has no gradient once laid out for a kernel");
  grads.push_back(needed[0] ? Value(Pool2DBackwardOp::create(b, getLoc(), getInput().getType(), resultGrads[0],
                                                             getInput(), getIsMaxAttr(), getKernelAttr(),
                                                             getStrideAttr(), getPaddingAttr()))
                            : Value());
  return success();
}
