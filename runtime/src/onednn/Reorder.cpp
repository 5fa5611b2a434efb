//===- Reorder.cpp - layout transposes on oneDNN's reorder ----------------===//
//
// The NCHW <-> NHWC transposes the layout pass leaves at a model's edges. oneDNN's jit
// reorder copies them on every thread the call uses; the loops compiled code would run
// are sequential, and while they run the other threads' vCPUs go idle (ThreadPolicy).
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "onednn/Kernels.h"
#include "onednn/Strides.h"

using dnnl::memory;
using namespace dlrt;

namespace {
struct ReorderPrimitive {
  dnnl::reorder prim;
  memory::desc src, dst;
};
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
    auto &slot = ctx.primitives[key];
    if (!slot) {
      auto p = std::make_shared<ReorderPrimitive>();
      p->src = memory::desc(out, memory::data_type::f32, srcStrides);
      p->dst = memory::desc(out, memory::data_type::f32, contiguousStrides(out));
      p->prim = dnnl::reorder(dnnl::reorder::primitive_desc(ctx.engine, p->src, ctx.engine, p->dst, kernelAttr()));
      slot = p;
    }
    auto &p = *static_cast<ReorderPrimitive *>(slot.get());
    ctx.run(p.prim, {{DNNL_ARG_FROM, memory(p.src, ctx.engine, const_cast<float *>(x))},
                     {DNNL_ARG_TO, memory(p.dst, ctx.engine, y)}});
  });
}
