//===- Convolution.cpp - conv2d and conv_transpose2d kernels on oneDNN ----===//
//
// Activations come NCHW, as PyTorch stores them, NHWC where the compiler's layout pass
// chose channels_last (oneDNN's brgconv and pooling run on NHWC without reorders), or in
// blocks of 16 or 8 channels where channels in and out are whole blocks; weights are OIHW. Under
// --precision bf16 the input is converted to bf16 on the way in and the weights when they
// are packed. Primitives are cached per call site and geometry.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "dlrt/model_abi.h"
#include "native/Activation.h"
#include "native/ConvPool.h"
#include "native/ConvWeightGradient.h"
#include "native/Winograd.h"
#include "onednn/Kernels.h"
#include "onednn/Layouts.h"
#include "onednn/NativeConvolution.h"
#include "onednn/Operand.h"
#include "onednn/PackedWeights.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

using dnnl::memory;

namespace dlrt {
namespace {

template <typename Prim> struct ConvPrimitive {
  Prim prim;
  memory::desc src, wei, bias, dst;          // as compiled code passes them (NCHW or NHWC)
  memory::desc srcP, weiP, dstP;             // the primitive's (blocked where that is faster)
  // Where the primitive's activation layouts differ from ours, reorders into and out of the
  // session's staging buffers.
  std::optional<dnnl::reorder> toSrcP, fromDstP;
  std::optional<dnnl::reorder> residualCopy; // the skip tensor into dst, before the sum post-op
  PackedWeights packed;
  // A folded batch_norm: weights and bias scaled by gamma / sqrt(var + eps).
  std::vector<float> foldedW, foldedB;
  ParamStamp folded;
  // By oneDNN's Winograd algorithm: then a call whose input or weights it would not give
  // the direct sums of (native::winogradSafe: overflow; native::scanWinogradInput: an
  // outlier's or a hot spot's rounding in outputs that do not read it) runs by the direct
  // algorithm instead.
  bool winograd = false;
  float weightMagnitude = 0; // the weights' largest, per parameter version
  ParamStamp scanned;
  // --precision bf16 with an odd number of input channels (padInputChannelWeights): the
  // primitive takes one more, zero in the input and in the weights. srcView: the staged
  // input less that channel, which the reorder writes; paddedW: the weights with it, f32.
  bool padChannel = false;
  memory::desc srcView;
  std::vector<float> paddedW;
  ParamStamp padded;
  // A kernel that sums beyond an output's window (sumsBeyondWindow: oneDNN's AMX one for
  // few input channels, several times faster there than its others): then a call whose
  // input holds a NaN, an infinity or a float beyond bf16's range (which rounds to one)
  // runs by a kernel that does not.
  bool scanInput = false;
};

} // namespace
} // namespace dlrt

using namespace dlrt;

