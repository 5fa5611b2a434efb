//===- Activation.cpp - activations after a product, written here ---------===//
#include "native/Activation.h"

#include "Threads.h"

#include <algorithm>
#include <cstring>

namespace dlrt::native {
namespace {

/// Floats [begin, end) of y in vectors of 16, the last one through a padded copy.
DLRT_VINLINE void activateRange(int64_t activation, float *y, int64_t begin, int64_t end) {
  int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes) store(y + i, activate(load(y + i), activation));
  if (i == end) return;
  float tail[kLanes] = {};
  std::memcpy(tail, y + i, size_t(end - i) * sizeof(float));
  store(tail, activate(load(tail), activation));
  std::memcpy(y + i, tail, size_t(end - i) * sizeof(float));
}

DLRT_TARGET_AVX512 void rangeAvx512(int64_t activation, float *y, int64_t begin, int64_t end) {
  activateRange(activation, y, begin, end);
}
DLRT_TARGET_AVX2 void rangeAvx2(int64_t activation, float *y, int64_t begin, int64_t end) {
  activateRange(activation, y, begin, end);
}
void rangeGeneric(int64_t activation, float *y, int64_t begin, int64_t end) { activateRange(activation, y, begin, end); }

} // namespace

void activateInPlace(int threads, int64_t activation, float *y, int64_t count, VectorIsa isa) {
  auto range = isa == VectorIsa::Avx512 ? rangeAvx512 : isa == VectorIsa::Avx2 ? rangeAvx2 : rangeGeneric;
  // Parts of at least 16K floats: below that a parallel region costs more than it saves.
  const int parts = int(std::max<int64_t>(1, std::min<int64_t>(threads, count / 16384)));
  parallelRanges(parts, count, [&](int64_t begin, int64_t end) { range(activation, y, begin, end); });
}

} // namespace dlrt::native
