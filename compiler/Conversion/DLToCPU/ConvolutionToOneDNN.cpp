//===- ConvolutionToOneDNN.cpp - conv2d and pool2d -> oneDNN kernels ------===//
//
// The geometry (sizes, strides, paddings, dilations, groups, layout) travels as one i64 array;
// output sizes are computed with PyTorch's formulas (WindowSizes.cpp) so dynamic H and W
// work too.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"
#include "runtime/include/dlrt/model_abi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <type_traits>

using namespace mlir;

namespace dlc {
namespace {

Value idx(OpBuilder &b, Location loc, int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

/// The dynamic sizes of a result given in NCHW order, for a result laid out NCHW or NHWC.
SmallVector<Value> resultDynSizes(RankedTensorType rt, ArrayRef<Value> nchw, bool channelsLast) {
  SmallVector<Value> sizes(nchw);
  if (channelsLast) sizes = {nchw[0], nchw[2], nchw[3], nchw[1]};
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rt.getRank(); ++i)
    if (rt.isDynamicDim(i)) dyn.push_back(sizes[i]);
  return dyn;
}

/// The runtime's name of the layout of `block`-channel blocks (8 or 16, verified).
dlrt_layout blockedLayout(uint64_t block) { return block == 8 ? DLRT_LAYOUT_NCHW8C : DLRT_LAYOUT_NCHW16C; }

/// N, C, H, W of an activation laid out NCHW or NHWC.
std::array<Value, 4> nchwSizes(OpBuilder &b, Location loc, Value x, bool channelsLast) {
  if (channelsLast) return {dimOf(b, loc, x, 0), dimOf(b, loc, x, 3), dimOf(b, loc, x, 1), dimOf(b, loc, x, 2)};
  return {dimOf(b, loc, x, 0), dimOf(b, loc, x, 1), dimOf(b, loc, x, 2), dimOf(b, loc, x, 3)};
}

/// The geometry word array of dlrt_k_conv2d_f32 and dlrt_k_deconv2d_f32: N C H W OC KH KW
/// OH OW, strides, paddings (top, left, bottom, right), dilations, groups, activation
/// (dlrt_activation), layout.
Value convGeometry(OpBuilder &b, Location loc, ArrayRef<Value> nchw, Value oc, int64_t kh, int64_t kw, Value oh,
                   Value ow, ArrayRef<int64_t> s, ArrayRef<int64_t> p, ArrayRef<int64_t> d, int64_t groups, int64_t activation,
                   dlrt_layout layout) {
  SmallVector<Value> words(nchw);
  words.append({oc, idx(b, loc, kh), idx(b, loc, kw), oh, ow});
  for (int64_t v : {s[0], s[1], p[0], p[1], p[2], p[3], d[0], d[1], groups, activation, int64_t(layout)})
    words.push_back(idx(b, loc, v));
  return i64Array(b, loc, words);
}

/// The pooling geometry word array of the dlrt_k_pool2d kernels: N C H W OH OW KH KW SH SW
/// PT PL PB PR is_max layout (a dlrt_layout) activation (a dlrt_activation: none or relu).
Value poolGeometry(OpBuilder &b, Location loc, ArrayRef<Value> nchw, Value oh, Value ow, ArrayRef<int64_t> k,
                   ArrayRef<int64_t> s, ArrayRef<int64_t> p, bool isMax, dlrt_layout layout, int64_t activation) {
  SmallVector<Value> words(nchw);
  words.append({oh, ow});
  for (int64_t v : {k[0], k[1], s[0], s[1], p[0], p[1], p[2], p[3], int64_t(isMax), int64_t(layout), activation})
    words.push_back(idx(b, loc, v));
  return i64Array(b, loc, words);
}

/// Top = bottom and left = right (cuDNN's convolutions take one padding per dim).
bool symmetricPadding(ArrayRef<int64_t> p) { return p[0] == p[2] && p[1] == p[3]; }

struct Conv2DToOneDNN : public OpRewritePattern<dl::Conv2DOp> {
  Conv2DToOneDNN(MLIRContext *ctx, PatternBenefit benefit = 1, bool symmetricPaddingOnly = false)
      : OpRewritePattern(ctx, benefit), symmetricPaddingOnly(symmetricPaddingOnly) {}
  bool symmetricPaddingOnly;
  LogicalResult matchAndRewrite(dl::Conv2DOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    if (symmetricPaddingOnly && !symmetricPadding(op.getPadding()))
      return rw.notifyMatchFailure(op, "the kernel pads symmetrically");
    Location loc = op.getLoc();
    Value x = op.getInput(), w = op.getWeight();
    auto wt = op.getWeight().getType();
    auto s = op.getStride(), p = op.getPadding(), d = op.getDilation();
    int64_t kh = wt.getDimSize(2), kw = wt.getDimSize(3);
    bool cl = op.getChannelsLast();
    auto [n, c, h, wd] = nchwSizes(rw, loc, x, cl);
    Value oc = idx(rw, loc, wt.getDimSize(0));
    Value oh = windowOutputSize(rw, loc, h, kh, s[0], p[0], p[2], d[0]);
    Value ow = windowOutputSize(rw, loc, wd, kw, s[1], p[1], p[3], d[1]);
    auto rt = op.getResult().getType();
    dlrt_layout layout = op.getBlockedChannels() ? blockedLayout(*op.getBlockedChannels())
                         : cl                       ? DLRT_LAYOUT_NHWC
                                                    : DLRT_LAYOUT_NCHW;
    Value geom = convGeometry(rw, loc, {n, c, h, wd}, oc, kh, kw, oh, ow, s, p, d, op.getGroups(), op.getActivation(),
                              layout);
    Value eps = arith::ConstantOp::create(rw, loc, rw.getF64Type(),
                                          rw.getF64FloatAttr(op.getBnEps() ? op.getBnEps()->convertToDouble() : 0.0));
    KernelCall call(rw, loc, op, "dlrt_k_conv2d_f32");
    call.in(geom).in(x).in(w).optional(op.getBias());
    // With a skip tensor, oneDNN's sum post-op adds the convolution to what dst holds: the
    // result is written over the skip tensor where bufferization finds it dead afterwards
    // (ResNet's blocks), into a copy of it otherwise.
    Value residual = op.getResidual();
    if (residual && residual.getType() != rt) residual = tensor::CastOp::create(rw, loc, rt, residual);
    if (residual) call.into(residual, /*readsDest=*/true);
    else call.out(rt, resultDynSizes(rt, {n, oc, oh, ow}, cl));
    // A folded batch_norm: its four vectors' addresses and eps.
    if (op.getBn().empty()) call.optional(Value());
    else call.addresses(op.getBn());
    call.in(eps).in(i64Const(rw, loc, residual ? 1 : 0)); // accumulate into the destination
    rw.replaceOp(op, call.emitResult());
    return success();
  }
};

struct ConvTranspose2DToOneDNN : public OpRewritePattern<dl::ConvTranspose2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ConvTranspose2DOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    Value x = op.getInput(), w = op.getWeight();
    auto wt = op.getWeight().getType();
    auto s = op.getStride(), p = op.getPadding(), d = op.getDilation();
    int64_t kh = wt.getDimSize(2), kw = wt.getDimSize(3);
    bool cl = op.getChannelsLast();
    auto [n, c, h, wd] = nchwSizes(rw, loc, x, cl);
    Value oc = idx(rw, loc, wt.getDimSize(1) * op.getGroups());
    Value oh = transposedOutputSize(rw, loc, h, kh, s[0], p[0], p[2], d[0]);
    Value ow = transposedOutputSize(rw, loc, wd, kw, s[1], p[1], p[3], d[1]);
    auto rt = op.getResult().getType();
    Value geom = convGeometry(rw, loc, {n, c, h, wd}, oc, kh, kw, oh, ow, s, p, d, op.getGroups(), DLRT_ACTIVATION_NONE,
                              cl ? DLRT_LAYOUT_NHWC : DLRT_LAYOUT_NCHW);
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_deconv2d_f32")
                         .in(geom)
                         .in(x)
                         .in(w)
                         .optional(op.getBias())
                         .out(rt, resultDynSizes(rt, {n, oc, oh, ow}, cl))
                         .emitResult());
    return success();
  }
};

