//===- ConvWeightGradient.cpp - a first convolution's weight gradient -----===//
#include "native/ConvWeightGradient.h"
#include "native/OuterProduct.h"

#include "Threads.h"
#include "dlrt/model_abi.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace dlrt::native {

namespace {
/// The groups of output rows whose sums are kept apart: enough for any thread count these
/// machines have to share them evenly, few enough that adding them up is cheap (ResNet-18's
/// stem: 64 x 9408 floats, against 3.8 GFLOP of products).
constexpr int64_t kWeightGradientGroups = 64;
} // namespace

WeightGradientShape::WeightGradientShape(const int64_t *g)
    : n(g[0]), c(g[1]), h(g[2]), w(g[3]), k(g[4]), kh(g[5]), kw(g[6]), oh(g[7]), ow(g[8]), sh(g[9]), sw(g[10]),
      pt(g[11]), pl(g[12]), dh(g[15]), dw(g[16]) {}

int64_t WeightGradientShape::groups() const { return std::min(n * oh, kWeightGradientGroups); }

bool fewChannelWeightGradientSupports(const int64_t *g) {
  return g[19] == DLRT_LAYOUT_NHWC && g[17] == 1 && g[1] >= 1 && g[1] <= 4 && g[4] % 8 == 0 && g[4] > 0;
}

int64_t fewChannelWeightGradientScratch(int threads, const WeightGradientShape &s) {
  return s.groups() * s.weights() + int64_t(std::max(threads, 1)) * s.paddedRows() * s.paddedColumns() * s.c;
}

namespace {

/// One thread's copy of an image's input rows with the zeros around them: padded row r,
/// column q, channel ch at (r * columns + q) * C + ch. Rows are filled as the thread's
/// output rows first reach them (its rows come in order), each once per image.
class PaddedImage {
public:
  PaddedImage(const WeightGradientShape &s, float *data) : s_(s), columns_(s.paddedColumns()), data_(data) {}

  /// Makes padded rows [first, end) of image b current.
  void need(const float *x, int64_t b, int64_t first, int64_t end) {
    if (b != image_ || first < filledFirst_) {
      image_ = b;
      filledFirst_ = filledEnd_ = first;
    }
    for (int64_t r = std::max(first, filledEnd_); r < end; ++r) fill(x, b, r);
    filledEnd_ = std::max(filledEnd_, end);
  }

  /// Padded row r's first float.
  const float *row(int64_t r) const { return data_ + r * columns_ * s_.c; }

private:
  void fill(const float *x, int64_t b, int64_t r) {
    float *to = data_ + r * columns_ * s_.c;
    const int64_t iy = r - s_.pt;
    if (iy < 0 || iy >= s_.h) {
      std::fill(to, to + columns_ * s_.c, 0.0f);
      return;
    }
    // Columns [begin, end) hold input columns [begin - PL, end - PL).
    const int64_t begin = std::min(columns_, s_.pl), end = std::max(begin, std::min(columns_, s_.w + s_.pl));
    std::fill(to, to + begin * s_.c, 0.0f);
    std::memcpy(to + begin * s_.c, x + ((b * s_.h + iy) * s_.w + begin - s_.pl) * s_.c,
                size_t((end - begin) * s_.c) * sizeof(float));
    std::fill(to + end * s_.c, to + columns_ * s_.c, 0.0f);
  }

  const WeightGradientShape &s_;
  int64_t columns_;
  float *data_;
  int64_t image_ = -1, filledFirst_ = 0, filledEnd_ = 0;
};

/// The taps' offsets from an output row's first padded input (tap (i, j, ch), in dW's
/// [KH][KW][C] order) and each output pixel's from it, so that tap t of pixel ox is
/// base + taps[t] + pixels[ox].
struct TapOffsets {
  std::vector<int64_t> taps, pixels;
  explicit TapOffsets(const WeightGradientShape &s) {
    const int64_t columns = s.paddedColumns();
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j)
        for (int64_t ch = 0; ch < s.c; ++ch) taps.push_back((i * s.dh * columns + j * s.dw) * s.c + ch);
    for (int64_t ox = 0; ox < s.ow; ++ox) pixels.push_back(ox * s.sw * s.c);
  }
};

/// sums[t][k0 .. k0 + V N) += the row's products for taps [t0, t0 + R): each tap is a
/// "row" of outerProductSums with one value per pixel, dy's pixels the terms.
template <int N, int V, int R>
DLRT_VINLINE void tapBlock(const WeightGradientShape &s, const TapOffsets &o, const float *base, const float *dyRow,
                           int64_t steps, int64_t t0, int64_t k0, float *sums) {
  using F = typename Lanes<N>::F;
  const float *left[R];
  for (int r = 0; r < R; ++r) left[r] = base + o.taps[size_t(t0 + r)];
  F acc[R][1][V];
  outerProductSums<N, V, 1, R>(left, o.pixels.data(), steps, dyRow + k0, s.k, acc);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      float *to = sums + (t0 + r) * s.k + k0 + v * N;
      storeLanes(to, loadLanes<F>(to) + acc[r][0][v]);
    }
}

