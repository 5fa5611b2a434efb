//===- LayerNorm.h - layer_norm and its gradient, written here --*- C++ -*-===//
//
// oneDNN 2.6 runs layer normalisation on its `simple` implementation, which is not
// vectorised for the rows a transformer has: TinyGpt's train step at batch 16 (rows of
// 128, 1024 of them) spent 0.64 ms of 18.5 in five forward and five backward calls, about
// 3 G elements/s. These kernels take a row at a time in vectors of 16, two passes for the
// statistics (the mean, then the biased variance around it, as PyTorch and oneDNN) and
// one to normalise; the gradient two passes per row. The same step's layer norms: 0.48
// ms; at batch 1 (rows of 64) 0.007 ms against 0.019-0.021.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_LAYERNORM_H
#define DLRT_SRC_NATIVE_LAYERNORM_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// y[r, :] = (x[r, :] - mean_r) / sqrt(var_r + eps) * gamma + beta over rows of `cols`,
/// var the biased variance; mean and var (each [rows], may be NULL) receive the
/// statistics. On up to `threads` threads, each a range of rows. A NaN in a row makes
/// that row NaN, as in PyTorch.
void layerNorm(int threads, int64_t rows, int64_t cols, const float *x, const float *gamma, const float *beta,
               float *y, float eps, float *mean, float *var, VectorIsa isa = widestVectorIsa());

/// The floats of scratch layerNormBackward needs.
int64_t layerNormBackwardScratch(int64_t rows, int64_t cols);

/// The gradient of layerNorm from its saved statistics: dx [rows, cols], dgamma and dbeta
/// [cols]. The column sums for dgamma and dbeta are taken per fixed group of rows, then
/// those in order, so that the result does not depend on `threads`.
void layerNormBackward(int threads, int64_t rows, int64_t cols, const float *x, const float *gamma,
                       const float *mean, const float *var, const float *dy, float *dx, float *dgamma, float *dbeta,
                       float eps, float *scratch, VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
