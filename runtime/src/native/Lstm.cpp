//===- Lstm.cpp - an LSTM layer's recurrence, written here ----------------===//
#include "native/Lstm.h"
#include "native/Vector.h"

#include "Threads.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace dlrt::native {
namespace {

/// The rows the AVX2 build takes at once (cellBlockByGate).
constexpr int kAvx2Group = 6;

struct Problem {
  int64_t b, t, h;
  float *proj;
  const float *packed;
  float *y;
  bool sequence;
  float *hBuffers[2], *c; // h of the previous and this step (swapping), c: [b, h] each
  LstmTrace trace;        // the training form's (null pointers for inference)
  LstmInput input;        // x, where the steps project it themselves (else proj holds it)
  // Rows [0, hGrouped) keep h in groups of hGroup rows, unit-major within a group (the
  // group's h of unit k for its rows side by side), so that the AVX2 loop broadcasts a
  // group's rows from one pointer at fixed offsets (cellBlockByGate); the other rows (and
  // every row where hGroup is 0) keep [b, h]. With an input, each member regroups those
  // rows' x so too at the start of every step, in its own part of the state.
  // Rows [hGrouped, hGrouped + hTail), the 2 to 5 left over, are one more group, of
  // hTail rows: one thread capped at AVX2 on a Zen 4 took 1.74-1.78 ms for 16 rows with
  // four of them in pairs of 8 units (then: 4 weight loads and 2 broadcasts per 8
  // FMAs), 1.10-1.11 for 12 and 1.65-1.66 for 18, and with the tail group 1.50-1.67;
  // the LSTM sample at batch 32 on two threads gives each a slice of 16. Batch 15 (3 left
  // over) 1.43-1.46 against 1.59-1.66 as a pair and a row; 14 and 32 (2 left over) the
  // same either way.
  int64_t hGroup = 0, hGrouped = 0, hTail = 0;
};

/// The grouped rows' input of step `step` unit-major, as their h (Problem::hGroup), into
/// `to` (hGrouped x width floats, a few KB that stay in L1 for the step). Each member
/// does it for itself, since each needs every row's. Broadcasting from the rows in place
/// instead (six row pointers) was slower: the LSTM sample at batch 32 on one core capped
/// at AVX2, 2.69-2.74 ms against 2.55-2.60.
void regroupInputs(const Problem &p, int64_t step, float *to) {
  const int64_t w = p.input.width;
  auto group = [&](int64_t r, int64_t R) {
    for (int64_t q = 0; q < R; ++q) {
      const float *from = p.input.x + ((r + q) * p.t + step) * w;
      for (int64_t k = 0; k < w; ++k) to[r * w + k * R + q] = from[k];
    }
  };
  for (int64_t r = 0; r < p.hGrouped; r += p.hGroup) group(r, p.hGroup);
  group(p.hGrouped, p.hTail);
}

/// Where row `row`'s h of unit `unit` lies in an h buffer, and the distance between its
/// consecutive units.
DLRT_VINLINE float *hAt(const Problem &p, float *buffer, int64_t row, int64_t unit, int64_t &stride) {
  if (row < p.hGrouped) {
    stride = p.hGroup;
    return buffer + (row - row % p.hGroup) * p.h + unit * p.hGroup + row % p.hGroup;
  }
  if (row < p.hGrouped + p.hTail) {
    stride = p.hTail;
    return buffer + p.hGrouped * p.h + unit * p.hTail + (row - p.hGrouped);
  }
  stride = 1;
  return buffer + row * p.h + unit;
}

/// The cell update of row `row` at step `step` for the units [u0, u0 + lanes of V), from
/// its gates' pre-activations: c_t and h_t, stored where the next step and the output
/// read them. The gates go through the approximate functions (Vector.h: within 2e-7 and
/// 7 ulp; the exact ones took a sixth of an LSTM(32 -> 128)'s time at batch 32 capped at
/// AVX2: 3.34 -> 3.00 ms).
template <class V>
DLRT_VINLINE void cellUpdate(const Problem &p, int64_t step, int64_t row, int64_t u0, V i, V f, V g, V o) {
  float *c = p.c + row * p.h + u0;
  // c_{-1} = 0, but forget * 0 is still computed: a NaN forget gate makes c NaN, as in
  // PyTorch (difftest seed 99137: h was 0 where o's gate was 0 and f's NaN).
  V cPrev = step > 0 ? loadLanes<V>(c) : splatLanes<V>(0.0f);
  i = vsigmoidApprox(i);
  f = vsigmoidApprox(f);
  g = vtanhApprox(g);
  o = vsigmoidApprox(o);
  V cNew = f * cPrev + i * g;
  storeLanes(c, cNew);
  V hNew = o * vtanhApprox(cNew);
  int64_t stride;
  float *hNext = hAt(p, p.hBuffers[(step + 1) & 1], row, u0, stride);
  if (stride == 1) {
    storeLanes(hNext, hNew);
  } else {
    alignas(64) float lanes[kLanesOf<V>];
    storeLanes(lanes, hNew);
    for (int l = 0; l < kLanesOf<V>; ++l) hNext[l * stride] = lanes[l];
  }
  if (p.sequence) storeLanes(p.y + (row * p.t + step) * p.h + u0, hNew);
  else if (step + 1 == p.t) storeLanes(p.y + row * p.h + u0, hNew);
  if (p.trace.c) {
    // The activated gates over their pre-activations (read by now), c_t, and h_t as the
    // next step's starting state.
    const int64_t at = row * p.t + step;
    float *gates = p.proj + at * 4 * p.h + u0;
    storeLanes(gates, i);
    storeLanes(gates + p.h, f);
    storeLanes(gates + 2 * p.h, g);
    storeLanes(gates + 3 * p.h, o);
    storeLanes(p.trace.c + at * p.h + u0, cNew);
    if (step == 0) storeLanes(p.trace.hPrev + at * p.h + u0, splatLanes<V>(0.0f));
    if (step + 1 < p.t) storeLanes(p.trace.hPrev + (at + 1) * p.h + u0, hNew);
  }
}

/// How far ahead of its step of k addProducts asks for the weights (2 KB): with few rows,
/// streaming a block's weights from L2 is what a step waits on, and the hardware's
/// prefetchers alone kept it waiting (the LSTM sample on one core of a Sapphire Rapids,
/// side by side: AVX-512, batch 1 0.178 -> 0.147 ms, 2 0.22 -> 0.18, 3 0.25 -> 0.21, 4
/// 0.35 -> 0.33, 8 and 32 the same; capped at AVX2, batch 1 0.181 -> 0.152).
constexpr int kPrefetchSteps = 8;

/// acc[q][g] += the products of n inputs of row q (at rows + q * rowStride) with gate g's
/// weights for the units of acc, packed as packLstmWeight does, from w. The sums run in a
/// copy of acc: in the caller's array, which the float loads may alias, clang stored every
/// sum back in every step of k (the LSTM sample at batch 32 on one core with AVX-512:
/// 3.5-3.8 ms against 1.9-2.0).
template <class V, int R>
DLRT_VINLINE void addProducts(V (&acc)[R][4], const float *w, const float *rows, int64_t rowStride, int64_t n) {
  V sum[R][4];
  std::memcpy(sum, acc, sizeof sum);
  for (int64_t k = 0; k < n; ++k, w += 4 * kLanes) {
    for (int g = 0; g < 4; ++g) __builtin_prefetch(w + (kPrefetchSteps * 4 + g) * kLanes);
    for (int q = 0; q < R; ++q) {
      V s = splatLanes<V>(rows[q * rowStride + k]);
      for (int g = 0; g < 4; ++g) sum[q][g] += s * loadLanes<V>(w + g * kLanes);
    }
  }
  std::memcpy(acc, sum, sizeof sum);
}

/// acc[q] += the products of n unit-major inputs of R rows (unit k's for the rows at
/// rows + k * R) with one gate's weights for 16 units, packed as packLstmWeight does, from w
/// (in a copy of acc, as addProducts).
template <int R> DLRT_VINLINE void addGateProducts(vf8 (&acc)[R][2], const float *w, const float *rows, int64_t n) {
  vf8 sum[R][2];
  std::memcpy(sum, acc, sizeof sum);
  for (int64_t k = 0; k < n; ++k, w += 4 * kLanes, rows += R) {
    vf8 w0 = loadLanes<vf8>(w), w1 = loadLanes<vf8>(w + 8);
    for (int q = 0; q < R; ++q) {
      vf8 s = splatLanes<vf8>(rows[q]);
      sum[q][0] += s * w0;
      sum[q][1] += s * w1;
    }
  }
  std::memcpy(acc, sum, sizeof sum);
}

/// Step `step` of rows [r, r + R) for block u of 16 units, in 16-float vectors: the gates'
/// pre-activations (the input projection plus h_{t-1} W_hh^T), then c_t and h_t.
template <int R> DLRT_VINLINE void cellBlock(const Problem &p, int64_t step, int64_t r, int64_t u) {
  using V = vf;
  const int64_t h = p.h, gates = 4 * h, u0 = u * kLanes;
  V acc[R][4];
  if (const LstmInput &in = p.input; in.x) {
    for (int g = 0; g < 4; ++g) {
      V bias = loadLanes<V>(in.bias + g * h + u0);
      for (int q = 0; q < R; ++q) acc[q][g] = bias;
    }
    addProducts<V, R>(acc, in.packed + u * in.width * 4 * kLanes, in.x + (r * p.t + step) * in.width, p.t * in.width,
                      in.width);
  } else {
    for (int q = 0; q < R; ++q)
      for (int g = 0; g < 4; ++g) acc[q][g] = loadLanes<V>(p.proj + ((r + q) * p.t + step) * gates + g * h + u0);
  }
  if (step > 0) // h_{-1} = 0
    addProducts<V, R>(acc, p.packed + u * h * 4 * kLanes, p.hBuffers[step & 1] + r * h, h, h);
  for (int q = 0; q < R; ++q) cellUpdate<V>(p, step, r + q, u0, acc[q][0], acc[q][1], acc[q][2], acc[q][3]);
}

/// Rows [r, r + R) of a block of 16 units on AVX2 one gate at a time: each gate's 16 units
/// for R rows are 2R ymm accumulators (12 for R = 6, beside 2 weight vectors and one
/// broadcast row, of 16 registers), so each weight vector loaded serves R rows and twelve
/// independent sums hide the FMAs' latency, where all four gates at once fit only 2 rows
/// of 8 units (8 sums: the LSTM sample at batch 32 on one Zen 5 core capped at AVX2,
/// 2.96 -> 2.68 ms, min of 3). The pre-activations wait in `pre` (R x 4 x 16 floats, in
/// L1) for the cell update. The group's h is unit-major (Problem::hGroup), so that the
/// loop over k needs no address arithmetic beyond two pointers' steps: with the rows'
/// offsets recomputed in it (6 integer operations per 12 FMAs, sharing the FMA ports),
/// the loop ran at 78 of the core's 110 GFLOP/s on Sapphire Rapids capped at AVX2.
template <int R>
DLRT_VINLINE void cellBlockByGate(const Problem &p, int64_t step, int64_t r, int64_t u, float *pre,
                                  const float *xStep) {
  using V = vf8;
  const int64_t h = p.h, gates = 4 * h, u0 = u * kLanes;
  const LstmInput &in = p.input;
  for (int g = 0; g < 4; ++g) {
    V acc[R][2];
    if (in.x) {
      for (int half = 0; half < 2; ++half) {
        V bias = loadLanes<V>(in.bias + g * h + u0 + half * 8);
        for (int q = 0; q < R; ++q) acc[q][half] = bias;
      }
      addGateProducts<R>(acc, in.packed + u * in.width * 4 * kLanes + g * kLanes, xStep + r * in.width, in.width);
    } else {
      for (int q = 0; q < R; ++q)
        for (int half = 0; half < 2; ++half)
          acc[q][half] = loadLanes<V>(p.proj + ((r + q) * p.t + step) * gates + g * h + u0 + half * 8);
    }
    if (step > 0) addGateProducts<R>(acc, p.packed + u * h * 4 * kLanes + g * kLanes, p.hBuffers[step & 1] + r * h, h);
    for (int q = 0; q < R; ++q)
      for (int half = 0; half < 2; ++half) storeLanes(pre + (q * 4 + g) * kLanes + half * 8, acc[q][half]);
  }
  for (int q = 0; q < R; ++q)
    for (int half = 0; half < 2; ++half) {
      const float *a = pre + q * 4 * kLanes + half * 8;
      cellUpdate<V>(p, step, r + q, u0 + half * 8, loadLanes<V>(a), loadLanes<V>(a + kLanes),
                    loadLanes<V>(a + 2 * kLanes), loadLanes<V>(a + 3 * kLanes));
    }
}

/// Every step for the hidden blocks [u0, u1), meeting the other members after each step
/// (the next reads all of this one's h). Rows go in groups of R on 16-float vectors, the
/// rest (fewer than R) in one group. (AVX2 has a loop of its own: runAvx2.)
template <int R>
DLRT_VINLINE void run(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync) {
  const int64_t grouped = p.b - p.b % R;
  for (int64_t step = 0; step < p.t; ++step) {
    for (int64_t u = u0; u < u1; ++u) {
      for (int64_t r = 0; r < grouped; r += R) cellBlock<R>(p, step, r, u);
      switch (p.b - grouped) {
      case 3: if constexpr (R > 3) cellBlock<3>(p, step, grouped, u); break;
      case 2: if constexpr (R > 2) cellBlock<2>(p, step, grouped, u); break;
      case 1: if constexpr (R > 1) cellBlock<1>(p, step, grouped, u); break;
      }
    }
    sync();
  }
}

// One build per ISA. Each weight vector loaded serves R rows, R x 4 gates of accumulators
// in registers: AVX-512's 32 zmm hold 4 rows of 16 units. AVX2's 16 ymm hold 2 rows of 8
// units of the four gates (3 rows need 17 registers: clang kept the weights in registers
// and spilled two accumulators, 4.9-5.2 ms against 3.4 for the LSTM sample at batch 32 on
// one Zen 5 core), so AVX2 takes groups of 6 rows one gate at a time (cellBlockByGate),
// the 2 to 5 rows left over as one more group (Problem::hTail), and a single row left
// over by 16 units: its 4 x 2 independent ymm sums keep the two FMA units busy where
// 8-unit ones for one row would wait on their latency (one sequence: 0.128 ms against
// 0.172).
DLRT_TARGET_AVX512 void runAvx512(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync,
                                   float * /*regrouped: AVX2's alone*/) {
  run<4>(p, u0, u1, sync);
}
DLRT_TARGET_AVX2 void runAvx2(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync,
                              float *regrouped) {
  constexpr int R = kAvx2Group;
  alignas(64) float pre[R * 4 * kLanes];
  const int64_t grouped = p.hGrouped, tailEnd = grouped + p.hTail; // then one row at most
  for (int64_t step = 0; step < p.t; ++step) {
    if (regrouped) regroupInputs(p, step, regrouped);
    for (int64_t u = u0; u < u1; ++u) {
      for (int64_t r = 0; r < grouped; r += R) cellBlockByGate<R>(p, step, r, u, pre, regrouped);
      switch (p.hTail) {
      case 5: cellBlockByGate<5>(p, step, grouped, u, pre, regrouped); break;
      case 4: cellBlockByGate<4>(p, step, grouped, u, pre, regrouped); break;
      case 3: cellBlockByGate<3>(p, step, grouped, u, pre, regrouped); break;
      case 2: cellBlockByGate<2>(p, step, grouped, u, pre, regrouped); break;
      }
      if (tailEnd < p.b) cellBlock<1>(p, step, tailEnd, u);
    }
    sync();
  }
}
void runGeneric(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync, float *) {
  run<1>(p, u0, u1, sync);
}

} // namespace

