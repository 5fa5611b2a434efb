//===- ConvPool.cpp - a first convolution and its max pooling, one pass ---===//
#include "native/ConvPool.h"
#include "native/OuterProduct.h"
#include "native/WindowMax.h"

#include "Threads.h"
#include "dlrt/model_abi.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

namespace dlrt::native {

ConvPoolShape::ConvPoolShape(const int64_t *g, const int64_t *p)
    : n(g[0]), c(g[1]), h(g[2]), w(g[3]), oc(g[4]), kh(g[5]), kw(g[6]), oh(g[7]), ow(g[8]), sh(g[9]), sw(g[10]),
      pt(g[11]), pl(g[12]), dh(g[15]), dw(g[16]), poh(p[4]), pow(p[5]), pkh(p[6]), pkw(p[7]), psh(p[8]),
      psw(p[9]), ppt(p[10]), ppl(p[11]), nhwcInput(g[19] == DLRT_LAYOUT_NHWC), relu(p[16] == DLRT_ACTIVATION_RELU),
      outLayout(p[15]) {}

bool convMaxPoolSupports(const ConvPoolShape &s) {
  int64_t block = dlrt_layout_block(s.outLayout);
  return s.oc > 0 && s.oc % 8 == 0 && (block == 0 ? s.outLayout == DLRT_LAYOUT_NHWC : s.oc % block == 0);
}

void packConvPoolWeights(const ConvPoolShape &s, const float *oihw, float *packed) {
  for (int64_t o = 0; o < s.oc; ++o)
    for (int64_t ch = 0; ch < s.c; ++ch)
      for (int64_t i = 0; i < s.kh; ++i)
        for (int64_t j = 0; j < s.kw; ++j)
          packed[((i * s.kw + j) * s.c + ch) * s.oc + o] = oihw[((o * s.c + ch) * s.kh + i) * s.kw + j];
}

namespace {

/// The rows of one image that a thread's share reads, zero-padded, as planes of
/// stride phases: channel c's padded row k, column j is at
/// ((c * count + k) * SW + j % SW) * phaseLength + j / SW. Output pixel q's input column
/// for tap kj is q * SW + kj * DW, so the P pixels of a pass read one tap's P values side
/// by side (at a constant offset from one pointer, whatever the stride), and each tap is an
/// offset from the row's start computed once (`taps`).
struct PaddedRows {
  int64_t first, count, phaseLength, rowFloats, planeFloats; // rows in padded coordinates: input row + PT
  AlignedFloats data;
  std::vector<int64_t> taps; // per (KI, KJ, C), as the packed weights: its value's offset
  PaddedRows(const ConvPoolShape &s, int64_t convFirst, int64_t convEnd)
      : first(convFirst * s.sh), count((convEnd - 1) * s.sh + (s.kh - 1) * s.dh + 1 - first),
        phaseLength(((s.ow - 1) * s.sw + (s.kw - 1) * s.dw + 1 + s.sw - 1) / s.sw), rowFloats(s.sw * phaseLength),
        planeFloats(count * rowFloats), data(s.c * planeFloats) {
    for (int64_t i = 0; i < s.kh; ++i)
      for (int64_t j = 0; j < s.kw; ++j)
        for (int64_t ch = 0; ch < s.c; ++ch)
          taps.push_back(ch * planeFloats + i * s.dh * rowFloats + (j * s.dw) % s.sw * phaseLength + j * s.dw / s.sw);
  }
  /// Writes image b's rows and the zeros around them, every float once (zeroing the whole
  /// buffer first cost ResNet-18's stem at batch 1 0.04 ms of 1.3).
  void fill(const ConvPoolShape &s, const float *x, int64_t b) {
    const int64_t step = s.nhwcInput ? s.c : 1;
    auto ceilDiv = [](int64_t a, int64_t d) { return a <= 0 ? 0 : (a + d - 1) / d; };
    for (int64_t ch = 0; ch < s.c; ++ch)
      for (int64_t k = 0; k < count; ++k) {
        float *dst = data.data() + ch * planeFloats + k * rowFloats;
        int64_t r = first + k - s.pt;
        if (r < 0 || r >= s.h) {
          std::fill(dst, dst + rowFloats, 0.0f);
          continue;
        }
        const float *src = s.nhwcInput ? x + ((b * s.h + r) * s.w) * s.c + ch : x + ((b * s.c + ch) * s.h + r) * s.w;
        // Phase by phase: padded column j = phase + SW e holds input column j - PL where
        // that lies in [0, W), zero elsewhere.
        for (int64_t phase = 0; phase < s.sw; ++phase) {
          float *to = dst + phase * phaseLength;
          int64_t begin = std::min(phaseLength, ceilDiv(s.pl - phase, s.sw));
          int64_t end = std::max(begin, std::min(phaseLength, ceilDiv(s.w + s.pl - phase, s.sw)));
          std::fill(to, to + begin, 0.0f);
          const float *from = src + (phase + begin * s.sw - s.pl) * step;
          if (s.sw == 1 && step == 1)
            std::memcpy(to + begin, from, size_t(end - begin) * sizeof(float));
          else
            for (int64_t e = begin; e < end; ++e) to[e] = from[(e - begin) * s.sw * step];
          std::fill(to + end, to + phaseLength, 0.0f);
        }
      }
  }
  /// Where convolution row i's first pixel's taps are offset from.
  const float *row(const ConvPoolShape &s, int64_t i) const { return data.data() + (i * s.sh - first) * rowFloats; }
};

/// Output pixels [q, q + P) of a convolution row, channels [o0, o0 + V * N), into `out`
/// ([OW][OC]).
template <int N, int V, int P>
DLRT_VINLINE void convPixels(const ConvPoolShape &s, const PaddedRows &rows, const float *in, const float *wp,
                             int64_t q, int64_t o0, float *out) {
  typename Lanes<N>::F acc[1][P][V];
  const float *left = in + q;
  outerProductSums<N, V, P, 1>(&left, rows.taps.data(), int64_t(rows.taps.size()), wp + o0, s.oc, acc);
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < V; ++v) storeLanes(out + (q + p) * s.oc + o0 + v * N, acc[0][p][v]);
}

/// Convolution row i, every pixel and channel, into `out`: blocks of P pixels, then of 4,
/// then single pixels.
template <int N, int V, int P>
DLRT_VINLINE void convRow(const ConvPoolShape &s, const PaddedRows &rows, const float *wp, int64_t i, float *out) {
  const float *in = rows.row(s, i);
  for (int64_t o0 = 0; o0 < s.oc; o0 += V * N) {
    int64_t q = 0;
    for (; q + P <= s.ow; q += P) convPixels<N, V, P>(s, rows, in, wp, q, o0, out);
    if constexpr (P > 4)
      for (; q + 4 <= s.ow; q += 4) convPixels<N, V, 4>(s, rows, in, wp, q, o0, out);
    for (; q < s.ow; ++q) convPixels<N, V, 1>(s, rows, in, wp, q, o0, out);
  }
}

/// Pooled row r of image b out of the convolution rows `window` points to, plus bias,
/// relu'd where Relu, in vectors of N channels. As native/MaxPool, kColumns windows side
/// by side where they lie inside the row (each window's maximum is a dependent chain).
template <template <int> class MaxOf, int N, bool Relu>
DLRT_VINLINE void poolRow(const ConvPoolShape &s, const float *const *window, int64_t rows, const float *bias,
                          float *y, int64_t b, int64_t r) {
  using F = typename Lanes<N>::F;
  constexpr int kColumns = 4;
  const Layout<N> out(dlrt_layout_block(s.outLayout) != 0, s.oc, s.poh, s.pow);
  const int64_t oc = s.oc, kw = s.pkw, sw = s.psw;
  auto finish = [&](const MaxOf<N> &m, F shift) {
    F v = m.result() + shift;
    return Relu ? reluKeepingNaN(v) : v;
  };
  for (int64_t ov = 0; ov < oc / N; ++ov) {
    const F shift = bias ? loadLanes<F>(bias + ov * N) : F{};
    float *dst = y + b * out.image + ov * out.block + r * out.row;
    for (int64_t pq = 0; pq < s.pow;) {
      int64_t left = pq * sw - s.ppl;
      if (pq + kColumns <= s.pow && left >= 0 && left + (kColumns - 1) * sw + kw <= s.ow) {
        MaxOf<N> m[kColumns];
        for (int k = 0; k < kColumns; ++k) m[k].start();
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            const float *at = window[i] + (left + j) * oc + ov * N;
            for (int k = 0; k < kColumns; ++k) m[k].add(loadLanes<F>(at + k * sw * oc));
          }
        for (int k = 0; k < kColumns; ++k) storeLanes(dst + (pq + k) * out.column, finish(m[k], shift));
        pq += kColumns;
        continue;
      }
      int64_t j0 = std::max<int64_t>(0, left), j1 = std::min(s.ow, left + kw);
      MaxOf<N> m;
      m.start();
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = j0; j < j1; ++j) m.add(loadLanes<F>(window[i] + j * oc + ov * N));
      storeLanes(dst + pq * out.column, finish(m, shift));
      ++pq;
    }
  }
}