/// Whether `back` is the gradient of `fwd`: the same window and layout.
bool samePooling(dl::Pool2DOp fwd, dl::Pool2DBackwardOp back) {
  return fwd.getIsMax() == back.getIsMax() && fwd.getKernel() == back.getKernel() &&
         fwd.getStride() == back.getStride() && fwd.getPadding() == back.getPadding() &&
         fwd.getChannelsLast() == back.getChannelsLast();
}

/// The pooling geometry of `op` (a pool2d or its gradient, which share their attributes)
/// for an input of sizes `nchw`.
template <typename Op>
Value poolGeometryOf(OpBuilder &b, Location loc, Op op, ArrayRef<Value> nchw, Value oh, Value ow) {
  dlrt_layout layout = op.getChannelsLast() ? DLRT_LAYOUT_NHWC : DLRT_LAYOUT_NCHW;
  int64_t activation = 0;
  if constexpr (std::is_same_v<Op, dl::Pool2DOp>) {
    if (op.getBlockedChannels()) layout = blockedLayout(*op.getBlockedChannels());
    activation = op.getActivation();
  }
  return poolGeometry(b, loc, nchw, oh, ow, op.getKernel(), op.getStride(), op.getPadding(), op.getIsMax(), layout,
                      activation);
}

/// What a forward call of `op` takes and gives, its input's sizes read from `sizesOf`
/// (the input, or a tensor of its shape and layout): the geometry words and the result's
/// dynamic sizes.
struct PoolForwardShape {
  Value geom;
  SmallVector<Value> resultSizes;
  PoolForwardShape(OpBuilder &b, Location loc, dl::Pool2DOp op, Value sizesOf) {
    auto k = op.getKernel(), s = op.getStride(), p = op.getPadding();
    bool cl = op.getChannelsLast();
    auto [n, c, h, w] = nchwSizes(b, loc, sizesOf, cl);
    Value oh = windowOutputSize(b, loc, h, k[0], s[0], p[0], p[2], 1);
    Value ow = windowOutputSize(b, loc, w, k[1], s[1], p[1], p[3], 1);
    geom = poolGeometryOf(b, loc, op, {n, c, h, w}, oh, ow);
    resultSizes = resultDynSizes(op.getResult().getType(), {n, c, oh, ow}, cl);
  }
};

