//===- OuterProduct.h - a block of a product as sums of outer products ----*- C++ -*-===//
//
// The inner loop of the products written here (a convolution of few channels, batched
// matmuls whose left operand is stored transposed): an R x P block of output rows by
// V vectors of N columns, accumulated over `steps` terms. Each term loads V vectors of
// the right operand once for all R x P rows and broadcasts each left value once for the V
// vectors: with R x P x V accumulators in registers, one load feeds P x V (or V) fused
// multiply-adds. The left values of a term are adjacent (a row of pixels, a column of the
// transposed operand), so every broadcast is an offset from one pointer.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_OUTERPRODUCT_H
#define DLRT_SRC_NATIVE_OUTERPRODUCT_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// Rows per pass (P) for V = 4, 2 and 1 vectors of columns: as many accumulators as the
/// registers hold beside V vectors of the right operand and a broadcast. v4 = 0: never 4
/// vectors at once (on AVX2 they leave room for 2 rows only, 6 loads for 8 multiply-adds:
/// ResNet-18's stem capped at AVX2 on a Zen 5 core took 2.32-2.48 ms with 4, 2.13-2.22
/// with 2).
struct Fit {
  int v4, v2, v1;
};

/// acc[r][p][v] = sum over t < steps of left[r][offsets[t] + p] * right[t * rightStride + v * N],
/// lane by lane.
template <int N, int V, int P, int R>
DLRT_VINLINE void outerProductSums(const float *const *left, const int64_t *offsets, int64_t steps,
                                   const float *right, int64_t rightStride, typename Lanes<N>::F (&acc)[R][P][V]) {
  using F = typename Lanes<N>::F;
  for (int k = 0; k < R; ++k)
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) acc[k][p][v] = F{};
  for (int64_t t = 0; t < steps; ++t, right += rightStride) {
    F wv[V];
    for (int v = 0; v < V; ++v) wv[v] = loadLanes<F>(right + v * N);
    for (int k = 0; k < R; ++k) {
      const float *xt = left[k] + offsets[t];
      for (int p = 0; p < P; ++p) {
        F xb = splatLanes<F>(xt[p]);
        for (int v = 0; v < V; ++v) acc[k][p][v] += xb * wv[v];
      }
    }
  }
}

} // namespace dlrt::native
#endif
