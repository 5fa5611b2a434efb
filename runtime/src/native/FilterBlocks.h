//===- FilterBlocks.h - convolution filters in and out of 16 x 16 blocks -*- C++ -*-===//
//
// oneDNN's Winograd kernels (AVX-512) take a convolution's filters, and give their weight
// gradient, in blocks of 16 input by 16 output channels (its ABcd16b16a: [O/16][I/16][T]
// [16 i][16 o], T = KH KW taps), where PyTorch keeps them OIHW ([O][I][T]). A train step
// moves every such filter into the blocks (once per version, see PackedWeights) and its
// gradient out of them, each step. oneDNN's reorder moves ResNet-18's 512 x 512 x 3 x 3
// filters (9.4 MB) in 1.6 ms and out in 2.4 on a Sapphire Rapids core; here each block
// goes by 16-lane gathers from the other layout and whole-vector stores, 0.8 ms each way.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_FILTERBLOCKS_H
#define DLRT_SRC_NATIVE_FILTERBLOCKS_H

#include <cstdint>

namespace dlrt::native {

/// Whether the moves below run for O x I filters of T taps on this CPU: AVX-512 (16-lane
/// gathers), whole 16s of channels, and offsets that 32-bit gather indices reach.
bool filterBlocksSupported(int64_t o, int64_t i, int64_t t);

/// blocked = oihw in 16 x 16 blocks, on up to `threads` threads.
void toFilterBlocks(int threads, int64_t o, int64_t i, int64_t t, const float *oihw, float *blocked);
/// oihw = blocked out of its 16 x 16 blocks, on up to `threads` threads.
void fromFilterBlocks(int threads, int64_t o, int64_t i, int64_t t, const float *blocked, float *oihw);

} // namespace dlrt::native
#endif
