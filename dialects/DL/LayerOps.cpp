//===- LayerOps.cpp - verifiers of normalisation, indexing, conv, pool ----===//
#include "dialects/DL/Activation.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::dl;

static bool agree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// The channel blocks of the layout pass: an AVX-512 vector of floats or an AVX2 one.
static LogicalResult verifyChannelBlock(Operation *op, uint64_t block) {
  if (block != 8 && block != 16) return op->emitOpError("channel blocks of 8 or 16, not ") << block;
  return success();
}

static LogicalResult vector(Operation *op, Value v, int64_t size, StringRef what) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() != 1 || !agree(t.getDimSize(0), size))
    return op->emitOpError(what) << " must be a vector of " << size << ", got " << t;
  return success();
}

LogicalResult BatchNormTrainOp::verify() {
  auto x = getInput().getType();
  if (x.getRank() < 2 || x.getShape() != getResult().getType().getShape())
    return emitOpError("expects a result of the input's shape, rank >= 2");
  if (getChannelsLast() && x.getRank() != 4) return emitOpError("channels_last needs a 4-d input");
  if (getActivation() != 0 && getActivation() != ActivationRelu)
    return emitOpError("applies no activation or relu, not activation ") << getActivation();
  if (getResidual() && getResidual().getType() != getResult().getType())
    return emitOpError("expects a residual of the result's type");
  int64_t c = x.getDimSize(getChannelsLast() ? 3 : 1);
  for (Value v : {getWeight(), getBias(), getMean(), getVar()})
    if (failed(vector(*this, v, c, "weight, bias and the statistics"))) return failure();
  return success();
}

LogicalResult LayerNormOp::verify() {
  auto x = getInput().getType();
  if (x.getRank() < 1 || x.getShape() != getResult().getType().getShape())
    return emitOpError("result must have the input's shape");
  int64_t d = x.getShape().back();
  if (failed(vector(*this, getWeight(), d, "weight")) || failed(vector(*this, getBias(), d, "bias")))
    return failure();
  return success();
}

LogicalResult BatchNormOp::verify() {
  auto x = getInput().getType();
  if (x.getRank() < 2 || x.getShape() != getResult().getType().getShape())
    return emitOpError("needs rank >= 2 and a result of the input's shape");
  int64_t c = x.getDimSize(1);
  // Named arrays, not braced ranges in the loop header: a range-for (before C++23) destroys
  // the initializer lists behind such ranges before the body reads them.
  Value vectors[] = {getWeight(), getBias(), getRunningMean(), getRunningVar()};
  StringRef names[] = {"weight", "bias", "running_mean", "running_var"};
  for (auto [v, name] : llvm::zip(vectors, names))
    if (failed(vector(*this, v, c, name))) return failure();
  return success();
}

LogicalResult EmbeddingOp::verify() {
  auto ids = getIds().getType();
  auto w = getWeight().getType();
  auto r = getResult().getType();
  if (w.getRank() != 2) return emitOpError("weight must be [num, dim]");
  if (r.getRank() != ids.getRank() + 1 || !agree(r.getShape().back(), w.getDimSize(1)))
    return emitOpError("result must be ids' shape + [dim]");
  return success();
}

LogicalResult PositionEmbeddingOp::verify() {
  auto ids = getIds().getType();
  auto w = getWeight().getType();
  auto r = getResult().getType();
  if (ids.getRank() != 2 || w.getRank() != 2 || r.getRank() != 3)
    return emitOpError("expects ids [B, T], weight [max_len, dim], result [B, T, dim]");
  if (!agree(r.getDimSize(2), w.getDimSize(1)) || !agree(r.getDimSize(1), ids.getDimSize(1)))
    return emitOpError("result dims disagree with ids and weight");
  return success();
}

LogicalResult ConcatOp::verify() {
  if (getInputs().empty()) return emitOpError("needs at least one input");
  auto first = cast<RankedTensorType>(getInputs()[0].getType());
  int64_t axis = getAxis();
  if (axis < 0 || axis >= first.getRank()) return emitOpError("axis out of range");
  for (Value v : getInputs()) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getElementType() != first.getElementType() || t.getRank() != first.getRank())
      return emitOpError("inputs must share element type and rank");
    for (int64_t d = 0; d < t.getRank(); ++d)
      if (d != axis && !agree(t.getDimSize(d), first.getDimSize(d)))
        return emitOpError("inputs differ outside the concatenation axis");
  }
  return success();
}

