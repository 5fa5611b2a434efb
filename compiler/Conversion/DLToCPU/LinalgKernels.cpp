//===- LinalgKernels.cpp - the oneDNN-backed ops as linalg ----------------===//
//
// The portable lowering of the ops the CPU path sends to oneDNN: plain linalg.generic
// contractions that fusion, the GPU path and `dlc --kernels=linalg` use. Results match
// the oneDNN path to rounding (tested against PyTorch); speed is not their purpose here.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/Activation.h"
#include "dialects/DL/DLOps.h"
#include "runtime/include/dlrt/model_abi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace dlc {
namespace {

using Iter = utils::IteratorType;

Value zeroFilled(OpBuilder &b, Location loc, RankedTensorType t, ValueRange dyn, Value init) {
  Value empty = tensor::EmptyOp::create(b, loc, t, dyn);
  return linalg::FillOp::create(b, loc, init, empty).getResult(0);
}

/// out = activation(acc + bias[channel]) elementwise; `channel` is the result dim bias
/// follows; `activation` a dlrt_activation code.
Value epilogue(OpBuilder &b, Location loc, Value acc, Value bias, int64_t channel, int64_t activation) {
  if (!bias) return dl::createKernelActivation(b, loc, activation, acc);
  auto t = cast<RankedTensorType>(acc.getType());
  int64_t rank = t.getRank();
  SmallVector<Value> ins{acc};
  SmallVector<AffineMap> maps{b.getMultiDimIdentityMap(rank)};
  if (bias) {
    ins.push_back(bias);
    maps.push_back(AffineMap::get(rank, 0, {b.getAffineDimExpr(channel)}, b.getContext()));
  }
  maps.push_back(b.getMultiDimIdentityMap(rank));
  Value init = tensor::EmptyOp::create(b, loc, t, broadcastDynamicSizes(b, loc, t, ValueRange{acc}));
  SmallVector<Iter> iters(rank, Iter::parallel);
  Value biased = linalg::GenericOp::create(b, loc, t, ins, init, maps, iters,
                                           [&](OpBuilder &nb, Location l, ValueRange a) {
                                             linalg::YieldOp::create(nb, l, arith::AddFOp::create(nb, l, a[0], a[1]).getResult());
                                           })
                     .getResult(0);
  // The activation's own lowering; elementwise fusion merges it into this loop.
  return dl::createKernelActivation(b, loc, activation, biased);
}

Value multiplyAdd(OpBuilder &b, Location l, ValueRange a) {
  return arith::AddFOp::create(b, l, a[2], arith::MulFOp::create(b, l, a[0], a[1]));
}

struct DenseToLinalg : public OpRewritePattern<dl::DenseOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::DenseOp op, PatternRewriter &rw) const override {
    // Only the oneDNN path's layout pass sets nhwc_input; the portable kernels keep NCHW.
    if (op.getNhwcInput()) return rw.notifyMatchFailure(op, "nhwc_input is for the oneDNN kernel");
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    int64_t rank = rt.getRank(); // loops: result dims, then k
    SmallVector<AffineExpr> xe, oe;
    for (int64_t i = 0; i + 1 < rank; ++i) xe.push_back(rw.getAffineDimExpr(i));
    xe.push_back(rw.getAffineDimExpr(rank));
    for (int64_t i = 0; i < rank; ++i) oe.push_back(rw.getAffineDimExpr(i));
    AffineMap xm = AffineMap::get(rank + 1, 0, xe, rw.getContext());
    AffineMap wm = AffineMap::get(rank + 1, 0, {rw.getAffineDimExpr(rank - 1), rw.getAffineDimExpr(rank)}, rw.getContext());
    AffineMap om = AffineMap::get(rank + 1, 0, oe, rw.getContext());
    SmallVector<Iter> iters(rank, Iter::parallel);
    iters.push_back(Iter::reduction);
    Value acc = zeroFilled(rw, loc, rt, broadcastDynamicSizes(rw, loc, rt, ValueRange{op.getInput()}),
                           reductionInit(rw, loc, rt.getElementType(), false));
    Value prod = linalg::GenericOp::create(rw, loc, rt, ValueRange{op.getInput(), op.getWeight()}, acc,
                                           ArrayRef<AffineMap>{xm, wm, om}, iters,
                                           [&](OpBuilder &b, Location l, ValueRange a) {
                                             linalg::YieldOp::create(b, l, multiplyAdd(b, l, a));
                                           })
                     .getResult(0);
    rw.replaceOp(op, epilogue(rw, loc, prod, op.getBias(), rank - 1, op.getActivation()));
    return success();
  }
};

