//===- Pooling.cpp - max and average pooling on oneDNN, forward and backward ===//
//
// Activations NCHW, NHWC or channel blocks (geom[15], a dlrt_layout). Inference runs
// a forward_inference primitive, or for max pooling of whole vectors of channels on NHWC
// or blocks native/MaxPool. The training form (the caller passes a workspace) runs
// forward_training, which for max pooling writes where each maximum came from; its
// primitive descriptor is kept so that the backward primitive is made from it (oneDNN's
// hint) and reads that workspace instead of searching the window again.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "dlrt/model_abi.h"
#include "native/MaxPool.h"
#include "onednn/Kernels.h"
#include "onednn/Layouts.h"

#include <algorithm>
#include <cmath>
#include <limits>

using dnnl::memory;
using namespace dlrt;

namespace {

struct PoolForward {
  dnnl::pooling_forward prim;
  memory::desc src, dst, workspace;
};

struct PoolBackward {
  dnnl::pooling_backward prim;
  memory::desc diffSrc, diffDst, workspace;
};

constexpr int kGeomWords = 17;

memory::desc activation(const int64_t *g, int64_t h, int64_t w) {
  return memory::desc({g[0], g[1], h, w}, memory::data_type::f32, activationTag(g[15]));
}

dnnl::algorithm algorithmOf(const int64_t *g) {
  return g[14] ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_include_padding;
}

dnnl::pooling_forward::desc forwardDesc(const int64_t *g, dnnl::prop_kind prop) {
  return dnnl::pooling_forward::desc(prop, algorithmOf(g), activation(g, g[2], g[3]), activation(g, g[4], g[5]),
                                     {g[8], g[9]}, {g[6], g[7]}, {g[10], g[11]}, {g[12], g[13]});
}

/// The training-form descriptor of a site and geometry, made once: the forward primitive
/// and the backward one both come from it, whatever thread counts they run with.
const dnnl::pooling_forward::primitive_desc &trainingDesc(KernelContext &ctx, int64_t site, const int64_t *g) {
  std::vector<int64_t> key = {kPooling, site, /*descriptor, not primitive*/ -1};
  key.insert(key.end(), g, g + kGeomWords);
  auto &slot = ctx.primitives[key];
  if (!slot)
    slot = std::make_shared<dnnl::pooling_forward::primitive_desc>(
        forwardDesc(g, dnnl::prop_kind::forward_training), kernelAttr(), ctx.engine);
  return *static_cast<dnnl::pooling_forward::primitive_desc *>(slot.get());
}

double poolFlops(const int64_t *g) { return double(g[0] * g[1] * g[4] * g[5]) * double(g[6] * g[7]); }

/// Whether `x` holds a NaN or a -inf: compiled for AVX-512, AVX2 and the baseline, the
/// widest the CPU runs chosen at load time (the runtime is otherwise built for the
/// baseline).
__attribute__((target_clones("avx512f", "avx2", "default"))) bool anyNaNOrNegativeInfinity(const float *x,
                                                                                           int64_t count) {
  const float lowest = -std::numeric_limits<float>::infinity();
  unsigned found = 0;
  for (int64_t i = 0; i < count; ++i) found |= unsigned(x[i] != x[i]) | unsigned(x[i] == lowest);
  return found != 0;
}

/// y = relu(y) keeping NaN, as dl.relu: the relu the compiler fused into a max pooling
/// that native::maxPool does not take.
__attribute__((target_clones("avx512f", "avx2", "default"))) void reluInPlace(float *y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) y[i] = (y[i] > 0.0f || y[i] != y[i]) ? y[i] : 0.0f;
}