/// poolRow in vectors of the output's blocks, or of the convolution's N on NHWC.
template <template <int> class MaxOf, int N>
DLRT_VINLINE void poolRowOf(const ConvPoolShape &s, const float *const *window, int64_t rows, const float *bias,
                            float *y, int64_t b, int64_t r) {
  const int64_t block = dlrt_layout_block(s.outLayout);
  if (block == 8 || (block == 0 && N == 8)) {
    if (s.relu) poolRow<MaxOf, 8, true>(s, window, rows, bias, y, b, r);
    else poolRow<MaxOf, 8, false>(s, window, rows, bias, y, b, r);
  } else {
    if (s.relu) poolRow<MaxOf, 16, true>(s, window, rows, bias, y, b, r);
    else poolRow<MaxOf, 16, false>(s, window, rows, bias, y, b, r);
  }
}

/// Pooled rows [begin, end) of all images (row index b * POH + r): each image's input
/// rows padded once, each convolution row computed once into the ring (a window's rows
/// are at most PKH consecutive ones, so their ring rows differ) and pooled from there.
template <int N, int V, int P, template <int> class MaxOf>
DLRT_VINLINE void pooledRows(const ConvPoolShape &s, const float *x, const float *wp, const float *bias, float *y,
                             int64_t begin, int64_t end) {
  const int64_t firstImage = begin / s.poh, lastImage = (end - 1) / s.poh;
  // The convolution rows the share needs: all of them where it spans images.
  int64_t convFirst = 0, convEnd = s.oh;
  if (firstImage == lastImage) {
    convFirst = std::max<int64_t>(0, (begin % s.poh) * s.psh - s.ppt);
    convEnd = std::min(s.oh, ((end - 1) % s.poh) * s.psh - s.ppt + s.pkh);
  }
  PaddedRows in(s, convFirst, convEnd);
  const int64_t rowFloats = s.ow * s.oc;
  AlignedFloats ring(s.pkh * rowFloats);
  std::vector<const float *> window(size_t(s.pkh));
  int64_t image = -1, lo = 0, hi = 0; // ring holds convolution rows [lo, hi) of `image`
  for (int64_t row = begin; row < end; ++row) {
    int64_t b = row / s.poh, r = row % s.poh;
    int64_t i0 = std::max<int64_t>(0, r * s.psh - s.ppt), i1 = std::min(s.oh, r * s.psh - s.ppt + s.pkh);
    if (b != image) {
      in.fill(s, x, b);
      image = b;
      lo = hi = i0;
    }
    lo = std::max(lo, i0);
    hi = std::max(hi, lo);
    for (; hi < i1; ++hi) convRow<N, V, P>(s, in, wp, hi, ring.data() + (hi % s.pkh) * rowFloats);
    for (int64_t i = i0; i < i1; ++i) window[size_t(i - i0)] = ring.data() + (i % s.pkh) * rowFloats;
    poolRowOf<MaxOf, N>(s, window.data(), i1 - i0, bias, y, b, r);
  }
}

