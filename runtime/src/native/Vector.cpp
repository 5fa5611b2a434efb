//===- Vector.cpp - which build of a native kernel this CPU runs ---------===//
#include "native/Vector.h"

#include "oneapi/dnnl/dnnl.h"

namespace dlrt::native {

// The CPU's widest set, capped where oneDNN is capped (ONEDNN_MAX_CPU_ISA=AVX2 on an
// AVX-512 machine runs every kernel of the runtime as an AVX2 machine would: one knob for
// testing and measuring the other CPU family, and no mix of the two in one model).
VectorIsa widestVectorIsa() {
  static const VectorIsa isa = [] {
    __builtin_cpu_init();
    auto has = [cap = dnnl_get_effective_cpu_isa()](dnnl_cpu_isa_t set) { return (cap & set) == set; };
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && has(dnnl_cpu_isa_avx512_core))
      return VectorIsa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has(dnnl_cpu_isa_avx2))
      return VectorIsa::Avx2;
    return VectorIsa::Generic;
  }();
  return isa;
}

} // namespace dlrt::native