/// Gives every max-pooling output torch.max_pool2d's value where oneDNN's differs: NaN
/// where its window holds a NaN (oneDNN keeps the larger of two values with vmaxps, which
/// returns the other operand when one is NaN: a NaN input came out as a finite maximum, and
/// a NaN never reached the loss), and -inf where every element of it is -inf (oneDNN starts
/// from the lowest finite float and gave -3.4e38). The common case costs one vectorised
/// pass over the input; the windows are computed again only when it holds either.
void fixNonFiniteWindows(const int64_t *g, const float *x, float *y, int threads) {
  const int64_t n = g[0], c = g[1], h = g[2], w = g[3], oh = g[4], ow = g[5];
  // On the pooling's own threads: single-threaded, the pass cost the CNN at batch 64 on
  // two threads 0.2 ms of 0.95.
  const int64_t total = n * c * h * w;
  unsigned char found[64] = {};
  int parts = std::max(1, std::min(threads, 64));
  parallelParts(threads, parts, [&](int part) {
    int64_t begin = total * part / parts, end = total * (part + 1) / parts;
    found[part] = anyNaNOrNegativeInfinity(x + begin, end - begin);
  });
  if (std::none_of(found, found + parts, [](unsigned char f) { return f != 0; })) return;
  auto at = [&](int64_t b, int64_t ch, int64_t row, int64_t col, int64_t rows, int64_t cols) {
    return activationOffset(g[15], c, rows, cols, b, ch, row, col);
  };
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t q = 0; q < ow; ++q) {
          float max = -std::numeric_limits<float>::infinity();
          for (int64_t i = 0; i < g[6] && max == max; ++i)
            for (int64_t j = 0; j < g[7] && max == max; ++j) {
              int64_t row = r * g[8] - g[10] + i, col = q * g[9] - g[11] + j;
              if (row < 0 || row >= h || col < 0 || col >= w) continue;
              float v = x[at(b, ch, row, col, h, w)];
              max = v != v || v > max ? v : max;
            }
          y[at(b, ch, r, q, oh, ow)] = max;
        }
}

} // namespace

extern "C" void dlrt_k_pool2d_f32(void *vctx, int64_t site, const int64_t *g, const float *x, float *y,
                                  void *workspace) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    if (g[0] == 0) return;
    bool training = workspace != nullptr;
    int threads = ctx.threadsFor(poolFlops(g));
    // Inference max pooling on NHWC or channel blocks in whole vectors of channels: one
    // pass, NaN included (CNN sample b64, one Zen 4 core: its two pools 0.171 -> 0.105 ms).
    if (!training && g[14] && native::maxPoolSupports(g[15], g[1])) {
      native::maxPool(threads, g, x, y);
      return;
    }
    // The training form likewise, with the maxima's positions as the workspace. oneDNN's
    // kernels on NHWC with few channels were slow: the CNN sample's train step at batch 64
    // on one Intel Sapphire Rapids core, its two poolings forward and backward 7.6 -> 0.9
    // ms capped at AVX2 (the step 12.6 -> 5.3 ms) and 2.1 -> 0.8 ms with AVX-512 (5.6 ->
    // 4.2); ResNet-18's 3x3 of stride 2 on 64 channels at batch 16, 17.5 -> 11.6 ms forward
    // and 16.1 -> 10.1 backward (AVX-512).
    if (training && native::maxPoolTrainingSupports(g)) {
      native::maxPoolTraining(threads, g, x, y, static_cast<uint8_t *>(workspace));
      return;
    }

    std::vector<int64_t> key = {kPooling, site, threads, training};
    key.insert(key.end(), g, g + kGeomWords);
    auto &slot = ctx.primitives[key];
    if (!slot) {
      auto p = std::make_shared<PoolForward>();
      auto pd = training ? trainingDesc(ctx, site, g)
                         : dnnl::pooling_forward::primitive_desc(forwardDesc(g, dnnl::prop_kind::forward_inference),
                                                                 kernelAttr(), ctx.engine);
      p->src = pd.src_desc();
      p->dst = pd.dst_desc();
      p->workspace = pd.workspace_desc();
      p->prim = dnnl::pooling_forward(pd);
      slot = p;
    }
    auto &p = *static_cast<PoolForward *>(slot.get());
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, memory(p.src, ctx.engine, const_cast<float *>(x))},
                                            {DNNL_ARG_DST, memory(p.dst, ctx.engine, y)}};
    if (training && p.workspace.get_size() != 0)
      args.insert({DNNL_ARG_WORKSPACE, memory(p.workspace, ctx.engine, workspace)});
    ctx.run(p.prim, std::move(args));
    // (In a train step the loss is then NaN and the step changes nothing, so the
    // workspace's record of where each maximum was need not agree.)
    if (g[14]) fixNonFiniteWindows(g, x, y, threads);
    if (g[16] == DLRT_ACTIVATION_RELU) reluInPlace(y, g[0] * g[1] * g[4] * g[5]);
  });
}