/// The workspace type of a training-form forward (its size asked of the runtime).
RankedTensorType workspaceType(OpBuilder &b) { return RankedTensorType::get({ShapedType::kDynamic}, b.getI8Type()); }

/// dlrt_k_pool2d_f32 for `op`: the result, and in training form (`workspace`) also the
/// workspace the backward reads (its size asked of the runtime, which knows oneDNN's).
SmallVector<Value> poolForward(PatternRewriter &rw, dl::Pool2DOp op, bool workspace) {
  Location loc = op.getLoc();
  Value x = op.getInput();
  PoolForwardShape shape(rw, loc, op, x);
  KernelCall call(rw, loc, op, "dlrt_k_pool2d_f32");
  call.in(shape.geom).in(x).out(op.getResult().getType(), shape.resultSizes);
  if (!workspace) return {call.optional(Value()).emitResult()}; // workspace: training form only
  Value bytes = workspaceBytes(rw, loc, op, "dlrt_k_pool2d_workspace_bytes", shape.geom);
  return call.out(workspaceType(rw), {bytes}).emit();
}

struct Pool2DToOneDNN : public OpRewritePattern<dl::Pool2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::Pool2DOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    if (hasPairedBackward<dl::Pool2DBackwardOp>(op, op.getInput(), samePooling))
      return rw.notifyMatchFailure(op, "lowered with its gradient, in training form");
    rw.replaceOp(op, poolForward(rw, op, /*workspace=*/false)[0]);
    return success();
  }
};

