//===- Lstm.cpp - an LSTM layer's recurrence, written here ----------------===//
#include "native/Lstm.h"
#include "native/Vector.h"

#include "Threads.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace dlrt::native {
namespace {

struct Problem {
  int64_t b, t, h;
  const float *proj, *packed;
  float *y;
  bool sequence;
  float *hBuffers[2], *c; // h of the previous and this step (swapping), c: [b, h] each
};

/// Step `step` of rows [r, r + R) for the hidden block u: the gates' pre-activations
/// (the input projection plus h_{t-1} W_hh^T), then c_t and h_t.
template <int R> DLRT_VINLINE void cellBlock(const Problem &p, int64_t step, int64_t r, int64_t u) {
  const int64_t h = p.h, gates = 4 * h;
  const float *hPrev = p.hBuffers[step & 1];
  float *hNext = p.hBuffers[(step + 1) & 1];
  vf acc[R][4];
  for (int q = 0; q < R; ++q)
    for (int g = 0; g < 4; ++g) acc[q][g] = load(p.proj + ((r + q) * p.t + step) * gates + g * h + u * kLanes);
  if (step > 0) { // h_{-1} = 0
    const float *w = p.packed + u * h * 4 * kLanes;
    for (int64_t k = 0; k < h; ++k, w += 4 * kLanes)
      for (int q = 0; q < R; ++q) {
        vf s = splat(hPrev[(r + q) * h + k]);
        for (int g = 0; g < 4; ++g) acc[q][g] += s * load(w + g * kLanes);
      }
  }
  for (int q = 0; q < R; ++q) {
    vf in = vsigmoid(acc[q][0]), forget = vsigmoid(acc[q][1]), cell = vtanh(acc[q][2]), out = vsigmoid(acc[q][3]);
    float *c = p.c + (r + q) * h + u * kLanes;
    vf cNew = step > 0 ? forget * load(c) + in * cell : in * cell;
    store(c, cNew);
    vf hNew = out * vtanh(cNew);
    store(hNext + (r + q) * h + u * kLanes, hNew);
    if (p.sequence) store(p.y + ((r + q) * p.t + step) * h + u * kLanes, hNew);
    else if (step + 1 == p.t) store(p.y + (r + q) * h + u * kLanes, hNew);
  }
}

/// Every step for the hidden blocks [u0, u1), rows in groups of R (the rest one by one),
/// meeting the other members after each step: the next reads all of this one's h.
template <int R>
DLRT_VINLINE void run(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync) {
  for (int64_t step = 0; step < p.t; ++step) {
    for (int64_t u = u0; u < u1; ++u) {
      int64_t r = 0;
      for (; r + R <= p.b; r += R) cellBlock<R>(p, step, r, u);
      for (; r < p.b; ++r) cellBlock<1>(p, step, r, u);
    }
    sync();
  }
}

// One build per ISA. AVX-512's 32 registers hold 4 rows x 4 gates of accumulators, so
// each weight vector loaded serves 4 rows; AVX2's 16 hold one row's 4 gates (8 ymm).
DLRT_TARGET_AVX512 void runAvx512(const Problem &p, int64_t u0, int64_t u1,
                                                                          const std::function<void()> &sync) {
  run<4>(p, u0, u1, sync);
}
DLRT_TARGET_AVX2 void runAvx2(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync) {
  run<1>(p, u0, u1, sync);
}
void runGeneric(const Problem &p, int64_t u0, int64_t u1, const std::function<void()> &sync) {
  run<1>(p, u0, u1, sync);
}

} // namespace

void packLstmRecurrentWeight(const float *whh, int64_t h, float *packed) {
  for (int64_t u = 0; u < h / kLanes; ++u)
    for (int64_t k = 0; k < h; ++k)
      for (int64_t g = 0; g < 4; ++g)
        for (int64_t l = 0; l < kLanes; ++l)
          packed[((u * h + k) * 4 + g) * kLanes + l] = whh[(g * h + u * kLanes + l) * h + k];
}

int64_t lstmStateSize(int64_t b, int64_t h) { return 3 * b * h; }

void lstmRecurrence(int threads, int64_t b, int64_t t, int64_t h, const float *proj, const float *packed, float *y,
                    bool sequence, float *state, VectorIsa isa) {
  auto runFor = isa == VectorIsa::Avx512 ? runAvx512 : isa == VectorIsa::Avx2 ? runAvx2 : runGeneric;
  Problem p{b, t, h, proj, packed, y, sequence, {state, state + b * h}, state + 2 * b * h};
  int64_t blocks = h / kLanes;
  parallelTeam(int(std::min<int64_t>(threads, blocks)), [&](int member, int members, const std::function<void()> &sync) {
    runFor(p, blocks * member / members, blocks * (member + 1) / members, sync);
  });
}

} // namespace dlrt::native