namespace {

/// Convolution and transposed convolution share geometry, caching and execution; they
/// differ in the primitive and in how PyTorch lays out the weight.
/// w'[o] = w[o] * s[o], b'[o] = (b[o] - mean[o]) * s[o] + beta[o], s = gamma / sqrt(var + eps):
/// batch_norm(conv(x)) as one convolution, recomputed when the parameters change.
template <typename P>
void foldBatchNorm(KernelContext &ctx, P &p, const float *w, const float *bias, const int64_t *bn, double eps,
                   int64_t oc, int64_t perOut) {
  if (!p.folded.stale(ctx, w)) return;
  auto vec = [&](int i) { return reinterpret_cast<const float *>(static_cast<intptr_t>(bn[i])); };
  const float *gamma = vec(0), *beta = vec(1), *mean = vec(2), *var = vec(3);
  p.foldedW.resize(size_t(oc * perOut));
  p.foldedB.resize(size_t(oc));
  for (int64_t o = 0; o < oc; ++o) {
    double s = double(gamma[o]) / std::sqrt(double(var[o]) + eps);
    for (int64_t k = 0; k < perOut; ++k) p.foldedW[o * perOut + k] = float(double(w[o * perOut + k]) * s);
    p.foldedB[o] = float((double(bias ? bias[o] : 0.0f) - double(mean[o])) * s + double(beta[o]));
  }
  p.folded.update(ctx, w);
}

/// oneDNN's bf16 convolutions multiply input channels in pairs (AVX512-BF16's dot product
/// of two). On NHWC with an odd count, a pixel's last channel took the next pixel's first
/// as its partner, times a zero weight: finite inputs came out right, but an infinity or
/// NaN also made the previous pixel's outputs NaN. So under --precision bf16 a
/// convolution of one group and an odd number of input channels (a first layer's 3) takes
/// one more, zero in the input and weights, which adds exact zeros; a grouped one with odd
/// channels per group runs f32.
/// `padded`: the weights `w` of dims `d` (as given, OIHW or IOHW) with that channel.
void padInputChannelWeights(const memory::dims &d, bool transposed, const float *w, std::vector<float> &padded) {
  // Conv2d's [OC, IC, KH, KW]: a zero after each filter's IC channels; ConvTranspose2d's
  // [IC, OC, KH, KW]: a zero filter bank after the last.
  const int64_t inner = d[2] * d[3];
  if (transposed) {
    const int64_t n = d[0] * d[1] * inner;
    padded.assign(size_t(n + d[1] * inner), 0.0f);
    std::copy(w, w + n, padded.begin());
    return;
  }
  padded.assign(size_t(d[0] * (d[1] + 1) * inner), 0.0f);
  for (int64_t o = 0; o < d[0]; ++o)
    std::copy(w + o * d[1] * inner, w + (o + 1) * d[1] * inner, padded.begin() + o * (d[1] + 1) * inner);
}

/// The padded channel of a staged NHWC bf16 input (`pixels` of `channels` each, the last
/// the padding) set to zero: the staging buffer holds whatever an earlier call left there.
void zeroPaddedChannel(void *staged, int64_t pixels, int64_t channels) {
  auto *p = static_cast<uint16_t *>(staged) + (channels - 1);
  for (int64_t i = 0; i < pixels; ++i) p[i * channels] = 0; // bf16 +0
}

template <typename Prim>
void convolve(KernelContext &ctx, int64_t site, const int64_t *g, const float *x, const float *w, const float *bias,
              float *y, bool transposed, const int64_t *bn = nullptr, double bnEps = 0,
              bool accumulate = false, bool shortcuts = true) {
  // `shortcuts`: Winograd's algorithm and kernels that sum beyond an output's window may
  // run the call; false where its data rules them out (a call moves on to one without).
  int64_t n = g[0], c = g[1], h = g[2], wd = g[3], oc = g[4], kh = g[5], kw = g[6], oh = g[7], ow = g[8];
  int64_t groups = g[17];
  int64_t layout = g[19]; // dlrt_layout
  if (n == 0) return;
  double macs = double(n) * double(oc) * double(c / groups) * double(kh * kw);
  int threads = ctx.threadsFor(2.0 * macs * double(transposed ? h * wd : oh * ow));
  std::vector<int64_t> key = {transposed ? kDeconvolution : kConvolution, site, threads, bias != nullptr,
                              bn != nullptr, accumulate, shortcuts};
  key.insert(key.end(), g, g + 20);
  auto &slot = ctx.primitives[key];
  if (!slot) {
    auto p = std::make_shared<ConvPrimitive<Prim>>();
    auto f32 = memory::data_type::f32;
    using tag = memory::format_tag;
    tag act = activationTag(layout);
    const bool blocked = dlrt_layout_block(layout) != 0;
    p->src = memory::desc({n, c, h, wd}, f32, act);
    // Conv2d weights are [OC, IC/G, KH, KW] (oihw); ConvTranspose2d's [IC, OC/G, KH, KW] (iohw).
    p->wei = groups == 1 ? memory::desc({oc, c, kh, kw}, f32, transposed ? tag::iohw : tag::oihw)
                         : memory::desc({groups, oc / groups, c / groups, kh, kw}, f32,
                                        transposed ? tag::giohw : tag::goihw);
    p->bias = bias || bn ? memory::desc({oc}, f32, tag::x) : memory::desc();
    p->dst = memory::desc({n, oc, oh, ow}, f32, act);
    // oneDNN counts dilation from 0 (no gap); PyTorch from 1.
    memory::dims strides = {g[9], g[10]}, dil = {g[15] - 1, g[16] - 1}, padL = {g[11], g[12]}, padR = {g[13], g[14]};
    auto direct = transposed ? dnnl::algorithm::deconvolution_direct : dnnl::algorithm::convolution_direct;
    // forward_inference, except for oneDNN's Winograd on a train step's activations
    // (trainingWinogradByOneDnn): forward_training keeps its weights in a blocked layout
    // and transforms them inside the kernel, where forward_inference's own Winograd layout
    // takes a reorder per parameter version that costs more than the convolution saves
    // (ResNet-18's 512 x 512 filters: 80 ms, one Sapphire Rapids core).
    auto propFor = [&](dnnl::algorithm alg) {
      return alg == dnnl::algorithm::convolution_winograd && layout == DLRT_LAYOUT_NHWC
                 ? dnnl::prop_kind::forward_training
                 : dnnl::prop_kind::forward_inference;
    };
    dnnl::primitive_attr attr = kernelAttr();
    dnnl::post_ops ops;
    if (accumulate) ops.append_sum(1.0f); // dst += conv: dst holds the residual beforehand
    // A sigmoid after the call, natively (native/Activation.h: oneDNN's post-op lost NaN).
    appendActivation(ops, g[18] == DLRT_ACTIVATION_SIGMOID ? DLRT_ACTIVATION_NONE : g[18]);
    attr.set_post_ops(ops);
    // The descriptor and its primitive. `search`: moved on past oneDNN's reference kernel,
    // without shortcuts past those that sum beyond an output's window, and past any whose
    // primitive oneDNN cannot create (its bf16 kernel for grouped convolutions with a silu
    // post-op, on an Intel Xeon with AMX: "could not create a primitive"); none left:
    // nullopt. Here, while `d` lives: oneDNN's iterator over implementations reads it.
    struct Made {
      typename Prim::primitive_desc pd;
      Prim prim;
    };
    auto make = [&](const memory::desc &src, const memory::desc &dst, dnnl::algorithm alg,
                    bool search) -> std::optional<Made> {
      memory::desc weiAny(p->wei.dims(), src.data_type(), tag::any);
      auto d = bias || bn ? typename Prim::desc(propFor(alg), alg, src, weiAny, p->bias, dst, strides, dil, padL, padR)
                          : typename Prim::desc(propFor(alg), alg, src, weiAny, dst, strides, dil, padL, padR);
      typename Prim::primitive_desc pd(d, attr, ctx.engine);
      if (!search) return Made{pd, Prim(pd)};
      do {
        if (!skipToUsableImpl(pd, shortcuts)) return std::nullopt;
        try {
          return Made{pd, Prim(pd)};
        } catch (const dnnl::error &) {
        }
      } while (pd.next_impl());
      return std::nullopt;
    };
    // The descriptor where oneDNN has a kernel for it other than its reference one (and,
    // without shortcuts, one that sums each output over its own window only).
    auto tryMake = [&](const memory::desc &src, const memory::desc &dst,
                       dnnl::algorithm alg) -> std::optional<Made> {
      try {
        return make(src, dst, alg, true);
      } catch (const dnnl::error &) {
      }
      return std::nullopt;
    };
    memory::desc srcAny(p->src.dims(), f32, tag::any), dstAny(p->dst.dims(), f32, tag::any);
    // A first layer with one input channel and 16 or 8 outputs: NHWC input and output
    // are, byte for byte, NCHW and nChw16c or nChw8c, the layouts of oneDNN's direct
    // first-layer kernel, which runs such a convolution twice as fast as brgconv on NHWC
    // (AVX-512, 16; AVX2's reads nChw8c).
    std::optional<Made> chosen;
    if (layout == DLRT_LAYOUT_NHWC && !transposed && c == 1 && (oc == 16 || oc == 8)) {
      memory::desc src({n, c, h, wd}, f32, tag::nchw), dst({n, oc, oh, ow}, f32, channelBlocksTag(oc));
      if (auto pd = tryMake(src, dst, direct)) {
        chosen = pd;
        p->src = src;
        p->dst = dst;
      }
    }
    // Winograd's algorithm (oneDNN's F(4x4,3x3) or F(2x2,3x3), on 16-channel blocks) where
    // model_abi.h's rule picks it, the compiler asked for it by handing over blocked
    // activations (it does not where the call updates the weight: a train step would
    // transform the weights on every call, which cost more than Winograd saved), and oneDNN
    // has a kernel for the shape and post-ops. As accurate as direct against a
    // double-precision reference (max error 1e-6..1e-5 on outputs of magnitude 4 for both).
    // f32 only, and kept under --precision bf16: it does a quarter of the multiplications
    // and bf16's direct kernels twice the f32 rate (ResNet-18 b16 on one Zen 4 core: 261 ms
    // with it, 297 without).
    if (!chosen && !transposed && blocked && shortcuts &&
        dlrt_conv2d_winograd(c, oc, kh, kw, g[9], g[10], g[15], g[16], groups)) {
      chosen = tryMake(srcAny, dstAny, dnnl::algorithm::convolution_winograd);
      p->winograd = chosen.has_value();
    }
    // A train step's NHWC convolution where trainingWinogradByOneDnn picks oneDNN's
    // Winograd: on its blocked layouts, the activations reordered in and out (guarded by
    // the same scan).
    if (!chosen && !transposed && layout == DLRT_LAYOUT_NHWC && shortcuts && !ctx.bf16 &&
        trainingWinogradByOneDnn(g)) {
      chosen = tryMake(srcAny, dstAny, dnnl::algorithm::convolution_winograd);
      p->winograd = chosen.has_value();
    }
    // Handed blocks (the compiler's choice where channels are whole blocks, see
    // BlockedChannels.cpp), the direct kernel on them, without reorders.
    if (!chosen && !ctx.bf16 && blocked) chosen = tryMake(p->src, p->dst, direct);
    // With --precision bf16, bf16 input and weights (f32 accumulation and output); an odd
    // number of input channels padded by one (padInputChannelWeights), or f32 where the
    // convolution is grouped.
    if (!chosen && ctx.bf16 && (c / groups) % 2 == 0)
      chosen = tryMake(memory::desc(p->src.dims(), memory::data_type::bf16, tag::any), dstAny, direct);
    if (!chosen && ctx.bf16 && groups == 1 && c % 2 == 1) {
      memory::desc given = p->wei;
      memory::dims wd2 = given.dims();
      wd2[transposed ? 0 : 1] += 1;
      p->wei = memory::desc(wd2, f32, transposed ? tag::iohw : tag::oihw);
      memory::desc padded({n, c + 1, h, wd}, memory::data_type::bf16, tag::nhwc);
      chosen = tryMake(padded, dstAny, direct);
      if (chosen) {
        p->padChannel = true;
        p->srcView = padded.submemory_desc({n, c, h, wd}, {0, 0, 0, 0});
      } else {
        p->wei = given;
      }
    }
    // Otherwise oneDNN chooses layouts: its blocked or NHWC formats run several times
    // faster than plain NCHW. Activations are reordered in and out per call where its
    // choice differs from ours (with channels_last it rarely does), weights once per
    // parameter version.
    // Handed NHWC, a kernel on NHWC where oneDNN has one: its own choice on AVX-512
    // (brgconv), where on AVX2 it would choose nChw8c and reorder in and out of every call
    // (the CNN sample's first convolution; the CNN at b64, one Zen 5 core capped at AVX2:
    // 1.52 -> 1.44 ms).
    if (!chosen && layout == DLRT_LAYOUT_NHWC) chosen = tryMake(p->src, p->dst, direct);
    if (!chosen) chosen = make(srcAny, dstAny, direct, false);
    auto &pd = chosen->pd;
    p->srcP = pd.src_desc();
    p->weiP = pd.weights_desc();
    p->dstP = pd.dst_desc();
    if (p->srcP != p->src) p->toSrcP = reorderOf(ctx, p->src, p->padChannel ? p->srcView : p->srcP);
    if (p->dstP != p->dst) p->fromDstP = reorderOf(ctx, p->dstP, p->dst);
    if (accumulate && p->fromDstP) p->residualCopy = reorderOf(ctx, p->dst, p->dstP);
    p->packed = PackedWeights(ctx, p->wei, p->weiP, PackedWeights::Sharing::kByParameter);
    p->prim = chosen->prim;
    p->scanInput = shortcuts && sumsBeyondWindow(pd);
    slot = p;
  }
  auto &p = *static_cast<ConvPrimitive<Prim> *>(slot.get());
  const float *givenW = w, *givenBias = bias; // before a batch norm is folded in
  if (bn) {
    foldBatchNorm(ctx, p, w, bias, bn, bnEps, oc, (c / groups) * kh * kw);
    w = p.foldedW.data();
    bias = p.foldedB.data();
  }
  if (p.padChannel && p.padded.stale(ctx, w)) {
    memory::dims given = p.wei.dims();
    given[transposed ? 0 : 1] -= 1;
    padInputChannelWeights(given, transposed, w, p.paddedW);
    p.padded.update(ctx, w);
  }
  if (p.padChannel) w = p.paddedW.data();
  if (p.winograd) {
    if (p.scanned.stale(ctx, givenW)) {
      p.weightMagnitude = native::largestMagnitude(1, w, oc * (c / groups) * kh * kw);
      p.scanned.update(ctx, givenW);
    }
    native::WinogradInputScan input = native::scanWinogradInput(threads, native::WinogradShape(g, accumulate, 4), x);
    if (!native::winogradSafe(input.largest, p.weightMagnitude, (c / groups) * kh * kw) || input.tileNeedsDirectSums) {
      ctx.retractThreads();
      return convolve<Prim>(ctx, site, g, x, givenW, givenBias, y, transposed, bn, bnEps, accumulate, false);
    }
  }
  if (p.scanInput && !(native::largestMagnitude(threads, x, int64_t(p.src.get_size() / sizeof(float))) <= kBf16Largest)) {
    ctx.retractThreads();
    return convolve<Prim>(ctx, site, g, x, givenW, givenBias, y, transposed, bn, bnEps, accumulate, false);
  }
  memory userSrc(p.src, ctx.engine, const_cast<float *>(x)), userDst(p.dst, ctx.engine, y);
  memory src = userSrc, dst = userDst;
  if (p.toSrcP) {
    src = ctx.staged(ctx.stagedSrc, p.srcP);
    memory to = p.padChannel ? memory(p.srcView, ctx.engine, src.get_data_handle()) : src;
    ctx.runReorder(*p.toSrcP, {{DNNL_ARG_FROM, userSrc}, {DNNL_ARG_TO, to}}, p.src.get_size());
    if (p.padChannel) zeroPaddedChannel(src.get_data_handle(), g[0] * g[2] * g[3], g[1] + 1);
  }
  if (p.fromDstP) dst = ctx.staged(ctx.stagedDst, p.dstP);
  // y holds the skip tensor; a staged dst in another layout needs it too.
  if (accumulate && p.fromDstP)
    ctx.runReorder(*p.residualCopy, {{DNNL_ARG_FROM, userDst}, {DNNL_ARG_TO, dst}}, p.dst.get_size());
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.packed.get(ctx, w)},
                                          {DNNL_ARG_DST, dst}};
  if (bias) args.insert({DNNL_ARG_BIAS, memory(p.bias, ctx.engine, const_cast<float *>(bias))});
  ctx.run(p.prim, std::move(args));
  if (p.fromDstP) ctx.runReorder(*p.fromDstP, {{DNNL_ARG_FROM, dst}, {DNNL_ARG_TO, userDst}}, p.dstP.get_size());
  if (g[18] == DLRT_ACTIVATION_SIGMOID)
    native::activateInPlace(threads, DLRT_ACTIVATION_SIGMOID, y, int64_t(p.dst.get_size() / sizeof(float)));
}

