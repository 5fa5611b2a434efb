//===- LstmBackward.cpp - an LSTM layer's recurrence backwards ------------===//
//
// The backward pass of lstmRecurrence's training form (Lstm.h), from the last step to the
// first. Step s needs dh_s = dy_s + da_{s+1} W_hh, a [b, 4H] x [4H, H] product of the
// next step's gate gradients, then per unit the cell's chain rule:
//   dc  = dh o (1 - tanh^2 c_s) + dc_{s+1} f_{s+1}
//   da_o = dh tanh(c_s) o (1 - o)        da_i = dc g i (1 - i)
//   da_f = dc c_{s-1} f (1 - f)          da_g = dc i (1 - g^2)
// with i, f, g, o the activated gates the forward kept. As in the forward, each thread
// takes a share of the hidden units, the product for a block of 16 of them accumulates in
// registers over groups of rows, the chain rule follows at once, and the team meets once
// per step (the next reads every unit's da). Everything that does not carry from step to
// step (the weights' and the input's gradients) is left to one product each over all
// steps, by the caller.
//
//===----------------------------------------------------------------------===//
#include "native/Lstm.h"
#include "native/Vector.h"

#include "Threads.h"

#include <algorithm>
#include <functional>

namespace dlrt::native {
namespace {

struct Problem {
  int64_t b, t, h;
  const float *gates, *c, *whh, *dy;
  bool sequence;
  float *da, *dbias;
  float *dc; // [b, h]: dc_{s+1} f_{s+1}, what the cell state passes back to step s
};

/// The chain rule of one row at step `step` for the units [u0, u0 + lanes of V), given
/// dh (the output's gradient and the next step's through W_hh): the gates' gradients,
/// added to dbias too, and what c passes back.
template <class V> DLRT_VINLINE void cellBackward(const Problem &p, int64_t step, int64_t row, int64_t u0, V dh) {
  const int64_t h = p.h, at = row * p.t + step;
  const float *g = p.gates + at * 4 * h + u0;
  V i = loadLanes<V>(g), f = loadLanes<V>(g + h), gg = loadLanes<V>(g + 2 * h), o = loadLanes<V>(g + 3 * h);
  V c = loadLanes<V>(p.c + at * h + u0);
  // The forward's tanh of c_s, recomputed: the same function on the same value.
  V tc = vtanhApprox(c);
  V one = splatLanes<V>(1.0f);
  float *dcOf = p.dc + row * h + u0;
  V dc = dh * o * (one - tc * tc);
  if (step + 1 < p.t) dc += loadLanes<V>(dcOf);
  V cPrev = step > 0 ? loadLanes<V>(p.c + (at - 1) * h + u0) : splatLanes<V>(0.0f);
  V dai = dc * gg * i * (one - i), daf = dc * cPrev * f * (one - f), dag = dc * i * (one - gg * gg),
    dao = dh * tc * o * (one - o);
  storeLanes(dcOf, dc * f);
  float *da = p.da + at * 4 * h + u0, *db = p.dbias + u0;
  storeLanes(da, dai);
  storeLanes(da + h, daf);
  storeLanes(da + 2 * h, dag);
  storeLanes(da + 3 * h, dao);
  storeLanes(db, loadLanes<V>(db) + dai);
  storeLanes(db + h, loadLanes<V>(db + h) + daf);
  storeLanes(db + 2 * h, loadLanes<V>(db + 2 * h) + dag);
  storeLanes(db + 3 * h, loadLanes<V>(db + 3 * h) + dao);
}

/// Step `step` of rows [r, r + R) for the block of 16 units u: dh in R x (16 / lanes)
/// accumulators, from dy and the next step's da (a sum over its 4H gates' gradients with
/// each one's row of W_hh, whose 16 weights of the block are contiguous), then the chain
/// rule.
template <class V, int R> DLRT_VINLINE void rowsBackward(const Problem &p, int64_t step, int64_t r, int64_t u) {
  constexpr int N = kLanesOf<V>, NV = kLanes / N;
  const int64_t h = p.h, u0 = u * kLanes;
  V acc[R][NV];
  for (int q = 0; q < R; ++q)
    for (int v = 0; v < NV; ++v) {
      const int64_t row = r + q;
      if (p.sequence) acc[q][v] = loadLanes<V>(p.dy + (row * p.t + step) * h + u0 + v * N);
      else if (step + 1 == p.t) acc[q][v] = loadLanes<V>(p.dy + row * h + u0 + v * N);
      else acc[q][v] = splatLanes<V>(0.0f);
    }
  if (step + 1 < p.t) {
    const float *next = p.da + (r * p.t + step + 1) * 4 * h, *w = p.whh + u0;
    for (int64_t k = 0; k < 4 * h; ++k, w += h) {
      V wv[NV];
      for (int v = 0; v < NV; ++v) wv[v] = loadLanes<V>(w + v * N);
      for (int q = 0; q < R; ++q) {
        V s = splatLanes<V>(next[q * p.t * 4 * h + k]);
        for (int v = 0; v < NV; ++v) acc[q][v] += s * wv[v];
      }
    }
  }
  for (int q = 0; q < R; ++q)
    for (int v = 0; v < NV; ++v) cellBackward<V>(p, step, r + q, u0 + v * N, acc[q][v]);
}

/// The rows after the last whole group of R (n of them, fewer than R) as one group.
template <class V, int R> DLRT_VINLINE void restBackward(const Problem &p, int64_t step, int64_t r, int64_t u, int64_t n) {
  if constexpr (R > 1) {
    if (n == R - 1) return rowsBackward<V, R - 1>(p, step, r, u);
    restBackward<V, R - 1>(p, step, r, u, n);
  }
}

/// Every step, from the last, for the hidden blocks [u0, u1), meeting the other members
/// after each.
template <class V, int R>
DLRT_VINLINE void run(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync) {
  const int64_t grouped = p.b - p.b % R;
  for (int64_t step = p.t - 1; step >= 0; --step) {
    for (int64_t u = u0; u < u1; ++u) {
      for (int64_t r = 0; r < grouped; r += R) rowsBackward<V, R>(p, step, r, u);
      restBackward<V, R>(p, step, grouped, u, p.b - grouped);
    }
    sync();
  }
}

// One build per ISA, as the forward's. A row's block of 16 units is one zmm or two ymm;
// the rows of a group share each weight vector loaded: AVX-512, 8 rows (8 sums, one
// weight and 8 broadcasts per step of the sum, of 32 registers); AVX2, 6 rows (12 sums, 2
// weights and a broadcast: 15 of 16 registers, as the forward's by-gate loop).
DLRT_TARGET_AVX512 void runAvx512(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync) {
  run<vf, 8>(p, u0, u1, sync);
}
DLRT_TARGET_AVX2 void runAvx2(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync) {
  run<vf8, 6>(p, u0, u1, sync);
}
void runGeneric(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync) {
  run<vf, 1>(p, u0, u1, sync);
}

} // namespace

int64_t lstmBackwardStateSize(int64_t b, int64_t h) { return b * h; }

void lstmBackward(int threads, int64_t b, int64_t t, int64_t h, const float *gates, const float *c, const float *whh,
                  const float *dy, bool sequence, float *da, float *dbias, float *state, VectorIsa isa) {
  auto runFor = isa == VectorIsa::Avx512 ? runAvx512 : isa == VectorIsa::Avx2 ? runAvx2 : runGeneric;
  Problem p{b, t, h, gates, c, whh, dy, sequence, da, dbias, state};
  std::fill(dbias, dbias + 4 * h, 0.0f);
  int64_t blocks = h / kLanes;
  parallelTeam(int(std::min<int64_t>(threads, blocks)), [&](int member, int members, const std::function<void()> &sync) {
    runFor(p, blocks * member / members, blocks * (member + 1) / members, sync);
  });
}

} // namespace dlrt::native