/// dx of a conv2d on oneDNN's backward-data primitive. The input's N comes from the
/// gradient, its C, H and W from the result type (static).
struct Conv2DBackwardDataToOneDNN : public OpRewritePattern<dl::Conv2DBackwardDataOp> {
  Conv2DBackwardDataToOneDNN(MLIRContext *ctx, PatternBenefit benefit = 1, bool symmetricPaddingOnly = false)
      : OpRewritePattern(ctx, benefit), symmetricPaddingOnly(symmetricPaddingOnly) {}
  bool symmetricPaddingOnly;
  LogicalResult matchAndRewrite(dl::Conv2DBackwardDataOp op, PatternRewriter &rw) const override {
    if (!op.getGrad().getType().getElementType().isF32()) return rw.notifyMatchFailure(op, "the kernel takes f32");
    if (symmetricPaddingOnly && !symmetricPadding(op.getPadding()))
      return rw.notifyMatchFailure(op, "the kernel pads symmetrically");
    Location loc = op.getLoc();
    Value dy = op.getGrad(), w = op.getWeight();
    auto wt = op.getWeight().getType();
    auto rt = op.getResult().getType();
    bool cl = op.getChannelsLast();
    auto [n, oc, oh, ow] = nchwSizes(rw, loc, dy, cl);
    // The result's C, H and W (H and W static), wherever its layout keeps them.
    int64_t cDim = cl ? 3 : 1, hDim = cl ? 1 : 2, wDim = cl ? 2 : 3;
    Value c = rt.isDynamicDim(cDim) ? idx(rw, loc, wt.getDimSize(1) * op.getGroups())
                                    : idx(rw, loc, rt.getDimSize(cDim));
    Value h = idx(rw, loc, rt.getDimSize(hDim)), w2 = idx(rw, loc, rt.getDimSize(wDim));
    Value geom = convGeometry(rw, loc, {n, c, h, w2}, oc, wt.getDimSize(2), wt.getDimSize(3), oh, ow, op.getStride(),
                              op.getPadding(), op.getDilation(), op.getGroups(), DLRT_ACTIVATION_NONE,
                              cl ? DLRT_LAYOUT_NHWC : DLRT_LAYOUT_NCHW);
    SmallVector<Value> dyn = resultDynSizes(rt, {n, c, h, w2}, cl);
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_conv2d_backward_data_f32")
                         .in(geom)
                         .in(dy)
                         .in(w)
                         .out(rt, dyn)
                         .emitResult());
    return success();
  }
};

/// dw of a conv2d on oneDNN's backward-weights primitive.
struct Conv2DBackwardWeightsToOneDNN : public OpRewritePattern<dl::Conv2DBackwardWeightsOp> {
  Conv2DBackwardWeightsToOneDNN(MLIRContext *ctx, PatternBenefit benefit = 1, bool symmetricPaddingOnly = false)
      : OpRewritePattern(ctx, benefit), symmetricPaddingOnly(symmetricPaddingOnly) {}
  bool symmetricPaddingOnly;
  LogicalResult matchAndRewrite(dl::Conv2DBackwardWeightsOp op, PatternRewriter &rw) const override {
    if (!op.getGrad().getType().getElementType().isF32()) return rw.notifyMatchFailure(op, "the kernel takes f32");
    if (symmetricPaddingOnly && !symmetricPadding(op.getPadding()))
      return rw.notifyMatchFailure(op, "the kernel pads symmetrically");
    Location loc = op.getLoc();
    Value dy = op.getGrad(), x = op.getInput();
    auto wt = op.getResult().getType();
    bool cl = op.getChannelsLast();
    auto [n, c, h, w] = nchwSizes(rw, loc, x, cl);
    auto dyDims = nchwSizes(rw, loc, dy, cl);
    Value oh = dyDims[2], ow = dyDims[3];
    Value geom = convGeometry(rw, loc, {n, c, h, w}, idx(rw, loc, wt.getDimSize(0)), wt.getDimSize(2),
                              wt.getDimSize(3), oh, ow, op.getStride(), op.getPadding(), op.getDilation(),
                              op.getGroups(), DLRT_ACTIVATION_NONE, cl ? DLRT_LAYOUT_NHWC : DLRT_LAYOUT_NCHW);
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_conv2d_backward_weights_f32")
                         .in(geom)
                         .in(x)
                         .in(dy)
                         .out(wt, {})
                         .emitResult());
    return success();
  }
};