/// A convolution run by a native kernel (native/ConvPool.h, native/Winograd.h): its
/// weights packed as the kernel reads them, once per parameter version, a folded batch
/// norm's scale in them and its shift in the bias.
struct NativeConvWeights {
  native::AlignedFloats packed;
  std::vector<float> bias;
  ParamStamp stamp;
  std::vector<float> foldedW, foldedB; // foldBatchNorm's
  ParamStamp folded;
};

/// Site `site`'s packed weights (kind: the kernel's PrimitiveKind), packed anew by
/// pack(oihw, packed) where the parameters changed. oc output channels of perOut weights
/// each, packedFloats floats packed.
template <class Pack>
NativeConvWeights &nativeConvWeights(KernelContext &ctx, PrimitiveKind kind, int64_t site, const float *w,
                                     const float *bias, const int64_t *bn, double bnEps, int64_t oc, int64_t perOut,
                                     int64_t packedFloats, Pack pack) {
  auto &slot = ctx.primitives[{kind, site}];
  if (!slot) slot = std::make_shared<NativeConvWeights>();
  auto &p = *static_cast<NativeConvWeights *>(slot.get());
  if (p.stamp.stale(ctx, w)) {
    const float *oihw = w, *b = bias;
    if (bn) {
      foldBatchNorm(ctx, p, w, bias, bn, bnEps, oc, perOut);
      oihw = p.foldedW.data();
      b = p.foldedB.data();
    }
    p.packed.resize(packedFloats);
    pack(oihw, p.packed.data());
    if (b) p.bias.assign(b, b + oc);
    else p.bias.clear();
    p.stamp.update(ctx, w);
  }
  return p;
}

} // namespace

