//===- LayerNorm.cpp - layer_norm and its gradient, written here ----------===//
#include "native/LayerNorm.h"

#include "Threads.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dlrt::native {
namespace {

/// Rows per group of the gradient's column sums (dgamma, dbeta): each group's partial
/// sums are a row of scratch, added in order at the end.
constexpr int64_t kGroupRows = 32;

/// Σ x over a row, four accumulators so that the adds overlap.
DLRT_VINLINE float rowSum(const float *x, int64_t cols) {
  vf a[4] = {};
  int64_t c = 0;
  for (; c + 4 * kLanes <= cols; c += 4 * kLanes)
    for (int j = 0; j < 4; ++j) a[j] += load(x + c + j * kLanes);
  for (; c + kLanes <= cols; c += kLanes) a[0] += load(x + c);
  float s = lanesSum((a[0] + a[1]) + (a[2] + a[3]));
  for (; c < cols; ++c) s += x[c];
  return s;
}

/// Σ (x - mean)^2 over a row.
DLRT_VINLINE float rowSquaredDeviations(const float *x, int64_t cols, float mean) {
  vf a[4] = {}, m = splat(mean);
  int64_t c = 0;
  for (; c + 4 * kLanes <= cols; c += 4 * kLanes)
    for (int j = 0; j < 4; ++j) {
      vf d = load(x + c + j * kLanes) - m;
      a[j] += d * d;
    }
  for (; c + kLanes <= cols; c += kLanes) {
    vf d = load(x + c) - m;
    a[0] += d * d;
  }
  float s = lanesSum((a[0] + a[1]) + (a[2] + a[3]));
  for (; c < cols; ++c) s += (x[c] - mean) * (x[c] - mean);
  return s;
}

struct Forward {
  int64_t cols;
  const float *x, *gamma, *beta;
  float *y;
  float eps;
  float *mean, *var;
};

DLRT_VINLINE void normaliseRows(const Forward &p, int64_t begin, int64_t end) {
  const int64_t cols = p.cols;
  for (int64_t r = begin; r < end; ++r) {
    const float *x = p.x + r * cols;
    float *y = p.y + r * cols;
    float mean = rowSum(x, cols) / float(cols);
    float var = rowSquaredDeviations(x, cols, mean) / float(cols);
    // A variance past float's range (deviations above ~1e19) makes the row NaN, as torch's
    // float32 layer_norm does, rather than rstd 0 and every output beta: a number that
    // looks fine and is not the normalised row (difftest seed 164268).
    float rstd = std::isinf(var) ? std::numeric_limits<float>::quiet_NaN() : 1.0f / std::sqrt(var + p.eps);
    vf m = splat(mean), s = splat(rstd);
    int64_t c = 0;
    for (; c + kLanes <= cols; c += kLanes)
      store(y + c, (load(x + c) - m) * s * load(p.gamma + c) + load(p.beta + c));
    for (; c < cols; ++c) y[c] = (x[c] - mean) * rstd * p.gamma[c] + p.beta[c];
    if (p.mean) p.mean[r] = mean;
    if (p.var) p.var[r] = var;
  }
}

struct Backward {
  int64_t rows, cols;
  const float *x, *gamma, *mean, *var, *dy;
  float *dx;
  float eps;
  float *partials; // per group of rows: dgamma's then dbeta's partial sums, 2 * cols
};

/// One vector of a row's gradient, first pass: with xh = (x - mean) rstd and g = dy gamma,
/// Σ g and Σ g xh gather in sumG and sumGX, and the group's dgamma += dy xh, dbeta += dy.
DLRT_VINLINE void gradientSums(const float *x, const float *dy, const float *gamma, float *dgamma, float *dbeta,
                               vf m, vf s, vf &sumG, vf &sumGX) {
  vf xh = (load(x) - m) * s, d = load(dy), g = d * load(gamma);
  sumG += g;
  sumGX += g * xh;
  store(dgamma, load(dgamma) + d * xh);
  store(dbeta, load(dbeta) + d);
}

/// Row r: dx = rstd (g - mean(g) - xh mean(g xh)), and its share of the group's sums.
DLRT_VINLINE void gradientRow(const Backward &p, int64_t r, float *dgamma, float *dbeta) {
  const int64_t cols = p.cols;
  const float *x = p.x + r * cols, *dy = p.dy + r * cols, *gamma = p.gamma;
  float *dx = p.dx + r * cols;
  const float mean = p.mean[r], rstd = 1.0f / std::sqrt(p.var[r] + p.eps);
  const vf m = splat(mean), s = splat(rstd);
  vf sumG[2] = {}, sumGX[2] = {}; // two chains, so that the adds overlap
  int64_t c = 0;
  for (; c + 2 * kLanes <= cols; c += 2 * kLanes)
    for (int j = 0; j < 2; ++j) {
      int64_t at = c + j * kLanes;
      gradientSums(x + at, dy + at, gamma + at, dgamma + at, dbeta + at, m, s, sumG[j], sumGX[j]);
    }
  for (; c + kLanes <= cols; c += kLanes)
    gradientSums(x + c, dy + c, gamma + c, dgamma + c, dbeta + c, m, s, sumG[0], sumGX[0]);
  const int64_t vectorEnd = c;
  float g1 = lanesSum(sumG[0] + sumG[1]), gx1 = lanesSum(sumGX[0] + sumGX[1]);
  for (; c < cols; ++c) {
    float xh = (x[c] - mean) * rstd, g = dy[c] * gamma[c];
    g1 += g;
    gx1 += g * xh;
    dgamma[c] += dy[c] * xh;
    dbeta[c] += dy[c];
  }
  const float a = g1 / float(cols), b = gx1 / float(cols);
  const vf va = splat(a), vb = splat(b);
  // dy gamma rounded on its own, as the sums took it, so that g - a is exact where a
  // row's g are equal (one column: dx exactly 0, as PyTorch's); in one expression the
  // compiler fuses it into a multiply-add that keeps the product's rounding error.
  for (c = 0; c < vectorEnd; c += kLanes) {
    vf xh = (load(x + c) - m) * s;
    vf g = load(dy + c) * load(gamma + c);
    store(dx + c, s * (g - va - xh * vb));
  }
  for (; c < cols; ++c) {
    float g = dy[c] * gamma[c];
    dx[c] = rstd * (g - a - (x[c] - mean) * rstd * b);
  }
}

DLRT_VINLINE void gradientGroups(const Backward &p, int64_t begin, int64_t end) {
  for (int64_t group = begin; group < end; ++group) {
    float *dgamma = p.partials + group * 2 * p.cols, *dbeta = dgamma + p.cols;
    std::fill_n(dgamma, 2 * p.cols, 0.0f);
    for (int64_t r = group * kGroupRows; r < std::min(p.rows, (group + 1) * kGroupRows); ++r)
      gradientRow(p, r, dgamma, dbeta);
  }
}

// One build per ISA.
DLRT_TARGET_AVX512 void forwardAvx512(const Forward &p, int64_t begin, int64_t end) { normaliseRows(p, begin, end); }
DLRT_TARGET_AVX2 void forwardAvx2(const Forward &p, int64_t begin, int64_t end) { normaliseRows(p, begin, end); }
void forwardGeneric(const Forward &p, int64_t begin, int64_t end) { normaliseRows(p, begin, end); }
DLRT_TARGET_AVX512 void backwardAvx512(const Backward &p, int64_t begin, int64_t end) {
  gradientGroups(p, begin, end);
}
DLRT_TARGET_AVX2 void backwardAvx2(const Backward &p, int64_t begin, int64_t end) { gradientGroups(p, begin, end); }
void backwardGeneric(const Backward &p, int64_t begin, int64_t end) { gradientGroups(p, begin, end); }

} // namespace