/// The batch norm whose training-form result the max pooling `fwd` reads, where the two
/// run as one call (dlrt_k_batch_norm_max_pool_f32): channels-last f32 of rank 4, no
/// activation or skip tensor on either, and the result read by `fwd` and by one gradient
/// of it alone (the gradient reads the forward's record of the maxima, never the result).
/// ResNet's stem (relu moved below the pooling): the 51 MB result at batch 16 is neither
/// written nor read back.
dl::BatchNormTrainOp normalisedInput(dl::Pool2DOp fwd) {
  auto bn = fwd.getInput().getDefiningOp<dl::BatchNormTrainOp>();
  if (!bn || !fwd.getIsMax() || !fwd.getChannelsLast() || fwd.getActivation() != 0 || fwd.getBlockedChannels() ||
      bn.getActivation() != 0 || bn.getResidual() || !bn.getChannelsLast() ||
      bn.getInput().getType().getRank() != 4 || !bn.getInput().getType().getElementType().isF32())
    return {};
  int gradients = 0;
  for (Operation *user : bn.getResult().getUsers()) {
    if (user == fwd) continue;
    auto back = dyn_cast<dl::Pool2DBackwardOp>(user);
    if (!back || back.getInput() != bn.getResult() || forwardOf<dl::Pool2DOp>(back, back.getInput(), samePooling) != fwd)
      return {};
    ++gradients;
  }
  return gradients == 1 ? bn : dl::BatchNormTrainOp();
}

/// The training-form forward of `fwd` (found by forwardOf) made in place of its inference
/// form, with `bn` (normalisedInput's, or null) in the same call: the forward's site and
/// the workspace the backward reads.
std::pair<Value, Value> trainingFormForward(PatternRewriter &rw, dl::Pool2DOp fwd, dl::BatchNormTrainOp bn) {
  Value forwardSite = siteOf(rw, fwd.getLoc(), fwd);
  OpBuilder::InsertionGuard guard(rw);
  if (!bn) {
    rw.setInsertionPoint(fwd);
    SmallVector<Value> results = poolForward(rw, fwd, /*workspace=*/true);
    rw.replaceOp(fwd, results[0]);
    return {forwardSite, results[1]};
  }
  rw.setInsertionPoint(bn);
  Location loc = FusedLoc::get(rw.getContext(), {bn.getLoc(), fwd.getLoc()});
  Value x = bn.getInput();
  PoolForwardShape shape(rw, loc, fwd, x);
  Value bytes = workspaceBytes(rw, loc, fwd, "dlrt_k_pool2d_workspace_bytes", shape.geom);
  auto vec = bn.getMean().getType();
  SmallVector<Value> results = KernelCall(rw, loc, fwd, "dlrt_k_batch_norm_max_pool_f32")
                                   .in(shape.geom)
                                   .in(x)
                                   .in(bn.getWeight())
                                   .in(bn.getBias())
                                   .out(vec, {})
                                   .out(vec, {})
                                   .out(fwd.getResult().getType(), shape.resultSizes)
                                   .out(workspaceType(rw), {bytes})
                                   .in(f64Const(rw, loc, bn.getEps().convertToDouble()))
                                   .emit();
  rw.replaceAllUsesWith(bn.getMean(), results[0]);
  rw.replaceAllUsesWith(bn.getVar(), results[1]);
  rw.replaceOp(fwd, results[2]);
  return {forwardSite, results[3]};
}

/// dx of a pool2d on oneDNN's pooling backward. With the train step's forward beside it,
/// that forward runs in training form and keeps its workspace (where each maximum came
/// from) for the backward; otherwise the kernel reruns the forward to find the maxima
/// (dlrt_k_pool2d_grad_f32).
struct Pool2DBackwardToOneDNN : public OpRewritePattern<dl::Pool2DBackwardOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::Pool2DBackwardOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32()) return rw.notifyMatchFailure(op, "the kernel takes f32");
    Location loc = op.getLoc();
    Value x = op.getInput(), dy = op.getGrad();
    bool cl = op.getChannelsLast();
    auto fwd = forwardOf<dl::Pool2DOp>(op, x, samePooling);
    // With the batch norm before it run in the forward's call, x is not computed: its
    // sizes are the batch norm's input's.
    auto bn = fwd ? normalisedInput(fwd) : dl::BatchNormTrainOp();
    auto [n, c, h, w] = nchwSizes(rw, loc, bn ? bn.getInput() : x, cl);
    auto dyDims = nchwSizes(rw, loc, dy, cl);
    Value geom = poolGeometryOf(rw, loc, op, {n, c, h, w}, dyDims[2], dyDims[3]);
    auto rt = op.getResult().getType();
    auto dyn = resultDynSizes(rt, {n, c, h, w}, cl);
    if (fwd) {
      auto [forwardSite, workspace] = trainingFormForward(rw, fwd, bn);
      rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_pool2d_backward_f32")
                           .in(forwardSite)
                           .in(geom)
                           .in(dy)
                           .in(workspace)
                           .out(rt, dyn)
                           .emitResult());
      if (bn) rw.eraseOp(bn); // its results all replaced, its only other reader gone
      return success();
    }
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_pool2d_grad_f32")
                         .in(geom)
                         .in(x)
                         .in(dy)
                         .out(rt, dyn)
                         .emitResult());
    return success();
  }
};

