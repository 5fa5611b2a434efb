//===- GradientBuilders.h - helpers the gradient rules share ----*- C++ -*-===//
//
// Gradient rules (GradientOpInterface) build their results from dl ops where a dl op
// says it, and from these few linalg/tensor building blocks where none does:
// elementwise maps with broadcasting, sums back to a broadcast operand's shape, zeros,
// reshapes to another value's run-time shape. The elementwise lowering and the training
// ops' lowerings build on the same blocks.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_DIALECTS_DL_GRADIENTS_GRADIENTBUILDERS_H
#define DLC_DIALECTS_DL_GRADIENTS_GRADIENTBUILDERS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::dl {

using ScalarBody = llvm::function_ref<Value(OpBuilder &, Location, ValueRange)>;

/// A linalg.generic computing `body` on the elements of `operands` into a new tensor of
/// `type` (dynamic dims `dynSizes`). Operand dim i reads result dim dimMaps[k][i]; an
/// operand dim of static size 1 against a result dim of another size is broadcast. An
/// empty `dimMaps` means NumPy's right-aligned broadcasting for every operand.
Value buildBroadcastGeneric(OpBuilder &b, Location loc, RankedTensorType type, ValueRange dynSizes,
                            ValueRange operands, ScalarBody body,
                            ArrayRef<SmallVector<int64_t>> dimMaps = {});

/// The dynamic sizes of `like`, for a tensor.empty of its shape.
SmallVector<Value> dynamicSizes(OpBuilder &b, Location loc, Value like);

/// `body` over `operands` broadcast (right-aligned) to `like`'s shape, with element type `elt`.
Value mapLike(OpBuilder &b, Location loc, Value like, Type elt, ValueRange operands, ScalarBody body);

/// `v` (the shape of `like` without the dims `removed`, or with them of size 1 when
/// `keptDims`) broadcast back to `like`'s shape: how a reduction's gradient spreads.
Value expandReduced(OpBuilder &b, Location loc, Value v, Value like, ArrayRef<int64_t> removed, bool keptDims);

/// `g`, of a broadcast shape, summed down to `target` (an operand's type): the leading
/// dims the operand lacked and its size-1 dims that were broadcast.
Value sumTo(OpBuilder &b, Location loc, Value g, RankedTensorType target);

/// A tensor of `like`'s shape and type filled with zeros.
Value zerosLike(OpBuilder &b, Location loc, Value like);

/// `v` reshaped (row-major) to the run-time shape of `like`.
Value reshapeLike(OpBuilder &b, Location loc, Value v, Value like);

/// The number of elements of `t` over `axes` (all dims when empty and `all`), as a
/// scalar of float type `elt`, computed at run time where dims are dynamic.
Value countOf(OpBuilder &b, Location loc, Value t, ArrayRef<int64_t> axes, Type elt);

/// A scalar float constant of type `t`.
Value floatConst(OpBuilder &b, Location loc, Type t, double v);

/// The dims of a rank-`rank` shape that are not in `axes`.
SmallVector<int64_t> keptDimsOf(int64_t rank, ArrayRef<int64_t> axes);

/// 0, 1, ..., n - 1: every dim of a rank-n shape, or the identity dim map.
SmallVector<int64_t> iota(int64_t n);

/// The input gradient of a normalisation y = xhat * weight + bias, xhat = (x - mean) * rstd,
/// from dxhat = dy * weight: rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), where
/// `mean` averages over the normalised dims and keeps them (layer_norm's last dim,
/// batch_norm's every dim but 1).
Value normalizedInputGrad(OpBuilder &b, Location loc, Value dxhat, Value xhat, Value rstd,
                          llvm::function_ref<Value(Value)> mean);

/// `v` as a matrix [positions, last dim]: leading dims merged (a 1-D vector is one row).
Value asRows(OpBuilder &b, Location loc, Value v);

/// `v` with its last two dims swapped.
Value transposeLast(OpBuilder &b, Location loc, Value v);

/// lhs @ rhs with torch.matmul's batch broadcasting (both of rank >= 2).
Value matmul(OpBuilder &b, Location loc, Value lhs, Value rhs);

/// A ranked tensor of floating-point elements (the values that carry gradients).
bool isFloatTensor(Value v);

} // namespace mlir::dl
#endif