struct MatmulToLinalg : public OpRewritePattern<dl::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::MatmulOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    int64_t rank = rt.getRank(); // loops: result dims (batch..., m, n), then k
    auto operandMap = [&](Value v, bool isLhs) {
      auto t = cast<RankedTensorType>(v.getType());
      SmallVector<AffineExpr> e;
      int64_t batch = t.getRank() - 2, offset = (rank - 2) - batch;
      for (int64_t i = 0; i < batch; ++i)
        e.push_back(t.getDimSize(i) == 1 && rt.getDimSize(offset + i) != 1 ? rw.getAffineConstantExpr(0)
                                                                            : rw.getAffineDimExpr(offset + i));
      if (isLhs) e.append({rw.getAffineDimExpr(rank - 2), rw.getAffineDimExpr(rank)});
      else e.append({rw.getAffineDimExpr(rank), rw.getAffineDimExpr(rank - 1)});
      return AffineMap::get(rank + 1, 0, e, rw.getContext());
    };
    SmallVector<AffineExpr> oe;
    for (int64_t i = 0; i < rank; ++i) oe.push_back(rw.getAffineDimExpr(i));
    SmallVector<Iter> iters(rank, Iter::parallel);
    iters.push_back(Iter::reduction);
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < rank; ++i) {
      if (!rt.isDynamicDim(i)) continue;
      if (i == rank - 2) dyn.push_back(dimOf(rw, loc, op.getLhs(), op.getLhs().getType().getRank() - 2));
      else if (i == rank - 1) dyn.push_back(dimOf(rw, loc, op.getRhs(), op.getRhs().getType().getRank() - 1));
      else
        for (Value o : {op.getLhs(), op.getRhs()}) {
          auto t = cast<RankedTensorType>(o.getType());
          int64_t src = i - (rank - t.getRank());
          if (src >= 0 && t.isDynamicDim(src)) { dyn.push_back(dimOf(rw, loc, o, src)); break; }
        }
    }
    Value acc = zeroFilled(rw, loc, rt, dyn, reductionInit(rw, loc, rt.getElementType(), false));
    auto g = linalg::GenericOp::create(
        rw, loc, rt, ValueRange{op.getLhs(), op.getRhs()}, acc,
        ArrayRef<AffineMap>{operandMap(op.getLhs(), true), operandMap(op.getRhs(), false),
                            AffineMap::get(rank + 1, 0, oe, rw.getContext())},
        iters, [&](OpBuilder &b, Location l, ValueRange a) { linalg::YieldOp::create(b, l, multiplyAdd(b, l, a)); });
    rw.replaceOp(op, g.getResult(0));
    return success();
  }
};

/// Pads H and W of an NCHW tensor with `value`.
Value padSpatial(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> pad, Value value) {
  if (llvm::all_of(pad, [](int64_t p) { return p == 0; })) return x;
  SmallVector<OpFoldResult> lo = {b.getIndexAttr(0), b.getIndexAttr(0), b.getIndexAttr(pad[0]), b.getIndexAttr(pad[1])};
  SmallVector<OpFoldResult> hi = {b.getIndexAttr(0), b.getIndexAttr(0), b.getIndexAttr(pad[2]), b.getIndexAttr(pad[3])};
  auto t = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape(t.getShape());
  for (int i = 0; i < 2; ++i)
    if (!ShapedType::isDynamic(shape[2 + i])) shape[2 + i] += pad[i] + pad[2 + i];
  return tensor::PadOp::create(b, loc, RankedTensorType::get(shape, t.getElementType()), x, lo, hi, value);
}

