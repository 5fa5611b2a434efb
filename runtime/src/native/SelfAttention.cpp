//===- SelfAttention.cpp - every head's attention as one kernel -----------===//
#include "native/SelfAttention.h"
#include "native/OuterProduct.h"

#include "Threads.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace dlrt::native {
namespace {

int64_t roundUp(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/// One (sample, head) problem's buffers, rows of whole vectors (L floats), zero-padded:
/// T x Tp for the weights, T x Dp for rows of q, k, v and their gradients, Dp x Tp for k
/// and v transposed.
struct Layout {
  int64_t t, tp, hd, dp;
  Layout(const AttentionShape &s, int lanes)
      : t(s.steps), tp(roundUp(s.steps, lanes)), hd(s.embed / s.heads), dp(roundUp(s.embed / s.heads, lanes)) {}
};

/// Each thread's buffers, grown as needed and kept: a train step calls the same sizes
/// again.
float *scratch(int64_t floats) {
  thread_local AlignedFloats buffer;
  buffer.resize(floats);
  return buffer.data();
}
const int64_t *ramp(int64_t count, int64_t step, int which) {
  thread_local std::vector<int64_t> ramps[2];
  auto &r = ramps[which];
  r.resize(size_t(count));
  for (int64_t i = 0; i < count; ++i) r[size_t(i)] = i * step;
  return r.data();
}

/// Rows [i, i + R) of c = a b over `steps` terms, `cols` columns (whole vectors):
/// c[i][x] = sum_t a[i * lda + t] b[t * ldb + x].
template <class F, int R, int V>
DLRT_VINLINE void rowBlock(const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc, int64_t i,
                           int64_t cols, int64_t steps, const int64_t *ramp1) {
  constexpr int L = kLanesOf<F>;
  const float *left[R];
  for (int r = 0; r < R; ++r) left[r] = a + (i + r) * lda;
  int64_t vectors = cols / L, v0 = 0;
  for (; v0 + V <= vectors; v0 += V) {
    F acc[R][1][V];
    outerProductSums<L, V, 1, R>(left, ramp1, steps, b + v0 * L, ldb, acc);
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) storeLanes(c + (i + r) * ldc + (v0 + v) * L, acc[r][0][v]);
  }
  // Two vectors at once where four do not fit (AVX-512's 32 columns of a head): R x 1
  // sums alone wait on the FMAs' latency.
  if constexpr (V > 2)
    for (; v0 + 2 <= vectors; v0 += 2) {
      F acc[R][1][2];
      outerProductSums<L, 2, 1, R>(left, ramp1, steps, b + v0 * L, ldb, acc);
      for (int r = 0; r < R; ++r)
        for (int v = 0; v < 2; ++v) storeLanes(c + (i + r) * ldc + (v0 + v) * L, acc[r][0][v]);
    }
  for (; v0 < vectors; ++v0) {
    F acc[R][1][1];
    outerProductSums<L, 1, 1, R>(left, ramp1, steps, b + v0 * L, ldb, acc);
    for (int r = 0; r < R; ++r) storeLanes(c + (i + r) * ldc + v0 * L, acc[r][0][0]);
  }
}

/// c = a b for `rows` rows, R at a time; the columns and terms a block of rows needs
/// (what a causal mask leaves) from its end row.
template <class F, int R, int V, class Cols, class Steps>
DLRT_VINLINE void rowProducts(const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                              int64_t rows, Cols colsFor, Steps stepsFor, const int64_t *ramp1) {
  int64_t i = 0;
  for (; i + R <= rows; i += R) rowBlock<F, R, V>(a, lda, b, ldb, c, ldc, i, colsFor(i + R), stepsFor(i + R), ramp1);
  for (; i < rows; ++i) rowBlock<F, 1, V>(a, lda, b, ldb, c, ldc, i, colsFor(i + 1), stepsFor(i + 1), ramp1);
}

/// Rows [j, j + P) of c = a^T b over terms [t0, t0 + steps): c[j][x] = sum_t a[t * lda + j]
/// b[t * ldb + x]; `strided` holds t * lda.
template <class F, int P, int V>
DLRT_VINLINE void columnBlock(const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                              int64_t j, int64_t cols, int64_t t0, int64_t steps, const int64_t *strided) {
  constexpr int L = kLanesOf<F>;
  const float *left[1] = {a + t0 * lda + j};
  const float *right = b + t0 * ldb;
  int64_t vectors = cols / L, v0 = 0;
  for (; v0 + V <= vectors; v0 += V) {
    F acc[1][P][V];
    outerProductSums<L, V, P, 1>(left, strided, steps, right + v0 * L, ldb, acc);
    for (int p = 0; p < P; ++p)
      for (int v = 0; v < V; ++v) storeLanes(c + (j + p) * ldc + (v0 + v) * L, acc[0][p][v]);
  }
  for (; v0 < vectors; ++v0) {
    F acc[1][P][1];
    outerProductSums<L, 1, P, 1>(left, strided, steps, right + v0 * L, ldb, acc);
    for (int p = 0; p < P; ++p) storeLanes(c + (j + p) * ldc + v0 * L, acc[0][p][0]);
  }
}

/// c = a^T b for `rows` rows of the result (columns of a), P at a time; with `skip` (a
/// causal mask, finite operands) the terms start at the block's first row (a's rows above
/// it are zero there).
template <class F, int P, int V>
DLRT_VINLINE void transposedProducts(const float *a, int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc,
                                     int64_t rows, int64_t cols, int64_t terms, bool skip, const int64_t *strided) {
  int64_t j = 0;
  for (; j + P <= rows; j += P) {
    int64_t t0 = skip ? j : 0;
    columnBlock<F, P, V>(a, lda, b, ldb, c, ldc, j, cols, t0, terms - t0, strided);
  }
  for (; j < rows; ++j) {
    int64_t t0 = skip ? j : 0;
    columnBlock<F, 1, V>(a, lda, b, ldb, c, ldc, j, cols, t0, terms - t0, strided);
  }
}

/// Whether n floats (a multiple of the lanes) are all finite: x * 0 is NaN for an infinity
/// or NaN and 0 otherwise. Four sums side by side: one waited on the latency of each add
/// (the four checks of a backward problem took a twentieth of its time).
template <class F> DLRT_VINLINE bool allFinite(const float *x, int64_t n) {
  constexpr int L = kLanesOf<F>;
  const F zero = splatLanes<F>(0.0f);
  F acc[4] = {};
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L)
    for (int j = 0; j < 4; ++j) acc[j] += loadLanes<F>(x + i + j * L) * zero;
  for (; i < n; i += L) acc[0] += loadLanes<F>(x + i) * zero;
  F sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (int q = 0; q < L; ++q)
    if (sum[q] != 0.0f) return false;
  return true;
}

