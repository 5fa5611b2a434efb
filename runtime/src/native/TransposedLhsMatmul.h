//===- TransposedLhsMatmul.h - batched A^T B, A stored transposed --*- C++ -*-===//
//
// A gradient's products read an operand transposed: attention's backward takes
// dV = P^T dO and dK = dS^T Q, whose left operand lies in memory as the transpose of what
// the product needs (k-major). oneDNN 2.6 runs such a batched product with a strided source
// at 67-98 GFLOP/s on a Zen 5 core (TinyGpt's, [16, 4] batches of 64 x 64 x 32 and
// 32 x 64 x 64), where its plain products reach 160-180. Here a column of the stored
// operand is a row of the product's left side, adjacent in memory: the product is a sum
// of outer products (native/OuterProduct.h) with every broadcast at an offset from one
// pointer.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_TRANSPOSEDLHSMATMUL_H
#define DLRT_SRC_NATIVE_TRANSPOSEDLHSMATMUL_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// Whether transposedLhsMatmul runs products of these sizes: n whole vectors of 8, and the
/// right operand of one product within 256 KiB (it is read once per block of rows, with no
/// blocking for the cache).
inline bool transposedLhsMatmulSupports(int64_t m, int64_t k, int64_t n) {
  return m > 0 && k > 0 && n > 0 && n % 8 == 0 && k * n <= 65536;
}

/// c[i] = a[i]^T b[i] for i < batch: a[i] stored [k][m] (the product's [m][k] left side,
/// transposed and contiguous), b[i] [k][n], c[i] [m][n], each batch's matrices contiguous
/// and back to back. On up to `threads` threads, each a share of the batches' rows.
void transposedLhsMatmul(int threads, int64_t batch, int64_t m, int64_t k, int64_t n, const float *a,
                         const float *b, float *c, VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
