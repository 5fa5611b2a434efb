//===- RuntimeCalls.h - building calls into the dlrt kernels ----*- C++ -*-===//
#ifndef DLC_CONVERSION_DLTOCPU_RUNTIMECALLS_H
#define DLC_CONVERSION_DLTOCPU_RUNTIMECALLS_H

#include "mlir/IR/Builders.h"

namespace dlc {

/// The runtime context: the first argument of every entry function after the boundary
/// is lowered.
mlir::Value runtimeContext(mlir::Operation *op);
/// The data address of a tensor (through a read-only buffer) or of a memref, as an index.
mlir::Value bufferAddress(mlir::OpBuilder &b, mlir::Location loc, mlir::Value tensorOrMemref);
/// The same address as !llvm.ptr, what kernels take.
mlir::Value bufferPointer(mlir::OpBuilder &b, mlir::Location loc, mlir::Value tensorOrMemref);
/// bufferPointer of an optional operand, or a null pointer where it is absent.
mlir::Value optionalPointer(mlir::OpBuilder &b, mlir::Location loc, mlir::Value tensorOrNull);
/// The addresses of several tensors as one i64 array (a folded batch_norm's vectors, an
/// RNN's weights), for kernels that take a variable number of buffers.
mlir::Value addressArray(mlir::OpBuilder &b, mlir::Location loc, mlir::ValueRange tensors);
/// A 64-byte aligned buffer for a kernel's result.
mlir::Value allocResult(mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
                        mlir::ValueRange dynSizes);
/// The tensor view of a buffer a kernel wrote.
mlir::Value asTensor(mlir::OpBuilder &b, mlir::Location loc, mlir::Value memref,
                     mlir::RankedTensorType type);
/// Calls runtime kernel `name`, declaring it in the module on first use. Every kernel
/// returns void and records failures in the context, which the runtime checks.
void callRuntime(mlir::OpBuilder &b, mlir::Location loc, mlir::Operation *anchor,
                 llvm::StringRef name, mlir::ValueRange args);
mlir::Value i64Value(mlir::OpBuilder &b, mlir::Location loc, mlir::Value index);
/// An i64 constant, the type of kernels' scalar words.
mlir::Value i64Const(mlir::OpBuilder &b, mlir::Location loc, int64_t v);
/// A stack array of i64 words (index values are converted) and its pointer: how kernels
/// with many sizes (convolution geometry, matmul dims) receive them.
mlir::Value i64ArrayPointer(mlir::OpBuilder &b, mlir::Location loc, llvm::ArrayRef<mlir::Value> values);
/// The op's call-site number (`dl.site`, assigned by dl-lower-to-cpu) as an i64 constant;
/// the runtime keys caches by it and names the op's source location in errors.
mlir::Value siteOf(mlir::OpBuilder &b, mlir::Location loc, mlir::Operation *op);

} // namespace dlc
#endif
