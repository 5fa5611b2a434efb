//===- Softmax.cpp - softmax along any axis, written here ------------------===//
#include "native/Softmax.h"

#include "Threads.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

namespace dlrt::native {
namespace {

/// exp(d), exactly 0 below vexp's range (where vexp gives its floor, 1.2e-38), as torch
/// gives for a -inf (a causal mask's) element. NaN compares false and stays NaN.
DLRT_VINLINE vf expOrZero(vf d) { return vexpOrZero(d); }
DLRT_VINLINE float expOrZero(float d) { return d < kExpLowest ? 0.0f : std::exp(d); }

struct Problem {
  int64_t cols;
  const float *x, *dy; // dy: the gradient's
  float *y;
  bool log;
};

/// Rows [begin, end): the maximum (NaN skipped: it reaches the sum through its own
/// exponential), exp(x - max) and their sum, then the scaling.
DLRT_VINLINE void forwardRows(const Problem &p, int64_t begin, int64_t end) {
  const int64_t cols = p.cols, vectorEnd = cols / kLanes * kLanes;
  for (int64_t r = begin; r < end; ++r) {
    const float *x = p.x + r * cols;
    float *y = p.y + r * cols;
    vf mv = splat(-std::numeric_limits<float>::infinity());
    for (int64_t c = 0; c < vectorEnd; c += kLanes) {
      vf v = load(x + c);
      mv = v > mv ? v : mv;
    }
    float max = lanesMax(mv);
    for (int64_t c = vectorEnd; c < cols; ++c) max = x[c] > max ? x[c] : max;
    const vf m = splat(max);
    vf sum[2] = {};
    int64_t c = 0;
    for (; c + 2 * kLanes <= cols; c += 2 * kLanes)
      for (int j = 0; j < 2; ++j) {
        vf e = expOrZero(load(x + c + j * kLanes) - m);
        if (!p.log) store(y + c + j * kLanes, e);
        sum[j] += e;
      }
    for (; c < vectorEnd; c += kLanes) {
      vf e = expOrZero(load(x + c) - m);
      if (!p.log) store(y + c, e);
      sum[0] += e;
    }
    float total = lanesSum(sum[0] + sum[1]);
    for (; c < cols; ++c) {
      float e = expOrZero(x[c] - max);
      if (!p.log) y[c] = e;
      total += e;
    }
    if (p.log) {
      // (x - max) - log(total), as torch: x - (max + log(total)) rounds max + log(total) at
      // max's magnitude first (at 3.2e7, where floats are 2 apart, log(3) = 1.0986 became 2).
      const float lse = std::log(total);
      const vf s = splat(lse);
      for (c = 0; c < vectorEnd; c += kLanes) store(y + c, (load(x + c) - m) - s);
      for (; c < cols; ++c) y[c] = (x[c] - max) - lse;
    } else {
      // One division a row, then products (a vector division costs several products).
      const float scale = 1.0f / total;
      const vf s = splat(scale);
      for (c = 0; c < vectorEnd; c += kLanes) store(y + c, load(y + c) * s);
      for (; c < cols; ++c) y[c] *= scale;
    }
  }
}

/// Rows [begin, end) of the gradient: the row's sum (of dy y, or of dy for log_softmax),
/// then dx. `y` is the forward's output, read through p.x; dx is written to p.y.
DLRT_VINLINE void backwardRows(const Problem &p, int64_t begin, int64_t end) {
  const int64_t cols = p.cols, vectorEnd = cols / kLanes * kLanes;
  for (int64_t r = begin; r < end; ++r) {
    const float *y = p.x + r * cols, *dy = p.dy + r * cols;
    float *dx = p.y + r * cols;
    vf sum[2] = {};
    int64_t c = 0;
    for (; c + 2 * kLanes <= cols; c += 2 * kLanes)
      for (int j = 0; j < 2; ++j) {
        vf g = load(dy + c + j * kLanes);
        sum[j] += p.log ? g : g * load(y + c + j * kLanes);
      }
    for (; c < vectorEnd; c += kLanes) {
      vf g = load(dy + c);
      sum[0] += p.log ? g : g * load(y + c);
    }
    float total = lanesSum(sum[0] + sum[1]);
    for (; c < cols; ++c) total += p.log ? dy[c] : dy[c] * y[c];
    const vf s = splat(total);
    if (p.log) {
      for (c = 0; c < vectorEnd; c += kLanes) store(dx + c, load(dy + c) - expOrZero(load(y + c)) * s);
      for (; c < cols; ++c) dx[c] = dy[c] - expOrZero(y[c]) * total;
    } else {
      for (c = 0; c < vectorEnd; c += kLanes) store(dx + c, load(y + c) * (load(dy + c) - s));
      for (; c < cols; ++c) dx[c] = y[c] * (dy[c] - total);
    }
  }
}

/// Along an axis whose elements are `inner` apart: V (a vector, or a float for the last
/// few) adjacent columns at once, each column as forwardRows does a row. `x` and `y` point at
/// the columns' first elements.
template <class V> DLRT_VINLINE void forwardColumns(const Problem &p, int64_t inner, const float *x, float *y) {
  const int64_t n = p.cols;
  V m = splatLanes<V>(-std::numeric_limits<float>::infinity());
  for (int64_t a = 0; a < n; ++a) {
    V v = loadLanes<V>(x + a * inner);
    m = v > m ? v : m;
  }
  V sum{};
  for (int64_t a = 0; a < n; ++a) {
    V e = expOrZero(loadLanes<V>(x + a * inner) - m);
    if (!p.log) storeLanes(y + a * inner, e);
    sum += e;
  }
  if (p.log) {
    V lse; // (x - max) - log(sum), as forwardRows
    if constexpr (std::is_same_v<V, float>) lse = std::log(sum);
    else
      for (int l = 0; l < kLanesOf<V>; ++l) lse[l] = std::log(sum[l]);
    for (int64_t a = 0; a < n; ++a) storeLanes(y + a * inner, (loadLanes<V>(x + a * inner) - m) - lse);
  } else {
    const V scale = splatLanes<V>(1.0f) / sum;
    for (int64_t a = 0; a < n; ++a) storeLanes(y + a * inner, loadLanes<V>(y + a * inner) * scale);
  }
}

/// The gradient along an axis whose elements are `inner` apart, V columns at once, as
/// backwardRows: `y` the forward's output.
template <class V>
DLRT_VINLINE void backwardColumns(const Problem &p, int64_t inner, const float *y, const float *dy, float *dx) {
  const int64_t n = p.cols;
  V sum{};
  for (int64_t a = 0; a < n; ++a) {
    V g = loadLanes<V>(dy + a * inner);
    sum += p.log ? g : g * loadLanes<V>(y + a * inner);
  }
  for (int64_t a = 0; a < n; ++a) {
    V g = loadLanes<V>(dy + a * inner), v = loadLanes<V>(y + a * inner);
    storeLanes(dx + a * inner, p.log ? g - expOrZero(v) * sum : v * (g - sum));
  }
}

/// Groups [begin, end) of columns: group q is outer index q / blocks, columns
/// [(q % blocks) * kLanes, + kLanes) of it (fewer in the last block, one at a time).
template <bool Forward> DLRT_VINLINE void columnGroups(const Problem &p, int64_t inner, int64_t begin, int64_t end) {
  const int64_t blocks = (inner + kLanes - 1) / kLanes;
  for (int64_t q = begin; q < end; ++q) {
    const int64_t first = (q / blocks) * p.cols * inner, i0 = (q % blocks) * kLanes;
    const int64_t i1 = std::min(inner, i0 + kLanes);
    if (i1 - i0 == kLanes) {
      if constexpr (Forward) forwardColumns<vf>(p, inner, p.x + first + i0, p.y + first + i0);
      else backwardColumns<vf>(p, inner, p.x + first + i0, p.dy + first + i0, p.y + first + i0);
      continue;
    }
    for (int64_t i = i0; i < i1; ++i) {
      if constexpr (Forward) forwardColumns<float>(p, inner, p.x + first + i, p.y + first + i);
      else backwardColumns<float>(p, inner, p.x + first + i, p.dy + first + i, p.y + first + i);
    }
  }
}

/// Rows [begin, end) where inner == 1, groups of columns otherwise.
template <bool Forward> DLRT_VINLINE void parts(const Problem &p, int64_t inner, int64_t begin, int64_t end) {
  if (inner == 1) {
    if constexpr (Forward) forwardRows(p, begin, end);
    else backwardRows(p, begin, end);
  } else {
    columnGroups<Forward>(p, inner, begin, end);
  }
}

// One build per ISA.
DLRT_TARGET_AVX512 void forwardAvx512(const Problem &p, int64_t inner, int64_t begin, int64_t end) {
  parts<true>(p, inner, begin, end);
}
DLRT_TARGET_AVX2 void forwardAvx2(const Problem &p, int64_t inner, int64_t begin, int64_t end) {
  parts<true>(p, inner, begin, end);
}
void forwardGeneric(const Problem &p, int64_t inner, int64_t begin, int64_t end) { parts<true>(p, inner, begin, end); }
DLRT_TARGET_AVX512 void backwardAvx512(const Problem &p, int64_t inner, int64_t begin, int64_t end) {
  parts<false>(p, inner, begin, end);
}
DLRT_TARGET_AVX2 void backwardAvx2(const Problem &p, int64_t inner, int64_t begin, int64_t end) {
  parts<false>(p, inner, begin, end);
}
void backwardGeneric(const Problem &p, int64_t inner, int64_t begin, int64_t end) {
  parts<false>(p, inner, begin, end);
}

/// The units a call is split into over the threads: rows, or groups of columns.
int64_t units(int64_t outer, int64_t inner) { return inner == 1 ? outer : outer * ((inner + kLanes - 1) / kLanes); }

} // namespace

void softmaxAxis(int threads, int64_t outer, int64_t cols, int64_t inner, const float *x, float *y, bool log,
                 VectorIsa isa) {
  if (outer <= 0 || cols <= 0 || inner <= 0) return;
  auto run = isa == VectorIsa::Avx512 ? forwardAvx512 : isa == VectorIsa::Avx2 ? forwardAvx2 : forwardGeneric;
  Problem p{cols, x, nullptr, y, log};
  parallelRanges(threads, units(outer, inner), [&](int64_t begin, int64_t end) { run(p, inner, begin, end); });
}

void softmaxAxisBackward(int threads, int64_t outer, int64_t cols, int64_t inner, const float *y, const float *dy,
                         float *dx, bool log, VectorIsa isa) {
  if (outer <= 0 || cols <= 0 || inner <= 0) return;
  auto run = isa == VectorIsa::Avx512 ? backwardAvx512 : isa == VectorIsa::Avx2 ? backwardAvx2 : backwardGeneric;
  Problem p{cols, y, dy, dx, log};
  parallelRanges(threads, units(outer, inner), [&](int64_t begin, int64_t end) { run(p, inner, begin, end); });
}

} // namespace dlrt::native