LogicalResult SliceOp::verify() {
  auto in = getInput().getType();
  int64_t axis = getAxis(), start = getStart(), end = getEnd(); // (I64Attr's accessors are unsigned)
  if (axis < 0 || axis >= in.getRank()) return emitOpError("axis out of range");
  int64_t size = getResult().getType().getDimSize(axis);
  if (!in.isDynamicDim(axis) || (start >= 0 && end >= 0)) {
    if (start < 0 || end < start || (!in.isDynamicDim(axis) && end > in.getDimSize(axis)))
      return emitOpError("bounds [") << start << ", " << end << ") outside the axis";
    if (size != end - start) return emitOpError("result size along the axis must be end - start");
    return success();
  }
  // Counted from the end of a dynamic dim.
  if (start >= 0 && end < 0) {
    if (!ShapedType::isDynamic(size)) return emitOpError("a slice to a bound from the end has a dynamic size");
  } else if (start < 0 && end < 0) {
    if (end < start || size != end - start) return emitOpError("result size along the axis must be end - start");
  } else {
    return emitOpError("bounds [") << start << ", " << end << ") from the start to the end of the axis";
  }
  return success();
}

std::pair<OpFoldResult, OpFoldResult> SliceOp::offsetAndSize(OpBuilder &b, Location loc) {
  int64_t axis = getAxis(), start = getStart(), end = getEnd();
  if (start >= 0 && end >= 0) return {b.getIndexAttr(start), b.getIndexAttr(end - start)};
  Value dim = tensor::DimOp::create(b, loc, getInput(), axis);
  auto fromEnd = [&](int64_t bound) {
    return arith::AddIOp::create(b, loc, dim, arith::ConstantIndexOp::create(b, loc, bound)).getResult();
  };
  if (start < 0) return {fromEnd(start), b.getIndexAttr(end - start)};
  return {b.getIndexAttr(start), fromEnd(end - start)};
}

LogicalResult Conv2DOp::verify() {
  auto x = getInput().getType();
  auto w = getWeight().getType();
  if (x.getRank() != 4 || w.getRank() != 4) return emitOpError("expects NCHW (or NHWC) input and OIHW weight");
  if (getStride().size() != 2 || getPadding().size() != 4 || getDilation().size() != 2)
    return emitOpError("stride and dilation need 2 values, padding 4");
  int64_t channels = x.getDimSize(getChannelsLast() ? 3 : 1);
  if (!agree(channels, w.getDimSize(1) * getGroups()))
    return emitOpError("input channels ") << channels << " != weight's " << w.getDimSize(1)
                                          << " x groups " << getGroups();
  if (getBias() && failed(vector(*this, getBias(), w.getDimSize(0), "bias"))) return failure();
  if (getResidual() && getResidual().getType() != getResult().getType())
    return emitOpError("residual must have the result's type");
  if (!getBn().empty()) {
    if (getBn().size() != 4 || !getBnEps()) return emitOpError("a folded batch_norm needs 4 vectors and bn_eps");
    for (Value v : getBn())
      if (failed(vector(*this, v, w.getDimSize(0), "batch_norm parameter"))) return failure();
  }
  if (auto block = getBlockedChannels()) {
    if (failed(verifyChannelBlock(*this, *block))) return failure();
    if (!getChannelsLast() || channels % int64_t(*block) != 0 || w.getDimSize(0) % int64_t(*block) != 0)
      return emitOpError("blocked_channels needs channels_last and channels in whole blocks of ") << *block;
  }
  return success();
}

LogicalResult BlockChannelsOp::verify() {
  if (failed(verifyChannelBlock(*this, getBlock()))) return failure();
  auto t = getInput().getType();
  if (t.getRank() != 4 || t.isDynamicDim(3) || t.getDimSize(3) % int64_t(getBlock()) != 0)
    return emitOpError("expects an NHWC tensor with a static channel count that is a multiple of ") << getBlock();
  return success();
}

OpFoldResult BlockChannelsOp::fold(FoldAdaptor) {
  // block(unblock(x)) and unblock(block(x)) are x.
  if (auto inner = getInput().getDefiningOp<BlockChannelsOp>())
    if (inner.getInverse() != getInverse() && inner.getBlock() == getBlock()) return inner.getInput();
  // B channels: [N][1][H][W][B] is NHWC byte for byte.
  if (getInput().getType().getDimSize(3) == int64_t(getBlock())) return getInput();
  return {};
}

LogicalResult Pool2DOp::verify() {
  if (getInput().getType().getRank() != 4) return emitOpError("expects an NCHW (or NHWC) input");
  if (getKernel().size() != 2 || getStride().size() != 2 || getPadding().size() != 4)
    return emitOpError("kernel and stride need 2 values, padding 4");
  if (getActivation() != 0 && (getActivation() != ActivationRelu || !getIsMax()))
    return emitOpError("only max pooling applies an activation, and only relu");
  if (auto block = getBlockedChannels()) {
    if (failed(verifyChannelBlock(*this, *block))) return failure();
    auto t = getInput().getType();
    if (!getChannelsLast() || !getIsMax() || t.isDynamicDim(3) || t.getDimSize(3) % int64_t(*block) != 0)
      return emitOpError("blocked_channels needs max pooling of channels_last tensors whose static channel count is "
                         "a multiple of ")
             << *block;
  }
  return success();
}

