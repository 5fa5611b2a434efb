//===- Normalization.cpp - layer_norm, batch_norm and softmax kernels ----===//
//
// PyTorch's formulas: layer_norm over the last dim with the biased variance; batch_norm
// over dim 1, with the running statistics for inference or the batch's own (biased)
// statistics in training form; softmax and log_softmax along one axis. batch_norm's
// inference form runs on oneDNN, its training form and gradient on native/BatchNorm.h
// (fewer passes over the data than oneDNN's); layer_norm on native/LayerNorm.h, where
// oneDNN 2.6 has only an unvectorised implementation for it; softmax along any axis on
// native/Softmax.h (oneDNN's along an axis other than the last gave numbers where torch
// gives NaN).
//
// The training forms hand back the statistics the backward pass reads (mean and
// variance), so a train step never computes them twice.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "native/BatchNorm.h"
#include "native/LayerNorm.h"
#include "native/MaxPool.h"
#include "native/Softmax.h"
#include "onednn/Kernels.h"
#include "onednn/Strides.h"

#include <algorithm>
#include <vector>

using dnnl::memory;
using namespace dlrt;

namespace {

struct NormPrimitive {
  dnnl::primitive prim;
  memory::desc data, stat, scale;
};

const auto kScaleShift = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;

void runNorm(KernelContext &ctx, const NormPrimitive &p, const float *x, const float *gamma, const float *beta,
             float *y, float *mean, float *var) {
  auto mem = [&](const memory::desc &d, const float *ptr) { return memory(d, ctx.engine, const_cast<float *>(ptr)); };
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, mem(p.data, x)},
                                          {DNNL_ARG_DST, mem(p.data, y)},
                                          {DNNL_ARG_SCALE, mem(p.scale, gamma)},
                                          {DNNL_ARG_SHIFT, mem(p.scale, beta)}};
  if (mean) {
    args.insert({DNNL_ARG_MEAN, mem(p.stat, mean)});
    args.insert({DNNL_ARG_VARIANCE, mem(p.stat, var)});
  }
  ctx.run(p.prim, std::move(args));
}

} // namespace

extern "C" void dlrt_k_layer_norm_f32(void *vctx, int64_t site, int64_t rows, int64_t cols, const float *x,
                                      const float *gamma, const float *beta, float *y, double eps, float *mean,
                                      float *var) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    // About eight flops per element: two passes for the statistics, one to normalise.
    int threads = ctx.threadsFor(8.0 * double(rows) * double(cols));
    native::layerNorm(threads, rows, cols, x, gamma, beta, y, float(eps), mean, var);
  });
}

/// batch_norm's data as oneDNN takes it, channels its dim 1: a contiguous [N, C, spatial...]
/// tensor, or with `channelsLast` a 4-d one stored [N, H, W, C] (the dims as stored).
/// oneDNN wants at least [N, C, W], so a [N, C] input is viewed as [N, C, 1].
static memory::desc batchNormData(int64_t rank, const int64_t *dims, bool channelsLast) {
  auto f32 = memory::data_type::f32;
  if (channelsLast) return memory::desc({dims[0], dims[3], dims[1], dims[2]}, f32, memory::format_tag::nhwc);
  memory::dims d(dims, dims + rank);
  if (d.size() == 2) d.push_back(1);
  return memory::desc(d, f32, contiguousStrides(d));
}

namespace {
/// `count` values of T (at least one) that a native kernel at call site `site` works in,
/// kept between calls under the key {kind, site}.
template <class T> T *siteScratch(KernelContext &ctx, PrimitiveKind kind, int64_t site, int64_t count) {
  auto &slot = ctx.primitives[{kind, site}];
  if (!slot) slot = std::make_shared<std::vector<T>>();
  auto &values = *static_cast<std::vector<T> *>(slot.get());
  values.resize(size_t(std::max<int64_t>(1, count)));
  return values.data();
}

/// batch_norm's data as native/BatchNorm.h takes it: [outer, channels, inner].
native::BatchNormShape batchNormShape(int64_t rank, const int64_t *dims, bool channelsLast) {
  if (channelsLast) return {dims[0] * dims[1] * dims[2], dims[3], 1};
  int64_t inner = 1;
  for (int64_t i = 2; i < rank; ++i) inner *= dims[i];
  return {dims[0], dims[1], inner};
}
} // namespace

extern "C" void dlrt_k_batch_norm_f32(void *vctx, int64_t site, int64_t rank, const int64_t *dims, const float *x,
                                      const float *gamma, const float *beta, float *mean, float *var, float *y,
                                      double eps, int64_t training, int64_t channelsLast, const float *residual) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    memory::dims d(dims, dims + rank);
    double elements = elementCount(d);
    if (elements == 0) return;
    if (training) {
      // Two passes over x: the statistics, then y (about four flops an element each).
      native::BatchNormShape s = batchNormShape(rank, dims, channelsLast != 0);
      native::batchNormTraining(ctx.threadsFor(8.0 * elements), s, x, gamma, beta, y, float(eps), mean, var,
                                siteScratch<double>(ctx, kBatchNorm, site, native::batchNormScratch(s)),
                                {residual, training == 2});
      return;
    }
    int threads = ctx.threadsFor(2.0 * elements);
    std::vector<int64_t> key = {kBatchNorm, site, threads, rank, channelsLast};
    key.insert(key.end(), dims, dims + rank);
    auto &slot = ctx.primitives[key];
    if (!slot) {
      auto p = std::make_shared<NormPrimitive>();
      auto f32 = memory::data_type::f32;
      p->data = batchNormData(rank, dims, channelsLast != 0);
      p->stat = memory::desc({p->data.dims()[1]}, f32, memory::format_tag::a);
      p->scale = p->stat;
      dnnl::batch_normalization_forward::desc bd(dnnl::prop_kind::forward_inference, p->data, float(eps),
                                                 kScaleShift | dnnl::normalization_flags::use_global_stats);
      p->prim =
          dnnl::batch_normalization_forward(dnnl::batch_normalization_forward::primitive_desc(bd, kernelAttr(), ctx.engine));
      slot = p;
    }
    runNorm(ctx, *static_cast<NormPrimitive *>(slot.get()), x, gamma, beta, y, mean, var);
  });
}