/// Pooled pixels [q / 2, q / 2 + P / 2) of a 2x2, stride-2 pooling (the common one) from
/// convolution rows `in0` and `in1`, channels [o0, o0 + V * N): the two rows' P pixels
/// accumulate side by side (each tap's weights loaded once for 2 x P pixels) and are pooled
/// in registers, without the ring.
template <int N, int V, int P, bool Relu>
DLRT_VINLINE void convPool2x2Pixels(const ConvPoolShape &s, const PaddedRows &rows, const float *in0,
                                    const float *in1, const float *wp, const float *bias, int64_t q, int64_t o0,
                                    float *dst, const Layout<N> &out) {
  using F = typename Lanes<N>::F;
  static_assert(P % 2 == 0, "pixels in pairs");
  F acc[2][P][V];
  const float *left[2] = {in0 + q, in1 + q};
  outerProductSums<N, V, P, 2>(left, rows.taps.data(), int64_t(rows.taps.size()), wp + o0, s.oc, acc);
  for (int v = 0; v < V; ++v) {
    const F shift = bias ? loadLanes<F>(bias + o0 + v * N) : F{};
    float *to = dst + (o0 / N + v) * out.block + (q / 2) * out.column;
    for (int k = 0; k < P / 2; ++k) {
      F r = max4KeepingNaN(acc[0][2 * k][v], acc[0][2 * k + 1][v], acc[1][2 * k][v], acc[1][2 * k + 1][v]) + shift;
      storeLanes(to + k * out.column, Relu ? reluKeepingNaN(r) : r);
    }
  }
}

