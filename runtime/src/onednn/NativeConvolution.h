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
/// F(2x2, 3x3) (native::winogradWeightGradientProducts), for NHWC 3x3 convolutions of
/// stride 1 in whole 16s of channels; false, with dw untouched, elsewhere.
bool winogradBackwardWeights(KernelContext &ctx, int64_t site, const int64_t *g, const float *x, const float *dy,
                             float *dw);

} // namespace dlrt
#endif
