//===- Patterns.h - dl -> linalg where the GPU wants another form -*- C++ -*-===//
//
// The GPU target uses the portable lowerings of DLToCPU/Patterns.h (dl -> linalg and
// tensor), except where one of them would steer host code by tensor contents: those
// ops get a form here that keeps every element access in a kernel.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_CONVERSION_DLTOGPU_PATTERNS_H
#define DLC_CONVERSION_DLTOGPU_PATTERNS_H

#include "mlir/IR/PatternMatch.h"

namespace dlc {

/// embedding_grad as a parallel sum per table element (preferred over the row scatter).
void populateIndexingToGPU(mlir::RewritePatternSet &patterns);

} // namespace dlc
#endif