/// Row i's keys: all T, or 0..i under the causal mask.
DLRT_VINLINE int64_t keysOf(const Layout &l, bool causal, int64_t i) { return causal ? i + 1 : l.t; }

/// s (T x Tp, scores) -> the attention weights, row by row: softmax over the row's keys,
/// zeros after them (to the end of the padded row, so that products over whole vectors
/// and over a block's terms see none). A NaN score makes its row NaN, as in torch.
template <class F> DLRT_VINLINE void softmaxRows(const Layout &l, bool causal, float *s) {
  constexpr int L = kLanesOf<F>;
  using I = IntsOf<F>;
  I lane;
  for (int q = 0; q < L; ++q) lane[q] = q;
  const F lowest = splatLanes<F>(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < l.t; ++i) {
    float *row = s + i * l.tp;
    int64_t n = keysOf(l, causal, i), vectors = (n + L - 1) / L, last = vectors - 1;
    // The lanes of the last vector that hold keys.
    auto keys = lane < I{} + int32_t(n - last * L);
    F mv = lowest;
    for (int64_t v = 0; v < last; ++v) {
      F x = loadLanes<F>(row + v * L);
      mv = x > mv ? x : mv;
    }
    F tail = loadLanes<F>(row + last * L);
    tail = keys ? tail : lowest;
    mv = tail > mv ? tail : mv;
    const F m = splatLanes<F>(lanesMax(mv));
    F sum{};
    for (int64_t v = 0; v < last; ++v) {
      F e = vexpOrZero(loadLanes<F>(row + v * L) - m);
      sum += e;
      storeLanes(row + v * L, e);
    }
    F e = vexpOrZero(tail - m); // a -inf score's weight is 0, as torch's (0 times an infinity in v is NaN)
    e = keys ? e : F{};
    sum += e;
    storeLanes(row + last * L, e);
    F scale = splatLanes<F>(1.0f / lanesSum(sum));
    for (int64_t v = 0; v < vectors; ++v) storeLanes(row + v * L, loadLanes<F>(row + v * L) * scale);
    std::fill(row + vectors * L, row + l.tp, 0.0f);
  }
}