SmallVector<Value> nchwDynamic(OpBuilder &b, Location loc, RankedTensorType rt, Value x, int64_t k0, int64_t k1,
                               ArrayRef<int64_t> s, ArrayRef<int64_t> p, ArrayRef<int64_t> d) {
  SmallVector<Value> dyn;
  if (rt.isDynamicDim(0)) dyn.push_back(dimOf(b, loc, x, 0));
  int64_t k[2] = {k0, k1};
  for (int i = 0; i < 2; ++i) {
    if (!rt.isDynamicDim(2 + i)) continue;
    dyn.push_back(windowOutputSize(b, loc, dimOf(b, loc, x, 2 + i), k[i], s[i], p[i], p[2 + i], d[i]));
  }
  return dyn;
}

/// The seven loops of a convolution's correlation, at the positions `dims` gives for
/// n, o, y, x, c (an input channel within o's group), ky, kx: the forward orders them
/// n, o, y, x | c, ky, kx, the weight gradient o, c, ky, kx | n, y, x.
struct ConvLoops {
  AffineExpr n, o, y, x, c, ky, kx;
  MLIRContext *ctx;
  ConvLoops(MLIRContext *ctx, std::array<unsigned, 7> dims) : ctx(ctx) {
    AffineExpr *e[7] = {&n, &o, &y, &x, &c, &ky, &kx};
    for (int i = 0; i < 7; ++i) *e[i] = getAffineDimExpr(dims[i], ctx);
  }
  /// Where the padded input is read: channel (o floordiv (oc / groups)) * cg + c.
  AffineMap inputMap(ArrayRef<int64_t> s, ArrayRef<int64_t> d, int64_t groups, int64_t oc, int64_t cg) const {
    AffineExpr ic = groups == 1 ? c : o.floorDiv(oc / groups) * cg + c;
    return AffineMap::get(7, 0, {n, ic, y * s[0] + ky * d[0], x * s[1] + kx * d[1]}, ctx);
  }
  AffineMap weightMap() const { return AffineMap::get(7, 0, {o, c, ky, kx}, ctx); }
  AffineMap outputMap() const { return AffineMap::get(7, 0, {n, o, y, x}, ctx); }
};

struct Conv2DToLinalg : public OpRewritePattern<dl::Conv2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::Conv2DOp op, PatternRewriter &rw) const override {
    if (op.getChannelsLast()) return rw.notifyMatchFailure(op, "the linalg kernels take NCHW");
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    auto wt = op.getWeight().getType();
    Type elt = rt.getElementType();
    auto s = op.getStride(), p = op.getPadding(), d = op.getDilation();
    int64_t groups = op.getGroups(), oc = wt.getDimSize(0), cg = wt.getDimSize(1);
    Value zero = reductionInit(rw, loc, elt, false);
    Value x = padSpatial(rw, loc, op.getInput(), p, zero);
    // Loops n, o, y, x | c (per group), ky, kx.
    ConvLoops l(rw.getContext(), {0, 1, 2, 3, 4, 5, 6});
    AffineMap im = l.inputMap(s, d, groups, oc, cg), wm = l.weightMap(), om = l.outputMap();
    SmallVector<Iter> iters = {Iter::parallel, Iter::parallel, Iter::parallel, Iter::parallel,
                               Iter::reduction, Iter::reduction, Iter::reduction};
    Value acc = zeroFilled(rw, loc, rt,
                           nchwDynamic(rw, loc, rt, op.getInput(), wt.getDimSize(2), wt.getDimSize(3), s, p, d), zero);
    Value conv = linalg::GenericOp::create(rw, loc, rt, ValueRange{x, op.getWeight()}, acc,
                                           ArrayRef<AffineMap>{im, wm, om}, iters,
                                           [&](OpBuilder &b, Location l, ValueRange a) {
                                             linalg::YieldOp::create(b, l, multiplyAdd(b, l, a));
                                           })
                     .getResult(0);
    if (!op.getBn().empty() || op.getResidual()) {
      // (conv + bias - mean) / sqrt(var + eps) * gamma + beta, + residual, then the activation: as
      // PyTorch computes the unfused ops.
      Value v = epilogue(rw, loc, conv, op.getBias(), 1, DLRT_ACTIVATION_NONE);
      if (!op.getBn().empty())
        v = dl::BatchNormOp::create(rw, loc, rt, v, op.getBn()[0], op.getBn()[1], op.getBn()[2], op.getBn()[3],
                                    op.getBnEpsAttr());
      if (op.getResidual()) v = dl::AddOp::create(rw, loc, rt, v, op.getResidual());
      v = dl::createKernelActivation(rw, loc, op.getActivation(), v);
      rw.replaceOp(op, v);
      return success();
    }
    rw.replaceOp(op, epilogue(rw, loc, conv, op.getBias(), 1, op.getActivation()));
    return success();
  }
};

