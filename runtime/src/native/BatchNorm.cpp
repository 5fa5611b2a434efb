//===- BatchNorm.cpp - batch_norm's training form and its gradient --------===//
#include "native/BatchNorm.h"
#include "native/MaxPool.h"
#include "native/WindowMax.h"

#include "Threads.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace dlrt::native {
namespace {

typedef double vd __attribute__((vector_size(64)));

/// A vector's 16 floats as two vectors of 8 doubles.
DLRT_VINLINE void widen(vf v, vd &lo, vd &hi) {
  lo = __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7), vd);
  hi = __builtin_convertvector(__builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15), vd);
}
DLRT_VINLINE vd loadDoubles(const double *p) {
  vd v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
DLRT_VINLINE void storeDoubles(double *p, vd v) { std::memcpy(p, &v, sizeof v); }

/// The most groups of rows whose sums are kept apart (the scratch), and the fewest rows in
/// one: a group is the unit of the threads' work and of the order of summation.
constexpr int64_t kMaxGroups = 256, kMinGroupRows = 16;

/// Results from this size on are written past the caches (streams()).
constexpr double kStreamingBytes = 32.0 * 1024 * 1024;

int64_t groupRows(int64_t rows) { return std::max(kMinGroupRows, (rows + kMaxGroups - 1) / kMaxGroups); }
int64_t groupCount(int64_t rows) { return (rows + groupRows(rows) - 1) / groupRows(rows); }

/// The forward statistics' terms of an element: x - K and (x - K)^2, exact in double.
struct MomentTerms {
  const float *x;
  DLRT_VINLINE void vector(int64_t at, vf k, vd (&a)[2], vd (&b)[2]) const {
    vd x0, x1, k0, k1;
    widen(load(x + at), x0, x1);
    widen(k, k0, k1);
    vd d0 = x0 - k0, d1 = x1 - k1;
    a[0] += d0, a[1] += d1;
    b[0] += d0 * d0, b[1] += d1 * d1;
  }
  DLRT_VINLINE void scalar(int64_t at, float k, double &a, double &b) const {
    double d = double(x[at]) - double(k);
    a += d, b += d * d;
  }
};

/// The gradient's terms of an element: dy and dy (x - mean), the product in float.
struct GradientTerms {
  const float *x, *dy;
  DLRT_VINLINE void vector(int64_t at, vf mean, vd (&a)[2], vd (&b)[2]) const {
    vf d = load(dy + at), p = (load(x + at) - mean) * d;
    vd d0, d1, p0, p1;
    widen(d, d0, d1);
    widen(p, p0, p1);
    a[0] += d0, a[1] += d1;
    b[0] += p0, b[1] += p1;
  }
  DLRT_VINLINE void scalar(int64_t at, float mean, double &a, double &b) const {
    float d = dy[at];
    a += double(d), b += double((x[at] - mean) * d);
  }
};

/// Rows [begin, end), channels [c0, c0 + 16 Chunks): the two terms' sums stored to sa and
/// sb. The sums stay in registers through the rows (in memory, each row's loads and
/// stores of them made the pass over the stem's 51 MB take 7.3 ms instead of 5.3).
template <int Chunks, class Terms>
DLRT_VINLINE void rowBlockSums(const Terms &t, int64_t channels, int64_t begin, int64_t end, int64_t c0,
                               const float *param, double *sa, double *sb) {
  vd a[Chunks][2] = {}, b[Chunks][2] = {};
  vf p[Chunks];
  for (int j = 0; j < Chunks; ++j) p[j] = load(param + c0 + j * kLanes);
  for (int64_t r = begin; r < end; ++r) {
    const int64_t at = r * channels + c0;
    for (int j = 0; j < Chunks; ++j) t.vector(at + j * kLanes, p[j], a[j], b[j]);
  }
  for (int j = 0; j < Chunks; ++j)
    for (int h = 0; h < 2; ++h) {
      storeDoubles(sa + c0 + j * kLanes + 8 * h, a[j][h]);
      storeDoubles(sb + c0 + j * kLanes + 8 * h, b[j][h]);
    }
}

/// Rows [begin, end) of channels-last data: each channel's Σ of the two terms in
/// sums[c] and sums[channels + c], `param` the per-channel value the terms take; blocks of
/// 16 Chunks channels, each over all the rows (4 with AVX-512, whose 32 registers hold
/// their 16 sums; 1 on AVX2's 16).
template <int Chunks, class Terms>
DLRT_VINLINE void rowSums(const Terms &t, int64_t channels, int64_t begin, int64_t end, const float *param,
                          double *sums) {
  double *sa = sums, *sb = sums + channels;
  int64_t c = 0;
  for (; c + Chunks * kLanes <= channels; c += Chunks * kLanes)
    rowBlockSums<Chunks>(t, channels, begin, end, c, param, sa, sb);
  for (; c + kLanes <= channels; c += kLanes) rowBlockSums<1>(t, channels, begin, end, c, param, sa, sb);
  std::fill(sa + c, sa + channels, 0.0);
  std::fill(sb + c, sb + channels, 0.0);
  for (int64_t r = begin; r < end; ++r)
    for (int64_t k = c; k < channels; ++k) t.scalar(r * channels + k, param[k], sa[k], sb[k]);
}

/// Channel c's Σ of the two terms over its planes of NCHW-like data.
template <class Terms>
DLRT_VINLINE void planeSums(const Terms &t, const BatchNormShape &s, int64_t c, float param, double &sumA,
                            double &sumB) {
  vd a[2] = {}, b[2] = {};
  const vf p = splat(param);
  double ta = 0, tb = 0;
  for (int64_t o = 0; o < s.outer; ++o) {
    const int64_t plane = (o * s.channels + c) * s.inner;
    int64_t i = 0;
    for (; i + kLanes <= s.inner; i += kLanes) t.vector(plane + i, p, a, b);
    for (; i < s.inner; ++i) t.scalar(plane + i, param, ta, tb);
  }
  vd sa = a[0] + a[1], sb = b[0] + b[1];
  sumA = ta, sumB = tb;
  for (int j = 0; j < 8; ++j) sumA += sa[j], sumB += sb[j];
}

/// Part [begin, end) of the per-channel sums of the two terms: groups of rows of
/// channels-last data, each into its row of `partials` (added by addPartials), or channels
/// of NCHW-like data, into sums[c] and sums[channels + c].
template <int Chunks, class Terms>
DLRT_VINLINE void sumsPart(const BatchNormShape &s, const Terms &t, const float *param, double *partials,
                           double *sums, int64_t begin, int64_t end) {
  const int64_t channels = s.channels;
  if (s.inner == 1) {
    const int64_t per = groupRows(s.outer);
    for (int64_t g = begin; g < end; ++g)
      rowSums<Chunks>(t, channels, g * per, std::min(s.outer, (g + 1) * per), param, partials + g * 2 * channels);
    return;
  }
  for (int64_t c = begin; c < end; ++c) planeSums(t, s, c, param[c], sums[c], sums[channels + c]);
}

/// The parts sumsPart splits its work into.
int64_t sumsParts(const BatchNormShape &s) { return s.inner == 1 ? groupCount(s.outer) : s.channels; }

/// The groups' partial sums added in order, where sumsPart left them apart.
void addPartials(const BatchNormShape &s, const double *partials, double *sums) {
  if (s.inner != 1) return;
  const int64_t width = 2 * s.channels;
  std::fill_n(sums, width, 0.0);
  for (int64_t g = 0; g < groupCount(s.outer); ++g)
    for (int64_t c = 0; c < width; ++c) sums[c] += partials[g * width + c];
}

/// Part [begin, end) of out = f(in..., p0_c, p1_c, p2_c, p3_c) elementwise, p* per-channel
/// values: rows of channels-last data, planes of NCHW-like data.
template <class F>
DLRT_VINLINE void mapPart(const BatchNormShape &s, const float *const (&p)[4], const F &f, int64_t begin,
                          int64_t end) {
  const int64_t channels = s.channels;
  if (s.inner == 1) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t row = r * channels;
      int64_t c = 0;
      for (; c + kLanes <= channels; c += kLanes)
        f.vector(row + c, load(p[0] + c), load(p[1] + c), load(p[2] + c), load(p[3] + c));
      for (; c < channels; ++c) f.scalar(row + c, p[0][c], p[1][c], p[2][c], p[3][c]);
    }
    return;
  }
  for (int64_t plane = begin; plane < end; ++plane) {
    const int64_t c = plane % channels, base = plane * s.inner;
    const float q0 = p[0][c], q1 = p[1][c], q2 = p[2][c], q3 = p[3][c];
    const vf v0 = splat(q0), v1 = splat(q1), v2 = splat(q2), v3 = splat(q3);
    int64_t i = 0;
    for (; i + kLanes <= s.inner; i += kLanes) f.vector(base + i, v0, v1, v2, v3);
    for (; i < s.inner; ++i) f.scalar(base + i, q0, q1, q2, q3);
  }
}