/// At least one byte, so that a non-NULL workspace marks the training form even where the
/// algorithm (average pooling) keeps nothing in it.
static int64_t workspaceBytes(KernelContext &ctx, int64_t site, const int64_t *g) {
  if (native::maxPoolTrainingSupports(g)) return std::max<int64_t>(1, native::maxPoolTrainingBytes(g));
  return std::max<int64_t>(1, int64_t(trainingDesc(ctx, site, g).workspace_desc().get_size()));
}

extern "C" void dlrt_k_pool2d_workspace_bytes(void *vctx, int64_t site, const int64_t *g, int64_t *bytes) {
  *bytes = 1;
  guarded(vctx, site, [&](KernelContext &ctx) { *bytes = workspaceBytes(ctx, site, g); });
}

/// The error of a max pooling's backward called without its forward's workspace.
static void failWithoutWorkspace(KernelContext &ctx, int64_t site) {
  ctx.fail(ctx.where(site) + ": max pooling's backward needs the workspace of its training-form forward");
}

extern "C" void dlrt_k_pool2d_backward_f32(void *vctx, int64_t site, int64_t forwardSite, const int64_t *g,
                                           const float *dy, const void *workspace, float *dx) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    if (g[0] == 0) return;
    int threads = ctx.threadsFor(poolFlops(g));
    if (native::maxPoolTrainingSupports(g)) {
      if (!workspace) {
        failWithoutWorkspace(ctx, site);
        return;
      }
      native::maxPoolBackward(threads, g, dy, static_cast<const uint8_t *>(workspace), dx);
      return;
    }
    std::vector<int64_t> key = {kPoolingBackward, site, threads};
    key.insert(key.end(), g, g + kGeomWords);
    auto &slot = ctx.primitives[key];
    if (!slot) {
      // The forward's descriptor: its workspace layout is the one the backward reads.
      auto &hint = trainingDesc(ctx, forwardSite, g);
      dnnl::pooling_backward::desc d(algorithmOf(g), activation(g, g[2], g[3]), activation(g, g[4], g[5]),
                                     {g[8], g[9]}, {g[6], g[7]}, {g[10], g[11]}, {g[12], g[13]});
      dnnl::pooling_backward::primitive_desc pd(d, kernelAttr(), ctx.engine, hint);
      auto p = std::make_shared<PoolBackward>();
      p->diffSrc = pd.diff_src_desc();
      p->diffDst = pd.diff_dst_desc();
      p->workspace = pd.workspace_desc();
      p->prim = dnnl::pooling_backward(pd);
      slot = p;
    }
    auto &p = *static_cast<PoolBackward *>(slot.get());
    std::unordered_map<int, memory> args = {{DNNL_ARG_DIFF_DST, memory(p.diffDst, ctx.engine, const_cast<float *>(dy))},
                                            {DNNL_ARG_DIFF_SRC, memory(p.diffSrc, ctx.engine, dx)}};
    if (p.workspace.get_size() != 0) {
      if (!workspace) {
        failWithoutWorkspace(ctx, site);
        return;
      }
      args.insert({DNNL_ARG_WORKSPACE, memory(p.workspace, ctx.engine, const_cast<void *>(workspace))});
    }
    ctx.run(p.prim, std::move(args));
  });
}

extern "C" void dlrt_k_pool2d_grad_f32(void *vctx, int64_t site, const int64_t *g, const float *x, const float *dy,
                                       float *dx) {
  void *workspace = nullptr;
  float *y = nullptr;
  guarded(vctx, site, [&](KernelContext &ctx) {
    if (g[0] == 0) return;
    int64_t bytes = workspaceBytes(ctx, site, g);
    workspace = ctx.recomputedWorkspace.get(size_t(bytes));
    y = static_cast<float *>(ctx.recomputed.get(size_t(g[0] * g[1] * g[4] * g[5]) * sizeof(float)));
  });
  if (!workspace) return; // failed, or no samples
  dlrt_k_pool2d_f32(vctx, site, g, x, y, workspace);
  dlrt_k_pool2d_backward_f32(vctx, site, site, g, dy, workspace, dx);
}
