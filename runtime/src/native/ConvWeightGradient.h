//===- ConvWeightGradient.h - a first convolution's weight gradient ----*- C++ -*-===//
//
// The weight gradient of a convolution that reads few channels (an image's 1 to 4) is a
// product [KH KW C] x [pixels] by [pixels] x [K] whose inner dimension is every output
// pixel of the batch: dW[k][c][i][j] = sum over n, oy, ox of
// x[n][oy SH + i DH - PT][ox SW + j DW - PL][c] dy[n][oy][ox][k]. oneDNN's direct kernel
// runs ResNet-18's stem (3 -> 64, 7x7, stride 2) at batch 16 at about half an AVX-512
// core's peak (33.5 ms for 3.8 GFLOP on a Sapphire Rapids core). Here each output row's
// pixels are the terms of outer products (native/OuterProduct.h): a kernel row's taps are
// adjacent floats of the zero-padded NHWC input row (KW C of them where DW is 1), each
// broadcast against vectors of dy's K channels, so that every load of dy feeds P x V fused
// multiply-adds and the accumulators stay in registers over the whole row.
//
// The rows are summed in a fixed number of groups of consecutive rows, each group's sums
// then added in order: the result does not depend on the thread count.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_CONVWEIGHTGRADIENT_H
#define DLRT_SRC_NATIVE_CONVWEIGHTGRADIENT_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// A convolution as dlrt_k_conv2d_backward_weights_f32's geometry words give it.
struct WeightGradientShape {
  int64_t n, c, h, w, k, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw;
  explicit WeightGradientShape(const int64_t *g);
  /// Rows and columns of the zero-padded input the output pixels' windows reach.
  int64_t paddedRows() const { return (oh - 1) * sh + (kh - 1) * dh + 1; }
  int64_t paddedColumns() const { return (ow - 1) * sw + (kw - 1) * dw + 1; }
  /// The groups of output rows summed apart (at most kWeightGradientGroups).
  int64_t groups() const;
  /// The filter's taps per output channel, in [KH][KW][C] order.
  int64_t taps() const { return kh * kw * c; }
  /// Floats of dW, and of one group's sums: [KH][KW][C][K].
  int64_t weights() const { return taps() * k; }
};

/// Whether fewChannelWeightGradient runs geometry `g`: NHWC activations, groups 1, 1 to 4
/// input channels, output channels in whole vectors of 8.
bool fewChannelWeightGradientSupports(const int64_t *g);

/// Floats of scratch fewChannelWeightGradient takes on up to `threads` threads.
int64_t fewChannelWeightGradientScratch(int threads, const WeightGradientShape &s);

/// dw (OIHW, [K][C][KH][KW]) = the weight gradient of the convolution for x and dy (NHWC),
/// on up to `threads` threads; `scratch` holds fewChannelWeightGradientScratch floats.
/// Padding is multiplied as zeros: where a sum comes out infinite or NaN (an infinite dy
/// beside padding gives NaN where the direct sums leave padding out), false, with dw
/// untouched, for the caller's direct kernel.
bool fewChannelWeightGradient(int threads, const WeightGradientShape &s, const float *x, const float *dy, float *dw,
                              float *scratch, VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
