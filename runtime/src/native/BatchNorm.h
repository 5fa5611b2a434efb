//===- BatchNorm.h - batch_norm's training form and its gradient -*- C++ -*-===//
//
// batch_norm's training form and its gradient are written here rather than taken from
// oneDNN, for what they make possible: a batch norm whose gradient reads relu's result
// (the fused relu of oneDNN's turns NaN into 0; see FuseActivations.cpp), and results that
// do not depend on the thread count. They take two passes over the data each way, where
// oneDNN's forward takes three (mean, variance around it, normalise). Alone on one core of
// the Sapphire Rapids VM (session 51, batch 16, data in the cache from the last call) they
// ran ResNet-18's shapes at 22-25 GB/s (56x56x64: 1.70 + 2.54 ms forward and backward),
// the stem's 51 MB at 10-14; inside the train step, between convolutions, they took the
// time oneDNN's did (about 100 ms a step on one core, 54 on two): bound by memory. Results
// of 32 MiB and more (the stem's) are written by non-temporal stores, which took the
// stem's forward and backward from 30.2 to 24.2 ms a step.
//
//  - forward: Σ (x - K) and Σ (x - K)^2 in one pass, in double, K a value of the channel
//    (its first, 0 where that is not finite). x - K and its square are exact in double,
//    and since (K - mean)^2 <= n var for any K of the data, var = Σ(x-K)^2/n - (Σ(x-K)/n)^2
//    loses at most a factor n of double's precision to the cancellation: within float's
//    for any n below 10^8, where Σ x^2 - n mean^2 lost 2e-4 of it at |mean| = 10^6 std.
//    Then y = (x - mean) * (gamma / sqrt(var + eps)) + beta, in float as PyTorch.
//  - backward: Σ dy and Σ dy (x - mean) in one pass (double accumulators), then
//    dx = (dy - Σdy/n - (x - mean) Σdy(x-mean) / (n (var + eps))) gamma / sqrt(var + eps).
//
// Data is [outer, channels, inner]: channels-last tensors and [N, C] ones are inner = 1,
// rows of channels, whose sums are taken per fixed group of rows (partials added in order
// at the end, so that a result does not depend on the thread count); NCHW ones have
// inner = H * W, each channel's plane summed by one thread.
//
// NaN and infinities propagate as PyTorch's: a channel holding NaN, or infinities of both
// signs, has a NaN mean; one holding +inf alone a mean of +inf; both a NaN variance and
// so NaN outputs.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_BATCHNORM_H
#define DLRT_SRC_NATIVE_BATCHNORM_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// The shape of batch_norm's data: [outer, channels, inner], contiguous.
struct BatchNormShape {
  int64_t outer, channels, inner;
  /// The values per channel the statistics are over.
  int64_t count() const { return outer * inner; }
};

/// The doubles of scratch batchNormTraining and batchNormBackward need.
int64_t batchNormScratch(const BatchNormShape &s);

/// y = (x - mean_c) / sqrt(var_c + eps) * gamma_c + beta_c with the batch's statistics per
/// channel c, var the biased variance; mean and var ([channels]) receive them. count() > 0.
/// `after`: what follows, applied as y is stored: a skip connection's tensor added (x's
/// shape and layout; null for none), then relu (NaN kept, as torch.relu).
struct BatchNormEpilogue {
  const float *residual = nullptr;
  bool relu = false;
};
void batchNormTraining(int threads, const BatchNormShape &s, const float *x, const float *gamma, const float *beta,
                       float *y, float eps, float *mean, float *var, double *scratch, BatchNormEpilogue after = {},
                       VectorIsa isa = widestVectorIsa());

/// The batch norm's shape in batchNormTrainingMaxPool for pooling geometry g (NHWC x):
/// [N H W, C, 1]. Its scratch is batchNormScratch of this.
inline BatchNormShape pooledBatchNormShape(const int64_t *g) { return {g[0] * g[2] * g[3], g[1], 1}; }

/// max_pool2d(batchNormTraining(x)) in training form (maxPoolTraining's result and record)
/// for NHWC x of geometry g (dlrt_k_pool2d_f32's words, with maxPoolTrainingSupports), the
/// batch norm's result never stored: its statistics' pass over x, then the pooling reading
/// x and normalising each element as batchNormTraining's result would hold it (the same
/// floats, so the same maxima and positions). scratch: batchNormScratch of pooledBatchNormShape(g).
/// ResNet-18's stem at batch 16: the 51 MB result written once and read once less.
void batchNormTrainingMaxPool(int threads, const int64_t *g, const float *x, const float *gamma, const float *beta,
                              float eps, float *mean, float *var, double *scratch, float *pooled, uint8_t *where,
                              VectorIsa isa = widestVectorIsa());

/// The gradient of batchNormTraining from its saved statistics: dx (the shape of x),
/// dgamma and dbeta ([channels]). count() > 0.
void batchNormBackward(int threads, const BatchNormShape &s, const float *x, const float *gamma, const float *mean,
                       const float *var, const float *dy, float *dx, float *dgamma, float *dbeta, float eps,
                       double *scratch, VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
