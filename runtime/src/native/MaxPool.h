//===- MaxPool.h - inference max pooling, written here ----------*- C++ -*-===//
//
// oneDNN's max pooling loses NaN (its vmaxps keeps the other operand), so its results
// need a second pass over the input to find NaN windows. On NHWC (whole vectors of 16
// channels) or channel blocks of 8 or 16, this kernel does it in one: each window's
// maximum over a vector of channels, a NaN winning wherever it occurs, as
// torch.max_pool2d.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_MAXPOOL_H
#define DLRT_SRC_NATIVE_MAXPOOL_H

#include "dlrt/model_abi.h"
#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// Whether maxPool handles `channels` in `layout` (a dlrt_layout): whole vectors of 16
/// on NHWC, whole blocks on blocks.
inline bool maxPoolSupports(int64_t layout, int64_t channels) {
  int64_t block = dlrt_layout_block(layout);
  return channels > 0 && layout != DLRT_LAYOUT_NCHW && channels % (block ? block : kLanes) == 0;
}

/// y = max_pool2d(x), then relu where activation is DLRT_ACTIVATION_RELU; g:
/// dlrt_k_pool2d_f32's geometry (N C H W OH OW KH KW SH SW PT PL PB PR is_max layout
/// activation; every window holds at least one element, as PyTorch requires), the
/// layout NHWC or channel blocks (DLRT_LAYOUT_NHWC, _NCHW16C or _NCHW8C). On up to `threads`
/// threads, each a share of the output rows.
void maxPool(int threads, const int64_t *g, const float *x, float *y, VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
