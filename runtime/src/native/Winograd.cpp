//===- Winograd.cpp - 3x3 convolutions by Winograd's F(2x2, 3x3) and F(4x4, 3x3) ----===//
#include "native/Winograd.h"
#include "native/OuterProduct.h"

#include "Threads.h"
#include "dlrt/model_abi.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dlrt::native {

WinogradShape::WinogradShape(const int64_t *g, bool accumulate, int tile)
    : n(g[0]), c(g[1]), h(g[2]), w(g[3]), k(g[4]), oh(g[7]), ow(g[8]), pt(g[11]), pl(g[12]),
      block(dlrt_layout_block(g[19])), tile(tile), relu(g[18] == DLRT_ACTIVATION_RELU), accumulate(accumulate) {}

bool winogradSupports(const int64_t *g) {
  const int64_t c = g[1], oc = g[4], block = dlrt_layout_block(g[19]);
  // Channels last in whole vectors of the widest build (16), or blocks of 16 or 8.
  const int64_t whole = g[19] == DLRT_LAYOUT_NHWC ? 16 : block;
  return g[5] == 3 && g[6] == 3 && g[9] == 1 && g[10] == 1 && g[15] == 1 && g[16] == 1 && g[17] == 1 &&
         (g[18] == DLRT_ACTIVATION_NONE || g[18] == DLRT_ACTIVATION_RELU) && whole != 0 && c > 0 && oc > 0 &&
         c % whole == 0 && oc % whole == 0;
}

