//===- ConvolutionBackward.cpp - conv2d's gradients on oneDNN -------------===//
//
// The backward-data and backward-weights primitives of a convolution, OIHW weights as
// PyTorch keeps them and activations NCHW or, where the layout pass moved the train step's
// convolutions to channels_last, NHWC (geom[19]). Both are made from a forward_training
// descriptor of the same geometry (oneDNN's hint). NHWC activations are taken as they are
// where oneDNN has a kernel for them; otherwise (and for NCHW, which runs several times
// slower than oneDNN's blocked layouts) oneDNN chooses its layouts (tag::any) and tensors
// are reordered into the session's staging buffers and back, as the forward kernel does.
// 3x3 convolutions of 128 channels and more take oneDNN's Winograd kernels, in its blocked
// layouts, where trainingWinogradByOneDnn says so (the weight gradient where native
// Winograd's does not take it first), each call checked first as the forward is
// (NativeConvolution.h). Primitives are cached per call site and geometry.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "dlrt/model_abi.h"
#include "native/Winograd.h"
#include "onednn/Kernels.h"
#include "onednn/NativeConvolution.h"
#include "onednn/Operand.h"
#include "onednn/PackedWeights.h"

#include <optional>
#include <string>
#include <type_traits>

using dnnl::memory;
using namespace dlrt;

namespace {

constexpr int kGeomWords = 20;

/// The geometry of dlrt_k_conv2d_f32's word array, as oneDNN's descriptors take it.
struct ConvShape {
  memory::desc src, wei, dst; // NCHW or NHWC, OIHW (goihw with groups), as src
  bool channelsLast;
  // convolution_winograd where asked for (trainingWinogradByOneDnn) and oneDNN has it, in
  // its blocked layouts; else convolution_direct.
  dnnl::algorithm alg = dnnl::algorithm::convolution_direct;
  memory::dims strides, dil, padL, padR;
  int64_t groupChannels; // input channels a group
  double flops;

  explicit ConvShape(const int64_t *g, bool winograd = false) {
    if (winograd) alg = dnnl::algorithm::convolution_winograd;
    int64_t n = g[0], c = g[1], h = g[2], w = g[3], oc = g[4], kh = g[5], kw = g[6], oh = g[7], ow = g[8];
    int64_t groups = g[17];
    channelsLast = g[19] == DLRT_LAYOUT_NHWC;
    auto f32 = memory::data_type::f32;
    using tag = memory::format_tag;
    tag act = channelsLast ? tag::nhwc : tag::nchw;
    src = memory::desc({n, c, h, w}, f32, act);
    wei = groups == 1 ? memory::desc({oc, c, kh, kw}, f32, tag::oihw)
                      : memory::desc({groups, oc / groups, c / groups, kh, kw}, f32, tag::goihw);
    dst = memory::desc({n, oc, oh, ow}, f32, act);
    // oneDNN counts dilation from 0 (no gap); PyTorch from 1.
    strides = {g[9], g[10]};
    dil = {g[15] - 1, g[16] - 1};
    padL = {g[11], g[12]};
    padR = {g[13], g[14]};
    groupChannels = c / groups;
    flops = 2.0 * double(n) * double(oc) * double(c / groups) * double(kh * kw) * double(oh * ow);
  }

  /// Whether oneDNN's weight-gradient kernel `pd`, made for NHWC activations, writes past
  /// its scratchpad (oneDNN issue 6035, in 2.6 and since): its 1x1 kernels ("jit_1x1:...",
  /// "jit_bf16_1x1:...") copy a strided input's pixels into a unit-stride space sized for
  /// the channels there are but written in whole blocks of 8 (AVX2) or 16 (AVX-512), so
  /// with fewer channels than a block the copies run over the reduction space beside it
  /// and past the scratchpad's end. Measured on 2.6: a 1x1 stride-2 convolution of 4
  /// channels (44 images of 14x8 to 24 channels) capped at AVX2 gave a weight gradient
  /// off by up to 6.6 on two threads (bytes past the scratchpad written on one); with
  /// AVX-512, f32 or bf16, 4 to 15 channels on 64x64 and 128x128 images corrupted the
  /// heap. 16 channels and more, stride 1, and oneDNN's blocked layouts (whose channel
  /// blocks are padded) were right in every case tried.
  bool overrunsStridedCopy(const dnnl::primitive_desc_base &pd) const {
    bool strided = strides[0] > 1 || strides[1] > 1;
    return strided && groupChannels < 16 && std::string(pd.impl_info_str()).find("1x1") != std::string::npos;
  }

  static memory::desc any(const memory::desc &d, memory::data_type t) {
    return memory::desc(d.dims(), t, memory::format_tag::any);
  }

