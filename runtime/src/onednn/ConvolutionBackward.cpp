//===- ConvolutionBackward.cpp - conv2d's gradients on oneDNN -------------===//
//
// The backward-data and backward-weights primitives of a convolution, OIHW weights as
// PyTorch keeps them and activations NCHW or, where the layout pass moved the train step's
// convolutions to channels_last, NHWC (geom[19]). Both are made from a forward_training
// descriptor of the same geometry (oneDNN's hint). NHWC activations are taken as they are
// where oneDNN has a kernel for them; otherwise (and for NCHW, which runs several times
// slower than oneDNN's blocked layouts) oneDNN chooses its layouts (tag::any) and tensors
// are reordered into the session's staging buffers and back, as the forward kernel does.
// Primitives are cached per call site and geometry.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "dlrt/model_abi.h"
#include "onednn/Kernels.h"
#include "onednn/PackedWeights.h"

#include <optional>
#include <string>

using dnnl::memory;
using namespace dlrt;

namespace {

constexpr int kGeomWords = 20;

/// The geometry of dlrt_k_conv2d_f32's word array, as oneDNN's descriptors take it.
struct ConvShape {
  memory::desc src, wei, dst; // NCHW or NHWC, OIHW (goihw with groups), as src
  bool channelsLast;
  memory::dims strides, dil, padL, padR;
  double flops;

  explicit ConvShape(const int64_t *g) {
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
    flops = 2.0 * double(n) * double(oc) * double(c / groups) * double(kh * kw) * double(oh * ow);
  }

  static memory::desc any(const memory::desc &d) {
    return memory::desc(d.dims(), memory::data_type::f32, memory::format_tag::any);
  }

  /// The activation layouts a primitive is asked for: ours where they are NHWC, else any.
  memory::desc srcAsked() const { return channelsLast ? src : any(src); }
  memory::desc dstAsked() const { return channelsLast ? dst : any(dst); }

  dnnl::convolution_forward::primitive_desc hint(const dnnl::engine &engine, bool asked) const {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                      asked ? srcAsked() : any(src), any(wei), asked ? dstAsked() : any(dst),
                                      strides, dil, padL, padR);
    return dnnl::convolution_forward::primitive_desc(d, kernelAttr(), engine);
  }

  /// The descriptor of a backward primitive (`Prim`: backward data or weights, which take
  /// the same arguments), with NHWC activations taken as they are where oneDNN has a
  /// kernel for them other than its reference one, else with the layouts it prefers.
  template <typename Prim> typename Prim::primitive_desc backwardDesc(const dnnl::engine &engine) const {
    using PD = typename Prim::primitive_desc;
    auto make = [&](bool asked) {
      typename Prim::desc d(dnnl::algorithm::convolution_direct, asked ? srcAsked() : any(src), any(wei),
                            asked ? dstAsked() : any(dst), strides, dil, padL, padR);
      return PD(d, kernelAttr(), engine, hint(engine, asked));
    };
    if (channelsLast) {
      try {
        PD pd = make(true);
        if (std::string(pd.impl_info_str()).rfind("ref", 0) != 0) return pd;
      } catch (const dnnl::error &) {
      }
    }
    return make(false);
  }
};

dnnl::reorder reorderOf(KernelContext &ctx, const memory::desc &from, const memory::desc &to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(ctx.engine, from, ctx.engine, to, kernelAttr()));
}

/// One tensor of a backward primitive: ours (plain) and the primitive's layout, with the
/// reorder between them where they differ.
struct Operand {
  memory::desc user, prim;
  std::optional<dnnl::reorder> convert;

  Operand() = default;
  Operand(KernelContext &ctx, const memory::desc &user, const memory::desc &prim, bool isOutput)
      : user(user), prim(prim) {
    if (user != prim) convert = isOutput ? reorderOf(ctx, prim, user) : reorderOf(ctx, user, prim);
  }