/// Zeros where a Dp x Tp panel (k or v transposed) pads the head's T x head_dim values:
/// the columns past T and the rows past head_dim (none where both are whole vectors).
DLRT_VINLINE void zeroPadding(const Layout &l, float *panel) {
  if (l.t < l.tp)
    for (int64_t d = 0; d < l.hd; ++d) std::fill(panel + d * l.tp + l.t, panel + (d + 1) * l.tp, 0.0f);
  std::fill(panel + l.hd * l.tp, panel + l.dp * l.tp, 0.0f);
}

/// A head's T x head_dim values (row t at rows + t * stride) transposed into a Dp x Tp
/// panel, 8 x 8 blocks at a time in registers where whole (element by element, a store
/// per value a panel row apart, k's and v's transposes took an eighth of the kernels'
/// time with AVX-512).
DLRT_VINLINE void transposeHead(const Layout &l, const float *rows, int64_t stride, float *panel) {
  int64_t t = 0;
  for (; t + 8 <= l.t; t += 8) {
    int64_t d = 0;
    for (; d + 8 <= l.hd; d += 8) {
      vf8 block[8];
      for (int i = 0; i < 8; ++i) block[i] = loadLanes<vf8>(rows + (t + i) * stride + d);
      transpose8x8(block);
      for (int j = 0; j < 8; ++j) storeLanes(panel + (d + j) * l.tp + t, block[j]);
    }
    for (; d < l.hd; ++d)
      for (int i = 0; i < 8; ++i) panel[d * l.tp + t + i] = rows[(t + i) * stride + d];
  }
  for (; t < l.t; ++t)
    for (int64_t d = 0; d < l.hd; ++d) panel[d * l.tp + t] = rows[t * stride + d];
}

/// The operands of one (sample, head) problem, copied from qkv into whole-vector rows:
/// q / sqrt(head_dim) (as torch scales it) into `q`, k transposed into `kT`, and, where
/// not null, v into `v` (rows), v transposed into `vT`, k into `k` (rows).
DLRT_VINLINE void gather(const AttentionShape &s, const Layout &l, const float *qkv, int64_t b, int64_t h, float *q,
                         float *kT, float *v, float *vT, float *k) {
  const float root = std::sqrt(float(l.hd));
  int64_t e = s.embed;
  const float *head = qkv + b * l.t * 3 * e + h * l.hd;
  zeroPadding(l, kT);
  transposeHead(l, head + e, 3 * e, kT);
  if (vT) {
    zeroPadding(l, vT);
    transposeHead(l, head + 2 * e, 3 * e, vT);
  }
  const vf8 root8 = splatLanes<vf8>(root);
  for (int64_t t = 0; t < l.t; ++t) {
    const float *row = head + t * 3 * e;
    float *qr = q + t * l.dp;
    int64_t d = 0;
    for (; d + 8 <= l.hd; d += 8) storeLanes(qr + d, loadLanes<vf8>(row + d) / root8);
    for (; d < l.hd; ++d) qr[d] = row[d] / root;
    std::fill(qr + l.hd, qr + l.dp, 0.0f);
    if (v) {
      std::memcpy(v + t * l.dp, row + 2 * e, size_t(l.hd) * 4);
      std::fill(v + t * l.dp + l.hd, v + (t + 1) * l.dp, 0.0f);
    }
    if (k) {
      std::memcpy(k + t * l.dp, row + e, size_t(l.hd) * 4);
      std::fill(k + t * l.dp + l.hd, k + (t + 1) * l.dp, 0.0f);
    }
  }
}

/// The weights of one problem into p (T x Tp) from q and kT.
template <class F, int R, int V>
DLRT_VINLINE void weights(const Layout &l, bool causal, const float *q, const float *kT, float *p, const int64_t *ramp1) {
  constexpr int L = kLanesOf<F>;
  rowProducts<F, R, V>(
      q, l.dp, kT, l.tp, p, l.tp, l.t, [&](int64_t end) { return causal ? roundUp(end, L) : l.tp; },
      [&](int64_t) { return l.dp; }, ramp1);
  softmaxRows<F>(l, causal, p);
}