extern "C" void dlrt_k_conv2d_max_pool_f32(void *vctx, int64_t site, const int64_t *conv, const int64_t *pool,
                                           const float *x, const float *w, const float *bias, float *y,
                                           const int64_t *bn, double bnEps) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    native::ConvPoolShape s(conv, pool);
    if (conv[17] != 1 || !native::convMaxPoolSupports(s)) {
      ctx.fail(ctx.where(site) + ": the fused convolution and max pooling got a geometry it does not run (" +
               std::to_string(s.oc) + " output channels, groups " + std::to_string(conv[17]) + ", layout " +
               std::to_string(s.outLayout) + ")");
      return;
    }
    if (s.n == 0) return;
    auto &p = nativeConvWeights(ctx, kConvMaxPool, site, w, bias, bn, bnEps, s.oc, s.c * s.kh * s.kw,
                                s.packedWeightFloats(), [&](const float *oihw, float *packed) {
                                  native::packConvPoolWeights(s, oihw, packed);
                                });
    double macs = double(s.n * s.oh * s.ow) * double(s.oc * s.c * s.kh * s.kw);
    native::convMaxPool(ctx.threadsFor(2.0 * macs), s, x, p.packed.data(), p.bias.empty() ? nullptr : p.bias.data(),
                        y);
  });
}