/// The parts mapPart splits its work into.
int64_t mapParts(const BatchNormShape &s) { return s.inner == 1 ? s.outer : s.outer * s.channels; }

/// Stores a result vector: past the caches where the result is far larger than them
/// (`streaming`, every vector then 64-byte aligned; see streams()).
DLRT_VINLINE void storeResult(float *p, vf v, bool streaming) {
  if (streaming) __builtin_nontemporal_store(v, reinterpret_cast<vf *>(p));
  else store(p, v);
}

/// y = (x - mean) * scale + beta, plus the residual where there is one, relu'd (NaN kept,
/// as torch.relu) where `relu`.
struct Normalise {
  const float *x;
  float *y;
  bool streaming;
  BatchNormEpilogue after;
  DLRT_VINLINE void vector(int64_t at, vf mean, vf scale, vf beta, vf) const {
    vf v = (load(x + at) - mean) * scale + beta;
    if (after.residual) v += load(after.residual + at);
    storeResult(y + at, after.relu ? reluKeepingNaN(v) : v, streaming);
  }
  DLRT_VINLINE void scalar(int64_t at, float mean, float scale, float beta, float) const {
    float v = (x[at] - mean) * scale + beta;
    if (after.residual) v += after.residual[at];
    y[at] = after.relu ? reluKeepingNaN(v) : v;
  }
};

