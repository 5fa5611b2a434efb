//===- ConvPool.h - a first convolution and its max pooling, one pass ----*- C++ -*-===//
//
// A network's first convolution reads few channels (an image's 1 or 3) and writes many:
// oneDNN runs it at about half the core's peak (the CNN sample's 1 -> 16, 3x3: 128 of
// 249 GFLOP/s on a Zen 5 core), and its output, the largest tensor of the model, goes
// to memory only for the max pooling after it to read back. This kernel computes the
// convolution a few output rows at a time into a ring of rows that stays in L1 or L2, and
// pools each window out of the ring as soon as its rows are there: bias (or a folded
// batch norm's shift) and relu are applied to the pooled values (both commute with a
// window's maximum: the bias is one value per channel, relu does not decrease).
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_CONVPOOL_H
#define DLRT_SRC_NATIVE_CONVPOOL_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// The convolution (dlrt_k_conv2d_f32's geometry words: groups 1, input NCHW or NHWC)
/// and the max pooling of its result (dlrt_k_pool2d_f32's: output NHWC or channel blocks,
/// relu or none), as dlrt_k_conv2d_max_pool_f32 receives them.
struct ConvPoolShape {
  int64_t n, c, h, w, oc, kh, kw, oh, ow, sh, sw, pt, pl, dh, dw;
  int64_t poh, pow, pkh, pkw, psh, psw, ppt, ppl;
  bool nhwcInput, relu;
  int64_t outLayout; // a dlrt_layout: NHWC or blocks
  ConvPoolShape(const int64_t *conv, const int64_t *pool);
  /// Floats of packConvPoolWeights' result.
  int64_t packedWeightFloats() const { return kh * kw * c * oc; }
};

/// Whether convMaxPool runs `s`: output channels whole vectors of 8 (of the output's blocks,
/// where blocked), groups 1 (the caller checks).
bool convMaxPoolSupports(const ConvPoolShape &s);

/// OIHW weights as convMaxPool reads them: [KH][KW][C][OC], the output channels of a tap
/// side by side.
void packConvPoolWeights(const ConvPoolShape &s, const float *oihw, float *packed);

/// y = max_pool2d(conv2d(x, w) + bias), relu'd where s.relu, keeping NaN as torch does; w
/// packed by packConvPoolWeights, bias null for none. On up to `threads` threads, each a
/// share of the pooled rows.
void convMaxPool(int threads, const ConvPoolShape &s, const float *x, const float *packed, const float *bias,
                 float *y, VectorIsa isa = widestVectorIsa());

} // namespace dlrt::native
#endif