void packLstmWeight(const float *w, int64_t h, int64_t width, float *packed) {
  for (int64_t u = 0; u < h / kLanes; ++u)
    for (int64_t k = 0; k < width; ++k)
      for (int64_t g = 0; g < 4; ++g)
        for (int64_t l = 0; l < kLanes; ++l)
          packed[((u * width + k) * 4 + g) * kLanes + l] = w[(g * h + u * kLanes + l) * width + k];
}

int64_t lstmStateSize(int64_t b, int64_t h, int64_t inputWidth, int threads) {
  return 3 * b * h + threads * b * inputWidth;
}

void lstmRecurrence(int threads, int64_t b, int64_t t, int64_t h, float *proj, const float *packed, float *y,
                    bool sequence, float *state, LstmTrace trace, VectorIsa isa, LstmInput input) {
  auto runFor = isa == VectorIsa::Avx512 ? runAvx512 : isa == VectorIsa::Avx2 ? runAvx2 : runGeneric;
  Problem p{b, t, h, proj, packed, y, sequence, {state, state + b * h}, state + 2 * b * h, trace, input};
  if (isa == VectorIsa::Avx2) {
    p.hGroup = kAvx2Group, p.hGrouped = b - b % kAvx2Group;
    if (b % kAvx2Group >= 2) p.hTail = b % kAvx2Group;
  }
  const bool regroups = input.x && p.hGrouped + p.hTail > 0;
  int64_t blocks = h / kLanes;
  parallelTeam(int(std::min<int64_t>(threads, blocks)), [&](int member, int members, const std::function<void()> &sync) {
    float *regrouped = regroups ? state + 3 * b * h + member * b * input.width : nullptr;
    runFor(p, blocks * member / members, blocks * (member + 1) / members, sync, regrouped);
  });
}

} // namespace dlrt::native