bool dlrt::trainingWinogradByOneDnn(const int64_t *g) {
  // ResNet-18's train step at batch 16 on one Intel Sapphire Rapids core, each layer's
  // forward, data and weight gradients against oneDNN's direct kernels on NHWC (brgconv
  // forward; native Winograd where nativeWinograd took the 128-channel layers): 128
  // channels at 28x28 36.5 -> 34.8 ms, 256 at 14x14 54.8 -> 41.3, 512 at 7x7 65.9 -> 58.2
  // (the reorders of activations and weights included); the step 976 -> 890 ms, on two
  // threads 556 -> 523. With 64 channels at 56x56 the reorders of 12.8 MB activations
  // ate the gain (the step 933 ms against 890 from 128 on).
  return g[19] == DLRT_LAYOUT_NHWC && native::winogradSupports(g) && std::min(g[1], g[4]) >= 128 &&
         native::widestVectorIsa() == native::VectorIsa::Avx512;
}

namespace {

/// Whether a convolution runs by native/Winograd rather than by oneDNN. Where oneDNN has
/// Winograd kernels (AVX-512), where model_abi.h's rule does not pick them (fewer than 64
/// channels in or out: the CNN sample's 16 -> 32 at 14x14, batch 64 on a Zen 5 core, 0.41
/// ms against oneDNN's direct 0.53, the model 0.46-0.48 against 0.67-0.74) and where
/// neither side has more than 128 channels: ResNet-18's 64- and 128-channel 3x3 layers by
/// this one's F(4x4, 3x3) in 0.62-0.75 of oneDNN's F(4x4, 3x3) time at batch 1 and
/// 0.74-0.91 at batch 16; with 256 and 512 channels oneDNN's stays faster (1.0-1.17x and
/// 1.05-1.20x with this one). On AVX2, where oneDNN has only direct kernels, every one:
/// ResNet-18's 3x3 layers (the same core capped at AVX2) by F(2x2, 3x3) in 0.46-0.80 of the
/// direct time at batch 1 and 0.49-0.80 at batch 16 (the model 35.6 -> 21.9 ms and 543 ->
/// 328 ms), and by F(4x4, 3x3) where nativeWinogradTile picks it in 0.60-0.87 of F(2x2)'s.
/// --precision bf16 keeps oneDNN's bf16 kernels.
bool nativeWinograd(const int64_t *g) {
  if (!native::winogradSupports(g)) return false;
  // NHWC: a train step's convolutions (the compiler blocks the others), whose filters
  // change every step, so that every call transforms them, at a cost that grows with
  // C x K where the saving grows with the output pixels too: where there are enough of
  // those. ResNet-18's train step at batch 16 on one Zen 5 core, against oneDNN's direct
  // kernels, forward and backward (data and weights; only the data gradient is Winograd's):
  // capped at AVX2, 56x56 and 28x28 (64 and 128 channels) 0.42-0.45x and 0.63x, 14x14
  // (256) 0.9-0.95x and 0.92x, 7x7 (512) 2.3x and 1.6x; AVX-512, 56x56 0.47x and 0.69x,
  // 28x28 0.6x and 0.74x, 14x14 1.5x and 1.23x. Since the filters' transform went from 23
  // to 9 ms for 512 x 512 (packWinogradWeights), the 7x7 layers (784 pixels) pay too:
  // on one Zen 4 core capped at AVX2, forward 43-45 -> 35-37 ms, backward 79-82 -> 61-64,
  // the step 1248-1276 -> 1180-1199 ms (fastest of 20).
  if (g[19] == DLRT_LAYOUT_NHWC) {
    const int64_t pixels = g[0] * g[7] * g[8];
    switch (native::widestVectorIsa()) {
    case native::VectorIsa::Avx512: return pixels >= 8192 && !trainingWinogradByOneDnn(g);
    case native::VectorIsa::Avx2: return pixels >= 512;
    default: return false; // not measured
    }
  }
  switch (native::widestVectorIsa()) {
  case native::VectorIsa::Avx512:
    return !dlrt_conv2d_winograd(g[1], g[4], 3, 3, 1, 1, 1, 1, 1) || std::max(g[1], g[4]) <= 128;
  case native::VectorIsa::Avx2: return true;
  default: return false; // not measured
  }
}

/// The tile of a convolution nativeWinograd runs: F(4x4, 3x3) where the call has at least
/// 32 of its tiles, else F(2x2, 3x3). F(4x4) does 2.25 multiplications per output where
/// F(2x2) does 4, but its transformed filters are 2.25 times F(2x2)'s, and a chunk of tiles
/// reads all of them: with few tiles the call is bound by reading the filters. Measured on
/// a Zen 5 core capped at AVX2, F(4x4) against F(2x2): ResNet-18 at batch 1, 196 and 49
/// tiles (56x56 and 28x28) 0.60-0.87x, 16 and 4 tiles (14x14 and 7x7) 1.16-1.64x; at batch
/// 16, 64 to 3136 tiles, 0.62-0.90x; the CNN sample's 16 -> 32 at 14x14, 16 tiles (batch 1)
/// 1.22x, 1024 (batch 64) 0.86x.
int nativeWinogradTile(const int64_t *g) {
  const int64_t tiles = g[0] * ((g[7] + 3) / 4) * ((g[8] + 3) / 4);
  return tiles >= 32 ? 4 : 2;
}

void winograd(KernelContext &ctx, int64_t site, const int64_t *g, const float *x, const float *w, const float *bias,
              float *y, const int64_t *bn, double bnEps, bool accumulate) {
  // F(4x4) where the batch has the tiles for it. (Its tiles with an outlier in their patch
  // are direct sums: native/Winograd checks each as it transforms the chunk. A scan of the
  // whole input first, as oneDNN's Winograd gets, cost ResNet-18's 64- and 128-channel
  // layers at batch 1 on two threads 15-29%, most of it the parallel region's.)
  native::WinogradShape s(g, accumulate, nativeWinogradTile(g));
  if (s.n == 0) return;
  const int threads = ctx.threadsFor(2.0 * s.directMacs());
  // Each tile's filters in a cache slot of their own: a site may run either, call by call.
  auto &p = nativeConvWeights(ctx, s.tile == 4 ? kWinograd4x4 : kWinograd, site, w, bias, bn, bnEps, s.k, s.c * 9,
                              s.packedWeightFloats(), [&](const float *oihw, float *packed) {
                                native::packWinogradWeights(threads, s, oihw, packed);
                              });
  native::winogradConv(threads, s, x, p.packed.data(), p.bias.empty() ? nullptr : p.bias.data(), y);
}

} // namespace

