//===- Vector.h - float vectors for kernels written here -------*- C++ -*-===//
//
// GCC/clang vector extensions rather than intrinsics: the same source becomes one zmm
// per vector in a function compiled for AVX-512, two ymm for AVX2, four xmm otherwise,
// so a kernel is written once and compiled per ISA (the callers' target attributes).
// Everything here is always_inline, so that it takes the ISA of the function it lands in.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_VECTOR_H
#define DLRT_SRC_NATIVE_VECTOR_H

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

namespace dlrt::native {

/// The instruction sets native kernels are built for, widest first. A kernel has one
/// build per set (a function per set with its target attribute, the kernel's code
/// inlined into each) and runs the widest this CPU has.
enum class VectorIsa { Avx512, Avx2, Generic };
VectorIsa widestVectorIsa();
/// Target attributes of each set's build.
#define DLRT_TARGET_AVX512 [[gnu::target("avx512f,avx512dq,avx512bw,avx512vl,fma")]]
#define DLRT_TARGET_AVX2 [[gnu::target("avx2,fma")]]

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
constexpr int kLanes = 16;

/// Vectors of N floats and of N 32-bit integers: 16 (vf, vi) for the kernels' usual
/// blocks, 8 where a kernel keeps more accumulators than AVX2's 16 registers hold as
/// 16-float vectors (each is two ymm there), or works on 8-channel blocks.
template <int N> struct Lanes;
template <> struct Lanes<16> {
  using F = vf;
  using I = vi;
};
template <> struct Lanes<8> {
  typedef float F __attribute__((vector_size(32)));
  typedef int32_t I __attribute__((vector_size(32)));
};
using vf8 = Lanes<8>::F;
template <class V> constexpr int kLanesOf = int(sizeof(V) / sizeof(float));
template <class V> using IntsOf = typename Lanes<kLanesOf<V>>::I;

#define DLRT_VINLINE [[gnu::always_inline]] inline

template <class V> DLRT_VINLINE V loadLanes(const float *p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V> DLRT_VINLINE void storeLanes(float *p, V v) { std::memcpy(p, &v, sizeof v); }
/// x in every lane. x - 0 rather than 0 + x: the subtraction is exact for every x
/// (-0 - 0 = -0), so the compiler drops it; 0 + x turns -0 into +0 and costs an add.
template <class V> DLRT_VINLINE V splatLanes(float x) { return x - V{}; }

/// Floats starting on a 64-byte boundary, so that a vector load or store at a multiple of
/// 16 floats never spans two cache lines (std::vector's 16-byte alignment split every
/// 64-byte access of a packed weight in two).
class AlignedFloats {
public:
  AlignedFloats() = default;
  explicit AlignedFloats(int64_t count) { resize(count); }
  /// Room for `count` floats, contents undefined; reallocates only to grow.
  void resize(int64_t count) {
    if (count <= capacity_) return;
    size_t bytes = (size_t(count) * sizeof(float) + 63) / 64 * 64;
    data_.reset(static_cast<float *>(std::aligned_alloc(64, bytes)));
    if (!data_) throw std::bad_alloc();
    capacity_ = count;
  }
  float *data() { return data_.get(); }
  const float *data() const { return data_.get(); }

private:
  struct Free {
    void operator()(float *p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  int64_t capacity_ = 0;
};

DLRT_VINLINE vf load(const float *p) { return loadLanes<vf>(p); }
DLRT_VINLINE void store(float *p, vf v) { storeLanes(p, v); }
DLRT_VINLINE vf splat(float x) { return splatLanes<vf>(x); }

/// The sum of a vector's 8 or 16 lanes as a tree of halves: three or four dependent adds,
/// where a loop over the lanes is a chain of eight or sixteen that the compiler may not
/// reorder (a layer norm's forward pass spent half its time in two such chains per row).
DLRT_VINLINE float lanesSum(vf8 a) {
  typedef float f4 __attribute__((vector_size(16)));
  f4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}
DLRT_VINLINE float lanesSum(vf v) {
  return lanesSum(vf8(__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                      __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)));
}

/// The largest of a vector's 8 or 16 lanes, none of them NaN, as a tree of halves (three
/// or four dependent steps; a loop over the lanes is a chain of seven or fifteen).
DLRT_VINLINE float lanesMax(vf8 a) {
  typedef float f4 __attribute__((vector_size(16)));
  f4 b0 = __builtin_shufflevector(a, a, 0, 1, 2, 3), b1 = __builtin_shufflevector(a, a, 4, 5, 6, 7);
  f4 b = b1 > b0 ? b1 : b0;
  float c0 = b[0] > b[2] ? b[0] : b[2], c1 = b[1] > b[3] ? b[1] : b[3];
  return c0 > c1 ? c0 : c1;
}
DLRT_VINLINE float lanesMax(vf v) {
  vf8 lo = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
  vf8 hi = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  return lanesMax(vf8(hi > lo ? hi : lo));
}

/// Rows r[0..7] of an 8 x 8 block become its columns (r[j][i] = the old r[i][j]): pairs of
/// rows interleaved, then pairs of pairs, then the 128-bit halves exchanged (unpck, shufps
/// and vperm2f128 on AVX).
DLRT_VINLINE void transpose8x8(vf8 (&r)[8]) {
  vf8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4)
    for (int j = 0; j < 2; ++j) {
      u[i + 2 * j] = __builtin_shufflevector(t[i + j], t[i + 2 + j], 0, 1, 8, 9, 4, 5, 12, 13);
      u[i + 2 * j + 1] = __builtin_shufflevector(t[i + j], t[i + 2 + j], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int j = 0; j < 4; ++j) {
    r[j] = __builtin_shufflevector(u[j], u[4 + j], 0, 1, 2, 3, 8, 9, 10, 11);
    r[4 + j] = __builtin_shufflevector(u[j], u[4 + j], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

/// x limited to [lo, hi]; NaN stays NaN (every comparison with it is false).
template <class V> DLRT_VINLINE V clamp(V x, V lo, V hi) {
  x = x > hi ? hi : x;
  return x < lo ? lo : x;
}

/// The range vexp computes over; beyond it, it gives its value at the bound.
constexpr float kExpLowest = -87.3f, kExpHighest = 88.7f;

/// e^x for x in [kExpLowest, kExpHighest] (clamped there), within 2 ulp: Cephes' expf,
/// x = n ln 2 + r with |r| <= ln 2 / 2 and a degree-6 polynomial for e^r. NaN gives NaN.
template <class V> DLRT_VINLINE V vexp(V x) {
  x = clamp(x, splatLanes<V>(kExpLowest), splatLanes<V>(kExpHighest));
  const V round = splatLanes<V>(12582912.0f); // 1.5 * 2^23: adding and subtracting it rounds to an integer
  V n = (x * splatLanes<V>(1.44269504088896341f) + round) - round;
  V r = x - n * splatLanes<V>(0.693359375f); // ln 2 in two parts: r exact to float precision
  r = r - n * splatLanes<V>(-2.12194440e-4f);
  V p = splatLanes<V>(1.9875691500e-4f);
  p = p * r + splatLanes<V>(1.3981999507e-3f);
  p = p * r + splatLanes<V>(8.3334519073e-3f);
  p = p * r + splatLanes<V>(4.1665795894e-2f);
  p = p * r + splatLanes<V>(1.6666665459e-1f);
  p = p * r + splatLanes<V>(5.0000001201e-1f);
  p = p * r * r + r + splatLanes<V>(1.0f);
  IntsOf<V> bits = (__builtin_convertvector(n, IntsOf<V>) + 127) << 23; // 2^n
  V scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/// e^x, exactly 0 below vexp's range (where vexp gives its floor, 1.2e-38), as torch's
/// exp: a softmax weight of a -inf score must be 0, which times an infinity is NaN, not
/// an infinity.
template <class V> DLRT_VINLINE V vexpOrZero(V x) { return x < splatLanes<V>(kExpLowest) ? V{} : vexp(x); }

/// 1 / (1 + e^-x).
template <class V> DLRT_VINLINE V vsigmoid(V x) { return splatLanes<V>(1.0f) / (splatLanes<V>(1.0f) + vexp(-x)); }

/// tanh x: Cephes' odd polynomial where |x| < 0.625 (where 1 - 2 / (e^2x + 1) would lose
/// the low bits of small results), that form elsewhere.
template <class V> DLRT_VINLINE V vtanh(V x) {
  V z = x * x;
  V p = splatLanes<V>(-5.70498872745e-3f);
  p = p * z + splatLanes<V>(2.06390887954e-2f);
  p = p * z + splatLanes<V>(-5.37397155531e-2f);
  p = p * z + splatLanes<V>(1.33314422036e-1f);
  p = p * z + splatLanes<V>(-3.33332819422e-1f);
  V small = p * z * x + x;
  V large = splatLanes<V>(1.0f) - splatLanes<V>(2.0f) / (vexp(x + x) + splatLanes<V>(1.0f));
  V magnitude = x < splatLanes<V>(0.0f) ? -x : x;
  return magnitude < splatLanes<V>(0.625f) ? small : large;
}

/// tanh x in 13 operations and one division, where vtanh takes about 35 with one: for
/// values whose error counts in absolute terms, an RNN's gates. x P(x^2) / Q(x^2) with P
/// and Q of degree 4, fitted here (Lawson-weighted least squares on the relative error,
/// P(0) = 1 so that small x keep their precision; 2.1e-8 in exact arithmetic) on
/// |x| <= 9, beyond which tanh rounds to +-1. In float, within 7 ulp (measured over every
/// float: 6.1 without FMA, 5.4 with; KernelsTest sweeps them); the result is held to
/// [-1, 1]. NaN gives NaN.
template <class V> DLRT_VINLINE V vtanhApprox(V x) {
  const V one = splatLanes<V>(1.0f);
  x = clamp(x, splatLanes<V>(-9.0f), splatLanes<V>(9.0f));
  V s = x * x;
  V p = splatLanes<V>(1.3419858561208864e-08f);
  p = p * s + splatLanes<V>(2.0661287308943432e-05f);
  p = p * s + splatLanes<V>(3.4989975162709021e-03f);
  p = p * s + splatLanes<V>(1.3383981465713435e-01f);
  p = p * s + one;
  V q = splatLanes<V>(7.8047438545981790e-07f);
  q = q * s + splatLanes<V>(3.2910407698046956e-04f);
  q = q * s + splatLanes<V>(2.5890211794837470e-02f);
  q = q * s + splatLanes<V>(4.6717302947742617e-01f);
  q = q * s + one;
  return clamp(x * p / q, -one, one);
}

/// The logistic function as 1/2 + tanh(x / 2) / 2 on vtanhApprox: within 2e-7 of it in
/// absolute terms, in [0, 1], but without vsigmoid's relative precision for tiny results
/// (e^-20 is 2e-9; this gives 0 there). For gates, whose values scale others.
template <class V> DLRT_VINLINE V vsigmoidApprox(V x) {
  const V half = splatLanes<V>(0.5f);
  return half + half * vtanhApprox(x * half);
}

} // namespace dlrt::native
#endif