  /// The primitive's view of an input, reordered into `staging` where needed.
  memory input(KernelContext &ctx, GrowingBuffer &staging, const void *data) const {
    memory m(user, ctx.engine, const_cast<void *>(data));
    if (!convert) return m;
    memory staged = ctx.staged(staging, prim);
    ctx.run(*convert, {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, staged}});
    return staged;
  }
  /// The primitive's view of an output, in `staging` where it must be reordered after.
  memory output(KernelContext &ctx, GrowingBuffer &staging, void *data) const {
    return convert ? ctx.staged(staging, prim) : memory(user, ctx.engine, data);
  }
  void finish(KernelContext &ctx, const memory &produced, void *data) const {
    if (convert) ctx.run(*convert, {{DNNL_ARG_FROM, produced}, {DNNL_ARG_TO, memory(user, ctx.engine, data)}});
  }
};

struct BackwardData {
  dnnl::convolution_backward_data prim;
  Operand diffDst, diffSrc;
  PackedWeights weights;
};

struct BackwardWeights {
  dnnl::convolution_backward_weights prim;
  Operand src, diffDst, diffWeights;
};

std::vector<int64_t> keyOf(int64_t kind, int64_t site, int threads, const int64_t *g) {
  std::vector<int64_t> key = {kind, site, threads};
  key.insert(key.end(), g, g + kGeomWords);
  return key;
}

} // namespace

extern "C" void dlrt_k_conv2d_backward_data_f32(void *vctx, int64_t site, const int64_t *g, const float *dy,
                                                const float *w, float *dx) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    if (g[0] == 0) return;
    ConvShape shape(g);
    int threads = ctx.threadsFor(shape.flops);
    auto &slot = ctx.primitives[keyOf(kConvolutionBackwardData, site, threads, g)];
    if (!slot) {
      auto pd = shape.backwardDesc<dnnl::convolution_backward_data>(ctx.engine);
      auto p = std::make_shared<BackwardData>();
      p->diffDst = Operand(ctx, shape.dst, pd.diff_dst_desc(), false);
      p->diffSrc = Operand(ctx, shape.src, pd.diff_src_desc(), true);
      p->weights = PackedWeights(ctx, shape.wei, pd.weights_desc());
      p->prim = dnnl::convolution_backward_data(pd);
      slot = p;
    }
    auto &p = *static_cast<BackwardData *>(slot.get());
    memory diffDst = p.diffDst.input(ctx, ctx.stagedSrc, dy);
    memory diffSrc = p.diffSrc.output(ctx, ctx.stagedDst, dx);
    ctx.run(p.prim, {{DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_WEIGHTS, p.weights.get(ctx, w)}, {DNNL_ARG_DIFF_SRC, diffSrc}});
    p.diffSrc.finish(ctx, diffSrc, dx);
  });
}

extern "C" void dlrt_k_conv2d_backward_weights_f32(void *vctx, int64_t site, const int64_t *g, const float *x,
                                                   const float *dy, float *dw) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    ConvShape shape(g);
    if (g[0] == 0) { // no samples: no gradient
      std::fill_n(dw, shape.wei.get_size() / sizeof(float), 0.0f);
      return;
    }
    int threads = ctx.threadsFor(shape.flops);
    auto &slot = ctx.primitives[keyOf(kConvolutionBackwardWeights, site, threads, g)];
    if (!slot) {
      auto pd = shape.backwardDesc<dnnl::convolution_backward_weights>(ctx.engine);
      auto p = std::make_shared<BackwardWeights>();
      p->src = Operand(ctx, shape.src, pd.src_desc(), false);
      p->diffDst = Operand(ctx, shape.dst, pd.diff_dst_desc(), false);
      p->diffWeights = Operand(ctx, shape.wei, pd.diff_weights_desc(), true);
      p->prim = dnnl::convolution_backward_weights(pd);
      slot = p;
    }
    auto &p = *static_cast<BackwardWeights *>(slot.get());
    memory src = p.src.input(ctx, ctx.stagedSrc, x);
    memory diffDst = p.diffDst.input(ctx, ctx.stagedDst, dy);
    memory diffWeights = p.diffWeights.output(ctx, ctx.stagedWeights, dw);
    ctx.run(p.prim, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, diffDst}, {DNNL_ARG_DIFF_WEIGHTS, diffWeights}});
    p.diffWeights.finish(ctx, diffWeights, dw);
  });
}
