//===- Winograd.cpp - 3x3 convolutions by Winograd's F(2x2, 3x3), written here ----===//
#include "native/Winograd.h"
#include "native/OuterProduct.h"

#include "Threads.h"
#include "dlrt/model_abi.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dlrt::native {

WinogradShape::WinogradShape(const int64_t *g, bool accumulate)
    : n(g[0]), c(g[1]), h(g[2]), w(g[3]), k(g[4]), oh(g[7]), ow(g[8]), pt(g[11]), pl(g[12]),
      block(dlrt_layout_block(g[19])), relu(g[18] == DLRT_ACTIVATION_RELU), accumulate(accumulate) {}

bool winogradSupports(const int64_t *g) {
  const int64_t c = g[1], oc = g[4], block = dlrt_layout_block(g[19]);
  return g[5] == 3 && g[6] == 3 && g[9] == 1 && g[10] == 1 && g[15] == 1 && g[16] == 1 && g[17] == 1 &&
         (g[18] == DLRT_ACTIVATION_NONE || g[18] == DLRT_ACTIVATION_RELU) && block != 0 && c > 0 && oc > 0 &&
         c % block == 0 && oc % block == 0;
}

namespace {

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
  if (isa == VectorIsa::Avx512) n = s.block == 16 ? 16 : 8, fit = kAvx512Fit;
  else n = 8, fit = kAvx2Fit;
}

} // namespace

int64_t winogradPanelWidth(const WinogradShape &s, VectorIsa isa) {
  int64_t n;
  Fit fit;
  buildOf(s, isa, n, fit);
  return n * vectorsAtOnce(s.k / n, fit);
}

void packWinogradWeights(const WinogradShape &s, const float *oihw, float *packed, VectorIsa isa) {
  const int64_t width = winogradPanelWidth(s, isa);
  for (int64_t o = 0; o < s.k; ++o)
    for (int64_t ch = 0; ch < s.c; ++ch) {
      const float *g = oihw + (o * s.c + ch) * 9;
      // G g: 4 rows of 3, then (G g) G^T: 4 x 4. G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1].
      float t[4][3];
      for (int j = 0; j < 3; ++j) {
        float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        t[0][j] = g0;
        t[1][j] = 0.5f * (g0 + g1 + g2);
        t[2][j] = 0.5f * (g0 - g1 + g2);
        t[3][j] = g2;
      }
      for (int i = 0; i < 4; ++i) {
        float u[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
        for (int j = 0; j < 4; ++j)
          packed[(((i * 4 + j) * (s.k / width) + o / width) * s.c + ch) * width + o % width] = u[j];
      }
    }
}

namespace {

/// Where the tiles are: image, row and column of each, counted image by image, row by row.
struct Tiles {
  int64_t rows, cols, total;
  explicit Tiles(const WinogradShape &s)
      : rows((s.oh + 1) / 2), cols((s.ow + 1) / 2), total(s.n * ((s.oh + 1) / 2) * ((s.ow + 1) / 2)) {}
  void at(int64_t t, int64_t &b, int64_t &ty, int64_t &tx) const {
    tx = t % cols;
    ty = t / cols % rows;
    b = t / (cols * rows);
  }
};

/// Where channel `ch` of pixel (row, col) of image b is in a tensor of `channels` channels
/// and rows x cols pixels in blocks of B channels; channels ch .. ch + N - 1 follow it (N
/// divides the block).
template <int B>
DLRT_VINLINE int64_t blockedAt(int64_t channels, int64_t rows, int64_t cols, int64_t b, int64_t ch, int64_t row,
                               int64_t col) {
  return (((b * (channels / B) + ch / B) * rows + row) * cols + col) * B + ch % B;
}

/// The transformed patch of a tile, channels [ch, ch + N): V = B^T d B, the 16 vectors
/// `stride` floats apart. B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]; outside the image
/// (padding) d is 0.
template <int N, int B>
DLRT_VINLINE void transformPatch(const WinogradShape &s, const float *x, int64_t b, int64_t row0, int64_t col0,
                                 int64_t ch, float *v, int64_t stride) {
  using F = typename Lanes<N>::F;
  F d[4][4];
  const bool inside = row0 >= 0 && col0 >= 0 && row0 + 4 <= s.h && col0 + 4 <= s.w;
  const float *base = x + blockedAt<B>(s.c, s.h, s.w, b, ch, 0, 0);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      int64_t r = row0 + i, q = col0 + j;
      d[i][j] = inside || (r >= 0 && r < s.h && q >= 0 && q < s.w) ? loadLanes<F>(base + (r * s.w + q) * B)
                                                                     : F{};
    }
  F t[4][4];
  for (int j = 0; j < 4; ++j) {
    t[0][j] = d[0][j] - d[2][j];
    t[1][j] = d[1][j] + d[2][j];
    t[2][j] = d[2][j] - d[1][j];
    t[3][j] = d[1][j] - d[3][j];
  }
  for (int i = 0; i < 4; ++i) {
    storeLanes(v + (i * 4 + 0) * stride, t[i][0] - t[i][2]);
    storeLanes(v + (i * 4 + 1) * stride, t[i][1] + t[i][2]);
    storeLanes(v + (i * 4 + 2) * stride, t[i][2] - t[i][1]);
    storeLanes(v + (i * 4 + 3) * stride, t[i][1] - t[i][3]);
  }
}

/// Output (row, col) of image b, channel o, by the direct sum (for tiles that came out
/// non-finite), before bias, sum and relu.
template <int B>
float directOutput(const WinogradShape &s, const float *x, const float *oihw, int64_t b, int64_t row, int64_t col,
                   int64_t o) {
  float sum = 0;
  for (int64_t ch = 0; ch < s.c; ++ch)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        int64_t r = row - s.pt + i, q = col - s.pl + j;
        if (r < 0 || r >= s.h || q < 0 || q >= s.w) continue;
        sum += x[blockedAt<B>(s.c, s.h, s.w, b, ch, r, q)] * oihw[((o * s.c + ch) * 3 + i) * 3 + j];
      }
  return sum;
}

