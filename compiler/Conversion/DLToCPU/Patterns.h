//===- Patterns.h - dl -> linalg/tensor and dl -> oneDNN calls ---*- C++ -*-===//
#ifndef DLC_CONVERSION_DLTOCPU_PATTERNS_H
#define DLC_CONVERSION_DLTOCPU_PATTERNS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"

namespace dlc {

/// The dl -> linalg/tensor lowerings every target takes as they are: elementwise ops,
/// softmax, reductions, shape ops, normalisations, self_attention's expansion, indexing,
/// losses, optimizers, dropout and plugins' own lowerings (each target adds its kernels for the rest).
void populatePortableLowerings(mlir::RewritePatternSet &patterns);
/// Every dl elementwise op (through ScalarElementwiseOpInterface) -> linalg.generic with
/// NumPy broadcasting.
void populateElementwiseToLinalg(mlir::RewritePatternSet &patterns);
/// softmax / log_softmax -> max, exp-sum and normalise generics (numerically stable).
void populateSoftmaxToLinalg(mlir::RewritePatternSet &patterns);
/// sum / mean / max -> linalg reductions.
void populateReductionToLinalg(mlir::RewritePatternSet &patterns);
/// reshape / transpose -> tensor.reshape, linalg.transpose.
void populateShapeToTensor(mlir::RewritePatternSet &patterns);
/// dense / matmul / conv2d / pool2d -> linalg contractions (the portable lowering).
void populateKernelsToLinalg(mlir::RewritePatternSet &patterns);
/// lstm / gru -> an scf.for over the steps of dl projections and gates (the portable lowering).
void populateRecurrentToLinalg(mlir::RewritePatternSet &patterns);
/// act(dense) and act(conv2d) -> the producer with `activation` (a oneDNN post-op); an
/// inference batch_norm and a residual add into the convolution before it.
void populateFuseActivations(mlir::RewritePatternSet &patterns);
/// relu(max_pool2d) -> max_pool2d applying relu, and relu(batch_norm_train) ->
/// batch_norm_train applying relu (the oneDNN path's runtime kernels do).
void populateFuseReluIntoRuntimeKernels(mlir::RewritePatternSet &patterns);
/// conv2d / conv_transpose2d / pool2d -> their NHWC (channels_last) forms between
/// transposes, which then cancel or sink through elementwise ops and reductions.
void populateChannelsLast(mlir::RewritePatternSet &patterns);
/// After populateChannelsLast: the convolutions the runtime runs by Winograd's algorithm
/// take and give blocks of `block` channels (blocked_channels, 16 or 8) between dl.block_channels
/// ops, which fold away between consecutive ones and sink through elementwise ops.
void populateBlockedChannels(mlir::RewritePatternSet &patterns, int64_t block);
/// The NCHW <-> NHWC transposes and dl.block_channels -> oneDNN reorders (parallel copies).
void populateLayoutTransposeToOneDNN(mlir::RewritePatternSet &patterns);
/// dense / matmul -> calls of the runtime's kernels dlrt_k_dense_f32 / dlrt_k_matmul_f32,
/// which oneDNN runs on the CPU and cuBLAS in a cuda session (the GPU target prefers them
/// to the linalg contraction: `benefit`).
void populateMatmulToOneDNN(mlir::RewritePatternSet &patterns, mlir::PatternBenefit benefit = 1);
/// conv2d / pool2d -> calls of the runtime's oneDNN kernels.
void populateConvolutionToOneDNN(mlir::RewritePatternSet &patterns);
/// Whether `bn`'s training form runs in one call with the max pooling of its result
/// (ConvolutionToOneDNN.cpp's normalisedInput), which lowers it: its own lowering then
/// leaves it alone.
bool poolsTrainingBatchNorm(mlir::Operation *bn);
/// After the layout passes and populateFuseReluIntoRuntimeKernels: a first layer's conv2d and
/// the max pooling after it as one runtime call (dlrt_conv2d_max_pool_fused).
void populateFuseConvIntoMaxPool(mlir::RewritePatternSet &patterns);
/// conv2d and its two gradients -> the runtime's kernels (dlrt_k_conv2d_f32 & co.), for
/// symmetric padding only: what the GPU target runs on cuDNN (`benefit` above the
/// generated kernels').
void populateConvolutionKernelCalls(mlir::RewritePatternSet &patterns, mlir::PatternBenefit benefit);
/// lstm / gru -> the runtime's oneDNN RNN kernel.
void populateRecurrentToOneDNN(mlir::RewritePatternSet &patterns);
/// self_attention and its gradient -> the runtime's attention kernels (f32; preferred
/// over the expansion).
void populateSelfAttentionKernelCalls(mlir::RewritePatternSet &patterns);
/// self_attention and its gradient -> matmul, causal_mask, softmax and their gradients
/// (the portable lowering).
void populateSelfAttentionExpansion(mlir::RewritePatternSet &patterns);
/// layer_norm / batch_norm -> linalg.
void populateNormalizationToLinalg(mlir::RewritePatternSet &patterns);
/// layer_norm / batch_norm / softmax / log_softmax -> the runtime's oneDNN kernels,
/// preferred over their linalg lowerings.
void populateNormalizationToOneDNN(mlir::RewritePatternSet &patterns);
/// cross_entropy / nll / mse / bce_with_logits (means in f64) and argmax -> linalg.
void populateLossToLinalg(mlir::RewritePatternSet &patterns);
/// sgd_update / adam_update -> one elementwise linalg.generic each.
void populateOptimizerToLinalg(mlir::RewritePatternSet &patterns);
/// dropout -> linalg.generic with a Philox4x32-10 mask.
void populateDropoutToLinalg(mlir::RewritePatternSet &patterns);
/// embedding / position_embedding (with run-time index checks), embedding_grad, concat,
/// slice, causal_mask.
void populateIndexingToTensor(mlir::RewritePatternSet &patterns);

/// dl.plugin -> the plugin's kernel through the runtime's trampoline, or the plugin's
/// own linalg lowering.
void populatePluginLowering(mlir::RewritePatternSet &patterns);
/// Whether a plugin op runs its plugin's C++ kernel (a CPU function called through the
/// runtime) rather than the plugin's linalg lowering: its gradient always does.
bool pluginRunsKernel(mlir::Operation *pluginOp);
/// Records the plugin kernel calls (after call sites are numbered) and the plugins they
/// need as the module's dl.plugin_calls and dl.plugins, for the model's signature.
mlir::LogicalResult recordPluginCalls(mlir::ModuleOp module);

// Helpers shared by the patterns.

/// f(L(a), L(b), ...) -> L(f(a, b, ...)) for an elementwise `op` whose operands all have
/// its result's shape (no broadcasting) and are all made by the same layout change L (a
/// transpose, a channel blocking), each with no other user (else L would stay and a second
/// one be added): so that L can meet its inverse further down. `unwrap` gives L's input
/// for an operand, or a null Value where the operand is not made by such an L (or by
/// another L than the operands before it); `wrap` applies L to the moved op's result,
/// whose type is `movedType`.
mlir::LogicalResult sinkLayoutThroughElementwise(mlir::Operation *op, mlir::PatternRewriter &rw,
                                                 llvm::function_ref<mlir::Value(mlir::Value)> unwrap,
                                                 mlir::Type movedType,
                                                 llvm::function_ref<mlir::Value(mlir::Value)> wrap,
                                                 bool shared = false);

/// The sizes of `t` as index values: constants for static dims, tensor.dim otherwise.
llvm::SmallVector<mlir::OpFoldResult> tensorSizes(mlir::OpBuilder &b, mlir::Location loc, mlir::Value t);
/// Size `i` of a tensor as an index value (a constant where static).
mlir::Value dimOf(mlir::OpBuilder &b, mlir::Location loc, mlir::Value t, int64_t i);
/// Dynamic sizes of a result type, taken from the operand dims that line up with them
/// under right-aligned broadcasting.
llvm::SmallVector<mlir::Value> broadcastDynamicSizes(mlir::OpBuilder &b, mlir::Location loc,
                                                     mlir::RankedTensorType result,
                                                     mlir::ValueRange operands);
/// A convolution's or pooling window's output size along one dim, as PyTorch computes it:
/// (in + lo + hi - dilation * (k - 1) - 1) / stride + 1.
mlir::Value windowOutputSize(mlir::OpBuilder &b, mlir::Location loc, mlir::Value in, int64_t k, int64_t stride,
                             int64_t lo, int64_t hi, int64_t dilation);
/// A transposed convolution's: (in - 1) * stride - lo - hi + dilation * (k - 1) + 1.
mlir::Value transposedOutputSize(mlir::OpBuilder &b, mlir::Location loc, mlir::Value in, int64_t k, int64_t stride,
                                 int64_t lo, int64_t hi, int64_t dilation);
enum class Combine { Add, Max };
/// Reduces `input` over `axes` (sorted) into a tensor without those dims; in `accumulator`
/// (a wider float type, each element extended first) where given, else in its own type.
mlir::Value reduce(mlir::OpBuilder &b, mlir::Location loc, mlir::Value input, llvm::ArrayRef<int64_t> axes,
                   Combine kind, mlir::Type accumulator = {});
/// Applies `fn(x, r)` elementwise, where r is `reduced` (x without dim `axis`) broadcast back.
mlir::Value mapWithReduced(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x, mlir::Value reduced, int64_t axis,
                           llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location, mlir::Value, mlir::Value)> fn);