/// An activation's type as NCHW: itself, or for an NHWC one (`channelsLast`) its dims
/// taken in NCHW order, so that one check serves both layouts.
static RankedTensorType asNCHW(RankedTensorType t, bool channelsLast) {
  if (!channelsLast || t.getRank() != 4) return t;
  return RankedTensorType::get({t.getDimSize(0), t.getDimSize(3), t.getDimSize(1), t.getDimSize(2)},
                               t.getElementType());
}

/// The window attributes of a convolution's gradient op, and that `in` (NCHW) convolved
/// by `kernel` gives `out` where both sizes are known.
static LogicalResult verifyWindow(Operation *op, RankedTensorType in, RankedTensorType out, ArrayRef<int64_t> kernel,
                                  ArrayRef<int64_t> stride, ArrayRef<int64_t> padding, ArrayRef<int64_t> dilation) {
  if (in.getRank() != 4 || out.getRank() != 4) return op->emitOpError("expects NCHW (or NHWC) tensors");
  if (stride.size() != 2 || padding.size() != 4 || dilation.size() != 2)
    return op->emitOpError("stride and dilation need 2 values, padding 4");
  if (llvm::any_of(padding, [](int64_t p) { return p < 0; })) return op->emitOpError("padding must not be negative");
  for (int i = 0; i < 2; ++i) {
    int64_t h = in.getDimSize(2 + i), oh = out.getDimSize(2 + i);
    if (ShapedType::isDynamic(h) || ShapedType::isDynamic(oh)) continue;
    int64_t expect = (h + padding[i] + padding[2 + i] - dilation[i] * (kernel[i] - 1) - 1) / stride[i] + 1;
    if (oh != expect) return op->emitOpError("gradient size ") << oh << " does not match input size " << h;
  }
  if (!agree(in.getDimSize(0), out.getDimSize(0))) return op->emitOpError("batch sizes differ");
  return success();
}

LogicalResult Conv2DBackwardDataOp::verify() {
  bool cl = getChannelsLast();
  auto dx = asNCHW(getResult().getType(), cl), dy = asNCHW(getGrad().getType(), cl);
  auto w = getWeight().getType();
  if (w.getRank() != 4) return emitOpError("expects an OIHW weight");
  if (dx.getRank() == 4 && (dx.isDynamicDim(2) || dx.isDynamicDim(3)))
    return emitOpError("the input's H and W must be static");
  if (failed(verifyWindow(*this, dx, dy, {w.getDimSize(2), w.getDimSize(3)}, getStride(), getPadding(),
                          getDilation())))
    return failure();
  if (!agree(dx.getDimSize(1), w.getDimSize(1) * getGroups()) || !agree(dy.getDimSize(1), w.getDimSize(0)))
    return emitOpError("channels do not match the weight");
  return success();
}

LogicalResult Conv2DBackwardWeightsOp::verify() {
  bool cl = getChannelsLast();
  auto w = getResult().getType();
  auto x = asNCHW(getInput().getType(), cl), dy = asNCHW(getGrad().getType(), cl);
  if (w.getRank() != 4 || !w.hasStaticShape()) return emitOpError("expects a static OIHW result");
  if (failed(verifyWindow(*this, x, dy, {w.getDimSize(2), w.getDimSize(3)}, getStride(), getPadding(),
                          getDilation())))
    return failure();
  if (!agree(x.getDimSize(1), w.getDimSize(1) * getGroups()) || !agree(dy.getDimSize(1), w.getDimSize(0)))
    return emitOpError("channels do not match the weight");
  return success();
}

LogicalResult Pool2DBackwardOp::verify() {
  bool cl = getChannelsLast();
  if (getKernel().size() != 2) return emitOpError("kernel needs 2 values");
  if (getResult().getType() != getInput().getType()) return emitOpError("result must have the input's type");
  return verifyWindow(*this, asNCHW(getInput().getType(), cl), asNCHW(getGrad().getType(), cl), getKernel(),
                      getStride(), getPadding(), {1, 1});
}

LogicalResult RecurrentOp::verify() {
  auto x = getInput().getType();
  int64_t h = getHidden(), layers = getLayers(), gates = getIsGru() ? 3 : 4;
  if (x.getRank() != 3) return emitOpError("expects a batch-first sequence [B, T, D]");
  if ((int64_t)getWeights().size() != 4 * layers) return emitOpError("needs 4 weight tensors per layer");
  for (int64_t l = 0; l < layers; ++l) {
    int64_t in = l == 0 ? x.getDimSize(2) : h;
    auto wih = cast<RankedTensorType>(getWeights()[4 * l].getType());
    auto whh = cast<RankedTensorType>(getWeights()[4 * l + 1].getType());
    if (wih.getShape() != ArrayRef<int64_t>{gates * h, in} || whh.getShape() != ArrayRef<int64_t>{gates * h, h})
      return emitOpError("layer ") << l << " weights have the wrong shapes";
  }
  auto r = getResult().getType();
  if (r.getShape().back() != h || r.getRank() != (getSequences() ? 3 : 2))
    return emitOpError("result must be [B, T, hidden] or [B, hidden]");
  return success();
}