struct Pool2DToLinalg : public OpRewritePattern<dl::Pool2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::Pool2DOp op, PatternRewriter &rw) const override {
    if (op.getChannelsLast()) return rw.notifyMatchFailure(op, "the linalg kernels take NCHW");
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    Type elt = rt.getElementType();
    bool isMax = op.getIsMax();
    auto k = op.getKernel(), s = op.getStride(), p = op.getPadding();
    Value init = reductionInit(rw, loc, elt, isMax);
    // Max pooling pads with -inf, average pooling with 0 and counts the padding (PyTorch's default).
    Value x = padSpatial(rw, loc, op.getInput(), p, init);
    MLIRContext *ctx = rw.getContext();
    AffineExpr n = getAffineDimExpr(0, ctx), c = getAffineDimExpr(1, ctx), y = getAffineDimExpr(2, ctx),
               xx = getAffineDimExpr(3, ctx), ky = getAffineDimExpr(4, ctx), kx = getAffineDimExpr(5, ctx);
    AffineMap im = AffineMap::get(6, 0, {n, c, y * s[0] + ky, xx * s[1] + kx}, ctx);
    AffineMap wm = AffineMap::get(6, 0, {ky, kx}, ctx);
    AffineMap om = AffineMap::get(6, 0, {n, c, y, xx}, ctx);
    SmallVector<Iter> iters = {Iter::parallel, Iter::parallel, Iter::parallel, Iter::parallel, Iter::reduction,
                               Iter::reduction};
    SmallVector<Value> dyn = nchwDynamic(rw, loc, rt, op.getInput(), k[0], k[1], s, p, {1, 1});
    if (rt.isDynamicDim(1)) dyn.insert(dyn.begin() + (rt.isDynamicDim(0) ? 1 : 0), dimOf(rw, loc, op.getInput(), 1));
    Value acc = zeroFilled(rw, loc, rt, dyn, init);
    // The window's shape as an operand, so that the loops know its bounds.
    Value window = tensor::EmptyOp::create(rw, loc, ArrayRef<int64_t>{k[0], k[1]}, elt);
    Value r = linalg::GenericOp::create(rw, loc, rt, ValueRange{x, window}, acc, ArrayRef<AffineMap>{im, wm, om}, iters,
                                        [&](OpBuilder &b, Location l, ValueRange a) {
                                          Value v = isMax ? arith::MaximumFOp::create(b, l, a[0], a[2]).getResult()
                                                          : arith::AddFOp::create(b, l, a[0], a[2]).getResult();
                                          linalg::YieldOp::create(b, l, v);
                                        })
                  .getResult(0);
    if (!isMax) {
      Value area = arith::ConstantOp::create(rw, loc, elt, rw.getFloatAttr(elt, double(k[0] * k[1])));
      auto mapId = rw.getMultiDimIdentityMap(4);
      Value out = tensor::EmptyOp::create(rw, loc, rt, broadcastDynamicSizes(rw, loc, rt, ValueRange{r}));
      r = linalg::GenericOp::create(rw, loc, rt, ValueRange{r}, out, ArrayRef<AffineMap>{mapId, mapId},
                                    SmallVector<Iter>(4, Iter::parallel),
                                    [&](OpBuilder &b, Location l, ValueRange a) {
                                      linalg::YieldOp::create(b, l, arith::DivFOp::create(b, l, a[0], area).getResult());
                                    })
              .getResult(0);
    }
    // A relu fused into the pooling (the oneDNN path fuses it; an op of that form is
    // valid here too): relu as its own op, which its own lowering computes.
    if (op.getActivation() == dl::ActivationRelu) r = dl::ReluOp::create(rw, loc, rt, r);
    rw.replaceOp(op, r);
    return success();
  }
};