  /// The data types of a primitive's src, weights and dst slots (diff_ or not).
  struct Types {
    memory::data_type src, wei, dst;
  };

  /// A slot's descriptor as a primitive is asked for it: our layout where activations
  /// are NHWC (`asked`), else whichever oneDNN prefers (weights always).
  memory::desc slot(const memory::desc &d, memory::data_type t, bool asked) const {
    return asked ? withType(d, t) : any(d, t);
  }

  dnnl::convolution_forward::primitive_desc hint(const dnnl::engine &engine, bool asked, Types t,
                                                 dnnl::algorithm a) const {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, a, slot(src, t.src, asked), any(wei, t.wei),
                                      slot(dst, t.dst, asked), strides, dil, padL, padR);
    return dnnl::convolution_forward::primitive_desc(d, kernelAttr(), engine);
  }

  /// The descriptor of a backward primitive (`Prim`: backward data or weights, which take
  /// the same arguments). Tried in order, the first that oneDNN has a kernel for other than
  /// its reference one wins: Winograd's (f32, oneDNN's layouts) where asked for; with
  /// `bf16`, bf16 inputs (the gradient written f32); NHWC activations taken as they are;
  /// f32, in the layouts oneDNN prefers (always made). `byWinograd`: which was made.
  template <typename Prim>
  typename Prim::primitive_desc backwardDesc(const dnnl::engine &engine, bool bf16, bool &byWinograd) const {
    using PD = typename Prim::primitive_desc;
    using dt = memory::data_type;
    constexpr bool isData = std::is_same_v<Prim, dnnl::convolution_backward_data>;
    auto make = [&](bool asked, dt compute, dnnl::algorithm a) {
      // Backward data writes diff_src; backward weights writes diff_weights.
      Types t = {isData ? dt::f32 : compute, isData ? compute : dt::f32, compute};
      typename Prim::desc d(a, slot(src, t.src, asked), any(wei, t.wei), slot(dst, t.dst, asked), strides, dil,
                            padL, padR);
      return PD(d, kernelAttr(), engine, hint(engine, asked, {compute, compute, compute}, a));
    };
    // The descriptor where oneDNN has a kernel for it other than its reference one (and
    // for the weight gradient of NHWC activations, other than one that overruns its
    // scratchpad: then oneDNN's layouts are asked for).
    auto tryMake = [&](bool asked, dt compute, dnnl::algorithm a) -> std::optional<PD> {
      try {
        PD pd = make(asked, compute, a);
        if (!isReferenceImpl(pd) && !(!isData && asked && overrunsStridedCopy(pd))) return pd;
      } catch (const dnnl::error &) {
      }
      return std::nullopt;
    };
    byWinograd = false;
    if (alg == dnnl::algorithm::convolution_winograd)
      if (auto pd = tryMake(false, dt::f32, alg)) {
        byWinograd = true;
        return *pd;
      }
    const auto direct = dnnl::algorithm::convolution_direct;
    for (dt compute : {dt::bf16, dt::f32}) {
      if (compute == dt::bf16 && !bf16) continue;
      for (bool asked : {true, false}) {
        if (asked && !channelsLast) continue;
        if (auto pd = tryMake(asked, compute, direct)) return *pd;
      }
    }
    return make(false, dt::f32, direct);
  }
};

struct BackwardData {
  dnnl::convolution_backward_data prim;
  Operand diffDst, diffSrc;
  PackedWeights weights;
  bool winograd = false;     // then a call checks dy and the filters first
  float weightMagnitude = 0; // the filters' largest, per parameter version
  ParamStamp scanned;
};

struct BackwardWeights {
  dnnl::convolution_backward_weights prim;
  Operand src, diffDst, diffWeights;
  bool winograd = false; // then a call checks x and dy first
};

std::vector<int64_t> keyOf(int64_t kind, int64_t site, int threads, const int64_t *g, bool winogradAllowed) {
  std::vector<int64_t> key = {kind, site, threads, winogradAllowed};
  key.insert(key.end(), g, g + kGeomWords);
  return key;
}

/// Whether a call may try oneDNN's Winograd (trainingWinogradByOneDnn; never under
/// --precision bf16, whose direct kernels read bf16).
bool winogradAsked(const KernelContext &ctx, const int64_t *g, bool winogradAllowed) {
  return winogradAllowed && !ctx.bf16 && trainingWinogradByOneDnn(g);
}