namespace {

/// The geometry of the convolution a data gradient amounts to (winogradBackwardData's),
/// for a 3x3 convolution of stride 1 padded at most 2 on each side.
struct DataGradientGeometry {
  int64_t g[20];
  explicit DataGradientGeometry(const int64_t *f)
      : g{f[0], f[4], f[7], f[8], f[1], 3, 3, f[2], f[3], 1, 1, 2 - f[11], 2 - f[12], 2 - f[13], 2 - f[14],
          1, 1, 1, DLRT_ACTIVATION_NONE, f[19]} {}
  operator const int64_t *() const { return g; }
};

} // namespace

bool dlrt::winogradGivesDataGradient(int threads, const int64_t *g, const float *dy, float weightMagnitude) {
  if (std::max({g[11], g[12], g[13], g[14]}) > 2) return false;
  const DataGradientGeometry gd(g);
  native::WinogradInputScan input = native::scanWinogradInput(threads, native::WinogradShape(gd, false, 4), dy);
  return native::winogradSafe(input.largest, weightMagnitude, g[4] * 9) && !input.tileNeedsDirectSums;
}

bool dlrt::winogradGivesWeightGradient(int threads, const int64_t *g, const float *x, const float *dy) {
  // dW's taps are sums over the output pixels of x times dy; the transforms mix a tile's
  // 6x6 patch of x and its 4x4 outputs' dy, so that the rounding of an outlier in either
  // reaches the taps of pixels that do not meet it (a dy of 1e6 among values of 1 put
  // errors of 7e-4 of their terms' magnitudes into taps whose x under it was small): both
  // pass the forward's scan, dy as the input of the convolution the data gradient is
  // (each 4x4 tile of dy lies in one of its 6x6 patches).
  if (std::max({g[11], g[12], g[13], g[14]}) > 2) return false;
  native::WinogradInputScan input = native::scanWinogradInput(threads, native::WinogradShape(g, false, 4), x);
  if (input.tileNeedsDirectSums) return false;
  const DataGradientGeometry gd(g);
  native::WinogradInputScan gradient = native::scanWinogradInput(threads, native::WinogradShape(gd, false, 4), dy);
  return !gradient.tileNeedsDirectSums && native::winogradSafe(input.largest, gradient.largest, g[0] * g[7] * g[8]);
}

bool dlrt::winogradBackwardData(KernelContext &ctx, int64_t site, const int64_t *g, const float *dy, const float *w,
                                float *dx) {
  // dx's pixel p reads dy's pixel p + pad - i through tap i of the window: a convolution of
  // dy by the filters turned half a turn, input and output channels exchanged, padded
  // 2 - pad on each side. Where that convolution and the forward one are both nativeWinograd's.
  if (ctx.bf16 || !nativeWinograd(g) || std::max({g[11], g[12], g[13], g[14]}) > 2) return false;
  const DataGradientGeometry gd(g);
  if (!nativeWinograd(gd)) return false;
  native::WinogradShape s(gd, false, nativeWinogradTile(gd));
  if (s.n == 0) return true;
  const int threads = ctx.threadsFor(2.0 * s.directMacs());
  auto &p = nativeConvWeights(ctx, s.tile == 4 ? kWinogradData4x4 : kWinogradData, site, w, nullptr, nullptr, 0.0, s.k,
                              s.c * 9, s.packedWeightFloats(), [&](const float *oihw, float *packed) {
                                native::packWinogradWeights(threads, s, oihw, packed, native::FilterOrder::Turned);
                              });
  native::winogradConv(threads, s, dy, p.packed.data(), nullptr, dx);
  return true;
}

