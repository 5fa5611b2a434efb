//===- DLRTDialect.cpp - the dlrt dialect ---------------------------------===//
#include "dialects/DLRT/DLRTDialect.h"
#include "dialects/DLRT/DLRTOps.h"

using namespace mlir;
using namespace mlir::dlrt;

#include "dialects/DLRT/DLRTOpsDialect.cpp.inc"

void DLRTDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/DLRT/DLRTOps.cpp.inc"
      >();
}
