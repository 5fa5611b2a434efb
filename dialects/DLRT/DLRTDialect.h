//===- DLRTDialect.h - the dlrt dialect -------------------------*- C++ -*-===//
#ifndef DLC_DIALECTS_DLRT_DLRTDIALECT_H
#define DLC_DIALECTS_DLRT_DLRTDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/DLRT/DLRTOpsDialect.h.inc"

#endif
