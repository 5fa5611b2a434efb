//===- Vector.h - 16-float vectors for kernels written here ----*- C++ -*-===//
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
#include <cstring>

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

#define DLRT_VINLINE [[gnu::always_inline]] inline

DLRT_VINLINE vf load(const float *p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
DLRT_VINLINE void store(float *p, vf v) { std::memcpy(p, &v, sizeof v); }
DLRT_VINLINE vf splat(float x) { return vf{} + x; }
/// x limited to [lo, hi]; NaN stays NaN (every comparison with it is false).
DLRT_VINLINE vf clamp(vf x, vf lo, vf hi) {
  x = x > hi ? hi : x;
  return x < lo ? lo : x;
}

/// e^x for x in [-87.3, 88.7] (clamped there), within 2 ulp: Cephes' expf, x = n ln 2 + r
/// with |r| <= ln 2 / 2 and a degree-6 polynomial for e^r. NaN gives NaN.
DLRT_VINLINE vf vexp(vf x) {
  x = clamp(x, splat(-87.3f), splat(88.7f));
  const vf round = splat(12582912.0f); // 1.5 * 2^23: adding and subtracting it rounds to an integer
  vf n = (x * splat(1.44269504088896341f) + round) - round;
  vf r = x - n * splat(0.693359375f); // ln 2 in two parts: r exact to float precision
  r = r - n * splat(-2.12194440e-4f);
  vf p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  p = p * r * r + r + splat(1.0f);
  vi bits = (__builtin_convertvector(n, vi) + 127) << 23; // 2^n
  vf scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/// 1 / (1 + e^-x).
DLRT_VINLINE vf vsigmoid(vf x) { return splat(1.0f) / (splat(1.0f) + vexp(-x)); }

/// tanh x: Cephes' odd polynomial where |x| < 0.625 (where 1 - 2 / (e^2x + 1) would lose
/// the low bits of small results), that form elsewhere.
DLRT_VINLINE vf vtanh(vf x) {
  vf z = x * x;
  vf p = splat(-5.70498872745e-3f);
  p = p * z + splat(2.06390887954e-2f);
  p = p * z + splat(-5.37397155531e-2f);
  p = p * z + splat(1.33314422036e-1f);
  p = p * z + splat(-3.33332819422e-1f);
  vf small = p * z * x + x;
  vf large = splat(1.0f) - splat(2.0f) / (vexp(x + x) + splat(1.0f));
  vf magnitude = x < splat(0.0f) ? -x : x;
  return magnitude < splat(0.625f) ? small : large;
}

} // namespace dlrt::native
#endif