/// The transposed convolution as a convolution: the input spread out by the stride (zeros
/// between its pixels), padded by dilation * (k - 1) less PyTorch's padding on each side,
/// and convolved at stride 1 with the flipped kernel, whose [in, out/groups] layout is
/// read transposed.
struct ConvTranspose2DToLinalg : public OpRewritePattern<dl::ConvTranspose2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ConvTranspose2DOp op, PatternRewriter &rw) const override {
    if (op.getChannelsLast()) return rw.notifyMatchFailure(op, "the linalg kernels take NCHW");
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    auto wt = op.getWeight().getType();
    auto xt = op.getInput().getType();
    Type elt = rt.getElementType();
    auto s = op.getStride(), p = op.getPadding(), d = op.getDilation();
    int64_t groups = op.getGroups(), icg = wt.getDimSize(0) / groups, ocg = wt.getDimSize(1);
    int64_t k[2] = {wt.getDimSize(2), wt.getDimSize(3)};
    Value zero = reductionInit(rw, loc, elt, false);
    Value x = op.getInput();
    auto idx = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(rw, loc, v); };
    // Spread: (H - 1) * s + 1 rows, x's at multiples of s.
    SmallVector<int64_t> spreadShape(xt.getShape());
    SmallVector<Value> spreadDyn;
    for (int i = 0; i < 2; ++i) {
      int64_t h = xt.getDimSize(2 + i);
      spreadShape[2 + i] = ShapedType::isDynamic(h) ? h : (h - 1) * s[i] + 1;
    }
    for (int64_t i = 0; i < 4; ++i) {
      if (!ShapedType::isDynamic(spreadShape[i])) continue;
      Value v = dimOf(rw, loc, x, i);
      if (i >= 2)
        v = arith::AddIOp::create(rw, loc, arith::MulIOp::create(rw, loc, arith::SubIOp::create(rw, loc, v, idx(1)),
                                                                 idx(s[i - 2])),
                                  idx(1));
      spreadDyn.push_back(v);
    }
    if (s[0] != 1 || s[1] != 1) {
      Value spread = zeroFilled(rw, loc, RankedTensorType::get(spreadShape, elt), spreadDyn, zero);
      SmallVector<OpFoldResult> offsets(4, rw.getIndexAttr(0)), strides = {rw.getIndexAttr(1), rw.getIndexAttr(1),
                                                                           rw.getIndexAttr(s[0]), rw.getIndexAttr(s[1])};
      x = tensor::InsertSliceOp::create(rw, loc, x, spread, offsets, tensorSizes(rw, loc, x), strides);
    }
    // Pad by dilation * (k - 1) - padding; where that is negative, start reading further in.
    int64_t lo[2], hi[2], skip[2];
    for (int i = 0; i < 2; ++i) {
      int64_t full = d[i] * (k[i] - 1);
      lo[i] = std::max<int64_t>(0, full - p[i]);
      hi[i] = std::max<int64_t>(0, full - p[2 + i]);
      skip[i] = lo[i] - (full - p[i]);
    }
    x = padSpatial(rw, loc, x, {lo[0], lo[1], hi[0], hi[1]}, zero);
    MLIRContext *ctx = rw.getContext();
    AffineExpr n = getAffineDimExpr(0, ctx), o = getAffineDimExpr(1, ctx), y = getAffineDimExpr(2, ctx),
               xx = getAffineDimExpr(3, ctx), c = getAffineDimExpr(4, ctx), ky = getAffineDimExpr(5, ctx),
               kx = getAffineDimExpr(6, ctx);
    AffineExpr ic = groups == 1 ? c : o.floorDiv(ocg) * icg + c, oInGroup = groups == 1 ? o : o % ocg;
    AffineMap im = AffineMap::get(7, 0, {n, ic, y + ky * d[0] + skip[0], xx + kx * d[1] + skip[1]}, ctx);
    AffineMap wm = AffineMap::get(7, 0, {ic, oInGroup, k[0] - 1 - ky, k[1] - 1 - kx}, ctx);
    AffineMap om = AffineMap::get(7, 0, {n, o, y, xx}, ctx);
    SmallVector<Iter> iters = {Iter::parallel, Iter::parallel, Iter::parallel, Iter::parallel,
                               Iter::reduction, Iter::reduction, Iter::reduction};
    SmallVector<Value> dyn;
    if (rt.isDynamicDim(0)) dyn.push_back(dimOf(rw, loc, op.getInput(), 0));
    for (int i = 0; i < 2; ++i)
      if (rt.isDynamicDim(2 + i))
        dyn.push_back(transposedOutputSize(rw, loc, dimOf(rw, loc, op.getInput(), 2 + i), k[i], s[i], p[i], p[2 + i], d[i]));
    // The reduction runs over one group's input channels: a window-shaped operand gives
    // the loops their bounds (c < icg), as the weight alone cannot under groups.
    Value bounds = tensor::EmptyOp::create(rw, loc, ArrayRef<int64_t>{icg, k[0], k[1]}, elt);
    AffineMap bm = AffineMap::get(7, 0, {c, ky, kx}, ctx);
    Value acc = zeroFilled(rw, loc, rt, dyn, zero);
    Value conv = linalg::GenericOp::create(rw, loc, rt, ValueRange{x, op.getWeight(), bounds}, acc,
                                           ArrayRef<AffineMap>{im, wm, bm, om}, iters,
                                           [&](OpBuilder &b, Location l, ValueRange a) {
                                             linalg::YieldOp::create(b, l, multiplyAdd(b, l, {a[0], a[1], a[3]}));
                                           })
                     .getResult(0);
    rw.replaceOp(op, epilogue(rw, loc, conv, op.getBias(), 1, false));
    return success();
  }
};

