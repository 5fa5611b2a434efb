//===- Dense.h - products on oneDNN, for other kernels ----------*- C++ -*-===//
#ifndef DLRT_SRC_ONEDNN_DENSE_H
#define DLRT_SRC_ONEDNN_DENSE_H

#include "KernelContext.h"

#include <cstdint>
#include <vector>

namespace dlrt {

/// y[m, n] = act(x[m, k] W[n, k]^T + bias[n]) (bias may be NULL; nhwc as for
/// dlrt_k_dense_f32) on a oneDNN matmul cached under `key` plus the shapes: the key's
/// words must tell the caller's uses apart (its kind, site, layer), since the primitive
/// keeps W packed for the last weight it saw. `bf16`: bf16 operands (f32 accumulation).
void denseOnOneDNN(KernelContext &ctx, std::vector<int64_t> key, int64_t m, int64_t k, int64_t n, const float *x,
                   const float *w, const float *bias, float *y, int64_t activation, const int64_t *nhwc, bool bf16);

/// c = a b as dlrt_k_matmul_f32 computes it (`rank` dims of a then of b, batch dims
/// broadcast; `transposed` bit 0: a stored with its last two dims exchanged, bit 1: b),
/// for a kernel's own products; its primitives are cached under `site` and the shapes.
/// `bf16`: bf16 operands (f32 accumulation).
void matmulOnOneDNN(KernelContext &ctx, int64_t site, int64_t rank, const int64_t *dims, const float *a,
                    const float *b, float *c, int64_t transposed, bool bf16);

/// The parts of the products `ctx` split along their sum (kind kMatmulSplitSum) or their
/// rows (kMatmulSplitRows), summed over its cached plans: 0 where none was split. Which
/// products split follows oneDNN's choice of kernel for the CPU; tests ask here.
int64_t splitParts(const KernelContext &ctx, PrimitiveKind kind);

} // namespace dlrt
#endif
