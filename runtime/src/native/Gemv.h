//===- Gemv.h - dense layers of a few rows or outputs, written here -*- C++ -*-===//
//
// At batch 1 a dense layer is a matrix-vector product bound by streaming its weight from
// cache; oneDNN's matmul adds its own fixed cost per call (arguments, memory objects,
// scratchpad, stream): 2-3 us a layer, more than the product itself on a classifier head
// (the 784-256-256-10 MLP at batch 1, one Zen 4 core: 12, 6 and 3 us per layer on oneDNN,
// the last 0.6 of it the product). This kernel keeps the weight in blocks of 16 outputs,
// [N/16][K][16], and accumulates each block's outputs in registers over K. A classifier's
// head at a larger batch (10 classes, one block) goes here too: oneDNN computes whole
// vectors of columns there, most of them padding, and this kernel runs 8 rows (4 on
// AVX2) at once against each vector of the weight.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_GEMV_H
#define DLRT_SRC_NATIVE_GEMV_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// Whether denseRows computes a dense layer of m rows and n outputs with this activation
/// (a dlrt_activation): a few rows, or any number of rows into at most 16 outputs (a
/// classifier's head), and the activations it has vector code for (not GELU).
bool denseRowsSupports(int64_t m, int64_t n, int64_t activation);

/// The floats of packDenseRows's result.
int64_t denseRowsPackedSize(int64_t n, int64_t k);

/// W ([n, k], PyTorch's layout) in blocks of 16 outputs, [ceil(n/16)][k][16], the last
/// block zero-padded. nhwc, when not NULL, is [C, H, W, B]: the input's columns are a
/// tensor in blocks of B channels flattened (B = C: NHWC) while W's follow NCHW
/// (dlrt_k_dense_f32's nhwc).
void packDenseRows(const float *w, int64_t n, int64_t k, const int64_t *nhwc, float *packed);

/// y[m, n] = act(x[m, k] W^T + bias) (bias may be NULL) from packDenseRows's weight, on
/// up to `threads` threads, each a share of the output blocks (a few rows) or of the
/// rows (one output block).
void denseRows(int threads, int64_t m, int64_t k, int64_t n, const float *x, const float *packed, const float *bias,
               float *y, int64_t activation, VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