/// A chunk's transformed patches, [16][C / N][T][N], and one tile group's products,
/// [16][P][V][N]: per thread, reused from call to call.
struct Scratch {
  AlignedFloats patches, products;
};
Scratch &scratch() {
  thread_local Scratch s;
  return s;
}

/// Tiles [i0, i0 + count) of a chunk whose patches `v` holds (T tiles wide), channels
/// [kv * N, (kv + V) * N): the 16 products over the input channels, then Y = A^T M A,
/// A^T = [1 1 1 0; 0 1 -1 -1], plus bias (and the skip tensor), relu'd, into y.
template <int N, int B, int V, int P>
DLRT_VINLINE void tileGroup(const WinogradShape &s, const Tiles &tiles, const float *x, const float *v, int64_t t,
                            int64_t first, int64_t i0, int64_t count, int64_t kv, const float *packed,
                            const float *oihw, const float *bias, float *products, float *y) {
  using F = typename Lanes<N>::F;
  const int64_t cv = s.c / N;
  for (int e = 0; e < 16; ++e) {
    F acc[P][V];
    for (int p = 0; p < P; ++p)
      for (int q = 0; q < V; ++q) acc[p][q] = F{};
    const float *ve = v + (e * cv * t + i0) * N;
    const float *ue = packed + (e * (s.k / (V * N)) + kv / V) * s.c * V * N; // the panel of these channels
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
      for (int q = 0; q < V; ++q) storeLanes(products + ((e * P + p) * V + q) * N, acc[p][q]);
  }
  int64_t b, ty, tx;
  tiles.at(first + i0, b, ty, tx);
  for (int p = 0; p < count; ++p) {
    const int64_t row0 = 2 * ty, col0 = 2 * tx;
    const bool whole = row0 + 1 < s.oh && col0 + 1 < s.ow; // all four outputs inside
    for (int q = 0; q < V; ++q) {
      const int64_t o = (kv + q) * N;
      F m[16];
      for (int e = 0; e < 16; ++e) m[e] = loadLanes<F>(products + ((e * P + p) * V + q) * N);
      F r[2][4];
      for (int j = 0; j < 4; ++j) {
        r[0][j] = m[j] + m[4 + j] + m[8 + j];
        r[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
      }
      F out[2][2];
      const F b0 = bias ? loadLanes<F>(bias + o) : F{};
      for (int i = 0; i < 2; ++i) {
        out[i][0] = r[i][0] + r[i][1] + r[i][2] + b0;
        out[i][1] = r[i][1] - r[i][2] - r[i][3] + b0;
      }
      // Any non-finite lane (x - x is NaN for NaN and infinities): the tile's outputs in
      // these channels by the direct sum instead.
      F nonFinite{};
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) nonFinite += out[i][j] - out[i][j];
      bool direct = false;
      for (int l = 0; l < N; ++l) direct |= nonFinite[l] != 0.0f; // NaN != 0 too
      float *corner = y + blockedAt<B>(s.k, s.oh, s.ow, b, o, row0, col0);
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) {
          const int64_t row = row0 + i, col = col0 + j;
          if (!whole && (row >= s.oh || col >= s.ow)) continue;
          float *at = corner + (i * s.ow + j) * B;
          F value = out[i][j];
          if (direct)
            for (int l = 0; l < N; ++l)
              value[l] = directOutput<B>(s, x, oihw, b, row, col, o + l) + (bias ? bias[o + l] : 0.0f);
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

/// Chunks [begin, end) of `chunk` tiles each: patches transformed, then for each V vectors
/// of output channels, each group of P tiles (the last group of a chunk may be partial: its
/// missing tiles' patches are zeros and their outputs dropped).
template <int N, int B, int V, int P>
DLRT_VINLINE void chunksOf(const WinogradShape &s, const float *x, const float *packed, const float *oihw,
                           const float *bias, float *y, int64_t chunk, int64_t begin, int64_t end) {
  const Tiles tiles(s);
  const int64_t cv = s.c / N, t = (chunk + P - 1) / P * P;
  Scratch &buffers = scratch();
  buffers.patches.resize(16 * s.c * t);
  buffers.products.resize(16 * P * V * N);
  float *v = buffers.patches.data();
  for (int64_t at = begin; at < end; ++at) {
    const int64_t first = at * chunk, count = std::min(chunk, tiles.total - first);
    for (int64_t i = 0; i < t; ++i) {
      if (i >= count) {
        for (int e = 0; e < 16; ++e)
          for (int64_t cb = 0; cb < cv; ++cb) std::fill_n(v + ((e * cv + cb) * t + i) * N, N, 0.0f);
        continue;
      }
      int64_t b, ty, tx;
      tiles.at(first + i, b, ty, tx);
      for (int64_t cb = 0; cb < cv; ++cb)
        transformPatch<N, B>(s, x, b, 2 * ty - s.pt, 2 * tx - s.pl, cb * N, v + (cb * t + i) * N, cv * t * N);
    }
    for (int64_t kv = 0; kv < s.k / N; kv += V)
      for (int64_t i0 = 0; i0 < count; i0 += P)
        tileGroup<N, B, V, P>(s, tiles, x, v, t, first, i0, std::min<int64_t>(P, count - i0), kv, packed, oihw, bias,
                           buffers.products.data(), y);
  }
}

/// Chunks [begin, end) in vectors of N channels: as many output-channel vectors at once
/// (V) as divide K and fit the registers, P tiles at a time (Fit).
template <int N, int B, Fit F>
DLRT_VINLINE void chunksIn(const WinogradShape &s, const float *x, const float *packed, const float *oihw,
                           const float *bias, float *y, int64_t chunk, int64_t begin, int64_t end) {
  switch (vectorsAtOnce(s.k / N, F)) {
  case 4:
    if constexpr (F.v4 > 0) chunksOf<N, B, 4, F.v4>(s, x, packed, oihw, bias, y, chunk, begin, end);
    break;
  case 2: chunksOf<N, B, 2, F.v2>(s, x, packed, oihw, bias, y, chunk, begin, end); break;
  default: chunksOf<N, B, 1, F.v1>(s, x, packed, oihw, bias, y, chunk, begin, end);
  }
}

DLRT_TARGET_AVX512 void chunksAvx512(const WinogradShape &s, const float *x, const float *packed, const float *oihw,
                                     const float *bias, float *y, int64_t chunk, int64_t begin, int64_t end) {
  if (s.block == 16) chunksIn<16, 16, kAvx512Fit>(s, x, packed, oihw, bias, y, chunk, begin, end);
  else chunksIn<8, 8, kAvx512Fit>(s, x, packed, oihw, bias, y, chunk, begin, end);
}
DLRT_TARGET_AVX2 void chunksAvx2(const WinogradShape &s, const float *x, const float *packed, const float *oihw,
                                 const float *bias, float *y, int64_t chunk, int64_t begin, int64_t end) {
  if (s.block == 16) chunksIn<8, 16, kAvx2Fit>(s, x, packed, oihw, bias, y, chunk, begin, end);
  else chunksIn<8, 8, kAvx2Fit>(s, x, packed, oihw, bias, y, chunk, begin, end);
}
void chunksGeneric(const WinogradShape &s, const float *x, const float *packed, const float *oihw, const float *bias,
                   float *y, int64_t chunk, int64_t begin, int64_t end) {
  if (s.block == 16) chunksIn<8, 16, kAvx2Fit>(s, x, packed, oihw, bias, y, chunk, begin, end);
  else chunksIn<8, 8, kAvx2Fit>(s, x, packed, oihw, bias, y, chunk, begin, end);
}

/// Tiles per chunk: as many as their transformed patches fit in 512 KB (L2) but at least
/// 12, a thread's share at most, and the chunks of a call as even as that allows (a short
/// last chunk does a whole group of tiles' products for a few).
int64_t chunkTiles(const WinogradShape &s, int threads) {
  const int64_t total = Tiles(s).total;
  const int64_t fit = std::max<int64_t>(12, 131072 / (16 * s.c));
  const int64_t chunks = std::max<int64_t>((total + fit - 1) / fit, std::min<int64_t>(threads, total));
  return (total + chunks - 1) / chunks;
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

} // namespace

float largestMagnitude(int threads, const float *x, int64_t count, VectorIsa isa) {
  auto largest = isa == VectorIsa::Avx512 ? largestAvx512 : isa == VectorIsa::Avx2 ? largestAvx2 : largestGeneric;
  // Parts of at least 64 KB: below that a parallel region costs more than the scan.
  const int parts = int(std::clamp<int64_t>(count / 16384, 1, std::max(threads, 1)));
  std::vector<float> found(size_t(parts), 0.0f);
  parallelParts(parts, parts, [&](int part) {
    found[size_t(part)] = largest(x, count * part / parts, count * (part + 1) / parts);
  });
  float top = 0;
  for (float f : found) {
    if (std::isnan(f)) return NAN;
    top = std::max(top, f);
  }
  return top;
}

bool winogradSafe(float input, float weight, int64_t terms) {
  return std::isfinite(input) && std::isfinite(weight) &&
         double(input) * double(weight) * double(terms) < 1e-6 * double(std::numeric_limits<float>::max());
}

void winogradConv(int threads, const WinogradShape &s, const float *x, const float *packed, const float *oihw,
                  const float *bias, float *y, VectorIsa isa) {
  if (s.n == 0) return;
  auto chunks = isa == VectorIsa::Avx512 ? chunksAvx512 : isa == VectorIsa::Avx2 ? chunksAvx2 : chunksGeneric;
  const int64_t chunk = chunkTiles(s, threads), total = Tiles(s).total;
  parallelRanges(threads, (total + chunk - 1) / chunk, [&](int64_t begin, int64_t end) {
    chunks(s, x, packed, oihw, bias, y, chunk, begin, end);
  });
}

} // namespace dlrt::native
