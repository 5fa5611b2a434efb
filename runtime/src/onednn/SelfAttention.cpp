//===- SelfAttention.cpp - dl.self_attention's kernels, for compiled code -===//
//
// Written here (native/SelfAttention), not on oneDNN: oneDNN 2.6 has no attention
// primitive, and the pieces as its matmul and softmax primitives are what this replaces.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "native/SelfAttention.h"
#include "onednn/Kernels.h"

using namespace dlrt;

namespace {

native::AttentionShape shapeOf(int64_t batch, int64_t steps, int64_t embed, int64_t heads, int64_t causal) {
  return {batch, steps, embed, heads, causal != 0};
}

/// Multiply-adds of the products (q k^T and the weights times v; the backward has twice as
/// many), halved by a causal mask, plus the softmax's exps at about ten flops each.
double work(const native::AttentionShape &s) {
  double pairs = double(s.batch) * double(s.heads) * double(s.steps) * double(s.steps) * (s.causal ? 0.5 : 1.0);
  return pairs * (4.0 * double(s.embed / s.heads) + 14.0);
}

} // namespace

extern "C" void dlrt_k_self_attention_f32(void *vctx, int64_t site, int64_t batch, int64_t steps, int64_t embed,
                                          int64_t heads, int64_t causal, const float *qkv, float *out) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    native::AttentionShape s = shapeOf(batch, steps, embed, heads, causal);
    native::selfAttention(ctx.threadsFor(work(s)), s, qkv, out);
  });
}

extern "C" void dlrt_k_self_attention_backward_f32(void *vctx, int64_t site, int64_t batch, int64_t steps,
                                                   int64_t embed, int64_t heads, int64_t causal, const float *qkv,
                                                   const float *dy, float *dqkv) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    native::AttentionShape s = shapeOf(batch, steps, embed, heads, causal);
    native::selfAttentionBackward(ctx.threadsFor(3.0 * work(s)), s, qkv, dy, dqkv);
  });
}