bool dlrt::winogradBackwardWeights(KernelContext &ctx, int64_t site, const int64_t *g, const float *x, const float *dy,
                                   float *dw) {
  // 64 channels in and out or more. The transforms take 4 floats per pixel and channel of
  // x and of dy, and with few channels the products they save are too few to pay for
  // them: the CNN sample's 16 -> 32 at
  // 14x14, batch 64 on one Zen 5 core, 1.46 ms against oneDNN's 1.15 (AVX-512) and 2.53
  // against 2.13 (capped at AVX2) with the transforms of all tiles written out and one
  // oneDNN product per element; fused, on one Intel Sapphire Rapids core, its backward
  // 1.79 ms against 1.52 (AVX-512) and 2.48 against 2.23 (AVX2). ResNet-18's train step at
  // batch 16 on one Intel Xeon (Sapphire Rapids) core, the backward (data and weight
  // gradients) per convolution against oneDNN's direct weight gradient, with F(2x2):
  // AVX-512, 56x56 (64 channels) 25.0-25.8 ms against 31.9-32.4, 28x28 28.5-29.5 against
  // 32.4-32.6, 14x14 40.3-40.7 against 43.2-43.3, 7x7 (512) 49.5-50.5 against 48.5-48.6;
  // capped at AVX2, 41.3-43.8 against 56.8-59.3, 41.4-42.1 against 52.2-52.5, 56.4-56.7
  // against 66.2-66.9, 74.7-77.9 against 76.9-77.6.
  // With AVX-512, oneDNN's Winograd (trainingWinogradByOneDnn) takes those with more than
  // 128 channels: there the native F(4x4) against it, the backward per convolution, one
  // core: 14x14 (256) 26.9-27.4 -> 29.7-32.1 ms, 7x7 (512) 36.6-40.1 -> 47.6-49.8; at 28x28
  // (128) native is faster, 24.0-24.7 -> 20.8-21.9 (two threads 13.2-13.5 -> 12.3-12.8).
  if (ctx.bf16 || g[19] != DLRT_LAYOUT_NHWC || !native::winogradSupports(g) || g[1] < 64 || g[4] < 64 ||
      native::widestVectorIsa() == native::VectorIsa::Generic ||
      (trainingWinogradByOneDnn(g) && std::max(g[1], g[4]) > 128))
    return false;
  // F(4x4, 3x3): 36 products per tile of 16 outputs where F(2x2) takes 16 per 4, and never
  // more in all than F(2x2), also where the output's sides are not multiples of 4 (7x7:
  // 4 tiles x 36 against 16 x 16). ResNet-18's train step at batch 16, the
  // backward per convolution, F(2x2) -> F(4x4): one Sapphire Rapids core, 56x56 (64
  // channels) 26.6-29.4 -> 22.5-24.7 ms (two threads 13.7-15.4 -> 11.8-13.1); capped at
  // AVX2, 56x56 40.9-44.4 -> 31.4-34.2, 28x28 (128) 40.6-41.4 -> 31.4-32.3, 14x14 (256)
  // 53.6-56.1 -> 50.4-51.4, 7x7 (512) 70.9-73.8 -> 68.0-68.9: the step 1495-1540 -> 1399-1457.
  // Its rounding error stays below 3e-6 of the sum of the terms' magnitudes (the kernel
  // test's normal operands; F(2x2)'s below 1e-6).
  native::WinogradShape s(g, false, 4);
  const int threads = ctx.threadsFor(2.0 * s.directMacs());
  // The tiles are not checked one by one: the call's operands are, as for oneDNN's F(4x4)
  // (scanWinogradInput's tiles are F(4x4)'s). Unchecked, an infinity in x gave NaN where
  // the direct sums give it, and an outlier of 1e6 errors of 4e-5 of their terms'
  // magnitudes (F(2x2), which mixes less of a patch).
  if (!winogradGivesWeightGradient(threads, g, x, dy)) {
    ctx.retractThreads();
    return false;
  }
  auto buffer = [&](GrowingBuffer &b, int64_t floats) { return static_cast<float *>(b.get(size_t(floats) * sizeof(float))); };
  float *u = buffer(ctx.winogradProducts, s.elements() * s.k * s.c),
        *scratch = buffer(ctx.winogradScratch, native::winogradWeightGradientScratch(threads, s));
  native::winogradWeightGradientProducts(threads, s, x, dy, u, scratch);
  native::winogradGradientFilters(threads, s, u, dw);
  return true;
}