/// pooledRows for a 2x2, stride-2 pooling without padding: each pooled row from its two
/// convolution rows, blocks of P pixels, then 4, then 2 (a last odd column is not pooled).
template <int N, int V, int P, bool Relu>
DLRT_VINLINE void pooledRows2x2(const ConvPoolShape &s, const float *x, const float *wp, const float *bias, float *y,
                                int64_t begin, int64_t end) {
  const int64_t firstImage = begin / s.poh, lastImage = (end - 1) / s.poh;
  int64_t convFirst = 0, convEnd = s.oh;
  if (firstImage == lastImage) {
    convFirst = (begin % s.poh) * 2;
    convEnd = ((end - 1) % s.poh) * 2 + 2;
  }
  PaddedRows in(s, convFirst, convEnd);
  const Layout<N> out(dlrt_layout_block(s.outLayout) != 0, s.oc, s.poh, s.pow);
  const int64_t pixels = 2 * s.pow;
  int64_t image = -1;
  for (int64_t row = begin; row < end; ++row) {
    int64_t b = row / s.poh, r = row % s.poh;
    if (b != image) {
      in.fill(s, x, b);
      image = b;
    }
    const float *in0 = in.row(s, 2 * r), *in1 = in.row(s, 2 * r + 1);
    float *dst = y + b * out.image + r * out.row;
    for (int64_t o0 = 0; o0 < s.oc; o0 += V * N) {
      int64_t q = 0;
      for (; q + P <= pixels; q += P) convPool2x2Pixels<N, V, P, Relu>(s, in, in0, in1, wp, bias, q, o0, dst, out);
      if constexpr (P > 4)
        for (; q + 4 <= pixels; q += 4)
          convPool2x2Pixels<N, V, 4, Relu>(s, in, in0, in1, wp, bias, q, o0, dst, out);
      for (; q < pixels; q += 2) convPool2x2Pixels<N, V, 2, Relu>(s, in, in0, in1, wp, bias, q, o0, dst, out);
    }
  }
}


/// Whether the pooling is 2x2, stride 2, without padding (pooledRows2x2's).
bool pairsOfPairs(const ConvPoolShape &s) {
  return s.pkh == 2 && s.pkw == 2 && s.psh == 2 && s.psw == 2 && s.ppt == 0 && s.ppl == 0;
}

