//===- DLDialect.h - the dl dialect -----------------------------*- C++ -*-===//
#ifndef DLC_DIALECTS_DL_DLDIALECT_H
#define DLC_DIALECTS_DL_DLDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/DL/DLOpsDialect.h.inc"

#endif