/// dx of a conv2d as the transposed convolution of the gradient by the same weight, with
/// the output padding that gives back the input's (static) H and W: the rows a strided
/// window never reached.
struct Conv2DBackwardDataToLinalg : public OpRewritePattern<dl::Conv2DBackwardDataOp> {
  Conv2DBackwardDataToLinalg(MLIRContext *ctx) : OpRewritePattern(ctx, /*benefit=*/2) {}
  LogicalResult matchAndRewrite(dl::Conv2DBackwardDataOp op, PatternRewriter &rw) const override {
    if (op.getChannelsLast()) return rw.notifyMatchFailure(op, "the linalg kernels take NCHW");
    auto rt = op.getResult().getType();
    auto wt = op.getWeight().getType();
    auto s = op.getStride(), p = op.getPadding(), d = op.getDilation();
    SmallVector<int64_t> padding(p);
    for (int i = 0; i < 2; ++i) {
      int64_t span = rt.getDimSize(2 + i) + p[i] + p[2 + i] - d[i] * (wt.getDimSize(2 + i) - 1) - 1;
      padding[2 + i] -= span % s[i];
    }
    rw.replaceOpWithNewOp<dl::ConvTranspose2DOp>(op, rt, op.getGrad(), op.getWeight(), /*bias=*/Value(),
                                                 op.getStrideAttr(), rw.getDenseI64ArrayAttr(padding),
                                                 op.getDilationAttr(), op.getGroupsAttr(), UnitAttr());
    return success();
  }
};

/// dw[o, c, ky, kx] = sum over n, y, x of x_padded[n, ic, y*s + ky*d, x*s + kx*d] dy[n, o, y, x],
/// ic the input channel c of o's group.
struct Conv2DBackwardWeightsToLinalg : public OpRewritePattern<dl::Conv2DBackwardWeightsOp> {
  Conv2DBackwardWeightsToLinalg(MLIRContext *ctx) : OpRewritePattern(ctx, /*benefit=*/2) {}
  LogicalResult matchAndRewrite(dl::Conv2DBackwardWeightsOp op, PatternRewriter &rw) const override {
    if (op.getChannelsLast()) return rw.notifyMatchFailure(op, "the linalg kernels take NCHW");
    Location loc = op.getLoc();
    auto wt = op.getResult().getType();
    Type elt = wt.getElementType();
    auto s = op.getStride(), p = op.getPadding(), d = op.getDilation();
    int64_t groups = op.getGroups(), oc = wt.getDimSize(0), cg = wt.getDimSize(1);
    Value zero = reductionInit(rw, loc, elt, false);
    Value x = padSpatial(rw, loc, op.getInput(), p, zero);
    // Loops o, c, ky, kx | n, y, x: the forward's correlation with the weight as the result.
    ConvLoops l(rw.getContext(), {4, 0, 5, 6, 1, 2, 3});
    AffineMap im = l.inputMap(s, d, groups, oc, cg), gm = l.outputMap(), om = l.weightMap();
    SmallVector<Iter> iters = {Iter::parallel,  Iter::parallel,  Iter::parallel, Iter::parallel,
                               Iter::reduction, Iter::reduction, Iter::reduction};
    Value acc = zeroFilled(rw, loc, wt, {}, zero);
    rw.replaceOp(op, linalg::GenericOp::create(rw, loc, wt, ValueRange{x, op.getGrad()}, acc,
                                               ArrayRef<AffineMap>{im, gm, om}, iters,
                                               [&](OpBuilder &b, Location l, ValueRange a) {
                                                 linalg::YieldOp::create(b, l, multiplyAdd(b, l, a));
                                               })
                         .getResult(0));
    return success();
  }
};

