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

/// dlrt_k_pool2d_f32's geometry words as the training form's two passes read them, with
/// where a vector of N channels lies in the input and the output.
template <int N> struct PoolShape {
  int64_t c, h, w, oh, ow, kh, kw, sh, sw, pt, pl;
  Layout<N> in, out;
  explicit PoolShape(const int64_t *g)
      : c(g[1]), h(g[2]), w(g[3]), oh(g[4]), ow(g[5]), kh(g[6]), kw(g[7]), sh(g[8]), sw(g[9]), pt(g[10]),
        pl(g[11]), in(dlrt_layout_block(g[15]) != 0, c, h, w), out(dlrt_layout_block(g[15]) != 0, c, oh, ow) {}
};

/// The training form's output rows [begin, end) (b * OH + r) in vectors of N channels:
/// each window's maximum as CompareMax keeps it (a greater element or a NaN takes its
/// place: the first maximum, the last NaN), and its position beside it. Normalised: each
/// element read as `input` says (the batch norm's result), decided once per call rather
/// than tested for every element of every window.
template <int N, bool Normalised>
DLRT_VINLINE void poolRowsRecording(const int64_t *g, const float *x, float *y, uint8_t *where, int64_t begin,
                                    int64_t end, const PoolInput &input) {
  using F = typename Lanes<N>::F;
  using I = typename Lanes<N>::I;
  typedef uint8_t Bytes __attribute__((vector_size(N)));
  const PoolShape<N> p(g);
  // Channels-last data: a pixel's blocks innermost, so that the windows read whole pixels
  // (consecutive lines) rather than one line of each, a pixel apart, block by block
  // (ResNet-18's stem at batch 16, 64 channels, one Sapphire Rapids core: 10.7 -> 6.1 ms).
  const bool pixelsOuter = p.in.block == N;
  const int64_t blocks = p.c / N;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / p.oh, r = row % p.oh, top = r * p.sh - p.pt;
    const int64_t i0 = std::max<int64_t>(0, top), i1 = std::min<int64_t>(p.h, top + p.kh);
    for (int64_t step = 0; step < blocks * p.ow; ++step) {
      const int64_t cb = pixelsOuter ? step % blocks : step / p.ow, q = pixelsOuter ? step / blocks : step % p.ow;
      const float *image = x + b * p.in.image + cb * p.in.block;
      const int64_t at = b * p.out.image + cb * p.out.block + r * p.out.row;
      const int64_t left = q * p.sw - p.pl;
      const int64_t j0 = std::max<int64_t>(0, left), j1 = std::min<int64_t>(p.w, left + p.kw);
      F max = splatLanes<F>(-std::numeric_limits<float>::infinity());
      I position = I{} + int32_t((i0 - top) * p.kw + (j0 - left));
      F mean{}, scale{}, beta{};
      if constexpr (Normalised) {
        mean = loadLanes<F>(input.mean + cb * N);
        scale = loadLanes<F>(input.scale + cb * N);
        beta = loadLanes<F>(input.beta + cb * N);
      }
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t j = j0; j < j1; ++j) {
          F v = loadLanes<F>(image + i * p.in.row + j * p.in.column);
          if constexpr (Normalised) v = (v - mean) * scale + beta; // as batchNormTraining's Normalise
          const auto takes = (v > max) | (v != v);
          max = takes ? v : max;
          position = takes ? I{} + int32_t((i - top) * p.kw + (j - left)) : position;
        }
      storeLanes(y + at + q * p.out.column, max);
      const Bytes bytes = __builtin_convertvector(position, Bytes);
      std::memcpy(where + at + q * p.out.column, &bytes, N);
    }
  }
}

/// The backward's input rows [begin, end) (b * H + i) in vectors of N channels: each
/// element of dx the sum of the gradients of the windows that hold it whose maximum it
/// was, in the order of the outputs; every element written once (with overlapping
/// windows, ResNet-18's 3x3 of stride 2, zeroing dx and adding each output's gradient at
/// its maximum moved each element through the cache up to five times: 19.6 ms at batch 16
/// on one Intel Sapphire Rapids core against oneDNN's 16.1).
template <int N>
DLRT_VINLINE void backwardRows(const int64_t *g, const float *dy, const uint8_t *where, float *dx, int64_t begin,
                               int64_t end) {
  using F = typename Lanes<N>::F;
  using I = typename Lanes<N>::I;
  typedef uint8_t Bytes __attribute__((vector_size(N)));
  const PoolShape<N> p(g);
  // The outputs whose windows hold input index `at` along a side: o * stride - pad <= at <
  // o * stride - pad + size, within [0, outputs).
  auto windowsOf = [](int64_t at, int64_t stride, int64_t pad, int64_t size, int64_t outputs, int64_t &o0,
                      int64_t &o1) {
    const int64_t low = at + pad - size + 1;
    o0 = std::max<int64_t>(0, low <= 0 ? 0 : (low + stride - 1) / stride);
    o1 = std::min<int64_t>(outputs, (at + pad) / stride + 1);
  };
  // Channels-last data: a pixel's blocks innermost, as in poolRowsRecording (the stem's
  // gradient: 9.2 -> 7.7 ms).
  const bool pixelsOuter = p.in.block == N;
  const int64_t blocks = p.c / N;
  for (int64_t row = begin; row < end; ++row) {
    const int64_t b = row / p.h, i = row % p.h;
    int64_t r0, r1;
    windowsOf(i, p.sh, p.pt, p.kh, p.oh, r0, r1);
    for (int64_t step = 0; step < blocks * p.w; ++step) {
      const int64_t cb = pixelsOuter ? step % blocks : step / p.w, j = pixelsOuter ? step / blocks : step % p.w;
      float *d = dx + b * p.in.image + cb * p.in.block + i * p.in.row;
      const int64_t image = b * p.out.image + cb * p.out.block;
      int64_t q0, q1;
      windowsOf(j, p.sw, p.pl, p.kw, p.ow, q0, q1);
      F sum{};
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t at = image + r * p.out.row + q * p.out.column;
          Bytes bytes;
          std::memcpy(&bytes, where + at, N);
          const I position = __builtin_convertvector(bytes, I);
          const int32_t mine = int32_t((i - (r * p.sh - p.pt)) * p.kw + (j - (q * p.sw - p.pl)));
          sum += position == mine ? loadLanes<F>(dy + at) : F{};
        }
      storeLanes(d + j * p.in.column, sum);
    }
  }
}