/// tapBlock for R taps, R in [1, Max] (the last block of a row takes what is left).
template <int N, int V, int Max>
DLRT_VINLINE void tapBlockOf(int64_t r, const WeightGradientShape &s, const TapOffsets &o, const float *base,
                             const float *dyRow, int64_t steps, int64_t t0, int64_t k0, float *sums) {
  if (r == Max) return tapBlock<N, V, Max>(s, o, base, dyRow, steps, t0, k0, sums);
  if constexpr (Max > 1) tapBlockOf<N, V, Max - 1>(r, s, o, base, dyRow, steps, t0, k0, sums);
}

/// Groups [g0, g1): each group's sums of its output rows, V vectors of N channels at a
/// time, up to R taps at once.
template <int N, int V, int R>
DLRT_VINLINE void groupsOf(const WeightGradientShape &s, const float *x, const float *dy, float *sums,
                           PaddedImage &image, int64_t g0, int64_t g1) {
  const TapOffsets o(s);
  const int64_t rows = s.n * s.oh, groups = s.groups(), taps = s.taps();
  for (int64_t g = g0; g < g1; ++g) {
    float *groupSums = sums + g * s.weights();
    std::fill(groupSums, groupSums + s.weights(), 0.0f);
    for (int64_t row = g * rows / groups; row < (g + 1) * rows / groups; ++row) {
      const int64_t b = row / s.oh, oy = row % s.oh;
      image.need(x, b, oy * s.sh, oy * s.sh + (s.kh - 1) * s.dh + 1);
      const float *base = image.row(oy * s.sh), *dyRow = dy + row * s.ow * s.k;
      for (int64_t k0 = 0; k0 < s.k; k0 += V * N)
        for (int64_t t0 = 0; t0 < taps; t0 += R)
          tapBlockOf<N, V, R>(std::min<int64_t>(R, taps - t0), s, o, base, dyRow, s.ow, t0, k0, groupSums);
    }
  }
}

/// groupsOf with as many channel vectors per pass as divide K (up to 4 where F.v4).
template <int N, Fit F>
DLRT_VINLINE void groupsIn(const WeightGradientShape &s, const float *x, const float *dy, float *sums,
                           PaddedImage &image, int64_t g0, int64_t g1) {
  if constexpr (F.v4 > 0)
    if (s.k % (4 * N) == 0) return groupsOf<N, 4, F.v4>(s, x, dy, sums, image, g0, g1);
  if (s.k % (2 * N) == 0) return groupsOf<N, 2, F.v2>(s, x, dy, sums, image, g0, g1);
  groupsOf<N, 1, F.v1>(s, x, dy, sums, image, g0, g1);
}

// Accumulators as ConvPool's ring: 32 registers, 24, 24 and 14; 16 registers, 12 and 12.
DLRT_TARGET_AVX512 void groupsAvx512(const WeightGradientShape &s, const float *x, const float *dy, float *sums,
                                     PaddedImage &image, int64_t g0, int64_t g1) {
  if (s.k % 16 == 0) groupsIn<16, Fit{6, 6, 6}>(s, x, dy, sums, image, g0, g1);
  else groupsIn<8, Fit{6, 6, 6}>(s, x, dy, sums, image, g0, g1);
}
DLRT_TARGET_AVX2 void groupsAvx2(const WeightGradientShape &s, const float *x, const float *dy, float *sums,
                                 PaddedImage &image, int64_t g0, int64_t g1) {
  groupsIn<8, Fit{0, 6, 6}>(s, x, dy, sums, image, g0, g1);
}
void groupsGeneric(const WeightGradientShape &s, const float *x, const float *dy, float *sums, PaddedImage &image,
                   int64_t g0, int64_t g1) {
  groupsIn<8, Fit{0, 6, 6}>(s, x, dy, sums, image, g0, g1);
}

} // namespace

bool fewChannelWeightGradient(int threads, const WeightGradientShape &s, const float *x, const float *dy, float *dw,
                              float *scratch, VectorIsa isa) {
  const int64_t groups = s.groups(), taps = s.taps();
  if (groups == 0) {
    std::fill(dw, dw + s.weights(), 0.0f);
    return true;
  }
  auto run = isa == VectorIsa::Avx512 ? groupsAvx512 : isa == VectorIsa::Avx2 ? groupsAvx2 : groupsGeneric;
  const int parts = int(std::min<int64_t>(std::max(threads, 1), groups));
  float *images = scratch + groups * s.weights();
  const int64_t imageFloats = s.paddedRows() * s.paddedColumns() * s.c;
  parallelParts(parts, parts, [&](int part) {
    PaddedImage image(s, images + part * imageFloats);
    run(s, x, dy, scratch, image, part * groups / parts, (part + 1) * groups / parts);
  });
  // The groups' sums in order, into OIHW.
  for (int64_t g = 1; g < groups; ++g) {
    const float *from = scratch + g * s.weights();
    for (int64_t e = 0; e < s.weights(); ++e) scratch[e] += from[e];
  }
  // A sum that is not finite may hold a padding zero times an infinite dy (NaN), where the
  // direct sums leave padding out.
  for (int64_t e = 0; e < s.weights(); ++e)
    if (!std::isfinite(scratch[e])) return false;
  for (int64_t o = 0; o < s.k; ++o)
    for (int64_t t = 0; t < taps; ++t) {
      // Tap t is (i, j, ch) in [KH][KW][C] order; OIHW puts the channel first.
      const int64_t ch = t % s.c, ij = t / s.c;
      dw[(o * s.c + ch) * s.kh * s.kw + ij] = scratch[t * s.k + o];
    }
  return true;
}

} // namespace dlrt::native