extern "C" void dlrt_k_batch_norm_max_pool_f32(void *vctx, int64_t site, const int64_t *g, const float *x,
                                               const float *gamma, const float *beta, float *mean, float *var,
                                               float *pooled, void *workspace, double eps) {
  float *y = nullptr; // the batch norm's result, where the fused pass does not run
  guarded(vctx, site, [&](KernelContext &ctx) {
    const double elements = double(g[0]) * double(g[1]) * double(g[2]) * double(g[3]);
    if (elements == 0) return;
    if (g[15] == DLRT_LAYOUT_NHWC && native::maxPoolTrainingSupports(g)) {
      const int64_t scratch = native::batchNormScratch(native::pooledBatchNormShape(g));
      native::batchNormTrainingMaxPool(ctx.threadsFor(8.0 * elements), g, x, gamma, beta, float(eps), mean, var,
                                       siteScratch<double>(ctx, kBatchNorm, site, scratch),
                                       pooled, static_cast<uint8_t *>(workspace));
      return;
    }
    y = static_cast<float *>(ctx.recomputed.get(size_t(elements) * sizeof(float)));
  });
  if (!y) return; // done, failed, or no samples
  const bool channelsLast = g[15] == DLRT_LAYOUT_NHWC;
  const int64_t nhwc[4] = {g[0], g[2], g[3], g[1]}, nchw[4] = {g[0], g[1], g[2], g[3]};
  dlrt_k_batch_norm_f32(vctx, site, 4, channelsLast ? nhwc : nchw, x, gamma, beta, mean, var, y, eps, 1,
                        channelsLast ? 1 : 0, nullptr);
  dlrt_k_pool2d_f32(vctx, site, g, y, pooled, workspace);
}

extern "C" void dlrt_k_batch_norm_backward_f32(void *vctx, int64_t site, int64_t rank, const int64_t *dims,
                                               const float *x, const float *gamma, const float *mean, const float *var,
                                               const float *dy, float *dx, float *dgamma, float *dbeta, double eps,
                                               int64_t channelsLast) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    memory::dims d(dims, dims + rank);
    double elements = elementCount(d);
    native::BatchNormShape s = batchNormShape(rank, dims, channelsLast != 0);
    if (elements == 0) { // no values: no gradient for the scale and shift either
      std::fill_n(dgamma, s.channels, 0.0f);
      std::fill_n(dbeta, s.channels, 0.0f);
      return;
    }
    double *scratch = siteScratch<double>(ctx, kBatchNormBackward, site, native::batchNormScratch(s));
    native::batchNormBackward(ctx.threadsFor(12.0 * elements), s, x, gamma, mean, var, dy, dx, dgamma, dbeta,
                              float(eps), scratch);
  });
}

extern "C" void dlrt_k_layer_norm_backward_f32(void *vctx, int64_t site, int64_t rows, int64_t cols, const float *x,
                                               const float *gamma, const float *mean, const float *var,
                                               const float *dy, float *dx, float *dgamma, float *dbeta, double eps) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    int threads = ctx.threadsFor(12.0 * double(rows) * double(cols));
    native::layerNormBackward(
        threads, rows, cols, x, gamma, mean, var, dy, dx, dgamma, dbeta, float(eps),
        siteScratch<float>(ctx, kLayerNormBackward, site, native::layerNormBackwardScratch(rows, cols)));
  });
}

namespace {

/// The elements before, along and after `axis` of a tensor of dims[0..rank).
struct AxisSplit {
  int64_t outer = 1, cols, inner = 1;
  AxisSplit(int64_t rank, const int64_t *dims, int64_t axis) : cols(dims[axis]) {
    for (int64_t i = 0; i < axis; ++i) outer *= dims[i];
    for (int64_t i = axis + 1; i < rank; ++i) inner *= dims[i];
  }
  double elements() const { return double(outer) * double(cols) * double(inner); }
};

} // namespace

extern "C" void dlrt_k_softmax_f32(void *vctx, int64_t site, int64_t rank, const int64_t *dims, int64_t axis,
                                   const float *x, float *y, int64_t log) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    AxisSplit a(rank, dims, axis);
    if (a.elements() == 0) return;
    // exp is worth about ten flops.
    native::softmaxAxis(ctx.threadsFor(14.0 * a.elements()), a.outer, a.cols, a.inner, x, y, log != 0);
  });
}

extern "C" void dlrt_k_softmax_backward_f32(void *vctx, int64_t site, int64_t rank, const int64_t *dims, int64_t axis,
                                            const float *y, const float *dy, float *dx, int64_t log) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    AxisSplit a(rank, dims, axis);
    if (a.elements() == 0) return;
    native::softmaxAxisBackward(ctx.threadsFor(6.0 * a.elements()), a.outer, a.cols, a.inner, y, dy, dx, log != 0);
  });
}