/// pooledRows2x2 with as many output-channel vectors per pass as divide OC (up to 4).
template <int N, Fit F, bool Relu>
DLRT_VINLINE void pairsOf(const ConvPoolShape &s, const float *x, const float *wp, const float *bias, float *y,
                          int64_t begin, int64_t end) {
  if constexpr (F.v4 > 0)
    if (s.oc % (4 * N) == 0) return pooledRows2x2<N, 4, F.v4, Relu>(s, x, wp, bias, y, begin, end);
  if (s.oc % (2 * N) == 0)
    pooledRows2x2<N, 2, F.v2, Relu>(s, x, wp, bias, y, begin, end);
  else
    pooledRows2x2<N, 1, F.v1, Relu>(s, x, wp, bias, y, begin, end);
}

/// The pass for `s` in vectors of N channels: pairs of pairs in registers (the output's
/// blocks must then be N wide), any other pooling through the ring.
template <int N, Fit Ring, Fit Pairs, template <int> class MaxOf>
DLRT_VINLINE void rowsOf(const ConvPoolShape &s, const float *x, const float *wp, const float *bias, float *y,
                         int64_t begin, int64_t end) {
  const int64_t block = dlrt_layout_block(s.outLayout);
  if (pairsOfPairs(s) && (block == 0 || block == N)) {
    if (s.relu) pairsOf<N, Pairs, true>(s, x, wp, bias, y, begin, end);
    else pairsOf<N, Pairs, false>(s, x, wp, bias, y, begin, end);
  } else if (s.oc % (4 * N) == 0 && Ring.v4 > 0) {
    if constexpr (Ring.v4 > 0) pooledRows<N, 4, Ring.v4, MaxOf>(s, x, wp, bias, y, begin, end);
  } else if (s.oc % (2 * N) == 0) {
    pooledRows<N, 2, Ring.v2, MaxOf>(s, x, wp, bias, y, begin, end);
  } else {
    pooledRows<N, 1, Ring.v1, MaxOf>(s, x, wp, bias, y, begin, end);
  }
}

// 32 registers. The ring: 24, 24 and 14 accumulators; pairs: 16, 24 and 24.
DLRT_TARGET_AVX512 void rowsAvx512(const ConvPoolShape &s, const float *x, const float *wp, const float *bias,
                                   float *y, int64_t begin, int64_t end) {
  if (s.oc % 16 == 0 && dlrt_layout_block(s.outLayout) != 8)
    rowsOf<16, Fit{6, 12, 14}, Fit{2, 6, 12}, WindowMax>(s, x, wp, bias, y, begin, end);
  else
    rowsOf<8, Fit{6, 12, 14}, Fit{2, 6, 12}, WindowMax>(s, x, wp, bias, y, begin, end);
}
// 16 registers. The ring: 12 and 12 accumulators; pairs: 8 and 12.
DLRT_TARGET_AVX2 void rowsAvx2(const ConvPoolShape &s, const float *x, const float *wp, const float *bias, float *y,
                               int64_t begin, int64_t end) {
  rowsOf<8, Fit{0, 6, 12}, Fit{0, 2, 6}, CompareMax>(s, x, wp, bias, y, begin, end);
}
void rowsGeneric(const ConvPoolShape &s, const float *x, const float *wp, const float *bias, float *y, int64_t begin,
                 int64_t end) {
  rowsOf<8, Fit{0, 6, 12}, Fit{0, 2, 6}, CompareMax>(s, x, wp, bias, y, begin, end);
}

} // namespace

void convMaxPool(int threads, const ConvPoolShape &s, const float *x, const float *packed, const float *bias,
                 float *y, VectorIsa isa) {
  auto rows = isa == VectorIsa::Avx512 ? rowsAvx512 : isa == VectorIsa::Avx2 ? rowsAvx2 : rowsGeneric;
  parallelRanges(threads, s.n * s.poh, [&](int64_t begin, int64_t end) { rows(s, x, packed, bias, y, begin, end); });
}

} // namespace dlrt::native