namespace {

/// Winograd's F(M x M, 3x3): tiles of M x M outputs from patches of A x A inputs (A = M + 2).
/// Each transform is one-dimensional, applied down the columns and then along the rows:
/// V = B^T d B, U = G g G^T, Y = A^T m A.
template <int M> struct Algorithm;

template <> struct Algorithm<2> {
  static constexpr int M = 2, A = 4;
  /// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
  template <class F> DLRT_VINLINE static void input(const F (&d)[A], F (&v)[A]) {
    v[0] = d[0] - d[2];
    v[1] = d[1] + d[2];
    v[2] = d[2] - d[1];
    v[3] = d[1] - d[3];
  }
  /// G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
  template <class D> static void filter(const D (&g)[3], D (&u)[A]) {
    u[0] = g[0];
    u[1] = 0.5 * (g[0] + g[1] + g[2]);
    u[2] = 0.5 * (g[0] - g[1] + g[2]);
    u[3] = g[2];
  }
  /// A^T = [1 1 1 0; 0 1 -1 -1]
  template <class F> DLRT_VINLINE static void output(const F (&m)[A], F (&y)[M]) {
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
  /// The weight gradient's adjoints of output and filter: m = A y (A = [1 0; 1 1; 1 -1;
  /// 0 -1]) and g = G^T u (G^T = [1 .5 .5 0; 0 .5 -.5 0; 0 .5 .5 1]).
  template <class F> DLRT_VINLINE static void outputAdjoint(const F (&y)[M], F (&m)[A]) {
    m[0] = y[0];
    m[1] = y[0] + y[1];
    m[2] = y[0] - y[1];
    m[3] = -y[1];
  }
  template <class D> static void filterAdjoint(const D (&u)[A], D (&g)[3]) {
    g[0] = u[0] + 0.5 * (u[1] + u[2]);
    g[1] = 0.5 * (u[1] - u[2]);
    g[2] = 0.5 * (u[1] + u[2]) + u[3];
  }
};

template <> struct Algorithm<4> {
  static constexpr int M = 4, A = 6;
  // Interpolation points 0, 1, -1, 2, -1/2 (and infinity) rather than Lavin and Gray's
  // 0, 1, -1, 2, -2: a third of the rounding error (float32 simulations of this kernel's
  // arithmetic, 64 channels: 5e-7 against 1.5e-6 of the sum of the terms' magnitudes,
  // and the e2e layer test's outputs 2.5-5.3e-6 against 5-9e-6, oneDNN's F(4x4) 2-3e-6).
  /// B^T = [1 3/2 -2 -3/2 1 0; 0 -1 -5/2 -1/2 1 0; 0 1 1/2 -5/2 1 0; 0 -1/2 -1 1/2 1 0;
  ///        0 2 -1 -2 1 0; 0 1 3/2 -2 -3/2 1]
  template <class F> DLRT_VINLINE static void input(const F (&d)[A], F (&v)[A]) {
    v[0] = d[0] + 1.5f * d[1] - 2.0f * d[2] - 1.5f * d[3] + d[4];
    v[1] = d[4] - d[1] - 2.5f * d[2] - 0.5f * d[3];
    v[2] = d[4] + d[1] + 0.5f * d[2] - 2.5f * d[3];
    v[3] = d[4] - 0.5f * d[1] - d[2] + 0.5f * d[3];
    v[4] = d[4] + 2.0f * d[1] - d[2] - 2.0f * d[3];
    v[5] = d[1] + 1.5f * d[2] - 2.0f * d[3] - 1.5f * d[4] + d[5];
  }
  /// G = [1 0 0; -1/3 -1/3 -1/3; 1/3 -1/3 1/3; 1/15 2/15 4/15; -16/15 8/15 -4/15; 0 0 1]
  // (In double: multiplying by 1/3 and 1/15 rounds once more than dividing, a relative
  // 1e-16 that the rounding to float hides, and vectorizes where the divisions did not.)
  template <class D> static void filter(const D (&g)[3], D (&u)[A]) {
    u[0] = g[0];
    u[1] = -(g[0] + g[1] + g[2]) * kThird;
    u[2] = (g[0] - g[1] + g[2]) * kThird;
    u[3] = (g[0] + 2.0 * g[1] + 4.0 * g[2]) * kFifteenth;
    u[4] = (-16.0 * g[0] + 8.0 * g[1] - 4.0 * g[2]) * kFifteenth;
    u[5] = g[2];
  }
  /// A^T = [1 1 1 1 1 0; 0 1 -1 2 -1/2 0; 0 1 1 4 1/4 0; 0 1 -1 8 -1/8 1]
  template <class F> DLRT_VINLINE static void output(const F (&m)[A], F (&y)[M]) {
    const F a = m[1] + m[2], b = m[1] - m[2];
    y[0] = m[0] + a + m[3] + m[4];
    y[1] = b + 2.0f * m[3] - 0.5f * m[4];
    y[2] = a + 4.0f * m[3] + 0.25f * m[4];
    y[3] = b + 8.0f * m[3] - 0.125f * m[4] + m[5];
  }
  /// m = A y (A the transpose of A^T above) and g = G^T u (G^T = [1 -1/3 1/3 1/15 -16/15 0;
  /// 0 -1/3 -1/3 2/15 8/15 0; 0 -1/3 1/3 4/15 -4/15 1]).
  template <class F> DLRT_VINLINE static void outputAdjoint(const F (&y)[M], F (&m)[A]) {
    const F even = y[0] + y[2], odd = y[1] + y[3];
    m[0] = y[0];
    m[1] = even + odd;
    m[2] = even - odd;
    m[3] = y[0] + 2.0f * y[1] + 4.0f * y[2] + 8.0f * y[3];
    m[4] = y[0] - 0.5f * y[1] + 0.25f * y[2] - 0.125f * y[3];
    m[5] = y[3];
  }
  template <class D> static void filterAdjoint(const D (&u)[A], D (&g)[3]) {
    g[0] = u[0] + (u[2] - u[1]) * kThird + (u[3] - 16.0 * u[4]) * kFifteenth;
    g[1] = -(u[1] + u[2]) * kThird + (2.0 * u[3] + 8.0 * u[4]) * kFifteenth;
    g[2] = (u[2] - u[1]) * kThird + (4.0 * u[3] - 4.0 * u[4]) * kFifteenth + u[5];
  }
  static constexpr double kThird = 1.0 / 3, kFifteenth = 1.0 / 15;
};

// Tiles at once (P) for 4, 2 and 1 vectors of output channels: as many accumulators as the
// registers hold beside those vectors and a broadcast (32 registers: 24, 24 and 14; 16:
// 12 and 12).
constexpr Fit kAvx512Fit{6, 12, 14}, kAvx2Fit{0, 6, 12};

/// Output-channel vectors a pass works on at once: 4, 2 or 1, as many as divide the K / N
/// vectors and the fit has tiles for.
constexpr int vectorsAtOnce(int64_t vectors, Fit f) {
  return f.v4 > 0 && vectors % 4 == 0 ? 4 : vectors % 2 == 0 ? 2 : 1;
}

/// The floats per vector (N) and the fit of `isa`'s build for `s`: what chunksAvx512,
/// chunksAvx2 and chunksGeneric instantiate, so that the packed panels are what they read.
void buildOf(const WinogradShape &s, VectorIsa isa, int64_t &n, Fit &fit) {
  if (isa == VectorIsa::Avx512) n = s.block == 8 ? 8 : 16, fit = kAvx512Fit;
  else n = 8, fit = kAvx2Fit;
}

/// Four doubles: the filter transforms run on four filters at once, in double (U = G g G^T
/// of floats, and dW = G^T U G of sums over many tiles, each rounded to float once). Scalar,
/// with divisions, and dW's on one thread, they took 8% of ResNet-18's train step on one
/// Zen 4 core capped at AVX2 (perf; a train step transforms its filters every call).
typedef double D4 __attribute__((vector_size(32)));
typedef float F4 __attribute__((vector_size(16)));
DLRT_VINLINE double &lane(D4 &v, int l) { return reinterpret_cast<double *>(&v)[l]; }
DLRT_VINLINE double &lane(double &v, int) { return v; }
DLRT_VINLINE double lane(const D4 &v, int l) { return v[l]; }
DLRT_VINLINE double lane(const double &v, int) { return v; }

/// The widest panel: 4 vectors of 16 output channels (winogradPanelWidth).
constexpr int64_t kMaxPanelWidth = 64;

/// rows[j][r] = rows[r][j]: an 8 x 8 block turned (unpack, shuffle and swap halves, as
/// AVX's own 8 x 8 transposes go).
DLRT_VINLINE void transpose8x8(vf8 (&rows)[8]) {
  vf8 t[8], u[8];
  for (int p = 0; p < 4; ++p) {
    t[2 * p] = __builtin_shufflevector(rows[2 * p], rows[2 * p + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[2 * p + 1] = __builtin_shufflevector(rows[2 * p], rows[2 * p + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int h = 0; h < 2; ++h) // rows 0-3, then 4-7
    for (int p = 0; p < 2; ++p) {
      const vf8 &a = t[4 * h + p], &b = t[4 * h + 2 + p];
      u[4 * h + 2 * p] = __builtin_shufflevector(a, b, 0, 1, 8, 9, 4, 5, 12, 13);
      u[4 * h + 2 * p + 1] = __builtin_shufflevector(a, b, 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int j = 0; j < 4; ++j) {
    rows[j] = __builtin_shufflevector(u[j], u[4 + j], 0, 1, 2, 3, 8, 9, 10, 11);
    rows[4 + j] = __builtin_shufflevector(u[j], u[4 + j], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

/// U = G g G^T of the filters of panels [begin, end) (`width` output channels each, a
/// multiple of 4): input channel by input channel, four output channels at a time, so
/// that each element's row of a panel ([ch][width]: a cache line or two) is written
/// whole. (Output channel by output channel, each element's rows took a float at a time,
/// and went back to memory between: with the plain copy below float by float, 512 x 512
/// filters (47 MB packed) 23 ms on one Zen 4 core capped at AVX2, now 9.2; 256 x 256 4.6,
/// now 1.9.)
template <int M>
DLRT_VINLINE void packFor(const WinogradShape &s, const float *oihw, FilterOrder order, float *packed, int64_t width,
                          int64_t begin, int64_t end) {
  constexpr int A = Algorithm<M>::A;
  const int64_t c = s.c, panels = s.k / width; // (locals: the stores may alias s)
  // Filter (o, ch)'s tap at o * outStride + ch * inStride + tap (8 - tap turned).
  const bool turned = order == FilterOrder::Turned;
  const int64_t outStride = turned ? 9 : c * 9, inStride = turned ? s.k * 9 : 9;
  for (int64_t panel = begin; panel < end; ++panel)
    for (int64_t ch = 0; ch < c; ++ch) {
      alignas(64) float rows[A * A][kMaxPanelWidth]; // each element's row of the panel
      for (int64_t o = panel * width; o < (panel + 1) * width; o += 4) {
        D4 g[9];
        for (int tap = 0; tap < 9; ++tap)
          for (int l = 0; l < 4; ++l) g[tap][l] = oihw[(o + l) * outStride + ch * inStride + (turned ? 8 - tap : tap)];
        D4 t[A][3]; // G g
        for (int j = 0; j < 3; ++j) {
          const D4 column[3] = {g[j], g[3 + j], g[6 + j]};
          D4 u[A];
          Algorithm<M>::filter(column, u);
          for (int i = 0; i < A; ++i) t[i][j] = u[i];
        }
        for (int i = 0; i < A; ++i) {
          D4 u[A];
          Algorithm<M>::filter(t[i], u);
          for (int j = 0; j < A; ++j) {
            const F4 rounded = __builtin_convertvector(u[j], F4);
            __builtin_memcpy(&rows[i * A + j][o % width], &rounded, sizeof rounded);
          }
        }
      }
      for (int e = 0; e < A * A; ++e)
        __builtin_memcpy(packed + ((e * panels + panel) * c + ch) * width, rows[e], size_t(width) * sizeof(float));
    }
}

/// packFor and the plain copy of the filters for panels [begin, end), as
/// packWinogradWeights describes; built for AVX2 (a D4 in one register) and for any CPU.
DLRT_VINLINE void packPanels(const WinogradShape &s, const float *oihw, FilterOrder order, float *packed,
                             int64_t width, int64_t begin, int64_t end) {
  if (s.tile == 4) packFor<4>(s, oihw, order, packed, width, begin, end);
  else packFor<2>(s, oihw, order, packed, width, begin, end);
  // The filters again as [C][3][3][K], for the tiles that take the direct sums: a vector
  // of output channels at each input. As given, by blocks of 8 x 8 (C and K are multiples
  // of 8; float by float, 16 rows of oihw at a time, it took a third of the packing);
  // turned, input channel by input channel, whose [K][3][3] filters are in L1.
  const int64_t c9 = s.c * 9, k = s.k;
  float *direct = packed + s.elements() * s.c * s.k;
  if (order == FilterOrder::Turned) {
    for (int64_t ch = 0; ch < s.c; ++ch)
      for (int64_t tap = 0; tap < 9; ++tap)
        for (int64_t o = begin * width; o < end * width; ++o)
          direct[(ch * 9 + tap) * k + o] = oihw[(ch * k + o) * 9 + 8 - tap];
    return;
  }
  for (int64_t o = begin * width; o < end * width; o += 8)
    for (int64_t i = 0; i < c9; i += 8) {
      vf8 rows[8];
      for (int r = 0; r < 8; ++r) rows[r] = loadLanes<vf8>(oihw + (o + r) * c9 + i);
      transpose8x8(rows);
      for (int r = 0; r < 8; ++r) storeLanes(direct + (i + r) * k + o, rows[r]);
    }
}
DLRT_TARGET_AVX2 void packPanelsAvx2(const WinogradShape &s, const float *oihw, FilterOrder order, float *packed,
                                     int64_t width, int64_t begin, int64_t end) {
  packPanels(s, oihw, order, packed, width, begin, end);
}
void packPanelsGeneric(const WinogradShape &s, const float *oihw, FilterOrder order, float *packed, int64_t width,
                       int64_t begin, int64_t end) {
  packPanels(s, oihw, order, packed, width, begin, end);
}

/// The threads a filter transform of s (packWinogradWeights, winogradGradientFilters) runs
/// on: one per 64 K filter taps, up to `threads` (a parallel region costs more than fewer;
/// a train step transforms its filters every call).
int transformParts(int threads, const WinogradShape &s) {
  return int(std::clamp<int64_t>(s.k * s.c * 9 / 65536, 1, std::max(threads, 1)));
}

} // namespace

int64_t winogradPanelWidth(const WinogradShape &s, VectorIsa isa) {
  int64_t n;
  Fit fit;
  buildOf(s, isa, n, fit);
  return n * vectorsAtOnce(s.k / n, fit);
}

void packWinogradWeights(int threads, const WinogradShape &s, const float *oihw, float *packed, FilterOrder order,
                         VectorIsa isa) {
  const int64_t width = winogradPanelWidth(s, isa);
  // (AVX-512 machines run the AVX2 build: four doubles fill its registers.)
  auto pack = isa == VectorIsa::Generic ? packPanelsGeneric : packPanelsAvx2;
  parallelRanges(transformParts(threads, s), s.k / width,
                 [&](int64_t begin, int64_t end) { pack(s, oihw, order, packed, width, begin, end); });
}

namespace {

/// Where the tiles are: image, row and column of each, counted image by image, row by row.
struct Tiles {
  int64_t rows, cols, total;
  explicit Tiles(const WinogradShape &s)
      : rows((s.oh + s.tile - 1) / s.tile), cols((s.ow + s.tile - 1) / s.tile), total(s.n * rows * cols) {}
  void at(int64_t t, int64_t &b, int64_t &ty, int64_t &tx) const {
    tx = t % cols;
    ty = t / cols % rows;
    b = t / (cols * rows);
  }
};

/// Where channel `ch` of pixel (row, col) of image b is in a tensor of `channels` channels
/// and rows x cols pixels in blocks of B channels, or channels last (NHWC) where B is 0;
/// channels ch .. ch + N - 1 follow it (N divides the block).
template <int B>
DLRT_VINLINE int64_t blockedAt(int64_t channels, int64_t rows, int64_t cols, int64_t b, int64_t ch, int64_t row,
                               int64_t col) {
  if constexpr (B == 0) return ((b * rows + row) * cols + col) * channels + ch;
  else return (((b * (channels / B) + ch / B) * rows + row) * cols + col) * B + ch % B;
}
/// The floats from one pixel to the next in those layouts.
template <int B> DLRT_VINLINE int64_t pixelStride(int64_t channels) { return B == 0 ? channels : B; }

/// The transformed patch of a tile, channels [ch, ch + N): V = B^T d B, the A x A vectors
/// `stride` floats apart. Outside the image (padding) d is 0.
template <int N, int B, int M>
DLRT_VINLINE void transformPatch(const WinogradShape &s, const float *x, int64_t b, int64_t row0, int64_t col0,
                                 int64_t ch, float *v, int64_t stride) {
  using F = typename Lanes<N>::F;
  constexpr int A = Algorithm<M>::A;
  const bool inside = row0 >= 0 && col0 >= 0 && row0 + A <= s.h && col0 + A <= s.w;
  const float *base = x + blockedAt<B>(s.c, s.h, s.w, b, ch, 0, 0);
  F t[A][A]; // B^T d
  for (int j = 0; j < A; ++j) {
    F d[A], column[A];
    for (int i = 0; i < A; ++i) {
      int64_t r = row0 + i, q = col0 + j;
      d[i] = inside || (r >= 0 && r < s.h && q >= 0 && q < s.w) ? loadLanes<F>(base + (r * s.w + q) * pixelStride<B>(s.c)) : F{};
    }
    Algorithm<M>::input(d, column);
    for (int i = 0; i < A; ++i) t[i][j] = column[i];
  }
  for (int i = 0; i < A; ++i) {
    F row[A];
    Algorithm<M>::input(t[i], row);
    for (int j = 0; j < A; ++j) storeLanes(v + (i * A + j) * stride, row[j]);
  }
}

/// Four floats: a vector's lanes summed four apart (quadOf), which sum as one float
/// (sumOf) where nothing but their sum matters.
typedef float Quad __attribute__((vector_size(16)));
template <class F> DLRT_VINLINE Quad quadOf(F v) {
  if constexpr (kLanesOf<F> == 16) {
    typedef float Oct __attribute__((vector_size(32)));
    Oct a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
            __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    return __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  } else {
    static_assert(kLanesOf<F> == 8);
    return __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
  }
}
DLRT_VINLINE float sumOf(float v) { return v; }
DLRT_VINLINE float sumOf(Quad v) { return (v[0] + v[2]) + (v[1] + v[3]); }

/// The most that a tile's patch may outweigh the window of one of its outputs (the sums of
/// their inputs' magnitudes, all channels), where a uniform patch outweighs each by 4 (36
/// of its pixels against 9; 6.25 at a corner with padding 1): see chunksOf.
constexpr float kPatchPerWindow = 16;

/// Whether an F(4x4) tile takes the direct sums (see chunksOf), from its 6x6 patch: each
/// pixel's magnitude (all channels; 0 in the padding), the largest input, and the tile's
/// rows x cols outputs inside the output. Where one input is larger than a quarter of the
/// magnitudes of all together, where the patch outweighs the window of one of the outputs
/// by more than kPatchPerWindow, or where the patch holds a NaN.
template <class T>
DLRT_VINLINE bool patchNeedsDirectSums(const T (&pixel)[6][6], float largest, int64_t rows, int64_t cols) {
  T triple[6][4], all{}; // the sums of pixels [j, j + 3) of each row, and of the patch
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 4; ++j) triple[i][j] = pixel[i][j] + pixel[i][j + 1] + pixel[i][j + 2];
    all += triple[i][0] + triple[i][3];
  }
  const float total = sumOf(all);
  if (!(4.0f * largest <= total)) return true; // also a NaN, which makes the total NaN
  for (int64_t i = 0; i < std::min<int64_t>(rows, 4); ++i)
    for (int64_t j = 0; j < std::min<int64_t>(cols, 4); ++j)
      if (total > kPatchPerWindow * sumOf(triple[i][j] + triple[i + 1][j] + triple[i + 2][j])) return true;
  return false;
}

/// The magnitudes of pixel (r, q) of image b, all channels: their sum, as four partial
/// sums, and the largest of them folded into `top` (a NaN is not, but makes the sum NaN).
template <int N, int B>
DLRT_VINLINE Quad pixelMagnitudes(const WinogradShape &s, const float *x, int64_t b, int64_t r, int64_t q,
                                  typename Lanes<N>::F &top) {
  using F = typename Lanes<N>::F;
  using I = IntsOf<F>;
  F sum{};
  for (int64_t ch = 0; ch < s.c; ch += N) {
    // |d| by clearing the sign bit; the larger by one max instruction.
    const F magnitude = (F)((I)loadLanes<F>(x + blockedAt<B>(s.c, s.h, s.w, b, ch, r, q)) & 0x7fffffff);
    top = magnitude > top ? magnitude : top;
    sum += magnitude;
  }
  return quadOf(sum);
}

/// patchNeedsDirectSums for F(4x4)'s tile (ty, tx) of image b, from x.
template <int N, int B>
DLRT_VINLINE bool tileNeedsDirectSums(const WinogradShape &s, const float *x, int64_t b, int64_t ty, int64_t tx) {
  using F = typename Lanes<N>::F;
  const int64_t row0 = 4 * ty - s.pt, col0 = 4 * tx - s.pl;
  Quad pixel[6][6] = {}; // each pixel's magnitudes, all channels, in four partial sums
  F top{};
  for (int i = 0; i < 6; ++i) {
    const int64_t r = row0 + i;
    if (r < 0 || r >= s.h) continue;
    for (int j = 0; j < 6; ++j) {
      const int64_t q = col0 + j;
      if (q >= 0 && q < s.w) pixel[i][j] = pixelMagnitudes<N, B>(s, x, b, r, q, top);
    }
  }
  float largest = 0;
  for (int l = 0; l < N; ++l) largest = std::max(largest, top[l]);
  return patchNeedsDirectSums(pixel, largest, s.oh - 4 * ty, s.ow - 4 * tx);
}

/// Outputs (row, col) of image b, channels [o, o + N), by the direct sums (for tiles that
/// come out non-finite or whose patch is out of scale with a window: see chunksOf), before
/// bias, sum and relu. `filters` holds them as [C][3][3][K]. Each channel's sum goes
/// in the order of the input channels and the window, as in a direct convolution.
template <int N, int B>
DLRT_VINLINE typename Lanes<N>::F directOutputs(const WinogradShape &s, const float *x, const float *filters,
                                                int64_t b, int64_t row, int64_t col, int64_t o) {
  using F = typename Lanes<N>::F;
  F sum{};
  for (int64_t ch = 0; ch < s.c; ++ch)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        int64_t r = row - s.pt + i, q = col - s.pl + j;
        if (r < 0 || r >= s.h || q < 0 || q >= s.w) continue;
        sum += splatLanes<F>(x[blockedAt<B>(s.c, s.h, s.w, b, ch, r, q)]) *
               loadLanes<F>(filters + ((ch * 3 + i) * 3 + j) * s.k + o);
      }
  return sum;
}

/// A chunk's transformed patches, [A*A][C / N][T][N], and their products with V vectors of
/// output channels, [A*A][T or P][V][N] (chunksOf): per thread, reused from call to call.
struct Scratch {
  AlignedFloats patches, products;
  std::vector<uint8_t> direct; // per tile of a chunk: whether its outputs are direct sums
};
Scratch &scratch() {
  thread_local Scratch s;
  return s;
}

/// One element's products of P tiles: products[p][q] = sum over the input channels of
/// patch[ch][p] * filter[ch][q], `ve` the tiles' transformed patches (T tiles wide) and `ue`
/// the panel of this element's V vectors of output channels.
template <int N, int V, int P>
DLRT_VINLINE void elementProducts(int64_t cv, int64_t t, const float *ve, const float *ue, float *products) {
  using F = typename Lanes<N>::F;
  F acc[P][V];
  for (int p = 0; p < P; ++p)
    for (int q = 0; q < V; ++q) acc[p][q] = F{};
  for (int64_t cb = 0; cb < cv; ++cb, ve += t * N)
    // Not unrolled: unrolled, the AVX2 build kept some of its 12 accumulators on the
    // stack (the CNN at batch 64 capped at AVX2: 0.81-0.90 ms rolled, 0.99-1.06 unrolled).
    _Pragma("clang loop unroll(disable)") for (int l = 0; l < N; ++l) {
      const float *u = ue + (cb * N + l) * V * N;
      F wv[V];
      for (int q = 0; q < V; ++q) wv[q] = loadLanes<F>(u + q * N);
      for (int p = 0; p < P; ++p) {
        F xb = splatLanes<F>(ve[p * N + l]);
        for (int q = 0; q < V; ++q) acc[p][q] += xb * wv[q];
      }
    }
  for (int p = 0; p < P; ++p)
    for (int q = 0; q < V; ++q) storeLanes(products + (p * V + q) * N, acc[p][q]);
}

/// Tiles [first, first + count), whose products `products` holds (element by element, T
/// tiles wide), channels [kv * N, (kv + V) * N): Y = A^T M A, plus bias (and the skip
/// tensor), relu'd, into y.
template <int N, int B, int M, int V>
DLRT_VINLINE void tileOutputs(const WinogradShape &s, const Tiles &tiles, const float *x, const float *products,
                               const uint8_t *direct, int64_t t, int64_t first, int64_t count, int64_t kv,
                               const float *filters, const float *bias, float *y) {
  using F = typename Lanes<N>::F;
  constexpr int A = Algorithm<M>::A;
  int64_t b, ty, tx;
  tiles.at(first, b, ty, tx);
  for (int64_t p = 0; p < count; ++p) {
    const int64_t row0 = M * ty, col0 = M * tx;
    const bool whole = row0 + M <= s.oh && col0 + M <= s.ow; // all of the tile's outputs inside
    for (int q = 0; q < V; ++q) {
      const int64_t o = (kv + q) * N;
      F r[M][A]; // A^T m
      for (int j = 0; j < A; ++j) {
        F m[A], column[M];
        for (int i = 0; i < A; ++i) m[i] = loadLanes<F>(products + (((i * A + j) * t + p) * V + q) * N);
        Algorithm<M>::output(m, column);
        for (int i = 0; i < M; ++i) r[i][j] = column[i];
      }
      F out[M][M];
      const F b0 = bias ? loadLanes<F>(bias + o) : F{};
      for (int i = 0; i < M; ++i) {
        F row[M];
        Algorithm<M>::output(r[i], row);
        for (int j = 0; j < M; ++j) out[i][j] = row[j] + b0;
      }
      // Any non-finite lane (x - x is NaN for NaN and infinities): the tile's outputs in
      // these channels by the direct sum instead.
      F nonFinite{};
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < M; ++j) nonFinite += out[i][j] - out[i][j];
      bool byDirectSums = direct[p] != 0;
      for (int l = 0; l < N; ++l) byDirectSums |= nonFinite[l] != 0.0f; // NaN != 0 too
      float *corner = y + blockedAt<B>(s.k, s.oh, s.ow, b, o, row0, col0);
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < M; ++j) {
          const int64_t row = row0 + i, col = col0 + j;
          if (!whole && (row >= s.oh || col >= s.ow)) continue;
          float *at = corner + (i * s.ow + j) * pixelStride<B>(s.k);
          F value = out[i][j];
          if (byDirectSums)
            value = directOutputs<N, B>(s, x, filters, b, row, col, o) + (bias ? loadLanes<F>(bias + o) : F{});
          if (s.accumulate) value += loadLanes<F>(at);
          if (s.relu) value = value < F{} ? F{} : value; // NaN stays NaN
          storeLanes(at, value);
        }
    }
    if (++tx == tiles.cols) {
      tx = 0;
      if (++ty == tiles.rows) ty = 0, ++b;
    }
  }
}

/// Work items [begin, end), each one of `chunks` runs of tiles (of sizes that differ by
/// one at most) and a slice of its output
/// channels (item = slice * chunks + chunk, so that a thread's range is its slice of every
/// chunk): the chunk's patches transformed (once for consecutive items of one chunk), then for each V vectors of the slice's output
/// channels, the products of every element and tile and the tiles' outputs. The last group
/// of P tiles of a chunk may be partial: its missing tiles' patches are zeros and their
/// outputs dropped.
///
/// In which order depends on the tile, by measurement (ResNet-18 and the CNN sample, one
/// Zen 5 core capped at AVX2 and not). F(2x2) goes group by group: all 16 elements of P
/// tiles, then their outputs, the products staying in L1; element by element ran its layers
/// 3-9% slower, and the CNN at batch 64 5-10%. F(4x4)'s filters take 36 floats per channel
/// pair, and a panel of 64 input channels is 147 KB on AVX2 (512: 1.2 MB), which went
/// through L1 once per group of tiles, competing with the patches for L2: F(4x4) goes
/// element by element, an element's filters staying in L1 while every tile of the chunk
/// reads them, the chunk's products in L2 until the outputs (ResNet-18's layers 5-13%
/// faster than group by group).
template <int N, int B, int M, int V, int P>
DLRT_VINLINE void chunksOf(const WinogradShape &s, const float *x, const float *packed, const float *filters,
                           const float *bias, float *y, int64_t chunks, int64_t slices, int64_t begin, int64_t end) {
  constexpr int A = Algorithm<M>::A;
  constexpr bool elementMajor = M == 4;
  const Tiles tiles(s);
  const int64_t largest = (tiles.total + chunks - 1) / chunks; // tiles in a chunk
  const int64_t cv = s.c / N, t = (largest + P - 1) / P * P;
  Scratch &buffers = scratch();
  buffers.direct.resize(size_t(t));
  uint8_t *direct = buffers.direct.data();
  buffers.patches.resize(A * A * s.c * t);
  buffers.products.resize(A * A * (elementMajor ? t : P) * V * N);
  float *v = buffers.patches.data(), *products = buffers.products.data();
  const int64_t groups = s.k / (V * N); // of V vectors of output channels
  int64_t transformed = -1;             // the chunk whose patches v holds
  for (int64_t item = begin; item < end; ++item) {
    const int64_t at = item % chunks, slice = item / chunks;
    const int64_t first = tiles.total * at / chunks, count = tiles.total * (at + 1) / chunks - first;
    for (int64_t i = 0; i < t && at != transformed; ++i) {
      if (i >= count) {
        for (int e = 0; e < A * A; ++e)
          for (int64_t cb = 0; cb < cv; ++cb) std::fill_n(v + ((e * cv + cb) * t + i) * N, N, 0.0f);
        continue;
      }
      int64_t b, ty, tx;
      tiles.at(first + i, b, ty, tx);
      for (int64_t cb = 0; cb < cv; ++cb)
        transformPatch<N, B, M>(s, x, b, M * ty - s.pt, M * tx - s.pl, cb * N, v + (cb * t + i) * N, cv * t * N);
      // F(4x4)'s transforms mix the whole 6x6 patch, so an output's rounding error is
      // relative to the patch's inputs, also those its window does not read. The tile's
      // outputs are the direct sums, as for a tile that comes out non-finite, where that
      // is far more than the window's own inputs give (patchNeedsDirectSums):
      // - one input above a quarter of the patch's magnitudes (9 C of its 36 C inputs):
      //   one value of 1e5 among values of 1 gave outputs that do not read it errors
      //   27-100x over the bound test_winograd holds the rest to;
      // - the patch more than 16 times the magnitudes of an output's window (4 where
      //   uniform): a hot spot of 3x3 pixels, all channels, a thousand times the rest, which
      //   the first rule does not see, gave errors 8-27x over that bound, and a difftest
      //   model (tanh after such a convolution) 2% off.
      // F(2x2)'s outputs read only their windows, also in rounding. The check is a pass of
      // its own over the patch, after its transform (whose loads it finds in L1): with
      // both rules, ResNet-18 and the CNN sample within 0.97-1.05x of the first alone on
      // a Zen 5 core (AVX-512; capped at AVX2, 1.00x); the lanes of each pixel's sum are
      // folded to four only (a sum of all sixteen per pixel cost the CNN at b64 20%).
      if constexpr (M == 4) direct[i] = tileNeedsDirectSums<N, B>(s, x, b, ty, tx);
      else direct[i] = 0;
    }
    transformed = at;
    for (int64_t kv = groups * slice / slices * V; kv < groups * (slice + 1) / slices * V; kv += V) {
      // The panel of element e's filters for these output channels.
      auto panel = [&](int e) { return packed + (e * (s.k / (V * N)) + kv / V) * s.c * V * N; };
      if constexpr (elementMajor) {
        for (int e = 0; e < A * A; ++e)
          for (int64_t i0 = 0; i0 < count; i0 += P)
            elementProducts<N, V, P>(cv, t, v + (e * cv * t + i0) * N, panel(e), products + (e * t + i0) * V * N);
        tileOutputs<N, B, M, V>(s, tiles, x, products, direct, t, first, count, kv, filters, bias, y);
      } else {
        for (int64_t i0 = 0; i0 < count; i0 += P) {
          for (int e = 0; e < A * A; ++e)
            elementProducts<N, V, P>(cv, t, v + (e * cv * t + i0) * N, panel(e), products + e * P * V * N);
          tileOutputs<N, B, M, V>(s, tiles, x, products, direct + i0, P, first + i0, std::min<int64_t>(P, count - i0),
                                  kv, filters, bias, y);
        }
      }
    }
  }
}

/// Chunks [begin, end) in vectors of N channels, tiles of M x M: as many output-channel
/// vectors at once (V) as divide K and fit the registers, P tiles at a time (Fit).
template <int N, int B, int M, Fit F>
DLRT_VINLINE void chunksBy(const WinogradShape &s, const float *x, const float *packed, const float *filters,
                           const float *bias, float *y, int64_t chunks, int64_t slices, int64_t begin, int64_t end) {
  switch (vectorsAtOnce(s.k / N, F)) {
  case 4:
    if constexpr (F.v4 > 0) chunksOf<N, B, M, 4, F.v4>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
    break;
  case 2: chunksOf<N, B, M, 2, F.v2>(s, x, packed, filters, bias, y, chunks, slices, begin, end); break;
  default: chunksOf<N, B, M, 1, F.v1>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
  }
}

/// The same for either tile.
template <int N, int B, Fit F>
DLRT_VINLINE void chunksIn(const WinogradShape &s, const float *x, const float *packed, const float *filters,
                           const float *bias, float *y, int64_t chunks, int64_t slices, int64_t begin, int64_t end) {
  if (s.tile == 4) chunksBy<N, B, 4, F>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
  else chunksBy<N, B, 2, F>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
}

DLRT_TARGET_AVX512 void chunksAvx512(const WinogradShape &s, const float *x, const float *packed, const float *filters,
                                     const float *bias, float *y, int64_t chunks, int64_t slices, int64_t begin,
                                     int64_t end) {
  if (s.block == 16) chunksIn<16, 16, kAvx512Fit>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
  else if (s.block == 8) chunksIn<8, 8, kAvx512Fit>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
  else chunksIn<16, 0, kAvx512Fit>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
}
DLRT_TARGET_AVX2 void chunksAvx2(const WinogradShape &s, const float *x, const float *packed, const float *filters,
                                 const float *bias, float *y, int64_t chunks, int64_t slices, int64_t begin,
                                 int64_t end) {
  if (s.block == 16) chunksIn<8, 16, kAvx2Fit>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
  else if (s.block == 8) chunksIn<8, 8, kAvx2Fit>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
  else chunksIn<8, 0, kAvx2Fit>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
}
void chunksGeneric(const WinogradShape &s, const float *x, const float *packed, const float *filters, const float *bias,
                   float *y, int64_t chunks, int64_t slices, int64_t begin, int64_t end) {
  if (s.block == 16) chunksIn<8, 16, kAvx2Fit>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
  else if (s.block == 8) chunksIn<8, 8, kAvx2Fit>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
  else chunksIn<8, 0, kAvx2Fit>(s, x, packed, filters, bias, y, chunks, slices, begin, end);
}

/// The chunks a call's tiles are cut into (chunksOf: runs whose sizes differ by one at
/// most): each as many tiles as their transformed patches fit in 512 KB (L2) but at least
/// 12, a thread's share at most. F(4x4) goes element by
/// element (chunksOf), so that only one element's patches (a 36th) need stay in L2 while
/// its products run, and every chunk reads all the filters once: with many channels its
/// patches may take 4 MB (in L3), as long as the chunk's products for a panel of `width`
/// output channels, which wait in L2 for the outputs, take at most 256 KB. ResNet-18's
/// layers at batch 16 on one Zen 4 core capped at AVX2, against 512 KB of patches: 256
/// channels at 14x14 17.4-17.5 ms against 18.5-21.9 (19 chunks read its 9.4 MB of filters,
/// now 3), 512 at 7x7 20.3-21.0 against 22.9-23.3, 128 at 28x28 12.1-12.2 against
/// 12.7-12.9, 64 at 56x56 the same (14.8-15.0). (Without the bound on the products, the
/// CNN sample's 16 -> 32 at batch 64 took one chunk of 1024 tiles, 4.7 MB of products,
/// and ran 3-8% slower.) On several threads the count is a multiple of theirs, since each
/// thread takes a run of whole chunks: 256 channels at 14x14 (batch 16) came to 5 chunks,
/// two on one thread and three on the other; as 6 its forward on two Zen 5 threads capped
/// at AVX2 took 8.7-9.2 ms instead of 11.1-11.4 (18.9 on one), the same sums bit for bit.
int64_t chunkCount(const WinogradShape &s, int threads, int64_t width) {
  const int64_t total = Tiles(s).total, e = s.elements();
  int64_t fit = std::max<int64_t>(12, 131072 / (e * s.c));
  if (s.tile == 4) fit = std::max(fit, std::min(1048576 / (e * s.c), 65536 / (e * width)));
  int64_t chunks = std::max<int64_t>((total + fit - 1) / fit, std::min<int64_t>(threads, total));
  if (threads > 1) chunks = std::min(total, (chunks + threads - 1) / threads * threads);
  return chunks;
}

/// Floats [begin, end) of x: the largest magnitude, NaN where any is NaN or infinite
/// (x * 0 is NaN for those).
template <int N> DLRT_VINLINE float largestIn(const float *x, int64_t begin, int64_t end) {
  using F = typename Lanes<N>::F;
  F top[2] = {}, poisoned[2] = {};
  int64_t i = begin;
  for (; i + 2 * N <= end; i += 2 * N)
    for (int u = 0; u < 2; ++u) {
      F v = loadLanes<F>(x + i + u * N);
      F magnitude = v < F{} ? -v : v;
      top[u] = magnitude > top[u] ? magnitude : top[u];
      poisoned[u] += v * 0.0f;
    }
  float largest = 0, poison = 0;
  for (int u = 0; u < 2; ++u)
    for (int l = 0; l < N; ++l) largest = std::max(largest, top[u][l]), poison += poisoned[u][l];
  for (; i < end; ++i) largest = std::max(largest, std::abs(x[i])), poison += x[i] * 0.0f;
  return std::isnan(poison) ? NAN : largest;
}
DLRT_TARGET_AVX512 float largestAvx512(const float *x, int64_t begin, int64_t end) {
  return largestIn<16>(x, begin, end);
}
DLRT_TARGET_AVX2 float largestAvx2(const float *x, int64_t begin, int64_t end) { return largestIn<8>(x, begin, end); }
float largestGeneric(const float *x, int64_t begin, int64_t end) { return largestIn<8>(x, begin, end); }

/// scanWinogradInput over images [begin, end): each pixel's magnitude (all channels) and
/// largest input into `pixels` and `tops` (h x w each, per thread), then each F(4x4) tile's
/// patch from them. Whether any tile needs the direct sums; the largest input to `largest`.
template <int N, int B>
DLRT_VINLINE bool tilesNeedDirectSums(const WinogradShape &s, const float *x, int64_t begin, int64_t end,
                                      float &largest) {
  using F = typename Lanes<N>::F;
  thread_local std::vector<float> pixels, tops;
  pixels.resize(size_t(s.h * s.w));
  tops.resize(size_t(s.h * s.w));
  const int64_t rows = (s.oh + 3) / 4, cols = (s.ow + 3) / 4;
  bool any = false;
  for (int64_t b = begin; b < end && !any; ++b) {
    for (int64_t r = 0; r < s.h; ++r)
      for (int64_t q = 0; q < s.w; ++q) {
        F top{};
        const size_t at = size_t(r * s.w + q);
        pixels[at] = sumOf(pixelMagnitudes<N, B>(s, x, b, r, q, top));
        tops[at] = 0;
        for (int l = 0; l < N; ++l) tops[at] = std::max(tops[at], top[l]);
        largest = std::max(largest, tops[at]);
      }
    for (int64_t ty = 0; ty < rows && !any; ++ty)
      for (int64_t tx = 0; tx < cols && !any; ++tx) {
        float pixel[6][6] = {}, top = 0;
        for (int64_t i = 0; i < 6; ++i)
          for (int64_t j = 0; j < 6; ++j) {
            const int64_t r = 4 * ty - s.pt + i, q = 4 * tx - s.pl + j;
            if (r < 0 || r >= s.h || q < 0 || q >= s.w) continue;
            pixel[i][j] = pixels[size_t(r * s.w + q)];
            top = std::max(top, tops[size_t(r * s.w + q)]);
          }
        any = patchNeedsDirectSums(pixel, top, s.oh - 4 * ty, s.ow - 4 * tx);
      }
  }
  return any;
}
template <int B>
DLRT_TARGET_AVX512 bool tilesAvx512(const WinogradShape &s, const float *x, int64_t begin, int64_t end, float &top) {
  return tilesNeedDirectSums<B == 8 ? 8 : 16, B>(s, x, begin, end, top);
}
template <int B>
DLRT_TARGET_AVX2 bool tilesAvx2(const WinogradShape &s, const float *x, int64_t begin, int64_t end, float &top) {
  return tilesNeedDirectSums<8, B>(s, x, begin, end, top);
}
template <int B> bool tilesGeneric(const WinogradShape &s, const float *x, int64_t begin, int64_t end, float &top) {
  return tilesNeedDirectSums<8, B>(s, x, begin, end, top);
}

} // namespace

WinogradInputScan scanWinogradInput(int threads, const WinogradShape &s, const float *x, VectorIsa isa) {
  if (s.n == 0) return {0.0f, false};
  auto scan = isa == VectorIsa::Avx512 ? (s.block == 16 ? tilesAvx512<16> : s.block == 8 ? tilesAvx512<8> : tilesAvx512<0>)
              : isa == VectorIsa::Avx2   ? (s.block == 16 ? tilesAvx2<16> : s.block == 8 ? tilesAvx2<8> : tilesAvx2<0>)
                                         : (s.block == 16 ? tilesGeneric<16> : s.block == 8 ? tilesGeneric<8> : tilesGeneric<0>);
  // Images side by side where there are 64 KB of them a thread: below that a parallel
  // region costs more than the scan.
  const int64_t most = std::min<int64_t>(std::max(threads, 1), s.n);
  const int parts = int(std::clamp<int64_t>(s.n * s.c * s.h * s.w / 16384, 1, most));
  std::vector<float> largest(size_t(parts), 0.0f);
  std::vector<uint8_t> found(size_t(parts), 0);
  parallelParts(parts, parts, [&](int part) {
    found[size_t(part)] = scan(s, x, s.n * part / parts, s.n * (part + 1) / parts, largest[size_t(part)]);
  });
  WinogradInputScan result{0.0f, false};
  for (int part = 0; part < parts; ++part) {
    result.largest = std::max(result.largest, largest[size_t(part)]);
    result.tileNeedsDirectSums |= found[size_t(part)] != 0;
  }
  return result;
}

float largestMagnitude(int threads, const float *x, int64_t count, VectorIsa isa) {
  auto scan = isa == VectorIsa::Avx512 ? largestAvx512 : isa == VectorIsa::Avx2 ? largestAvx2 : largestGeneric;
  // Parts of at least 64 KB: below that a parallel region costs more than the scan.
  const int parts = int(std::clamp<int64_t>(count / 16384, 1, std::max(threads, 1)));
  std::vector<float> found(size_t(parts), 0.0f);
  parallelParts(parts, parts, [&](int part) {
    found[size_t(part)] = scan(x, count * part / parts, count * (part + 1) / parts);
  });
  float largest = 0;
  for (float part : found) {
    if (std::isnan(part)) return NAN;
    largest = std::max(largest, part);
  }
  return largest;
}

bool winogradSafe(float input, float weight, int64_t terms) {
  return std::isfinite(input) && std::isfinite(weight) &&
         double(input) * double(weight) * double(terms) < 1e-6 * double(std::numeric_limits<float>::max());
}

namespace {

/// The floats from one element's transforms of a chunk's tiles to the next element's in
/// the weight gradient's work: `floats` rounded up to an odd number of cache lines (16
/// floats), so that the A*A stores of a tile's transform, one per element, fall in as many
/// sets of L1 (addresses 4 KB apart share one). Side by side, 16 tiles of 64 channels put
/// each element 4 KB after the last, and the 36 stores of every tile evicted each other:
/// ResNet-18's weight gradients at batch 16 on one Zen 5 core capped at AVX2, 64 channels
/// at 56x56 24.1-26.8 -> 17.7-18.6 ms, 128 at 28x28 24.8-27.9 -> 13.3-14.6, 256 at 14x14
/// 32.3-34.7 -> 18.6-19.3, 512 at 7x7 37.4-39.5 -> 20.6-24.8 (in its train step, each 3x3
/// convolution's backward 4-9 ms faster); with AVX-512 13.2 -> 7.6 at 64 and 13.0 -> 7.5 at
/// 128. (The forward's chunks, [A*A][C / N][T][N], ran the same padded so.)
constexpr int64_t elementFloats(int64_t floats) { return ((floats + 15) / 16 | 1) * 16; }

/// The weight gradient's input side for the tiles [begin, end) and channels [c0, c0 + cw):
/// each F(M x M) tile's patch transformed (V = B^T d B, as the forward), channels in
/// vectors of N, into v: per element [end - begin][cw], elementFloats of that apart.
template <int N, int B, int M>
DLRT_VINLINE void gradientPatches(const WinogradShape &s, const float *x, int64_t begin, int64_t end, int64_t c0,
                                  int64_t cw, float *v) {
  const Tiles tiles(s);
  const int64_t elementStride = elementFloats((end - begin) * cw);
  for (int64_t t = begin; t < end; ++t) {
    int64_t b, ty, tx;
    tiles.at(t, b, ty, tx);
    for (int64_t ch = 0; ch < cw; ch += N)
      transformPatch<N, B, M>(s, x, b, M * ty - s.pt, M * tx - s.pl, c0 + ch, v + (t - begin) * cw + ch,
                              elementStride);
  }
}

/// Its output side for output channels [k0, k0 + kw): each tile's M x M output gradients
/// dy (zero outside the output) taken back through Y = A^T m A, dm = A dy A^T, channels in
/// vectors of N, into m: per element [end - begin][kw], elementFloats of that apart.
template <int N, int B, int M>
DLRT_VINLINE void gradientOutputs(const WinogradShape &s, const float *dy, int64_t begin, int64_t end, int64_t k0,
                                  int64_t kw, float *m) {
  using F = typename Lanes<N>::F;
  constexpr int A = Algorithm<M>::A;
  const Tiles tiles(s);
  const int64_t count = end - begin, elementStride = elementFloats(count * kw);
  for (int64_t t = begin; t < end; ++t) {
    int64_t b, ty, tx;
    tiles.at(t, b, ty, tx);
    const int64_t row0 = M * ty, col0 = M * tx;
    for (int64_t o = 0; o < kw; o += N) {
      F d[M][M]; // [column][row]
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < M; ++j) {
          const int64_t r = row0 + i, q = col0 + j;
          d[j][i] = r < s.oh && q < s.ow ? loadLanes<F>(dy + blockedAt<B>(s.k, s.oh, s.ow, b, k0 + o, r, q)) : F{};
        }
      F column[M][A]; // A dy, per column of dy
      for (int j = 0; j < M; ++j) Algorithm<M>::outputAdjoint(d[j], column[j]);
      for (int i = 0; i < A; ++i) {
        F across[M], row[A];
        for (int j = 0; j < M; ++j) across[j] = column[j][i];
        Algorithm<M>::outputAdjoint(across, row);
        for (int j = 0; j < A; ++j) storeLanes(m + (i * A + j) * elementStride + (t - begin) * kw + o, row[j]);
      }
    }
  }
}

/// u[r][j] += sum over `tiles` of m[t][r] v[t][j] for R rows of u and NV vectors of F
/// (rows `uStride` floats apart; m's and v's tiles mStride and vStride apart): R x NV
/// accumulators in registers, each vector of v loaded serving R rows.
template <class F, int R, int NV>
DLRT_VINLINE void accumulateProducts(const float *m, int64_t mStride, const float *v, int64_t vStride, int64_t tiles,
                                     float *u, int64_t uStride) {
  constexpr int N = kLanesOf<F>;
  F acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NV; ++j) acc[r][j] = loadLanes<F>(u + r * uStride + j * N);
  for (int64_t t = 0; t < tiles; ++t) {
    F vt[NV];
    for (int j = 0; j < NV; ++j) vt[j] = loadLanes<F>(v + t * vStride + j * N);
    for (int r = 0; r < R; ++r) {
      const F mt = splatLanes<F>(m[t * mStride + r]);
      for (int j = 0; j < NV; ++j) acc[r][j] += mt * vt[j];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NV; ++j) storeLanes(u + r * uStride + j * N, acc[r][j]);
}

/// accumulateProducts for `rows` (< R) rows.
template <class F, int R, int NV>
DLRT_VINLINE void accumulateProductRows(int64_t rows, const float *m, int64_t mStride, const float *v,
                                        int64_t vStride, int64_t tiles, float *u, int64_t uStride) {
  if constexpr (R > 1) {
    if (rows == R - 1) return accumulateProducts<F, R - 1, NV>(m, mStride, v, vStride, tiles, u, uStride);
    accumulateProductRows<F, R - 1, NV>(rows, m, mStride, v, vStride, tiles, u, uStride);
  }
}

/// One chunk's products for each of the E elements: u_e[kw][cw block of u, row stride C]
/// += m_e^T v_e, m_e: [tiles][kw], v_e: [tiles][cw] (each element elementFloats of that
/// after the last), with R x NV vectors of F at a time (cw a multiple of F's lanes; NV
/// vectors, then what is left one vector at a time).
template <class F, int R, int NV, int E>
DLRT_VINLINE void chunkProducts(const float *m, const float *v, int64_t tiles, int64_t kw, int64_t cw, float *u,
                                int64_t uElementStride, int64_t uStride) {
  constexpr int N = kLanesOf<F>;
  for (int e = 0; e < E; ++e) {
    const float *me = m + e * elementFloats(tiles * kw), *ve = v + e * elementFloats(tiles * cw);
    float *ue = u + e * uElementStride;
    for (int64_t r = 0; r < kw; r += R) {
      const int64_t rows = std::min<int64_t>(R, kw - r);
      int64_t j = 0;
      for (; j + NV * N <= cw; j += NV * N) {
        if (rows == R) accumulateProducts<F, R, NV>(me + r, kw, ve + j, cw, tiles, ue + r * uStride + j, uStride);
        else accumulateProductRows<F, R, NV>(rows, me + r, kw, ve + j, cw, tiles, ue + r * uStride + j, uStride);
      }
      for (; j < cw; j += N) {
        if (rows == R) accumulateProducts<F, R, 1>(me + r, kw, ve + j, cw, tiles, ue + r * uStride + j, uStride);
        else accumulateProductRows<F, R, 1>(rows, me + r, kw, ve + j, cw, tiles, ue + r * uStride + j, uStride);
      }
    }
  }
}

/// Channels per block of the products, in and out: a block's sums (64 x 64 per element,
/// 256 KB for F(2x2)'s 16, 576 KB for F(4x4)'s 36) and a chunk's transforms in L2 together.
constexpr int64_t kGradientBlock = 64;

/// The tiles a chunk transforms before its products: its v and m (A*A x tiles x 64 floats
/// each at most) stay in L2 while the products read them, where writing all tiles'
/// transforms out first and multiplying them by one product per element moved 4 floats per
/// pixel and channel of x and dy through memory twice (ResNet-18's 56x56 layers: 100 MB per
/// call). F(2x2): 32 tiles, 256 KB of transforms; F(4x4): 16 tiles, 288 KB, beside the
/// block's 576 KB of sums within a Zen 5's 1 MB L2 (32 tiles ran ResNet-18's 64-channel
/// layers 0.5 ms faster on a Sapphire Rapids core, whose L2 is 2 MB).
constexpr int64_t gradientChunkTiles(int tile) { return tile == 4 ? 16 : 32; }

/// Floats of one thread's work: a chunk's transforms, both sides, and a block's sums.
int64_t gradientWorkFloats(const WinogradShape &s) {
  const int64_t chunk = gradientChunkTiles(s.tile);
  return s.elements() * (2 * elementFloats(chunk * kGradientBlock) + kGradientBlock * kGradientBlock);
}

/// The products of the channel block [k0, k0 + kw) x [c0, c0 + cw) over the tiles
/// [begin, end), into u ([A*A][K][C]). `work` holds a chunk's transforms and the block's
/// products, summed there (A*A x kw x cw floats in a row) and copied to u at the end: in u
/// the block's rows are C floats apart and its elements K x C, powers of two that put
/// ResNet-18's 512-channel block (1024 rows of 256 bytes, 2 KB and 1 MB apart) in 256 of
/// the L2's 2048 sets (Intel's 2 MB, 16 ways) beside the transforms, and its weight
/// gradient at 7x7 took 12% longer than oneDNN's direct one.
template <class F, int R, int NV, int B, int M>
DLRT_VINLINE void gradientBlock(const WinogradShape &s, const float *x, const float *dy, int64_t begin, int64_t end,
                                int64_t k0, int64_t kw, int64_t c0, int64_t cw, float *u, float *work) {
  constexpr int N = kLanesOf<F>, E = Algorithm<M>::A * Algorithm<M>::A;
  constexpr int64_t chunk = gradientChunkTiles(M);
  float *v = work, *m = v + E * elementFloats(chunk * cw), *sums = m + E * elementFloats(chunk * kw);
  std::fill(sums, sums + E * kw * cw, 0.0f);
  for (int64_t t = begin; t < end; t += chunk) {
    const int64_t stop = std::min(end, t + chunk), tiles = stop - t;
    gradientPatches<N, B, M>(s, x, t, stop, c0, cw, v);
    gradientOutputs<N, B, M>(s, dy, t, stop, k0, kw, m);
    chunkProducts<F, R, NV, E>(m, v, tiles, kw, cw, sums, kw * cw, cw);
  }
  for (int e = 0; e < E; ++e)
    for (int64_t r = 0; r < kw; ++r)
      std::copy_n(sums + (e * kw + r) * cw, cw, u + (e * s.k + k0 + r) * s.c + c0);
}

struct GradientBlocks {
  int64_t ks, cs;
  explicit GradientBlocks(const WinogradShape &s)
      : ks((s.k + kGradientBlock - 1) / kGradientBlock), cs((s.c + kGradientBlock - 1) / kGradientBlock) {}
  int64_t count() const { return ks * cs; }
};

template <class F, int R, int NV, int B, int M>
DLRT_VINLINE void gradientBlocksOf(const WinogradShape &s, const float *x, const float *dy, int64_t block0,
                                   int64_t block1, int64_t begin, int64_t end, float *u, float *work) {
  const GradientBlocks blocks(s);
  for (int64_t block = block0; block < block1; ++block) {
    const int64_t k0 = block / blocks.cs * kGradientBlock, c0 = block % blocks.cs * kGradientBlock;
    gradientBlock<F, R, NV, B, M>(s, x, dy, begin, end, k0, std::min(kGradientBlock, s.k - k0), c0,
                                  std::min(kGradientBlock, s.c - c0), u, work);
  }
}

/// The same for either tile.
template <class F, int R, int NV, int B>
DLRT_VINLINE void gradientBlocks(const WinogradShape &s, const float *x, const float *dy, int64_t block0,
                                 int64_t block1, int64_t begin, int64_t end, float *u, float *work) {
  if (s.tile == 4) gradientBlocksOf<F, R, NV, B, 4>(s, x, dy, block0, block1, begin, end, u, work);
  else gradientBlocksOf<F, R, NV, B, 2>(s, x, dy, block0, block1, begin, end, u, work);
}

// One build per ISA. AVX-512: 4 rows x 4 vectors of 16 (16 zmm accumulators, 4 more for
// v's vectors); AVX2: 6 rows x 2 vectors of 8 (12 ymm and 2 of its 16 for v's).
using GradientFn = void (*)(const WinogradShape &, const float *, const float *, int64_t, int64_t, int64_t, int64_t,
                            float *, float *);
template <int B>
DLRT_TARGET_AVX512 void gradientAvx512(const WinogradShape &s, const float *x, const float *dy, int64_t block0,
                                       int64_t block1, int64_t begin, int64_t end, float *u, float *work) {
  if constexpr (B == 8) gradientBlocks<vf8, 6, 2, B>(s, x, dy, block0, block1, begin, end, u, work);
  else gradientBlocks<vf, 4, 4, B>(s, x, dy, block0, block1, begin, end, u, work);
}
template <int B>
DLRT_TARGET_AVX2 void gradientAvx2(const WinogradShape &s, const float *x, const float *dy, int64_t block0,
                                   int64_t block1, int64_t begin, int64_t end, float *u, float *work) {
  gradientBlocks<vf8, 6, 2, B>(s, x, dy, block0, block1, begin, end, u, work);
}
template <int B>
void gradientGeneric(const WinogradShape &s, const float *x, const float *dy, int64_t block0, int64_t block1,
                     int64_t begin, int64_t end, float *u, float *work) {
  gradientBlocks<vf8, 2, 2, B>(s, x, dy, block0, block1, begin, end, u, work);
}

/// Whether the threads split the channel blocks (each block's products over all tiles on
/// one thread, into u directly) rather than the tiles (each thread all blocks for its
/// tiles, into a u of its own, summed at the end): where the blocks divide evenly among
/// them or are many.
bool gradientSplitsBlocks(int threads, const WinogradShape &s) {
  const int64_t blocks = GradientBlocks(s).count();
  return threads <= 1 || (blocks >= threads && (blocks % threads == 0 || blocks >= 4 * threads));
}

} // namespace

int64_t winogradWeightGradientScratch(int threads, const WinogradShape &s) {
  threads = std::max(threads, 1);
  return threads * gradientWorkFloats(s) +
         (gradientSplitsBlocks(threads, s) ? 0 : (threads - 1) * s.elements() * s.k * s.c);
}

void winogradWeightGradientProducts(int threads, const WinogradShape &s, const float *x, const float *dy, float *u,
                                    float *scratch, VectorIsa isa) {
  GradientFn fn = isa == VectorIsa::Avx512
                      ? (s.block == 16 ? gradientAvx512<16> : s.block == 8 ? gradientAvx512<8> : gradientAvx512<0>)
                  : isa == VectorIsa::Avx2
                      ? (s.block == 16 ? gradientAvx2<16> : s.block == 8 ? gradientAvx2<8> : gradientAvx2<0>)
                      : (s.block == 16 ? gradientGeneric<16> : s.block == 8 ? gradientGeneric<8> : gradientGeneric<0>);
  threads = std::max(threads, 1);
  const int64_t tiles = Tiles(s).total, blocks = GradientBlocks(s).count(), size = s.elements() * s.k * s.c,
                work = gradientWorkFloats(s);
  if (gradientSplitsBlocks(threads, s)) {
    parallelParts(threads, threads, [&](int part) {
      fn(s, x, dy, blocks * part / threads, blocks * (part + 1) / threads, 0, tiles, u, scratch + part * work);
    });
    return;
  }
  float *partials = scratch + threads * work;
  parallelParts(threads, threads, [&](int part) {
    float *mine = part == 0 ? u : partials + (part - 1) * size;
    fn(s, x, dy, 0, blocks, tiles * part / threads, tiles * (part + 1) / threads, mine, scratch + part * work);
  });
  // The threads' sums, in order of their tiles.
  parallelRanges(threads, size, [&](int64_t begin, int64_t end) {
    for (int part = 1; part < threads; ++part) {
      const float *theirs = partials + (part - 1) * size;
      for (int64_t i = begin; i < end; ++i) u[i] += theirs[i];
    }
  });
}

namespace {

/// dg = G^T U G for filters [begin, end) (in u's order, [K][C]), in double, four at a time
/// (and the last few one by one): down U's columns, then along the rows.
template <int M, class D, int L>
DLRT_VINLINE void gradientFiltersOf(const WinogradShape &s, const float *u, float *dw, int64_t begin, int64_t end) {
  constexpr int A = Algorithm<M>::A;
  const int64_t pairs = s.k * s.c; // (a local: the stores may alias s)
  for (int64_t pair = begin; pair + L <= end; pair += L) {
    D w[3][A];
    for (int j = 0; j < A; ++j) {
      D column[A], g[3];
      for (int i = 0; i < A; ++i)
        for (int l = 0; l < L; ++l) lane(column[i], l) = u[(i * A + j) * pairs + pair + l];
      Algorithm<M>::filterAdjoint(column, g);
      for (int a = 0; a < 3; ++a) w[a][j] = g[a];
    }
    for (int a = 0; a < 3; ++a) {
      D g[3];
      Algorithm<M>::filterAdjoint(w[a], g);
      for (int b = 0; b < 3; ++b)
        for (int l = 0; l < L; ++l) dw[(pair + l) * 9 + a * 3 + b] = float(lane(g[b], l));
    }
  }
}

template <int M>
DLRT_VINLINE void gradientFiltersIn(const WinogradShape &s, const float *u, float *dw, int64_t begin, int64_t end) {
  const int64_t whole = begin + (end - begin) / 4 * 4;
  gradientFiltersOf<M, D4, 4>(s, u, dw, begin, whole);
  gradientFiltersOf<M, double, 1>(s, u, dw, whole, end);
}

/// gradientFiltersIn for either tile, built for AVX2 and for any CPU (as packPanels).
DLRT_VINLINE void gradientFilters(const WinogradShape &s, const float *u, float *dw, int64_t begin, int64_t end) {
  if (s.tile == 4) gradientFiltersIn<4>(s, u, dw, begin, end);
  else gradientFiltersIn<2>(s, u, dw, begin, end);
}
DLRT_TARGET_AVX2 void gradientFiltersAvx2(const WinogradShape &s, const float *u, float *dw, int64_t begin,
                                          int64_t end) {
  gradientFilters(s, u, dw, begin, end);
}
void gradientFiltersGeneric(const WinogradShape &s, const float *u, float *dw, int64_t begin, int64_t end) {
  gradientFilters(s, u, dw, begin, end);
}

} // namespace

void winogradGradientFilters(int threads, const WinogradShape &s, const float *u, float *dw, VectorIsa isa) {
  auto filters = isa == VectorIsa::Generic ? gradientFiltersGeneric : gradientFiltersAvx2;
  parallelRanges(transformParts(threads, s), s.k * s.c, [&](int64_t begin, int64_t end) { filters(s, u, dw, begin, end); });
}

void winogradConv(int threads, const WinogradShape &s, const float *x, const float *packed, const float *bias, float *y,
                  VectorIsa isa) {
  if (s.n == 0) return;
  const float *filters = packed + s.elements() * s.c * s.k; // packWinogradWeights' [C][3][3][K]
  auto run = isa == VectorIsa::Avx512 ? chunksAvx512 : isa == VectorIsa::Avx2 ? chunksAvx2 : chunksGeneric;
  const int64_t total = Tiles(s).total;
  // Few tiles a thread (fewer than two groups of P) and output channels for each: the
  // threads share chunks sized for one thread by their output channels rather than split
  // the tiles. Each reads its share of the filters, not all of them for a few tiles, and no
  // thread pads a short group (7x7, 512 channels at batch 1, capped at AVX2: 16 tiles were
  // two chunks of 8, each two groups of 6, so 24 tiles' products, and each thread read all
  // 16.8 MB of filters twice; now 18 tiles' products, each thread half the filters 3 times).
  int64_t n;
  Fit fit;
  buildOf(s, isa, n, fit);
  const int v = vectorsAtOnce(s.k / n, fit), p = v == 4 ? fit.v4 : v == 2 ? fit.v2 : fit.v1;
  const int64_t groups = s.k / (n * v);
  const bool shareChannels = threads > 1 && total < 2 * p * threads && groups >= 2;
  const int64_t chunks = chunkCount(s, shareChannels ? 1 : threads, n * v);
  const int64_t slices = shareChannels ? std::min<int64_t>(groups, (threads + chunks - 1) / chunks) : 1;
  parallelRanges(threads, chunks * slices, [&](int64_t begin, int64_t end) {
    run(s, x, packed, filters, bias, y, chunks, slices, begin, end);
  });
}

} // namespace dlrt::native