/// The training passes in vectors of the layout's block, or of 16 channels on NHWC.
DLRT_VINLINE void recordRowsOf(const int64_t *g, const float *x, float *y, uint8_t *where, int64_t b, int64_t e,
                               const PoolInput &input) {
  const bool block8 = dlrt_layout_block(g[15]) == 8;
  if (input.mean) {
    if (block8) poolRowsRecording<8, true>(g, x, y, where, b, e, input);
    else poolRowsRecording<16, true>(g, x, y, where, b, e, input);
  } else if (block8) {
    poolRowsRecording<8, false>(g, x, y, where, b, e, input);
  } else {
    poolRowsRecording<16, false>(g, x, y, where, b, e, input);
  }
}
DLRT_VINLINE void backwardRowsOf(const int64_t *g, const float *dy, const uint8_t *where, float *dx, int64_t b,
                                 int64_t e) {
  if (dlrt_layout_block(g[15]) == 8) backwardRows<8>(g, dy, where, dx, b, e);
  else backwardRows<16>(g, dy, where, dx, b, e);
}

DLRT_TARGET_AVX512 void recordAvx512(const int64_t *g, const float *x, float *y, uint8_t *where, int64_t b,
                                     int64_t e, const PoolInput &input) {
  recordRowsOf(g, x, y, where, b, e, input);
}
DLRT_TARGET_AVX2 void recordAvx2(const int64_t *g, const float *x, float *y, uint8_t *where, int64_t b, int64_t e,
                                 const PoolInput &input) {
  recordRowsOf(g, x, y, where, b, e, input);
}
void recordGeneric(const int64_t *g, const float *x, float *y, uint8_t *where, int64_t b, int64_t e,
                   const PoolInput &input) {
  recordRowsOf(g, x, y, where, b, e, input);
}
DLRT_TARGET_AVX512 void routeAvx512(const int64_t *g, const float *dy, const uint8_t *where, float *dx, int64_t b,
                                    int64_t e) {
  backwardRowsOf(g, dy, where, dx, b, e);
}
DLRT_TARGET_AVX2 void routeAvx2(const int64_t *g, const float *dy, const uint8_t *where, float *dx, int64_t b,
                                int64_t e) {
  backwardRowsOf(g, dy, where, dx, b, e);
}
void routeGeneric(const int64_t *g, const float *dy, const uint8_t *where, float *dx, int64_t b, int64_t e) {
  backwardRowsOf(g, dy, where, dx, b, e);
}

} // namespace

void maxPoolTraining(int threads, const int64_t *g, const float *x, float *y, uint8_t *where, VectorIsa isa,
                     const PoolInput &input) {
  auto record = isa == VectorIsa::Avx512 ? recordAvx512 : isa == VectorIsa::Avx2 ? recordAvx2 : recordGeneric;
  parallelRanges(threads, g[0] * g[4],
                 [&](int64_t begin, int64_t end) { record(g, x, y, where, begin, end, input); });
}

void maxPoolBackward(int threads, const int64_t *g, const float *dy, const uint8_t *where, float *dx,
                     VectorIsa isa) {
  auto route = isa == VectorIsa::Avx512 ? routeAvx512 : isa == VectorIsa::Avx2 ? routeAvx2 : routeGeneric;
  parallelRanges(threads, g[0] * g[2], [&](int64_t begin, int64_t end) { route(g, dy, where, dx, begin, end); });
}

void maxPool(int threads, const int64_t *g, const float *x, float *y, VectorIsa isa) {
  auto pool = isa == VectorIsa::Avx512 ? poolAvx512 : isa == VectorIsa::Avx2 ? poolAvx2 : poolGeneric;
  parallelRanges(threads, g[0] * g[4], [&](int64_t begin, int64_t end) { pool(g, x, y, begin, end); });
}

} // namespace dlrt::native
