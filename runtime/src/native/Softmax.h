//===- Softmax.h - softmax along any axis, written here ---------*- C++ -*-===//
//
// softmax and log_softmax over the last axis (rows contiguous in memory): attention's
// scores, a classifier's probabilities. A row is three passes over 16-float vectors (the
// maximum, the exponentials and their sum, the scaling), and the call has none of a
// primitive's fixed cost. TinyGpt's scores ([B, 4, 64, 64], rows of 64) on one Zen 5
// core: batch 2 0.014-0.016 ms against oneDNN 2.6's 0.015-0.024, batch 16 0.111-0.116
// against 0.129-0.137 (the exponential's arithmetic bounds both). Along another axis
// (elements `inner` apart) 16 adjacent columns go side by side in a vector: oneDNN's
// softmax there gave a NaN row's other elements numbers, and 0 or -inf where a row held
// +inf, where torch's are NaN.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_SOFTMAX_H
#define DLRT_SRC_NATIVE_SOFTMAX_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// y = softmax(x) (log: log_softmax) along an axis of `cols` elements, `inner` apart, for
/// each of `outer` blocks of cols x inner elements (inner 1: along contiguous rows), on up
/// to `threads` threads. As torch: exp(x - max) / sum, where an element of -inf gives
/// exactly 0 (log: -inf), and a NaN, or a maximum that is infinite, makes its whole row (or
/// column) NaN.
void softmaxAxis(int threads, int64_t outer, int64_t cols, int64_t inner, const float *x, float *y, bool log,
                 VectorIsa isa = widestVectorIsa());

/// dx from softmaxAxis's y and dy, along the same axis: y (dy - sum(dy y)), or for
/// log_softmax dy - exp(y) sum(dy).
void softmaxAxisBackward(int threads, int64_t outer, int64_t cols, int64_t inner, const float *y, const float *dy,
                         float *dx, bool log, VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
