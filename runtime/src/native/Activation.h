//===- Activation.h - activations after a product, written here --*- C++ -*-===//
//
// The activations the runtime's own kernels apply to their results (native/Gemv), and
// applies after a oneDNN primitive where oneDNN's post-op gets an edge wrong: the sigmoid
// post-op of its gemm-based convolutions (grouped ones) on AVX2 and SSE4.1 turned NaN into
// numbers (a NaN input's outputs came out 0.5-ish where torch's are NaN).
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_ACTIVATION_H
#define DLRT_SRC_NATIVE_ACTIVATION_H

#include "native/Vector.h"
#include "dlrt/model_abi.h"

#include <cstdint>

namespace dlrt::native {

/// A dlrt_activation of each lane, as torch computes it (NaN stays NaN): relu, sigmoid,
/// tanh and silu; any other code leaves v as it is (callers check what they support).
template <class V> DLRT_VINLINE V activate(V v, int64_t activation) {
  switch (activation) {
  case DLRT_ACTIVATION_RELU: return v < splatLanes<V>(0.0f) ? splatLanes<V>(0.0f) : v; // NaN stays NaN
  case DLRT_ACTIVATION_SIGMOID: return vsigmoid(v);
  case DLRT_ACTIVATION_TANH: return vtanh(v);
  case DLRT_ACTIVATION_SILU: return v * vsigmoid(v);
  default: return v;
  }
}

/// y = activation(y) for `count` floats, on up to `threads` threads; activation one that
/// `activate` computes.
void activateInPlace(int threads, int64_t activation, float *y, int64_t count, VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