/// Rows of a (T x Dp) result into columns [col, col + head_dim) of a [B, T, width] tensor.
/// (The pointers do not alias: without saying so, the loop was not vectorised.)
DLRT_VINLINE void scatter(const Layout &l, const float *rows, float *dst, int64_t b, int64_t width, int64_t col,
                          float scale) {
  for (int64_t t = 0; t < l.t; ++t) {
    const float *__restrict src = rows + t * l.dp;
    float *__restrict out = dst + (b * l.t + t) * width + col;
    for (int64_t d = 0; d < l.hd; ++d) out[d] = src[d] * scale;
  }
}

// A causal mask's zero weights are skipped in the products only where every operand of
// the problem is finite: torch multiplies them in (masked_fill, softmax, then matmul over
// every key), and 0 times an infinity or NaN in v is NaN in every row it reaches.
template <class F, int R, int V>
DLRT_VINLINE void forwardProblems(const AttentionShape &s, const float *qkv, float *out, int64_t begin, int64_t end) {
  Layout l(s, kLanesOf<F>);
  float *q = scratch(3 * l.t * l.dp + l.dp * l.tp + l.t * l.tp);
  float *v = q + l.t * l.dp, *o = v + l.t * l.dp, *kT = o + l.t * l.dp, *p = kT + l.dp * l.tp;
  const int64_t *ramp1 = ramp(std::max(l.tp, l.dp), 1, 0);
  for (int64_t item = begin; item < end; ++item) {
    int64_t b = item / s.heads, h = item % s.heads;
    gather(s, l, qkv, b, h, q, kT, v, nullptr, nullptr);
    bool skip = s.causal && allFinite<F>(v, l.t * l.dp);
    weights<F, R, V>(l, s.causal, q, kT, p, ramp1);
    rowProducts<F, R, V>(
        p, l.tp, v, l.dp, o, l.dp, l.t, [&](int64_t) { return l.dp; },
        [&](int64_t rowEnd) { return skip ? rowEnd : l.t; }, ramp1);
    scatter(l, o, out, b, s.embed, h * l.hd, 1.0f);
  }
}

template <class F, int R, int V, int P, int VP>
DLRT_VINLINE void backwardProblems(const AttentionShape &s, const float *qkv, const float *grad, float *dqkv,
                                   int64_t begin, int64_t end) {
  constexpr int L = kLanesOf<F>;
  Layout l(s, L);
  const int64_t rows = l.t * l.dp, square = l.t * l.tp, panel = l.dp * l.tp;
  float *q = scratch(4 * rows + 2 * panel + 2 * square);
  float *k = q + rows, *dO = k + rows, *tmp = dO + rows;
  float *kT = tmp + rows, *vT = kT + panel, *p = vT + panel, *ds = p + square;
  const int64_t *ramp1 = ramp(std::max(l.tp, l.dp), 1, 0), *strided = ramp(l.t, l.tp, 1);
  const float root = std::sqrt(float(l.hd));
  for (int64_t item = begin; item < end; ++item) {
    int64_t b = item / s.heads, h = item % s.heads;
    gather(s, l, qkv, b, h, q, kT, nullptr, vT, k);
    for (int64_t t = 0; t < l.t; ++t) {
      float *row = dO + t * l.dp;
      std::memcpy(row, grad + (b * l.t + t) * s.embed + h * l.hd, size_t(l.hd) * 4);
      std::fill(row + l.hd, row + l.dp, 0.0f);
    }
    bool skip = s.causal && allFinite<F>(q, rows) && allFinite<F>(k, rows) && allFinite<F>(vT, panel) &&
                allFinite<F>(dO, rows);
    auto blockCols = [&](int64_t rowEnd) { return skip ? roundUp(rowEnd, L) : l.tp; };
    auto blockTerms = [&](int64_t rowEnd) { return skip ? rowEnd : l.t; };
    auto headCols = [&](int64_t) { return l.dp; };
    weights<F, R, V>(l, s.causal, q, kT, p, ramp1);
    // dP = dO v^T, then dS = P (dP - rowsum(P dP)) where the mask leaves a key, exactly 0
    // where it does not (masked_fill's gradient).
    rowProducts<F, R, V>(dO, l.dp, vT, l.tp, ds, l.tp, l.t, blockCols, headCols, ramp1);
    for (int64_t i = 0; i < l.t; ++i) {
      float *pr = p + i * l.tp, *dr = ds + i * l.tp;
      int64_t keys = keysOf(l, s.causal, i), vectors = (keys + L - 1) / L;
      // The row sum over every key torch sums over (the masked ones' weights are 0).
      int64_t summed = skip ? vectors : l.tp / L;
      F acc{};
      for (int64_t v = 0; v < summed; ++v) acc += loadLanes<F>(pr + v * L) * loadLanes<F>(dr + v * L);
      F dv = splatLanes<F>(lanesSum(acc));
      for (int64_t v = 0; v < vectors; ++v)
        storeLanes(dr + v * L, loadLanes<F>(pr + v * L) * (loadLanes<F>(dr + v * L) - dv));
      std::fill(dr + keys, dr + l.tp, 0.0f);
    }
    // dq = dS k / sqrt(head_dim), dk = dS^T (q / sqrt(head_dim)), dv = P^T dO.
    rowProducts<F, R, V>(ds, l.tp, k, l.dp, tmp, l.dp, l.t, headCols, blockTerms, ramp1);
    scatter(l, tmp, dqkv, b, 3 * s.embed, h * l.hd, 1.0f / root);
    transposedProducts<F, P, VP>(ds, l.tp, q, l.dp, tmp, l.dp, l.t, l.dp, l.t, skip, strided);
    scatter(l, tmp, dqkv, b, 3 * s.embed, s.embed + h * l.hd, 1.0f);
    transposedProducts<F, P, VP>(p, l.tp, dO, l.dp, tmp, l.dp, l.t, l.dp, l.t, skip, strided);
    scatter(l, tmp, dqkv, b, 3 * s.embed, 2 * s.embed + h * l.hd, 1.0f);
  }
}