void layerNorm(int threads, int64_t rows, int64_t cols, const float *x, const float *gamma, const float *beta,
               float *y, float eps, float *mean, float *var, VectorIsa isa) {
  if (rows <= 0 || cols <= 0) return;
  auto run = isa == VectorIsa::Avx512 ? forwardAvx512 : isa == VectorIsa::Avx2 ? forwardAvx2 : forwardGeneric;
  Forward p{cols, x, gamma, beta, y, eps, mean, var};
  parallelRanges(threads, rows, [&](int64_t begin, int64_t end) { run(p, begin, end); });
}

int64_t layerNormBackwardScratch(int64_t rows, int64_t cols) {
  return (rows + kGroupRows - 1) / kGroupRows * 2 * cols;
}

void layerNormBackward(int threads, int64_t rows, int64_t cols, const float *x, const float *gamma,
                       const float *mean, const float *var, const float *dy, float *dx, float *dgamma, float *dbeta,
                       float eps, float *scratch, VectorIsa isa) {
  if (cols <= 0) return;
  std::fill_n(dgamma, cols, 0.0f);
  std::fill_n(dbeta, cols, 0.0f);
  if (rows <= 0) return;
  auto run = isa == VectorIsa::Avx512 ? backwardAvx512 : isa == VectorIsa::Avx2 ? backwardAvx2 : backwardGeneric;
  Backward p{rows, cols, x, gamma, mean, var, dy, dx, eps, scratch};
  const int64_t groups = (rows + kGroupRows - 1) / kGroupRows;
  parallelRanges(threads, groups, [&](int64_t begin, int64_t end) { run(p, begin, end); });
  for (int64_t group = 0; group < groups; ++group) {
    const float *pg = scratch + group * 2 * cols, *pb = pg + cols;
    for (int64_t c = 0; c < cols; ++c) {
      dgamma[c] += pg[c];
      dbeta[c] += pb[c];
    }
  }
}

} // namespace dlrt::native
