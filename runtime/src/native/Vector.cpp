//===- Vector.cpp - which build of a native kernel this CPU runs ---------===//
#include "native/Vector.h"

namespace dlrt::native {

VectorIsa widestVectorIsa() {
  static const VectorIsa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
      return VectorIsa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return VectorIsa::Avx2;
    return VectorIsa::Generic;
  }();
  return isa;
}

} // namespace dlrt::native