/// dx = (dy - meanDy - (x - mean) * k) * scale.
struct InputGradient {
  const float *x, *dy;
  float *dx;
  bool streaming;
  DLRT_VINLINE void vector(int64_t at, vf mean, vf meanDy, vf k, vf scale) const {
    storeResult(dx + at, (load(dy + at) - meanDy - (load(x + at) - mean) * k) * scale, streaming);
  }
  DLRT_VINLINE void scalar(int64_t at, float mean, float meanDy, float k, float scale) const {
    dx[at] = (dy[at] - meanDy - (x[at] - mean) * k) * scale;
  }
};

/// Whether a result `out` of shape `s` is written by non-temporal stores: where it is far
/// larger than a core's caches, so that writing it through them costs a read of each line
/// first (one core of the Sapphire Rapids VM: a copy of 51 MB at 16 GB/s, 26 with such
/// stores), and where every vector store is 64-byte aligned. ResNet-18's stem at batch 16
/// (51 MB), one core, side by side: forward 12.5-12.9 -> 8.7-9.2 ms, backward 17.3-17.8 ->
/// 15.1-15.3, the ops that read the results next (max pooling, the convolution's
/// gradients) no slower.
bool streams(const BatchNormShape &s, const float *out) {
  const int64_t run = s.inner == 1 ? s.channels : s.inner; // a row or a plane: each starts at a multiple
  const bool aligned = reinterpret_cast<uintptr_t>(out) % 64 == 0 && run % kLanes == 0;
  return aligned && double(s.outer) * double(s.channels) * double(s.inner) * sizeof(float) >= kStreamingBytes;
}

