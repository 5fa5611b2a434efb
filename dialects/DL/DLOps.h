//===- DLOps.h - ops of the dl dialect --------------------------*- C++ -*-===//
#ifndef DLC_DIALECTS_DL_DLOPS_H
#define DLC_DIALECTS_DL_DLOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/DL/DLDialect.h"

namespace mlir::dl {
/// The gradient rule of every elementwise op (GradientOpInterface's default): loops
/// around the op's buildScalarGradient, broadcast dims summed back to each operand.
LogicalResult buildElementwiseGradient(Operation *op, OpBuilder &b, ValueRange resultGrads,
                                       ArrayRef<bool> needed, SmallVectorImpl<Value> &operandGrads);
/// BatchSeparableOpInterface's default, for elementwise ops with NumPy broadcasting
/// (BatchSeparable.cpp).
bool broadcastKeepsSamplesApart(Operation *op, ArrayRef<bool> batched);
} // namespace mlir::dl

#include "dialects/DL/DLInterfaces.h.inc"

namespace mlir::dl {
/// Marks ops that become runtime kernel calls (see DL_RuntimeCallSite in DLBase.td).
template <typename ConcreteType>
class RuntimeCallSite : public OpTrait::TraitBase<ConcreteType, RuntimeCallSite> {};
} // namespace mlir::dl

#define GET_OP_CLASSES
#include "dialects/DL/DLOps.h.inc"

namespace mlir::dl {
/// The activation op of activation code `code` (dl::Activation) applied to x:
/// how a lowering without post-ops (linalg) computes a fused activation.
Value createKernelActivation(OpBuilder &b, Location loc, int64_t code, Value x);

/// The NumPy broadcast of two shapes (dynamic dims as ShapedType::kDynamic), or failure
/// where two static dims differ and neither is 1.
FailureOr<SmallVector<int64_t>> broadcastShapes(ArrayRef<int64_t> a, ArrayRef<int64_t> b);

/// Name of the function argument attributes that tag model inputs and parameters, and of
/// the result attribute that names outputs.
inline constexpr llvm::StringLiteral kInputAttr = "dl.input";
inline constexpr llvm::StringLiteral kParamAttr = "dl.param";
inline constexpr llvm::StringLiteral kOutputAttr = "dl.output";
} // namespace mlir::dl

#endif
