//===- Boundary.h - entry functions to the runtime's convention -*- C++ -*-===//
#ifndef DLC_CONVERSION_DLTOCPU_BOUNDARY_H
#define DLC_CONVERSION_DLTOCPU_BOUNDARY_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace dlc {
/// Rewrites a tensor-level entry function to (ctx, input and parameter memrefs, output
/// memrefs) -> (), with a C interface (one descriptor pointer per memref).
mlir::LogicalResult lowerEntryBoundary(mlir::func::FuncOp fn);
} // namespace dlc
#endif
