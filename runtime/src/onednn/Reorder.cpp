//===- Reorder.cpp - layout transposes on oneDNN's reorder ----------------===//
//
// The NCHW <-> NHWC transposes the layout pass leaves at a model's edges, and NHWC <->
// channel blocks where a run of blocked convolutions starts and ends. oneDNN's jit
// reorder copies them on every thread the call uses; the loops compiled code would run
// are sequential, and while they run the other threads' vCPUs go idle (ThreadPolicy).
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "onednn/Kernels.h"
#include "onednn/Layouts.h"
#include "onednn/Strides.h"

using dnnl::memory;
using namespace dlrt;

namespace {
struct ReorderPrimitive {
  dnnl::reorder prim;
  memory::desc src, dst;
};

/// Runs the cached reorder of a site from `src` to `dst` (made on first use).
void reorder(KernelContext &ctx, std::vector<int64_t> key, const memory::desc &src, const memory::desc &dst,
             const float *x, float *y) {
  auto &slot = ctx.primitives[key];
  if (!slot) {
    auto p = std::make_shared<ReorderPrimitive>();
    p->src = src;
    p->dst = dst;
    p->prim = dnnl::reorder(dnnl::reorder::primitive_desc(ctx.engine, src, ctx.engine, dst, kernelAttr()));
    slot = p;
  }
  auto &p = *static_cast<ReorderPrimitive *>(slot.get());
  ctx.run(p.prim, {{DNNL_ARG_FROM, memory(p.src, ctx.engine, const_cast<float *>(x))},
                   {DNNL_ARG_TO, memory(p.dst, ctx.engine, y)}});
}
} // namespace

extern "C" void dlrt_k_transpose_f32(void *vctx, int64_t site, int64_t rank, const int64_t *dims, const int64_t *perm,
                                     const float *x, float *y) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    memory::dims in(dims, dims + rank), out(rank), inStrides = contiguousStrides(in), srcStrides(rank);
    for (int64_t i = 0; i < rank; ++i) {
      out[i] = in[perm[i]];
      srcStrides[i] = inStrides[perm[i]]; // x read in y's order
    }
    double elements = elementCount(in);
    if (elements == 0) return;
    // A copy does about as much work per element as a few flops.
    std::vector<int64_t> key = {kTranspose, site, ctx.threadsFor(4.0 * elements), rank};
    key.insert(key.end(), dims, dims + rank);
    key.insert(key.end(), perm, perm + rank);
    reorder(ctx, key, memory::desc(out, memory::data_type::f32, srcStrides),
            memory::desc(out, memory::data_type::f32, contiguousStrides(out)), x, y);
  });
}

extern "C" void dlrt_k_block_channels_f32(void *vctx, int64_t site, const int64_t *nchw, const float *x, float *y,
                                          int64_t inverse, int64_t block) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    memory::dims d(nchw, nchw + 4);
    double elements = elementCount(d);
    if (elements == 0) return;
    if ((block != 8 && block != 16) || d[1] % block != 0) {
      ctx.fail(ctx.where(site) + ": " + std::to_string(block) + "-channel blocks of " + std::to_string(d[1]) +
               " channels");
      return;
    }
    std::vector<int64_t> key = {kBlockChannels, site, ctx.threadsFor(4.0 * elements), inverse, block};
    key.insert(key.end(), d.begin(), d.end());
    memory::desc nhwc(d, memory::data_type::f32, memory::format_tag::nhwc),
        blocked(d, memory::data_type::f32, channelBlocksTag(block));
    if (inverse)
      reorder(ctx, key, blocked, nhwc, x, y);
    else
      reorder(ctx, key, nhwc, blocked, x, y);
  });
}
