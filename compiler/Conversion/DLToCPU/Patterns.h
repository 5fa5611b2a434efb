//===- Patterns.h - dl -> linalg/tensor and dl -> oneDNN calls ---*- C++ -*-===//
#ifndef DLC_CONVERSION_DLTOCPU_PATTERNS_H
#define DLC_CONVERSION_DLTOCPU_PATTERNS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"

namespace dlc {

/// Every dl elementwise op (through ScalarElementwiseOpInterface) -> linalg.generic with
/// NumPy broadcasting.
void populateElementwiseToLinalg(mlir::RewritePatternSet &patterns);
/// softmax / log_softmax -> max, exp-sum and normalise generics (numerically stable).
void populateSoftmaxToLinalg(mlir::RewritePatternSet &patterns);
/// sum / mean / max -> linalg reductions.
void populateReductionToLinalg(mlir::RewritePatternSet &patterns);
/// reshape / transpose -> tensor.reshape, linalg.transpose.
void populateShapeToTensor(mlir::RewritePatternSet &patterns);
/// dense / matmul -> calls of the runtime's oneDNN kernels.
void populateMatmulToOneDNN(mlir::RewritePatternSet &patterns);

// Helpers shared by the patterns.

/// The sizes of `t` as index values: constants for static dims, tensor.dim otherwise.
llvm::SmallVector<mlir::OpFoldResult> tensorSizes(mlir::OpBuilder &b, mlir::Location loc, mlir::Value t);
/// Dynamic sizes of a result type, taken from the operand dims that line up with them
/// under right-aligned broadcasting.
llvm::SmallVector<mlir::Value> broadcastDynamicSizes(mlir::OpBuilder &b, mlir::Location loc,
                                                     mlir::RankedTensorType result,
                                                     mlir::ValueRange operands);
/// The identity for a reduction: -inf / the lowest integer for max, 0 for sums.
mlir::Value reductionInit(mlir::OpBuilder &b, mlir::Location loc, mlir::Type elt, bool isMax);

} // namespace dlc
#endif
