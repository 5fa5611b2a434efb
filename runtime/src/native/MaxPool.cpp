//===- MaxPool.cpp - inference max pooling on NHWC, written here ---------===//
#include "native/MaxPool.h"
#include "native/WindowMax.h"

#include "Threads.h"
#include "dlrt/model_abi.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace dlrt::native {
namespace {

/// Output rows [begin, end) of all images (row index b * OH + r), in vectors of N
/// channels. Each output position's maximum is a chain of dependent instructions, so
/// kColumns positions of a row are worked side by side where their windows lie inside the
/// image (all but the edges); one at a time only at the edges.
template <template <int> class MaxOf, int N>
DLRT_VINLINE void poolRows(const int64_t *g, const float *x, float *y, int64_t begin, int64_t end) {
  using Max = MaxOf<N>;
  using F = typename Lanes<N>::F;
  constexpr int kColumns = 4;
  const int64_t c = g[1], h = g[2], w = g[3], oh = g[4], ow = g[5], kh = g[6], kw = g[7];
  const int64_t sh = g[8], sw = g[9], pt = g[10], pl = g[11];
  const bool blocked = dlrt_layout_block(g[15]) != 0;
  const bool relu = g[16] == DLRT_ACTIVATION_RELU;
  const Layout<N> in(blocked, c, h, w), out(blocked, c, oh, ow);
  for (int64_t row = begin; row < end; ++row) {
    int64_t b = row / oh, r = row % oh;
    int64_t i0 = std::max<int64_t>(0, r * sh - pt), i1 = std::min<int64_t>(h, r * sh - pt + kh);
    for (int64_t cb = 0; cb < c / N; ++cb) {
      const float *image = x + b * in.image + cb * in.block;
      float *dst = y + b * out.image + cb * out.block + r * out.row;
      for (int64_t q = 0; q < ow;) {
        int64_t left = q * sw - pl;
        if (q + kColumns <= ow && left >= 0 && left + (kColumns - 1) * sw + kw <= w) {
          Max m[kColumns];
          for (int k = 0; k < kColumns; ++k) m[k].start();
          for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = 0; j < kw; ++j) {
              const float *at = image + i * in.row + (left + j) * in.column;
              for (int k = 0; k < kColumns; ++k) m[k].add(loadLanes<F>(at + k * sw * in.column));
            }
          for (int k = 0; k < kColumns; ++k) storeLanes(dst + (q + k) * out.column, resultOf(m[k], relu));
          q += kColumns;
          continue;
        }
        int64_t j0 = std::max<int64_t>(0, left), j1 = std::min<int64_t>(w, left + kw);
        Max m;
        m.start();
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j) m.add(loadLanes<F>(image + i * in.row + j * in.column));
        storeLanes(dst + q * out.column, resultOf(m, relu));
        ++q;
      }
    }
  }
}

/// poolRows in vectors of the layout's block, or of 16 channels on NHWC.
template <template <int> class MaxOf>
DLRT_VINLINE void poolRowsOf(const int64_t *g, const float *x, float *y, int64_t begin, int64_t end) {
  if (dlrt_layout_block(g[15]) == 8)
    poolRows<MaxOf, 8>(g, x, y, begin, end);
  else
    poolRows<MaxOf, 16>(g, x, y, begin, end);
}

DLRT_TARGET_AVX512 void poolAvx512(const int64_t *g, const float *x, float *y, int64_t begin, int64_t end) {
  poolRowsOf<WindowMax>(g, x, y, begin, end);
}
DLRT_TARGET_AVX2 void poolAvx2(const int64_t *g, const float *x, float *y, int64_t begin, int64_t end) {
  poolRowsOf<CompareMax>(g, x, y, begin, end);
}
void poolGeneric(const int64_t *g, const float *x, float *y, int64_t begin, int64_t end) {
  poolRowsOf<CompareMax>(g, x, y, begin, end);
}

} // namespace

void maxPool(int threads, const int64_t *g, const float *x, float *y, VectorIsa isa) {
  auto pool = isa == VectorIsa::Avx512 ? poolAvx512 : isa == VectorIsa::Avx2 ? poolAvx2 : poolGeneric;
  parallelRanges(threads, g[0] * g[4], [&](int64_t begin, int64_t end) { pool(g, x, y, begin, end); });
}

} // namespace dlrt::native