/// scratch: the groups' partial sums (channels-last data), then 2 * channels doubles of
/// totals, then 4 * channels floats of per-channel parameters.
struct ScratchLayout {
  double *partials, *sums;
  float *params;
  ScratchLayout(const BatchNormShape &s, double *scratch) {
    partials = scratch;
    sums = partials + (s.inner == 1 ? groupCount(s.outer) * 2 * s.channels : 0);
    params = reinterpret_cast<float *>(sums + 2 * s.channels);
  }
};

/// One call's operands and the per-channel values its passes share.
struct Forward {
  const BatchNormShape &s;
  const float *x, *gamma, *beta;
  float *y, eps, *mean, *var;
  BatchNormEpilogue after;
  ScratchLayout l;
  float *shift() const { return l.params; }
  float *scale() const { return l.params + s.channels; }
};

struct Backward {
  const BatchNormShape &s;
  const float *x, *gamma, *mean, *var, *dy;
  float *dx, *dgamma, *dbeta, eps;
  ScratchLayout l;
  float *meanDy() const { return l.params; }
  float *k() const { return l.params + s.channels; }
  float *scale() const { return l.params + 2 * s.channels; }
};

// The passes over the data, one build per ISA (lambdas do not take a function's target,
// so each part is a function of its own).
template <int Chunks> DLRT_VINLINE void forwardSums(const Forward &f, int64_t begin, int64_t end) {
  sumsPart<Chunks>(f.s, MomentTerms{f.x}, f.shift(), f.l.partials, f.l.sums, begin, end);
}
DLRT_VINLINE void forwardMap(const Forward &f, int64_t begin, int64_t end) {
  const Normalise n{f.x, f.y, streams(f.s, f.y), f.after};
  mapPart(f.s, {f.mean, f.scale(), f.beta, f.beta}, n, begin, end);
  if (n.streaming) __builtin_ia32_sfence(); // the stores visible before the threads join
}
template <int Chunks> DLRT_VINLINE void backwardSums(const Backward &b, int64_t begin, int64_t end) {
  sumsPart<Chunks>(b.s, GradientTerms{b.x, b.dy}, b.mean, b.l.partials, b.l.sums, begin, end);
}
DLRT_VINLINE void backwardMap(const Backward &b, int64_t begin, int64_t end) {
  const InputGradient g{b.x, b.dy, b.dx, streams(b.s, b.dx)};
  mapPart(b.s, {b.mean, b.meanDy(), b.k(), b.scale()}, g, begin, end);
  if (g.streaming) __builtin_ia32_sfence();
}

struct Passes {
  void (*forwardSums)(const Forward &, int64_t, int64_t), (*forwardMap)(const Forward &, int64_t, int64_t);
  void (*backwardSums)(const Backward &, int64_t, int64_t), (*backwardMap)(const Backward &, int64_t, int64_t);
};

#define DLRT_BATCH_NORM_BUILD(name, target, chunks)                                                                    \
  target void name##ForwardSums(const Forward &f, int64_t b, int64_t e) { forwardSums<chunks>(f, b, e); }              \
  target void name##ForwardMap(const Forward &f, int64_t b, int64_t e) { forwardMap(f, b, e); }                        \
  target void name##BackwardSums(const Backward &p, int64_t b, int64_t e) { backwardSums<chunks>(p, b, e); }           \
  target void name##BackwardMap(const Backward &p, int64_t b, int64_t e) { backwardMap(p, b, e); }                     \
  constexpr Passes name##Passes = {name##ForwardSums, name##ForwardMap, name##BackwardSums, name##BackwardMap};
DLRT_BATCH_NORM_BUILD(avx512, DLRT_TARGET_AVX512, 4)
DLRT_BATCH_NORM_BUILD(avx2, DLRT_TARGET_AVX2, 1)
DLRT_BATCH_NORM_BUILD(generic, , 1)
#undef DLRT_BATCH_NORM_BUILD

const Passes &passesFor(VectorIsa isa) {
  return isa == VectorIsa::Avx512 ? avx512Passes : isa == VectorIsa::Avx2 ? avx2Passes : genericPasses;
}

} // namespace

