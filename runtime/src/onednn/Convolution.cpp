//===- Convolution.cpp - conv2d and pool2d kernels on oneDNN --------------===//
//
// Plain NCHW activations and OIHW weights, as PyTorch stores them; oneDNN picks its
// implementation for these layouts. Primitives are cached per call site and geometry.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "onednn/Kernels.h"

#include <string>

using dnnl::memory;

namespace dlrt {
namespace {

struct ConvPrimitive {
  dnnl::convolution_forward prim;
  memory::desc src, wei, bias, dst;
};

struct PoolPrimitive {
  dnnl::pooling_forward prim;
  memory::desc src, dst;
};

} // namespace
} // namespace dlrt

using namespace dlrt;

extern "C" void dlrt_k_conv2d_f32(void *vctx, int64_t site, const int64_t *g, const float *x, const float *w,
                                  const float *bias, float *y) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (!ctx.error.empty()) return;
  try {
    int64_t n = g[0], c = g[1], h = g[2], wd = g[3], oc = g[4], kh = g[5], kw = g[6], oh = g[7], ow = g[8];
    int64_t groups = g[17];
    if (n == 0) return;
    std::vector<int64_t> key = {2, site, bias != nullptr};
    key.insert(key.end(), g, g + 18);
    auto &slot = ctx.primitives[key];
    if (!slot) {
      auto p = std::make_shared<ConvPrimitive>();
      p->src = memory::desc({n, c, h, wd}, memory::data_type::f32, memory::format_tag::nchw);
      p->wei = groups == 1 ? memory::desc({oc, c, kh, kw}, memory::data_type::f32, memory::format_tag::oihw)
                           : memory::desc({groups, oc / groups, c / groups, kh, kw}, memory::data_type::f32,
                                          memory::format_tag::goihw);
      p->bias = bias ? memory::desc({oc}, memory::data_type::f32, memory::format_tag::x) : memory::desc();
      p->dst = memory::desc({n, oc, oh, ow}, memory::data_type::f32, memory::format_tag::nchw);
      // oneDNN counts dilation from 0 (no gap); PyTorch from 1.
      memory::dims strides = {g[9], g[10]}, dil = {g[15] - 1, g[16] - 1}, padL = {g[11], g[12]}, padR = {g[13], g[14]};
      auto d = bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                                      p->src, p->wei, p->bias, p->dst, strides, dil, padL, padR)
                    : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                                      p->src, p->wei, p->dst, strides, dil, padL, padR);
      p->prim = dnnl::convolution_forward(dnnl::convolution_forward::primitive_desc(d, ctx.engine));
      slot = p;
    }
    auto &p = *static_cast<ConvPrimitive *>(slot.get());
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, memory(p.src, ctx.engine, const_cast<float *>(x))},
                                            {DNNL_ARG_WEIGHTS, memory(p.wei, ctx.engine, const_cast<float *>(w))},
                                            {DNNL_ARG_DST, memory(p.dst, ctx.engine, y)}};
    if (bias) args.insert({DNNL_ARG_BIAS, memory(p.bias, ctx.engine, const_cast<float *>(bias))});
    p.prim.execute(ctx.stream, args);
    ctx.stream.wait();
  } catch (const std::exception &e) {
    ctx.fail(ctx.where(site) + ": oneDNN failed: " + e.what());
  }
}

extern "C" void dlrt_k_pool2d_f32(void *vctx, int64_t site, const int64_t *g, const float *x, float *y) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (!ctx.error.empty()) return;
  try {
    int64_t n = g[0], c = g[1], h = g[2], w = g[3], oh = g[4], ow = g[5];
    if (n == 0) return;
    std::vector<int64_t> key = {3, site};
    key.insert(key.end(), g, g + 15);
    auto &slot = ctx.primitives[key];
    if (!slot) {
      auto p = std::make_shared<PoolPrimitive>();
      p->src = memory::desc({n, c, h, w}, memory::data_type::f32, memory::format_tag::nchw);
      p->dst = memory::desc({n, c, oh, ow}, memory::data_type::f32, memory::format_tag::nchw);
      auto alg = g[14] ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_include_padding;
      dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, alg, p->src, p->dst, {g[8], g[9]},
                                    {g[6], g[7]}, {g[10], g[11]}, {g[12], g[13]});
      p->prim = dnnl::pooling_forward(dnnl::pooling_forward::primitive_desc(d, ctx.engine));
      slot = p;
    }
    auto &p = *static_cast<PoolPrimitive *>(slot.get());
    p.prim.execute(ctx.stream, {{DNNL_ARG_SRC, memory(p.src, ctx.engine, const_cast<float *>(x))},
                                {DNNL_ARG_DST, memory(p.dst, ctx.engine, y)}});
    ctx.stream.wait();
  } catch (const std::exception &e) {
    ctx.fail(ctx.where(site) + ": oneDNN failed: " + e.what());
  }
}