/// Has the runtime check that every element of the integer tensor `ids` lies in
/// [0, limit) (an index value); one outside is an error naming `op`'s source location.
void checkIndices(mlir::PatternRewriter &rw, mlir::Location loc, mlir::Operation *op, mlir::Value ids,
                  mlir::Value limit);
/// An integer id as an index clamped into [0, limit): what a gather or scatter reads or
/// writes while checkIndices' error is on its way, so nothing is touched out of bounds.
mlir::Value clampIndex(mlir::OpBuilder &b, mlir::Location loc, mlir::Value id, mlir::Value limit);
/// embedding_grad's operands as rows: ids flattened to [N], the gradient to [N, D].
std::pair<mlir::Value, mlir::Value> idsAsRows(mlir::PatternRewriter &rw, mlir::Location loc, mlir::Value ids,
                                              mlir::Value grad);
/// The identity for a reduction: -inf / the lowest integer for max, 0 for sums.
mlir::Value reductionInit(mlir::OpBuilder &b, mlir::Location loc, mlir::Type elt, bool isMax);

/// A backward op that reads its forward's operands (autodiff gives it them) lowered
/// together with that forward, which then runs in training form and hands the backward
/// what it computed (statistics, a workspace) instead of the backward recomputing it.
/// `sameOp(fwd, back)` says whether the two share operands and attributes; the pair must
/// also share `input` and a block, the forward first.
template <typename FwdOp, typename BackOp, typename SameOp>
FwdOp forwardOf(BackOp back, mlir::Value input, SameOp sameOp) {
  for (mlir::Operation *user : input.getUsers())
    if (auto fwd = llvm::dyn_cast<FwdOp>(user))
      if (fwd->getBlock() == back->getBlock() && fwd->isBeforeInBlock(back) && sameOp(fwd, back)) return fwd;
  return {};
}
/// Whether a backward op will lower `fwd` together with itself (see forwardOf).
template <typename BackOp, typename FwdOp, typename SameOp>
bool hasPairedBackward(FwdOp fwd, mlir::Value input, SameOp sameOp) {
  for (mlir::Operation *user : input.getUsers())
    if (auto back = llvm::dyn_cast<BackOp>(user))
      if (back->getBlock() == fwd->getBlock() && fwd->isBeforeInBlock(back) && sameOp(fwd, back)) return true;
  return false;
}

} // namespace dlc
#endif
