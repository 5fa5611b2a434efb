//===- WindowMax.h - a pooling window's maximum, NaN kept -------*- C++ -*-===//
//
// What max pooling written here shares: a window's running maximum over vectors of
// channels that ends NaN where any element was NaN (torch.max_pool2d's rule, which x86's
// maxps breaks), relu after it, and where a vector of channels of a pixel lies.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_WINDOWMAX_H
#define DLRT_SRC_NATIVE_WINDOWMAX_H

#include "native/Vector.h"

#include <cstdint>
#include <cstring>
#include <limits>

namespace dlrt::native {

/// A window's running maximum that ends NaN where any element was NaN, two ways; each ISA
/// takes the faster (the CNN sample's first pooling, b64, one Zen 4 core, AVX-512 0.082 ms
/// against 0.089, AVX2 0.089 against 0.115).
///
/// WindowMax: `max` is x86's maxps (a NaN operand yields the other), one instruction;
/// `magnitudes` keeps the largest |element| bit pattern as an integer, which exceeds
/// +inf's (0x7f800000) exactly when some element was NaN. Two independent instructions
/// per element, where comparing for NaN into a mask register took four.
template <int N> struct WindowMax {
  using F = typename Lanes<N>::F;
  using I = typename Lanes<N>::I;
  F max;
  I magnitudes;
  DLRT_VINLINE void start() {
    max = splatLanes<F>(-std::numeric_limits<float>::infinity());
    magnitudes = I{} + 0;
  }
  DLRT_VINLINE void add(F v) {
    max = v > max ? v : max;
    I bits;
    std::memcpy(&bits, &v, sizeof bits);
    bits &= 0x7fffffff;
    magnitudes = bits > magnitudes ? bits : magnitudes;
  }
  DLRT_VINLINE F result() const {
    return magnitudes > 0x7f800000 ? splatLanes<F>(std::numeric_limits<float>::quiet_NaN()) : max;
  }
};

/// CompareMax: the maximum with a NaN taking its place and, compared with nothing greater
/// after, keeping it: a compare, an unordered compare, their or and a blend per element.
template <int N> struct CompareMax {
  using F = typename Lanes<N>::F;
  F max;
  DLRT_VINLINE void start() { max = splatLanes<F>(-std::numeric_limits<float>::infinity()); }
  DLRT_VINLINE void add(F v) { max = ((v > max) | (v != v)) ? v : max; }
  DLRT_VINLINE F result() const { return max; }
};

/// The largest of four vectors, lane by lane, NaN where any of them is: three of x86's
/// maxps (which drop a NaN) and two unordered compares (the compiler merges x != x | y != y
/// into one), seven instructions where a WindowMax of four elements takes fourteen.
template <class V> DLRT_VINLINE V max4KeepingNaN(V a, V b, V c, V d) {
  V ab = a > b ? a : b, cd = c > d ? c : d, m = ab > cd ? ab : cd;
  auto nan = (a != a) | (b != b) | (c != c) | (d != d);
  return nan ? splatLanes<V>(std::numeric_limits<float>::quiet_NaN()) : m;
}

/// relu keeping NaN, as dl.relu: x where x > 0 or unordered, else 0.
template <class V> DLRT_VINLINE V reluKeepingNaN(V x) { return ((x > 0.0f) | (x != x)) ? x : V{}; }

/// A window's maximum, then relu where the compiler fused it: one pass over the result
/// fewer.
template <class Max> DLRT_VINLINE auto resultOf(const Max &m, bool relu) {
  auto r = m.result();
  return relu ? reluKeepingNaN(r) : r;
}

/// Where a vector of N channels of pixel (i, j) of image b lies, in floats: NHWC or blocks
/// of N channels ([N][C/N][H][W][N]).
template <int N> struct Layout {
  int64_t image, block, row, column;
  Layout(bool blocked, int64_t c, int64_t h, int64_t w)
      : image(h * w * c), block(blocked ? h * w * N : N), row(w * (blocked ? N : c)), column(blocked ? N : c) {}
};

} // namespace dlrt::native
#endif
