//===- TransposedLhsMatmul.cpp - batched A^T B, A stored transposed ------===//
#include "native/TransposedLhsMatmul.h"
#include "native/OuterProduct.h"

#include "Threads.h"

#include <algorithm>
#include <vector>

namespace dlrt::native {
namespace {

struct Product {
  int64_t m, k, n;
  const float *a, *b;
  float *c;
  const int64_t *offsets; // t * m: where row t of a stored operand starts
};

/// Rows [r, r + P) of product i, every column: V vectors of N columns per pass.
template <int N, int V, int P>
DLRT_VINLINE void rowBlock(const Product &d, int64_t i, int64_t r) {
  const float *left = d.a + i * d.k * d.m + r;
  const float *right = d.b + i * d.k * d.n;
  float *out = d.c + (i * d.m + r) * d.n;
  for (int64_t n0 = 0; n0 < d.n; n0 += V * N) {
    typename Lanes<N>::F acc[1][P][V];
    outerProductSums<N, V, P, 1>(&left, d.offsets, d.k, right + n0, d.n, acc);
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) storeLanes(out + p * d.n + n0 + v * N, acc[0][p][v]);
  }
}

/// Rows [begin, end) of all products (row index i * m + r): blocks of P rows, then 4,
/// then 1, within each product.
template <int N, int V, int P>
DLRT_VINLINE void rowsOf(const Product &d, int64_t begin, int64_t end) {
  for (int64_t row = begin; row < end;) {
    int64_t i = row / d.m, r = row % d.m, stop = std::min(end - i * d.m, d.m);
    for (; r + P <= stop; r += P) rowBlock<N, V, P>(d, i, r);
    if constexpr (P > 4)
      for (; r + 4 <= stop; r += 4) rowBlock<N, V, 4>(d, i, r);
    for (; r < stop; ++r) rowBlock<N, V, 1>(d, i, r);
    row = i * d.m + stop;
  }
}


template <int N, Fit F> DLRT_VINLINE void rows(const Product &d, int64_t begin, int64_t end) {
  if constexpr (F.v4 > 0)
    if (d.n % (4 * N) == 0) return rowsOf<N, 4, F.v4>(d, begin, end);
  if (d.n % (2 * N) == 0) rowsOf<N, 2, F.v2>(d, begin, end);
  else rowsOf<N, 1, F.v1>(d, begin, end);
}

// 32 registers: 24, 24 and 14 accumulators.
DLRT_TARGET_AVX512 void rowsAvx512(const Product &d, int64_t begin, int64_t end) {
  if (d.n % 16 == 0) rows<16, Fit{6, 12, 14}>(d, begin, end);
  else rows<8, Fit{6, 12, 14}>(d, begin, end);
}
// 16 registers: 12 and 12 accumulators.
DLRT_TARGET_AVX2 void rowsAvx2(const Product &d, int64_t begin, int64_t end) { rows<8, Fit{0, 6, 12}>(d, begin, end); }
void rowsGeneric(const Product &d, int64_t begin, int64_t end) { rows<8, Fit{0, 6, 12}>(d, begin, end); }

} // namespace

void transposedLhsMatmul(int threads, int64_t batch, int64_t m, int64_t k, int64_t n, const float *a,
                         const float *b, float *c, VectorIsa isa) {
  std::vector<int64_t> offsets(static_cast<size_t>(k));
  for (int64_t t = 0; t < k; ++t) offsets[size_t(t)] = t * m;
  const Product d{m, k, n, a, b, c, offsets.data()};
  auto run = isa == VectorIsa::Avx512 ? rowsAvx512 : isa == VectorIsa::Avx2 ? rowsAvx2 : rowsGeneric;
  parallelRanges(threads, batch * m, [&](int64_t begin, int64_t end) { run(d, begin, end); });
}

} // namespace dlrt::native
