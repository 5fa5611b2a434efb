//===- Gemv.cpp - dense layers of a few rows, written here ----------------===//
#include "native/Gemv.h"
#include "native/Activation.h"

#include "Threads.h"
#include "dlrt/model_abi.h"

#include <algorithm>
#include <cstring>

namespace dlrt::native {
namespace {

/// Up to this many rows a layer may have any number of outputs; more rows only into one
/// block of them (denseRowsSupports).
constexpr int64_t kMaxRows = 4;
/// Output blocks worked side by side: independent accumulators, and each input element
/// broadcast once for all of them.
constexpr int kBlocks = 4;

/// How far ahead of its step a tile asks for each block's weights (1 KB): with one row a
/// layer streams its weight from L2 or beyond, once, and the hardware's prefetchers alone
/// kept it waiting (the MLP sample at batch 1, one Sapphire Rapids core, side by side:
/// AVX-512 0.0145-0.0150 -> 0.0114-0.0119 ms; capped at AVX2 0.0130-0.0135 -> 0.0110-0.0116).
constexpr int64_t kPrefetchSteps = 16;

struct Problem {
  int64_t m, k, n;
  const float *x, *packed, *bias;
  float *y;
  int64_t activation;
};

/// Rows [r, r + R), output blocks [b0, b0 + B): R x B accumulators, each weight vector
/// loaded once for the R rows and each input element broadcast once for the B blocks.
template <int R, int B> DLRT_VINLINE void tile(const Problem &p, int64_t r, int64_t b0) {
  vf acc[R][B];
  for (int b = 0; b < B; ++b) {
    float bias[kLanes] = {};
    if (p.bias)
      std::memcpy(bias, p.bias + (b0 + b) * kLanes, size_t(std::min<int64_t>(kLanes, p.n - (b0 + b) * kLanes)) * 4);
    for (int q = 0; q < R; ++q) acc[q][b] = load(bias);
  }
  const float *x = p.x + r * p.k, *w = p.packed + b0 * p.k * kLanes;
  for (int64_t i = 0; i < p.k; ++i) {
    vf wv[B];
    for (int b = 0; b < B; ++b) __builtin_prefetch(w + (b * p.k + i + kPrefetchSteps) * kLanes);
    for (int b = 0; b < B; ++b) wv[b] = load(w + (b * p.k + i) * kLanes);
    for (int q = 0; q < R; ++q) {
      vf s = splat(x[q * p.k + i]);
      for (int b = 0; b < B; ++b) acc[q][b] += s * wv[b];
    }
  }
  for (int q = 0; q < R; ++q)
    for (int b = 0; b < B; ++b) {
      vf v = activate(acc[q][b], p.activation);
      int64_t first = (b0 + b) * kLanes, valid = std::min<int64_t>(kLanes, p.n - first);
      float *out = p.y + (r + q) * p.n + first;
      if (valid == kLanes) {
        store(out, v);
      } else {
        float part[kLanes];
        store(part, v);
        std::memcpy(out, part, size_t(valid) * 4);
      }
    }
}

/// Rows [r0, r1) of a layer of one output block, R rows per pass.
template <int R> DLRT_VINLINE void runOneBlock(const Problem &p, int64_t r0, int64_t r1) {
  int64_t r = r0;
  for (; r + R <= r1; r += R) tile<R, 1>(p, r, 0);
  for (; r < r1; ++r) tile<1, 1>(p, r, 0);
}

DLRT_VINLINE void run(const Problem &p, int64_t b0, int64_t b1) {
  for (int64_t row = 0; row < p.m; ++row) {
    int64_t b = b0;
    for (; b + kBlocks <= b1; b += kBlocks) tile<1, kBlocks>(p, row, b);
    for (; b < b1; ++b) tile<1, 1>(p, row, b);
  }
}

DLRT_TARGET_AVX512 void runAvx512(const Problem &p, int64_t b0, int64_t b1) { run(p, b0, b1); }
DLRT_TARGET_AVX2 void runAvx2(const Problem &p, int64_t b0, int64_t b1) { run(p, b0, b1); }
void runGeneric(const Problem &p, int64_t b0, int64_t b1) { run(p, b0, b1); }

// Accumulators: 8 of 16 lanes in 32 zmm registers; on AVX2 a vector of 16 lanes is two of
// its 16 ymm registers, and 4 rows take 8.
DLRT_TARGET_AVX512 void oneBlockAvx512(const Problem &p, int64_t r0, int64_t r1) { runOneBlock<8>(p, r0, r1); }
DLRT_TARGET_AVX2 void oneBlockAvx2(const Problem &p, int64_t r0, int64_t r1) { runOneBlock<4>(p, r0, r1); }
void oneBlockGeneric(const Problem &p, int64_t r0, int64_t r1) { runOneBlock<4>(p, r0, r1); }

} // namespace

bool denseRowsSupports(int64_t m, int64_t n, int64_t activation) {
  return m >= 1 && (m <= kMaxRows || n <= kLanes) && activation >= DLRT_ACTIVATION_NONE &&
         activation <= DLRT_ACTIVATION_SILU;
}

int64_t denseRowsPackedSize(int64_t n, int64_t k) { return (n + kLanes - 1) / kLanes * kLanes * k; }

void packDenseRows(const float *w, int64_t n, int64_t k, const int64_t *nhwc, float *packed) {
  std::fill_n(packed, denseRowsPackedSize(n, k), 0.0f);
  for (int64_t i = 0; i < k; ++i) {
    // The weight column of input column i.
    int64_t col = i;
    if (nhwc) { // i = ((cb * H + y) * W + x) * B + l, channel cb * B + l
      int64_t h = nhwc[1], wd = nhwc[2], b = nhwc[3], l = i % b, pixel = i / b % (h * wd), cb = i / b / (h * wd);
      col = (cb * b + l) * h * wd + pixel;
    }
    for (int64_t o = 0; o < n; ++o) packed[((o / kLanes) * k + i) * kLanes + o % kLanes] = w[o * k + col];
  }
}

void denseRows(int threads, int64_t m, int64_t k, int64_t n, const float *x, const float *packed, const float *bias,
               float *y, int64_t activation, VectorIsa isa) {
  Problem p{m, k, n, x, packed, bias, y, activation};
  if (m > kMaxRows) { // one output block (denseRowsSupports): the rows shared out
    auto rowsFor = isa == VectorIsa::Avx512 ? oneBlockAvx512 : isa == VectorIsa::Avx2 ? oneBlockAvx2 : oneBlockGeneric;
    parallelRanges(threads, m, [&](int64_t r0, int64_t r1) { rowsFor(p, r0, r1); });
    return;
  }
  auto runFor = isa == VectorIsa::Avx512 ? runAvx512 : isa == VectorIsa::Avx2 ? runAvx2 : runGeneric;
  int64_t blockCount = (n + kLanes - 1) / kLanes;
  // Whole groups of kBlocks per thread where there are enough.
  int parts = int(std::max<int64_t>(1, std::min<int64_t>(threads, blockCount / kBlocks)));
  parallelParts(parts, parts, [&](int part) {
    int64_t groups = (blockCount + kBlocks - 1) / kBlocks;
    int64_t b0 = std::min(blockCount, groups * part / parts * kBlocks);
    int64_t b1 = std::min(blockCount, groups * (part + 1) / parts * kBlocks);
    runFor(p, b0, b1);
  });
}

} // namespace dlrt::native