/// The NCHW <-> NHWC transposes of the layout pass -> oneDNN's reorder, which copies on
/// all the call's threads. One that only moves a size-1 dim stays a view (ShapeToTensor).
struct LayoutTransposeToOneDNN : public OpRewritePattern<dl::TransposeOp> {
  LayoutTransposeToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, /*benefit=*/2) {}
  LogicalResult matchAndRewrite(dl::TransposeOp op, PatternRewriter &rw) const override {
    auto xt = op.getInput().getType();
    ArrayRef<int64_t> perm = op.getPerm();
    if (!xt.getElementType().isF32() || xt.getRank() != 4 ||
        (perm != ArrayRef<int64_t>{0, 2, 3, 1} && perm != ArrayRef<int64_t>{0, 3, 1, 2}))
      return rw.notifyMatchFailure(op, "not an f32 layout transpose");
    if (op.keepsElementOrder()) return rw.notifyMatchFailure(op, "a view");
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    SmallVector<Value> dims, dyn, perms;
    for (int64_t i = 0; i < 4; ++i) {
      dims.push_back(dimOf(rw, loc, op.getInput(), i));
      perms.push_back(idx(rw, loc, perm[i]));
    }
    for (int64_t i = 0; i < 4; ++i)
      if (rt.isDynamicDim(i)) dyn.push_back(dims[perm[i]]);
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_transpose_f32")
                         .in(i64Const(rw, loc, 4))
                         .in(i64Array(rw, loc, dims))
                         .in(i64Array(rw, loc, perms))
                         .in(op.getInput())
                         .out(rt, dyn)
                         .emitResult());
    return success();
  }
};

/// max_pool2d(conv2d(x)) -> one dlrt_k_conv2d_max_pool_f32 call where the runtime's
/// native pass runs it (dlrt_conv2d_max_pool_fused: a first layer, few channels in), so
/// that the convolution's result, the largest tensor of such a model, never goes to
/// memory. Inference form only: the convolution's result has no reader but the pooling
/// (a train step's gradients read it), and no activation, residual or blocked input of
/// its own; a folded batch norm goes along. Runs after the layout passes and
/// FuseReluIntoMaxPool (the pooling's relu is the fused call's); the pooling's output
/// may be NHWC or blocked.
struct FuseConvIntoMaxPool : public OpRewritePattern<dl::Pool2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::Pool2DOp pool, PatternRewriter &rw) const override {
    auto conv = pool.getInput().getDefiningOp<dl::Conv2DOp>();
    if (!pool.getIsMax() || !conv || !conv->hasOneUse() || conv.getActivation() != 0 || conv.getResidual() ||
        conv.getBlockedChannels() || !conv.getInput().getType().getElementType().isF32() ||
        conv.getChannelsLast() != pool.getChannelsLast() || !pool.getChannelsLast())
      return failure();
    auto wt = conv.getWeight().getType();
    int64_t c = wt.getDimSize(1), oc = wt.getDimSize(0);
    int64_t block = pool.getBlockedChannels() ? int64_t(*pool.getBlockedChannels()) : 0;
    if (!dlrt_conv2d_max_pool_fused(c, oc, conv.getGroups()) || (block && oc % block != 0)) return failure();
    Location loc = FusedLoc::get(rw.getContext(), {conv.getLoc(), pool.getLoc()});
    auto s = conv.getStride(), p = conv.getPadding(), d = conv.getDilation();
    int64_t kh = wt.getDimSize(2), kw = wt.getDimSize(3);
    // The layout pass's NCHW -> NHWC transpose of the input is not needed: the kernel
    // reads either layout as it pads the rows it needs (ResNet-18's stem at b16 on one Zen
    // 5 core: the transpose took 0.78 ms).
    Value x = conv.getInput();
    bool nhwc = true;
    if (auto t = x.getDefiningOp<dl::TransposeOp>();
        t && t.getPerm() == ArrayRef<int64_t>{0, 2, 3, 1} && t.getInput().getType().getElementType().isF32()) {
      x = t.getInput();
      nhwc = false;
    }
    auto [n, ci, h, wd] = nchwSizes(rw, loc, x, nhwc);
    Value ocv = idx(rw, loc, oc);
    Value oh = windowOutputSize(rw, loc, h, kh, s[0], p[0], p[2], d[0]);
    Value ow = windowOutputSize(rw, loc, wd, kw, s[1], p[1], p[3], d[1]);
    Value convGeom = convGeometry(rw, loc, {n, ci, h, wd}, ocv, kh, kw, oh, ow, s, p, d, conv.getGroups(),
                                  DLRT_ACTIVATION_NONE, nhwc ? DLRT_LAYOUT_NHWC : DLRT_LAYOUT_NCHW);
    auto k = pool.getKernel(), ps = pool.getStride(), pp = pool.getPadding();
    Value poh = windowOutputSize(rw, loc, oh, k[0], ps[0], pp[0], pp[2], 1);
    Value pow = windowOutputSize(rw, loc, ow, k[1], ps[1], pp[1], pp[3], 1);
    Value poolGeom = poolGeometryOf(rw, loc, pool, {n, ocv, oh, ow}, poh, pow);
    Value eps = arith::ConstantOp::create(
        rw, loc, rw.getF64Type(), rw.getF64FloatAttr(conv.getBnEps() ? conv.getBnEps()->convertToDouble() : 0.0));
    auto rt = pool.getResult().getType();
    KernelCall call(rw, loc, conv, "dlrt_k_conv2d_max_pool_f32");
    call.in(convGeom).in(poolGeom).in(x).in(conv.getWeight()).optional(conv.getBias());
    call.out(rt, resultDynSizes(rt, {n, ocv, poh, pow}, /*channelsLast=*/true));
    if (conv.getBn().empty()) call.optional(Value());
    else call.addresses(conv.getBn());
    call.in(eps);
    rw.replaceOp(pool, call.emitResult());
    rw.eraseOp(conv);
    return success();
  }
};

