//===- DLDialect.cpp - the dl dialect -------------------------------------===//
#include "dialects/DL/DLDialect.h"
#include "dialects/DL/DLOps.h"

using namespace mlir;
using namespace mlir::dl;

#include "dialects/DL/DLOpsDialect.cpp.inc"

void DLDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/DL/DLOps.cpp.inc"
      >();
}