/// dx of a pool2d: for each window offset (ky, kx), the gradient of every window is added
/// at that offset into a padded dx through a strided slice (static offsets and strides, so
/// each step is one loop nest), then the padding is cut away. Max pooling adds only where
/// the offset is the window's first maximum (as PyTorch, a NaN counts as a maximum),
/// found beforehand in one pass; average pooling adds gradient / window area everywhere.
struct Pool2DBackwardToLinalg : public OpRewritePattern<dl::Pool2DBackwardOp> {
  Pool2DBackwardToLinalg(MLIRContext *ctx) : OpRewritePattern(ctx, /*benefit=*/2) {}
  LogicalResult matchAndRewrite(dl::Pool2DBackwardOp op, PatternRewriter &rw) const override {
    if (op.getChannelsLast()) return rw.notifyMatchFailure(op, "the linalg kernels take NCHW");
    Location loc = op.getLoc();
    Value x = op.getInput(), dy = op.getGrad();
    auto xt = op.getInput().getType();
    auto gt = op.getGrad().getType();
    Type elt = xt.getElementType();
    bool isMax = op.getIsMax();
    auto k = op.getKernel(), s = op.getStride(), p = op.getPadding();
    MLIRContext *ctx = rw.getContext();
    auto id4 = rw.getMultiDimIdentityMap(4);
    SmallVector<Iter> par4(4, Iter::parallel);
    auto i32 = rw.getI32Type();
    auto argType = RankedTensorType::get(gt.getShape(), i32);
    SmallVector<Value> gDyn = broadcastDynamicSizes(rw, loc, gt, ValueRange{dy});

    // The offset (ky * KW + kx) of each window's first maximum.
    Value argmax;
    if (isMax) {
      Value lowest = reductionInit(rw, loc, elt, true);
      Value xp = padSpatial(rw, loc, x, p, lowest);
      AffineExpr n = getAffineDimExpr(0, ctx), c = getAffineDimExpr(1, ctx), y = getAffineDimExpr(2, ctx),
                 xx = getAffineDimExpr(3, ctx), ky = getAffineDimExpr(4, ctx), kx = getAffineDimExpr(5, ctx);
      AffineMap im = AffineMap::get(6, 0, {n, c, y * s[0] + ky, xx * s[1] + kx}, ctx);
      AffineMap wm = AffineMap::get(6, 0, {ky, kx}, ctx);
      AffineMap om = AffineMap::get(6, 0, {n, c, y, xx}, ctx);
      Value window = tensor::EmptyOp::create(rw, loc, ArrayRef<int64_t>{k[0], k[1]}, elt);
      Value best = zeroFilled(rw, loc, gt, gDyn, lowest);
      Value where = zeroFilled(rw, loc, argType, gDyn, arith::ConstantOp::create(rw, loc, rw.getI32IntegerAttr(0)));
      argmax = linalg::GenericOp::create(
                   rw, loc, TypeRange{gt, argType}, ValueRange{xp, window}, ValueRange{best, where},
                   ArrayRef<AffineMap>{im, wm, om, om},
                   SmallVector<Iter>{Iter::parallel, Iter::parallel, Iter::parallel, Iter::parallel, Iter::reduction,
                                     Iter::reduction},
                   [&](OpBuilder &b, Location l, ValueRange a) {
                     Value v = a[0], cur = a[2], curAt = a[3];
                     Value greater = arith::OrIOp::create(
                         b, l, arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, v, cur),
                         arith::CmpFOp::create(b, l, arith::CmpFPredicate::UNO, v, v));
                     Value at = arith::AddIOp::create(
                         b, l,
                         arith::MulIOp::create(b, l, linalg::IndexOp::create(b, l, 4),
                                               arith::ConstantIndexOp::create(b, l, k[1])),
                         linalg::IndexOp::create(b, l, 5));
                     at = arith::IndexCastOp::create(b, l, i32, at);
                     linalg::YieldOp::create(b, l,
                                             ValueRange{arith::SelectOp::create(b, l, greater, v, cur),
                                                        arith::SelectOp::create(b, l, greater, at, curAt)});
                   })
                   .getResult(1);
    }