/// The layout pass's dl.block_channels -> oneDNN's reorder between NHWC and nChw16c or
/// nChw8c.
struct BlockChannelsToOneDNN : public OpRewritePattern<dl::BlockChannelsOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::BlockChannelsOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32()) return rw.notifyMatchFailure(op, "the kernel takes f32");
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    auto [n, c, h, w] = nchwSizes(rw, loc, op.getInput(), /*channelsLast=*/true);
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_block_channels_f32")
                         .in(i64Array(rw, loc, {n, c, h, w}))
                         .in(op.getInput())
                         .out(rt, resultDynSizes(rt, {n, c, h, w}, /*channelsLast=*/true))
                         .in(i64Const(rw, loc, op.getInverse() ? 1 : 0))
                         .in(i64Const(rw, loc, int64_t(op.getBlock())))
                         .emitResult());
    return success();
  }
};

} // namespace

void populateLayoutTransposeToOneDNN(RewritePatternSet &patterns) {
  patterns.add<LayoutTransposeToOneDNN, BlockChannelsToOneDNN>(patterns.getContext());
}

bool poolsTrainingBatchNorm(Operation *op) {
  auto bn = dyn_cast<dl::BatchNormTrainOp>(op);
  return bn && llvm::any_of(bn.getResult().getUsers(), [&](Operation *user) {
    auto fwd = dyn_cast<dl::Pool2DOp>(user);
    return fwd && normalisedInput(fwd) == bn;
  });
}

void populateFuseConvIntoMaxPool(RewritePatternSet &patterns) {
  patterns.add<FuseConvIntoMaxPool>(patterns.getContext());
}

void populateConvolutionKernelCalls(RewritePatternSet &patterns, PatternBenefit benefit) {
  patterns.add<Conv2DToOneDNN, Conv2DBackwardDataToOneDNN, Conv2DBackwardWeightsToOneDNN>(
      patterns.getContext(), benefit, /*symmetricPaddingOnly=*/true);
}

void populateConvolutionToOneDNN(RewritePatternSet &patterns) {
  patterns.add<Conv2DToOneDNN, ConvTranspose2DToOneDNN, Pool2DToOneDNN, Conv2DBackwardDataToOneDNN,
               Conv2DBackwardWeightsToOneDNN, Pool2DBackwardToOneDNN>(patterns.getContext());
}

} // namespace dlc
