//===- Winograd.h - 3x3 convolutions by Winograd's F(2x2, 3x3), written here ----*- C++ -*-===//
//
// A 3x3 convolution of stride 1 computes each 2x2 block of outputs (a tile) from the 4x4
// input patch under it. Winograd's minimal filtering algorithm F(2x2, 3x3) does so with 16
// multiplications per input and output channel where the direct algorithm takes 36: the
// patch and the filter are transformed (V = B^T d B, U = G g G^T, 4x4 each), multiplied
// element by element and summed over the input channels, which for each of the 16 elements
// is a product [tiles x C] by [C x K]; the 16 products are transformed back
// (Y = A^T M A). The filters are transformed once per parameter version.
//
// oneDNN has Winograd kernels for AVX-512 only, and they are slower than its direct ones
// with few channels (0.7-0.9x for the CNN sample's 16 -> 32 at 14x14). This one runs a
// chunk of tiles at a time, its transformed patches staying in L2 and each product's
// results in L1 until they are transformed back, on 16-channel blocks (AVX-512) or 8
// (AVX2 and others): activations in the blocked layouts the compiler hands over.
//
// Non-finite values: the transforms combine a patch's values with both signs, so an
// infinite input gives NaN (inf - inf) where the direct sum gives an infinity. A tile
// whose outputs come out non-finite is therefore computed again directly, so that every
// output is what the direct algorithm gives wherever either is not finite.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_NATIVE_WINOGRAD_H
#define DLRT_SRC_NATIVE_WINOGRAD_H

#include "native/Vector.h"

#include <cstdint>

namespace dlrt::native {

/// A convolution as dlrt_k_conv2d_f32's geometry words give it, where winogradSupports.
struct WinogradShape {
  int64_t n, c, h, w, k, oh, ow, pt, pl;
  int64_t block;   // channels per block of the activations' layout (16 or 8)
  bool relu;       // relu after bias and sum
  bool accumulate; // y += the convolution (before relu): y holds a skip tensor
  WinogradShape(const int64_t *g, bool accumulate);
  /// Floats of packWinogradWeights' result.
  int64_t packedWeightFloats() const { return 16 * c * k; }
};

/// Whether winogradConv runs the convolution of geometry `g` (dlrt_k_conv2d_f32's words):
/// 3x3, stride 1, no dilation, no groups, activations in channel blocks of 16 or 8 with
/// every channel in and out in whole blocks, no activation or relu after it.
bool winogradSupports(const int64_t *g);

/// The output channels whose transformed filters winogradConv on `isa` reads side by side
/// (the vectors of output channels its passes work on at once).
int64_t winogradPanelWidth(const WinogradShape &s, VectorIsa isa = widestVectorIsa());

/// The transformed OIHW filters, for winogradConv on `isa`: for each of the 16 elements e of
/// G g G^T, panels of winogradPanelWidth output channels, each [C][width], so that a pass
/// reads its filters in order rather than one row of K per input channel.
void packWinogradWeights(const WinogradShape &s, const float *oihw, float *packed, VectorIsa isa = widestVectorIsa());

/// y = relu?(conv2d(x, w) + bias (+ y where s.accumulate)), on up to `threads` threads;
/// `packed` is packWinogradWeights' transform of `oihw` for the same `isa`, which tiles that come out
/// non-finite are computed again from. bias may be null.
void winogradConv(int threads, const WinogradShape &s, const float *x, const float *packed, const float *oihw,
                  const float *bias, float *y, VectorIsa isa = widestVectorIsa());

/// The largest magnitude among `count` floats, on up to `threads` threads; NaN where any is
/// NaN or infinite.
float largestMagnitude(int threads, const float *x, int64_t count, VectorIsa isa = widestVectorIsa());

/// Whether a Winograd algorithm whose tiles are not checked (oneDNN's) gives what the
/// direct one does on inputs whose largest magnitude is `input` (largestMagnitude) and
/// weights whose largest is `weight`, `terms` products to an output: where both are
/// finite and the sums stay a factor 10^6 below float's range. Its transforms add and
/// subtract a tile's values with coefficients up to 5 on the way in and 8 on the way out
/// (F(4x4, 3x3)): an infinity there becomes NaN in every output of its tile, and so does a
/// NaN, where the direct sums give +-inf, or a number, to the outputs that do not read it.
bool winogradSafe(float input, float weight, int64_t terms);

} // namespace dlrt::native
#endif
