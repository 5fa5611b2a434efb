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
  Value dx, dw;
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
  Location loc = getLoc();
  Value g = resultGrads[0], x = getInput(), w = getWeight();
  // The padding at the end is PyTorch's less output_padding. Where that is negative, the
  // last rows (columns) of the result are out of every window's reach (they hold the bias
  // alone), so their gradient reaches nothing: the convolution that undoes this one reads
  // the gradient without them, at padding 0 there.
  SmallVector<int64_t> padding(getPadding());
  for (int i = 0; i < 2; ++i) {
    if (padding[2 + i] >= 0) continue;
    auto gt = cast<RankedTensorType>(g.getType());
    int64_t axis = 2 + i, size = gt.getDimSize(axis);
    if (ShapedType::isDynamic(size))
      return emitOpError("has no gradient when output_padding exceeds padding on a dynamic H or W");
    SmallVector<int64_t> shape(gt.getShape());
    shape[axis] = size + padding[2 + i];
    g = SliceOp::create(b, loc, RankedTensorType::get(shape, gt.getElementType()), g, axis, 0, shape[axis]);
    padding[2 + i] = 0;
  }
  auto paddingAttr = b.getDenseI64ArrayAttr(padding);
  Value dx, dw;
  if (needed[0])
    dx = Conv2DOp::create(b, loc, getInput().getType(), g, w, /*bias=*/Value(), /*bn=*/ValueRange{},
                          /*residual=*/Value(), getStrideAttr(), paddingAttr, getDilationAttr(), getGroupsAttr(),
                          b.getI64IntegerAttr(0), FloatAttr(), UnitAttr(), IntegerAttr());
  if (needed[1])
    dw = Conv2DBackwardWeightsOp::create(b, loc, getWeight().getType(), x, g, getStrideAttr(), paddingAttr,
                                         getDilationAttr(), getGroupsAttr());
  grads.append({dx, dw});
  if (getBias()) grads.push_back(needed[2] ? channelSum(b, loc, resultGrads[0], getBias()) : Value());
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