/// dx for dy; by oneDNN's Winograd where asked for and the call's operands allow it
/// (winogradGivesDataGradient), else by its direct kernels.
void backwardData(KernelContext &ctx, int64_t site, const int64_t *g, const float *dy, const float *w, float *dx,
                  bool winogradAllowed) {
  ConvShape shape(g, winogradAsked(ctx, g, winogradAllowed));
  int threads = ctx.threadsFor(shape.flops);
  auto &slot = ctx.primitives[keyOf(kConvolutionBackwardData, site, threads, g, winogradAllowed)];
  if (!slot) {
    auto p = std::make_shared<BackwardData>();
    auto pd = shape.backwardDesc<dnnl::convolution_backward_data>(ctx.engine, ctx.bf16, p->winograd);
    p->diffDst = Operand(ctx, shape.dst, pd.diff_dst_desc(), false);
    p->diffSrc = Operand(ctx, shape.src, pd.diff_src_desc(), true);
    p->weights = PackedWeights(ctx, shape.wei, pd.weights_desc(), PackedWeights::Sharing::kByParameter);
    p->prim = dnnl::convolution_backward_data(pd);
    slot = p;
  }
  auto &p = *static_cast<BackwardData *>(slot.get());
  if (p.winograd) {
    if (p.scanned.stale(ctx, w)) {
      p.weightMagnitude = native::largestMagnitude(threads, w, int64_t(shape.wei.get_size() / sizeof(float)));
      p.scanned.update(ctx, w);
    }
    if (!winogradGivesDataGradient(threads, g, dy, p.weightMagnitude)) {
      ctx.retractThreads();
      return backwardData(ctx, site, g, dy, w, dx, false);
    }
  }
  memory diffDst = p.diffDst.input(ctx, ctx.stagedSrc, dy);
  memory diffSrc = p.diffSrc.output(ctx, ctx.stagedDst, dx);
  ctx.run(p.prim, {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_WEIGHTS, p.weights.get(ctx, w)}, {DNNL_ARG_DIFF_SRC, diffSrc}});
  p.diffSrc.finish(ctx, diffSrc, dx);
}

/// dw for x and dy; by oneDNN's Winograd where asked for and the call's operands allow it
/// (winogradGivesWeightGradient), else by its direct kernels.
void backwardWeights(KernelContext &ctx, int64_t site, const int64_t *g, const float *x, const float *dy, float *dw,
                     bool winogradAllowed) {
  ConvShape shape(g, winogradAsked(ctx, g, winogradAllowed));
  int threads = ctx.threadsFor(shape.flops);
  auto &slot = ctx.primitives[keyOf(kConvolutionBackwardWeights, site, threads, g, winogradAllowed)];
  if (!slot) {
    auto p = std::make_shared<BackwardWeights>();
    auto pd = shape.backwardDesc<dnnl::convolution_backward_weights>(ctx.engine, ctx.bf16, p->winograd);
    p->src = Operand(ctx, shape.src, pd.src_desc(), false);
    p->diffDst = Operand(ctx, shape.dst, pd.diff_dst_desc(), false);
    p->diffWeights = Operand(ctx, shape.wei, pd.diff_weights_desc(), true);
    p->prim = dnnl::convolution_backward_weights(pd);
    slot = p;
  }
  auto &p = *static_cast<BackwardWeights *>(slot.get());
  if (p.winograd && !winogradGivesWeightGradient(threads, g, x, dy)) {
    ctx.retractThreads();
    return backwardWeights(ctx, site, g, x, dy, dw, false);
  }
  memory src = p.src.input(ctx, ctx.stagedSrc, x);
  memory diffDst = p.diffDst.input(ctx, ctx.stagedDst, dy);
  memory diffWeights = p.diffWeights.output(ctx, ctx.stagedWeights, dw);
  ctx.run(p.prim, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_WEIGHTS, diffWeights}});
  if (!p.diffWeights.convert ||
      !moveFilterBlocks(ctx, p.diffWeights.prim, diffWeights.get_data_handle(), p.diffWeights.user, dw))
    p.diffWeights.finish(ctx, diffWeights, dw);
}

} // namespace

extern "C" void dlrt_k_conv2d_backward_data_f32(void *vctx, int64_t site, const int64_t *g, const float *dy,
                                                const float *w, float *dx) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    if (g[0] == 0) return;
    if (winogradBackwardData(ctx, site, g, dy, w, dx)) return;
    backwardData(ctx, site, g, dy, w, dx, true);
  });
}

extern "C" void dlrt_k_conv2d_backward_weights_f32(void *vctx, int64_t site, const int64_t *g, const float *x,
                                                   const float *dy, float *dw) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    if (g[0] == 0) { // no samples: no gradient
      std::fill_n(dw, ConvShape(g).wei.get_size() / sizeof(float), 0.0f);
      return;
    }
    if (fewChannelBackwardWeights(ctx, g, x, dy, dw)) return;
    if (winogradBackwardWeights(ctx, site, g, x, dy, dw)) return;
    backwardWeights(ctx, site, g, x, dy, dw, true);
  });
}
