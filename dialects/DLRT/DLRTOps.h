//===- DLRTOps.h - calls into the dlrt runtime ------------------*- C++ -*-===//
#ifndef DLC_DIALECTS_DLRT_DLRTOPS_H
#define DLC_DIALECTS_DLRT_DLRTOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/DLRT/DLRTDialect.h"

namespace mlir::dlrt {

/// How a kernel uses one of its C arguments (the op's `arg_kinds`; see DLRTOps.td).
enum class KernelArgKind : int32_t {
  In = 0,        ///< one operand, read (buffers) or passed as is (scalars)
  Null = 1,      ///< no operand: a null pointer
  Out = 2,       ///< one destination tensor, written
  InOut = 3,     ///< one destination tensor, read then written
  Addresses = 4, ///< n read buffers as an array of addresses; encoded as 4 + n
};

/// The `arg_kinds` entry of an address array of `n` buffers.
inline int32_t addressesKind(unsigned n) { return int32_t(KernelArgKind::Addresses) + int32_t(n); }

/// True for the destinations of results.
inline bool isDestination(KernelArgKind k) { return k == KernelArgKind::Out || k == KernelArgKind::InOut; }

} // namespace mlir::dlrt

#define GET_OP_CLASSES
#include "dialects/DLRT/DLRTOps.h.inc"

#endif