// Register blocks: rows x vectors of accumulators beside the right operand's vectors and
// a broadcast. AVX-512 (32 registers): 4 x 4 and 6 x 2; AVX2 (16): 2 x 4 and 2 x 4.
using V16 = Lanes<16>::F;
using V8 = Lanes<8>::F;
DLRT_TARGET_AVX512 void forwardAvx512(const AttentionShape &s, const float *qkv, float *out, int64_t b, int64_t e) {
  forwardProblems<V16, 4, 4>(s, qkv, out, b, e);
}
DLRT_TARGET_AVX2 void forwardAvx2(const AttentionShape &s, const float *qkv, float *out, int64_t b, int64_t e) {
  forwardProblems<V8, 2, 4>(s, qkv, out, b, e);
}
void forwardGeneric(const AttentionShape &s, const float *qkv, float *out, int64_t b, int64_t e) {
  forwardProblems<V8, 2, 4>(s, qkv, out, b, e);
}
DLRT_TARGET_AVX512 void backwardAvx512(const AttentionShape &s, const float *qkv, const float *g, float *d, int64_t b,
                                       int64_t e) {
  backwardProblems<V16, 4, 4, 6, 2>(s, qkv, g, d, b, e);
}
DLRT_TARGET_AVX2 void backwardAvx2(const AttentionShape &s, const float *qkv, const float *g, float *d, int64_t b,
                                   int64_t e) {
  backwardProblems<V8, 2, 4, 2, 4>(s, qkv, g, d, b, e);
}
void backwardGeneric(const AttentionShape &s, const float *qkv, const float *g, float *d, int64_t b, int64_t e) {
  backwardProblems<V8, 2, 4, 2, 4>(s, qkv, g, d, b, e);
}

} // namespace

void selfAttention(int threads, const AttentionShape &s, const float *qkv, float *out, VectorIsa isa) {
  if (s.batch <= 0 || s.steps <= 0) return;
  auto run = isa == VectorIsa::Avx512 ? forwardAvx512 : isa == VectorIsa::Avx2 ? forwardAvx2 : forwardGeneric;
  parallelRanges(threads, s.batch * s.heads, [&](int64_t b, int64_t e) { run(s, qkv, out, b, e); });
}

void selfAttentionBackward(int threads, const AttentionShape &s, const float *qkv, const float *grad, float *dqkv,
                           VectorIsa isa) {
  if (s.batch <= 0 || s.steps <= 0) return;
  auto run = isa == VectorIsa::Avx512 ? backwardAvx512 : isa == VectorIsa::Avx2 ? backwardAvx2 : backwardGeneric;
  parallelRanges(threads, s.batch * s.heads, [&](int64_t b, int64_t e) { run(s, qkv, grad, dqkv, b, e); });
}

} // namespace dlrt::native
