//===- Winograd.h - 3x3 convolutions by Winograd's F(2x2, 3x3) and F(4x4, 3x3) ----*- C++ -*-===//
//
// A 3x3 convolution of stride 1 computes each M x M block of outputs (a tile) from the
// (M+2) x (M+2) input patch under it. Winograd's minimal filtering algorithm F(M x M, 3x3)
// does so with (M+2)^2 multiplications per input and output channel where the direct
// algorithm takes 9 M^2: 16 against 36 for F(2x2, 3x3), 36 against 144 for F(4x4, 3x3).
// The patch and the filter are transformed (V = B^T d B, U = G g G^T), multiplied element
// by element and summed over the input channels, which for each element is a product
// [tiles x C] by [C x K]; the products are transformed back (Y = A^T M A). The filters are
// transformed once per parameter version.
//
// oneDNN has Winograd kernels for AVX-512 only, and they are slower than its direct ones
// with few channels (0.7-0.9x for the CNN sample's 16 -> 32 at 14x14). This one runs a
// chunk of tiles at a time, its transformed patches staying in L2 and each product's
// results in L1 until they are transformed back, on 16-channel blocks (AVX-512) or 8
// (AVX2 and others): activations in the blocked layouts the compiler hands over, or NHWC,
// as a train step's convolutions have them (there in vectors of 16 or 8 channels).
//
// Accuracy: F(2x2)'s transforms add and subtract with coefficients 1 and 1/2, and an output
// reads only the inputs under its own 3x3 window, also in rounding. F(4x4)'s coefficients
// reach 5/2 (input), 16/15 (filter) and 8 (output), and an output's rounding error is
// relative to the inputs of its whole 6x6 patch rather than of its window: a tile whose
// patch holds an input larger than a quarter of the patch's total magnitude (an outlier)
// is computed directly. The caller picks the tile.
//
// Non-finite values: the transforms combine a patch's values with both signs, so an
// infinite input gives NaN (inf - inf) where the direct sum gives an infinity, and a finite
// one can overflow. A tile whose outputs come out non-finite is therefore computed again
// directly, so that every output is what the direct algorithm gives wherever either is not
// finite.
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
  int64_t block;   // channels per block of the activations' layout (16 or 8), 0 for channels last (NHWC)
  int tile;        // M of F(M x M, 3x3): 2 or 4
  bool relu;       // relu after bias and sum
  bool accumulate; // y += the convolution (before relu): y holds a skip tensor
  WinogradShape(const int64_t *g, bool accumulate, int tile);
  /// The transformed patch's elements, (M + 2)^2: the products per tile and channel pair.
  int64_t elements() const { return (tile + 2) * (tile + 2); }
  /// Floats of packWinogradWeights' result: the transformed filters and the plain ones.
  int64_t packedWeightFloats() const { return (elements() + 9) * c * k; }
  /// The multiply-adds of the direct algorithm: the work other convolutions are counted by
  /// (for the thread policy).
  double directMacs() const { return double(n * oh * ow) * double(k * c * 9); }
};

/// Whether winogradConv runs the convolution of geometry `g` (dlrt_k_conv2d_f32's words):
/// 3x3, stride 1, no dilation, no groups, activations in channel blocks of 16 or 8 with
/// every channel in and out in whole blocks, or NHWC with channels in and out in whole
/// 16s; no activation or relu after it.
bool winogradSupports(const int64_t *g);

/// The output channels whose transformed filters winogradConv on `isa` reads side by side
/// (the vectors of output channels its passes work on at once).
int64_t winogradPanelWidth(const WinogradShape &s, VectorIsa isa = widestVectorIsa());

/// How packWinogradWeights finds s's filters in its `oihw`: as given ([s.k][s.c][3][3]), or
/// turned (a data gradient's: oihw holds the forward convolution's [s.c][s.k][3][3], and
/// filter (o, ch) is its filter (ch, o) turned half a turn).
enum class FilterOrder { AsGiven, Turned };

/// The transformed OIHW filters, for winogradConv on `isa`: for each of the elements e of
/// G g G^T, panels of winogradPanelWidth output channels, each [C][width], so that a pass
/// reads its filters in order rather than one row of K per input channel; then the filters
/// as they are, [C][3][3][K], for the tiles winogradConv gives the direct sums.
/// On up to `threads` threads.
void packWinogradWeights(int threads, const WinogradShape &s, const float *oihw, float *packed,
                         FilterOrder order = FilterOrder::AsGiven, VectorIsa isa = widestVectorIsa());

/// y = relu?(conv2d(x, w) + bias (+ y where s.accumulate)), on up to `threads` threads;
/// `packed` is packWinogradWeights' result for w and the same `isa`. bias may be null.
void winogradConv(int threads, const WinogradShape &s, const float *x, const float *packed, const float *bias, float *y,
                  VectorIsa isa = widestVectorIsa());

/// The weight gradient of a convolution by F(M x M, 3x3) (M = s.tile): per tile, the
/// patch transformed as the forward does (V = B^T d B) and the output gradient taken back
/// through Y = A^T m A (A dy A^T); the filters' gradient in that domain is, for each of the
/// E = s.elements() elements, a product over all tiles, U_e = M_e^T V_e ([K x T] x
/// [T x C]); then dW = G^T U G (winogradGradientFilters). winogradWeightGradientProducts
/// forms u: [E][K][C] from x and dy (s's layouts) on up to `threads` threads, a chunk of
/// tiles and a block of channels at a time, so that the transforms stay in cache until
/// multiplied; `scratch` holds winogradWeightGradientScratch(threads, s) floats. The
/// tiles are not checked one by one (the caller checks x and dy as for oneDNN's F(4x4)).
int64_t winogradWeightGradientScratch(int threads, const WinogradShape &s);
void winogradWeightGradientProducts(int threads, const WinogradShape &s, const float *x, const float *dy, float *u,
                                    float *scratch, VectorIsa isa = widestVectorIsa());
/// dW (OIHW, [K][C][3][3]) from u: [E][K][C], on up to `threads` threads.
void winogradGradientFilters(int threads, const WinogradShape &s, const float *u, float *dw,
                             VectorIsa isa = widestVectorIsa());

/// The largest magnitude among `count` floats, on up to `threads` threads; NaN where any is
/// NaN or infinite.
float largestMagnitude(int threads, const float *x, int64_t count, VectorIsa isa = widestVectorIsa());

/// What a Winograd algorithm whose tiles are not checked one by one (oneDNN's F(4x4, 3x3))
/// needs to know of an input x of convolution `s` (any tile) before it runs: the largest
/// magnitude (for winogradSafe), and whether a tile of 4x4 outputs is one winogradConv's
/// F(4x4) would give the direct sums, for an outlier in its patch or a patch out of scale
/// with the window of an output (see Winograd.cpp's chunksOf). Its transforms mix a 6x6
/// patch, so an output's rounding error is relative to the patch's inputs, also those its
/// 3x3 window does not read: one value of 1e10 among values of 1, or a hot spot of 3x3
/// pixels a thousand times the rest, would put their rounding error into outputs that
/// never read them; such a call runs oneDNN's direct algorithm.
struct WinogradInputScan {
  float largest;            // infinite where some input is; all of x's only where no tile needs them
  bool tileNeedsDirectSums; // also where some input is NaN
};
WinogradInputScan scanWinogradInput(int threads, const WinogradShape &s, const float *x,
                                    VectorIsa isa = widestVectorIsa());

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
