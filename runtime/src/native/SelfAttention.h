//===- SelfAttention.h - every head's attention as one kernel --*- C++ -*-===//
//
// dl.self_attention and its gradient on the CPU. Each (sample, head) is a problem of its
// own, on one thread: q, k and v copied from the packed projection into buffers of
// whole vectors, the T x T weights computed, normalised and used while they are in the
// thread's cache, the result written into its head's columns. With a causal mask, the
// products skip the blocks above the diagonal (half the work at large T) where every
// operand of the problem is finite (torch multiplies the masked zeros in, and 0 times a
// NaN is NaN). The gradient
// recomputes the weights from qkv (FlashAttention's choice) rather than keep them from
// the forward pass.
//
// Composed of dl ops (matmul, causal_mask, softmax, their gradients) the same attention
// copied the heads out of qkv and back, kept [B, heads, T, T] tensors between seven
// kernels, and summed the gradients of qkv's three slices over zero-filled tensors.
// TinyGpt's train step at batch 16 (B16 T64 E128, 4 heads), side by side on Zen 5 capped at
// AVX2: 36.7-42.8 -> 35.7-41.5 ms on one core, 24.7-25.2 -> 23.3-23.8 on two; its arena
// 22.2 -> 20.2 MiB. This kernel alone: 0.44 ms forward, 0.95 backward on one core.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_SELFATTENTION_H
#define DLRT_SRC_NATIVE_SELFATTENTION_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

struct AttentionShape {
  int64_t batch, steps, embed, heads; // qkv [batch, steps, 3 embed]; head_dim = embed / heads
  bool causal;
};

/// out [B, T, E] = softmax(q k^T / sqrt(head_dim)) v for every sample and head, q, k and
/// v read from qkv [B, T, 3E] (nn.MultiheadAttention's packing), on up to `threads`
/// threads, each a share of the (sample, head) problems.
void selfAttention(int threads, const AttentionShape &s, const float *qkv, float *out,
                   VectorIsa isa = widestVectorIsa());

/// dqkv [B, T, 3E], the gradients of q, k and v packed as qkv, from the result's gradient
/// `grad` [B, T, E] and the forward's qkv.
void selfAttentionBackward(int threads, const AttentionShape &s, const float *qkv, const float *grad, float *dqkv,
                           VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
