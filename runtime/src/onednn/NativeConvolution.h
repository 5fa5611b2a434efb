//===- NativeConvolution.h - convolutions' gradients by native kernels -*- C++ -*-===//
#ifndef DLRT_SRC_ONEDNN_NATIVECONVOLUTION_H
#define DLRT_SRC_ONEDNN_NATIVECONVOLUTION_H

#include "KernelContext.h"

#include <cstdint>

namespace dlrt {

/// dx, the data gradient of the convolution of geometry g (dlrt_k_conv2d_f32's words) for
/// dy, by native Winograd (native/Winograd.h) where the convolution it amounts to runs so
/// (Convolution.cpp's rule for the forward); false, with dx untouched, where it does not.
bool winogradBackwardData(KernelContext &ctx, int64_t site, const int64_t *g, const float *dy, const float *w,
                          float *dx);

/// dw (OIHW), the weight gradient of that convolution for x and dy, by native Winograd's
/// F(4x4, 3x3) (native::winogradWeightGradientProducts), for NHWC 3x3 convolutions of
/// stride 1 in whole 16s of channels, 64 or more, that oneDNN's Winograd does not take
/// faster (with AVX-512, above 128 channels), whose operands winogradGivesWeightGradient
/// allows; false, with dw untouched, elsewhere.
bool winogradBackwardWeights(KernelContext &ctx, int64_t site, const int64_t *g, const float *x, const float *dy,
                             float *dw);

/// dw (OIHW) for x and dy by native/ConvWeightGradient's outer products, for NHWC
/// convolutions of 1 to 4 input channels (a network's first) where that runs faster than
/// oneDNN's direct kernel and its sums come out finite; false, with dw untouched,
/// elsewhere.
bool fewChannelBackwardWeights(KernelContext &ctx, const int64_t *g, const float *x, const float *dy, float *dw);

/// Whether a train step's convolution of geometry g (NHWC, as the layout pass leaves a
/// train step's) runs by oneDNN's Winograd F(4x4, 3x3), forward and both gradients
/// (the weight gradient where winogradBackwardWeights does not take it), rather than by
/// its direct kernels or native/Winograd: 3x3 of stride 1 with 128 channels or more in
/// and out, where oneDNN has those kernels (AVX-512). Each call checks its input
/// first and runs the direct algorithm where Winograd would not give the direct sums
/// (native::scanWinogradInput, native::winogradSafe).
bool trainingWinogradByOneDnn(const int64_t *g);

/// Whether oneDNN's Winograd gives the data gradient of that convolution for dy the
/// direct algorithm's sums, the filters' largest magnitude being `weightMagnitude`: the
/// forward's check, on the convolution of dy that the data gradient is. On up to
/// `threads` threads.
bool winogradGivesDataGradient(int threads, const int64_t *g, const float *dy, float weightMagnitude);

/// Whether it, or native Winograd's, gives the weight gradient for x and dy
/// the direct algorithm's sums.
bool winogradGivesWeightGradient(int threads, const int64_t *g, const float *x, const float *dy);

} // namespace dlrt
#endif