int64_t batchNormScratch(const BatchNormShape &s) {
  int64_t partials = s.inner == 1 ? groupCount(s.outer) * 2 * s.channels : 0;
  return partials + 2 * s.channels + (4 * s.channels + 1) / 2; // the sums, then 4 floats per channel
}

namespace {

/// The forward's first pass: mean and var, and the scale of each channel (f.scale()).
void statistics(int threads, const Forward &f, const Passes &run) {
  const BatchNormShape &s = f.s;
  const float *x = f.x, *gamma = f.gamma;
  float *mean = f.mean, *var = f.var, eps = f.eps;
  const int64_t channels = s.channels;
  // K: the channel's first value, or 0 where that is not finite (x - K would be NaN for
  // every x where PyTorch's mean is +-inf).
  for (int64_t c = 0; c < channels; ++c) {
    float k = x[s.inner == 1 ? c : c * s.inner];
    f.shift()[c] = std::isfinite(k) ? k : 0.0f;
  }
  parallelRanges(threads, sumsParts(s), [&](int64_t b, int64_t e) { run.forwardSums(f, b, e); });
  addPartials(s, f.l.partials, f.l.sums);
  const double n = double(s.count());
  for (int64_t c = 0; c < channels; ++c) {
    double m = f.l.sums[c] / n, v = f.l.sums[channels + c] / n - m * m;
    mean[c] = float(double(f.shift()[c]) + m);
    var[c] = v < 0 ? 0.0f : float(v); // NaN stays NaN
    f.scale()[c] = gamma[c] / std::sqrt(var[c] + eps);
  }
}

} // namespace

void batchNormTraining(int threads, const BatchNormShape &s, const float *x, const float *gamma, const float *beta,
                       float *y, float eps, float *mean, float *var, double *scratch, BatchNormEpilogue after,
                       VectorIsa isa) {
  const Passes &run = passesFor(isa);
  const Forward f{s, x, gamma, beta, y, eps, mean, var, after, ScratchLayout(s, scratch)};
  statistics(threads, f, run);
  parallelRanges(threads, mapParts(s), [&](int64_t b, int64_t e) { run.forwardMap(f, b, e); });
}

void batchNormTrainingMaxPool(int threads, const int64_t *g, const float *x, const float *gamma, const float *beta,
                              float eps, float *mean, float *var, double *scratch, float *pooled, uint8_t *where,
                              VectorIsa isa) {
  const BatchNormShape s = pooledBatchNormShape(g);
  const Forward f{s, x, gamma, beta, nullptr, eps, mean, var, {}, ScratchLayout(s, scratch)};
  statistics(threads, f, passesFor(isa));
  maxPoolTraining(threads, g, x, pooled, where, isa, PoolInput{mean, f.scale(), beta});
}

void batchNormBackward(int threads, const BatchNormShape &s, const float *x, const float *gamma, const float *mean,
                       const float *var, const float *dy, float *dx, float *dgamma, float *dbeta, float eps,
                       double *scratch, VectorIsa isa) {
  const Passes &run = passesFor(isa);
  Backward p{s, x, gamma, mean, var, dy, dx, dgamma, dbeta, eps, ScratchLayout(s, scratch)};
  parallelRanges(threads, sumsParts(s), [&](int64_t b, int64_t e) { run.backwardSums(p, b, e); });
  addPartials(s, p.l.partials, p.l.sums);
  const double n = double(s.count());
  for (int64_t c = 0; c < s.channels; ++c) {
    const double sumDy = p.l.sums[c], sumDyX = p.l.sums[s.channels + c];
    const float invStd = 1.0f / std::sqrt(var[c] + eps);
    dbeta[c] = float(sumDy);
    dgamma[c] = float(sumDyX * double(invStd));
    p.meanDy()[c] = float(sumDy / n);
    p.k()[c] = float(sumDyX / n * double(invStd) * double(invStd));
    p.scale()[c] = invStd * gamma[c];
  }
  parallelRanges(threads, mapParts(s), [&](int64_t b, int64_t e) { run.backwardMap(p, b, e); });
}

} // namespace dlrt::native