    // The padded gradient, zero, then each offset's share added through a strided slice.
    Value zero = reductionInit(rw, loc, elt, false);
    SmallVector<int64_t> paddedShape(xt.getShape());
    SmallVector<Value> paddedDyn;
    for (int64_t i = 0; i < 4; ++i) {
      if (i >= 2 && !xt.isDynamicDim(i)) paddedShape[i] += p[i - 2] + p[i];
      if (!xt.isDynamicDim(i)) continue;
      Value v = dimOf(rw, loc, x, i);
      if (i >= 2) v = arith::AddIOp::create(rw, loc, v, arith::ConstantIndexOp::create(rw, loc, p[i - 2] + p[i]));
      paddedDyn.push_back(v);
    }
    Value dxp = zeroFilled(rw, loc, RankedTensorType::get(paddedShape, elt), paddedDyn, zero);
    SmallVector<OpFoldResult> sizes = tensorSizes(rw, loc, dy);
    SmallVector<OpFoldResult> strides = {rw.getIndexAttr(1), rw.getIndexAttr(1), rw.getIndexAttr(s[0]),
                                         rw.getIndexAttr(s[1])};
    Value area = arith::ConstantOp::create(rw, loc, elt, rw.getFloatAttr(elt, double(k[0] * k[1])));
    for (int64_t ky = 0; ky < k[0]; ++ky)
      for (int64_t kx = 0; kx < k[1]; ++kx) {
        SmallVector<OpFoldResult> offsets = {rw.getIndexAttr(0), rw.getIndexAttr(0), rw.getIndexAttr(ky),
                                             rw.getIndexAttr(kx)};
        Value part = tensor::ExtractSliceOp::create(rw, loc, gt, dxp, offsets, sizes, strides);
        SmallVector<Value> ins{part, dy};
        if (argmax) ins.push_back(argmax);
        SmallVector<AffineMap> maps(ins.size() + 1, id4);
        Value init = tensor::EmptyOp::create(rw, loc, gt, gDyn);
        int32_t at = int32_t(ky * k[1] + kx);
        Value sum = linalg::GenericOp::create(
                        rw, loc, gt, ins, init, maps, par4,
                        [&](OpBuilder &b, Location l, ValueRange a) {
                          Value share;
                          if (isMax) {
                            Value hit = arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, a[2],
                                                              arith::ConstantOp::create(b, l, b.getI32IntegerAttr(at)));
                            share = arith::SelectOp::create(b, l, hit, a[1], zero);
                          } else {
                            share = arith::DivFOp::create(b, l, a[1], area);
                          }
                          linalg::YieldOp::create(b, l, arith::AddFOp::create(b, l, a[0], share).getResult());
                        })
                        .getResult(0);
        dxp = tensor::InsertSliceOp::create(rw, loc, sum, dxp, offsets, sizes, strides);
      }
    SmallVector<OpFoldResult> start = {rw.getIndexAttr(0), rw.getIndexAttr(0), rw.getIndexAttr(p[0]),
                                       rw.getIndexAttr(p[1])};
    SmallVector<OpFoldResult> unit(4, rw.getIndexAttr(1));
    rw.replaceOpWithNewOp<tensor::ExtractSliceOp>(op, xt, dxp, start, tensorSizes(rw, loc, x), unit);
    return success();
  }
};

} // namespace

void populateKernelsToLinalg(RewritePatternSet &patterns) {
  patterns.add<DenseToLinalg, MatmulToLinalg, Conv2DToLinalg, ConvTranspose2DToLinalg, Pool2DToLinalg>(patterns.getContext(), /*benefit=*/2);
  patterns.add<Conv2DBackwardDataToLinalg, Conv2DBackwardWeightsToLinalg, Pool2DBackwardToLinalg>(patterns.getContext());
}

} // namespace dlc
