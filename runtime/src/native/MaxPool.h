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

/// Whether maxPoolTraining and maxPoolBackward take the pooling of geometry g: what
/// maxPool takes, with no activation after it, and windows of at most 256 elements (a
/// position in the window is a byte).
inline bool maxPoolTrainingSupports(const int64_t *g) {
  return g[14] && g[16] == DLRT_ACTIVATION_NONE && maxPoolSupports(g[15], g[1]) && g[6] * g[7] <= 256;
}

/// The bytes of maxPoolTraining's record: one per output element.
inline int64_t maxPoolTrainingBytes(const int64_t *g) { return g[0] * g[1] * g[4] * g[5]; }

/// The training form: y as maxPool gives it, and for each output element where in its
/// window its maximum was (i * KW + j, i and j from the window's corner, padding
/// included), as torch.max_pool2d's indices: the first maximum in row-major order, the
/// last NaN where the window holds NaN, the first element inside the image where all are
/// -inf. On up to `threads` threads.
///
/// `input`: where set, the pooling reads (x_c - mean_c) * scale_c + beta_c in place of each
/// x_c, computed as batchNormTraining computes its result: max pooling of a batch norm's
/// training form without its result in memory (batchNormTrainingMaxPool).
struct PoolInput {
  const float *mean = nullptr, *scale = nullptr, *beta = nullptr; // [C] each, or all null
};
void maxPoolTraining(int threads, const int64_t *g, const float *x, float *y, uint8_t *where,
                     VectorIsa isa = widestVectorIsa(), const PoolInput &input = {});

/// dx = each output's gradient dy added at its window's maximum (maxPoolTraining's
/// `where`), 0 at the elements that are no window's maximum. On up to `threads` threads,
/// each a share of dx's rows.
void maxPoolBackward(int threads, const int64_t *g, const float *dy, const uint8_t *where, float *dx,
                     VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