bool dlrt::fewChannelBackwardWeights(KernelContext &ctx, const int64_t *g, const float *x, const float *dy,
                                     float *dw) {
  // Where its accumulators fill the registers (output channels in whole 4 vectors of 16
  // with AVX-512, 2 of 8 with AVX2) and output rows are long enough to pay for a pass's
  // setup. Against oneDNN's direct kernel, one Intel Sapphire Rapids core (c = 3, NHWC):
  // AVX-512, ResNet-18's stem (7x7, stride 2) at batch 16 on 224x224 24.8 ms against
  // 31.9, on 112x112 (batch 32) 12.7 against 13.2, 3x3 -> 64 on 224x224 36.3 against 66.0,
  // 5x5 -> 64 on 64x64 7.95 against 8.23, 11x11 stride 4 the same (14.7); oneDNN's faster
  // with 48 output columns or fewer (5x5 stride 2 on 96x96 4.98 against 4.74, 3x3 on 32x32
  // 1.70 against 1.75) and with 32 output channels (3x3 stride 2 on 224x224 3.21 against
  // 3.06). Capped at AVX2: the stem 39.9 against 53.6 and 19.5 against 21.2, 5x5 stride 2
  // on 96x96 7.36 against 8.74, 3x3 -> 32 stride 2 on 224x224 4.20 against 4.77, 3x3 ->
  // 64 on 224x224 52.8 against 84.4; 3x3 on 32x32 2.65 against 2.46 (-> 64) and 1.30
  // against 1.20 (-> 32), the CNN sample's 1 -> 16 on 28x28 0.227 against 0.232.
  if (ctx.bf16 || !native::fewChannelWeightGradientSupports(g)) return false;
  switch (native::widestVectorIsa()) {
  case native::VectorIsa::Avx512:
    if (g[4] % 64 != 0 || g[8] < 56) return false;
    break;
  case native::VectorIsa::Avx2:
    if (g[4] % 16 != 0 || g[8] < 48) return false;
    break;
  default: return false; // not measured
  }
  const native::WeightGradientShape s(g);
  const int threads = ctx.threadsFor(2.0 * double(s.n * s.oh * s.ow) * double(s.weights()));
  float *scratch = static_cast<float *>(
      ctx.weightGradientScratch.get(size_t(native::fewChannelWeightGradientScratch(threads, s)) * sizeof(float)));
  if (native::fewChannelWeightGradient(threads, s, x, dy, dw, scratch)) return true;
  ctx.retractThreads();
  return false;
}

extern "C" void dlrt_k_conv2d_f32(void *vctx, int64_t site, const int64_t *g, const float *x, const float *w,
                                  const float *bias, float *y, const int64_t *bn, double bnEps,
                                  int64_t accumulate) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    if (!ctx.bf16 && nativeWinograd(g)) {
      winograd(ctx, site, g, x, w, bias, y, bn, bnEps, accumulate != 0);
      return;
    }
    convolve<dnnl::convolution_forward>(ctx, site, g, x, w, bias, y, false, bn, bnEps, accumulate != 0);
  });
}

namespace {

/// A transposed convolution. Its far padding (geometry words 13 and 14) is PyTorch's
/// padding less output_padding; where that is negative, the last -padding rows (columns)
/// of the output lie beyond every window and hold the bias alone. oneDNN takes a negative
/// padding only without dilation ("could not create a descriptor for a dilated
/// deconvolution"), so such a call convolves at far padding 0 into reachedOutput, and the
/// output is that with the unreached rows and columns set to the bias (0 without one).
void deconvolve(KernelContext &ctx, int64_t site, const int64_t *g, const float *x, const float *w, const float *bias,
                float *y) {
  const int64_t unreachedH = std::max<int64_t>(0, -g[13]), unreachedW = std::max<int64_t>(0, -g[14]);
  if (unreachedH == 0 && unreachedW == 0) {
    convolve<dnnl::deconvolution_forward>(ctx, site, g, x, w, bias, y, true);
    return;
  }
  const int64_t n = g[0], oc = g[4], oh = g[7], ow = g[8];
  // The near padding may crop away every reached row: then the output is the bias alone.
  const int64_t rh = std::max<int64_t>(0, oh - unreachedH), rw = std::max<int64_t>(0, ow - unreachedW);
  const float *reached = nullptr;
  if (n > 0 && rh > 0 && rw > 0) {
    std::vector<int64_t> within(g, g + 20);
    within[7] = rh;
    within[8] = rw;
    within[13] += unreachedH;
    within[14] += unreachedW;
    auto *out = static_cast<float *>(ctx.reachedOutput.get(size_t(n * oc * rh * rw) * sizeof(float)));
    convolve<dnnl::deconvolution_forward>(ctx, site, within.data(), x, w, bias, out, true);
    reached = out;
  }
  auto biasOf = [&](int64_t o) { return bias ? bias[o] : 0.0f; };
  auto isReached = [&](int64_t i, int64_t j) { return reached && i < rh && j < rw; };
  if (g[19] == DLRT_LAYOUT_NHWC) {
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          float *to = y + ((b * oh + i) * ow + j) * oc;
          if (isReached(i, j)) std::copy_n(reached + ((b * rh + i) * rw + j) * oc, oc, to);
          else if (bias) std::copy_n(bias, oc, to);
          else std::fill_n(to, oc, 0.0f);
        }
    return;
  }
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t i = 0; i < oh; ++i) {
        float *to = y + ((b * oc + o) * oh + i) * ow;
        const int64_t copied = isReached(i, 0) ? rw : 0;
        if (copied) std::copy_n(reached + ((b * oc + o) * rh + i) * rw, copied, to);
        std::fill(to + copied, to + ow, biasOf(o));
      }
}

} // namespace

extern "C" void dlrt_k_deconv2d_f32(void *vctx, int64_t site, const int64_t *g, const float *x, const float *w,
                                    const float *bias, float *y) {
  guarded(vctx, site, [&](KernelContext &ctx) { deconvolve(ctx, site, g, x, w, bias, y); });
}
