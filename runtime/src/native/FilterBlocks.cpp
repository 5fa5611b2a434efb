//===- FilterBlocks.cpp - convolution filters in and out of 16 x 16 blocks ===//
#include "native/FilterBlocks.h"
#include "native/Vector.h"

#include "Threads.h"

#include <immintrin.h>
#include <vector>

namespace dlrt::native {

bool filterBlocksSupported(int64_t o, int64_t i, int64_t t) {
  return widestVectorIsa() == VectorIsa::Avx512 && o > 0 && i > 0 && t > 0 && o % 16 == 0 && i % 16 == 0 &&
         16 * i * t < (int64_t(1) << 30);
}

namespace {

/// Block (ob, ib) of 16 x 16 channels: for each tap and input channel, the 16 output
/// channels' values (I T floats apart in OIHW) gathered into one vector.
DLRT_TARGET_AVX512 void toBlock(int64_t i, int64_t t, const float *oihw, float *block) {
  const __m512i apart = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32(int(i * t)));
  for (int64_t tap = 0; tap < t; ++tap)
    for (int64_t ch = 0; ch < 16; ++ch)
      _mm512_storeu_ps(block + (tap * 16 + ch) * 16, _mm512_i32gather_ps(apart, oihw + ch * t + tap, 4));
}

/// The inverse: each output channel's 16 x T values, contiguous in OIHW, as vectors
/// gathered from the block: value v of them (input channel v / T, tap v % T) is at
/// index[v] + o, index[v] = ((v % T) 16 + v / T) 16 (padded to whole vectors).
DLRT_TARGET_AVX512 void fromBlock(int64_t i, int64_t t, const int32_t *index, const float *block, float *oihw) {
  const int64_t count = 16 * t;
  for (int64_t o = 0; o < 16; ++o) {
    float *to = oihw + o * i * t;
    const __m512i channel = _mm512_set1_epi32(int(o));
    for (int64_t v0 = 0; v0 < count; v0 += 16) {
      const __mmask16 live = __mmask16(count - v0 >= 16 ? 0xffff : (1u << (count - v0)) - 1);
      const __m512i at = _mm512_add_epi32(_mm512_loadu_si512(index + v0), channel);
      _mm512_mask_storeu_ps(to + v0, live, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, at, block, 4));
    }
  }
}

} // namespace

void toFilterBlocks(int threads, int64_t o, int64_t i, int64_t t, const float *oihw, float *blocked) {
  const int64_t ib = i / 16, blocks = (o / 16) * ib;
  parallelRanges(threads, blocks, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      toBlock(i, t, oihw + ((b / ib) * 16 * i + (b % ib) * 16) * t, blocked + b * t * 256);
  });
}

void fromFilterBlocks(int threads, int64_t o, int64_t i, int64_t t, const float *blocked, float *oihw) {
  const int64_t ib = i / 16, blocks = (o / 16) * ib;
  std::vector<int32_t> index(size_t((16 * t + 15) / 16 * 16), 0);
  for (int64_t v = 0; v < 16 * t; ++v) index[size_t(v)] = int32_t(((v % t) * 16 + v / t) * 16);
  parallelRanges(threads, blocks, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b)
      fromBlock(i, t, index.data(), blocked + b * t * 256, oihw + ((b / ib) * 16 * i + (b % ib) * 16) * t);
  });
}

} // namespace dlrt::native
