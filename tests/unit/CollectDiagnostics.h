// Test helper: an MLIR context whose diagnostics are collected as strings instead of printed.
#ifndef DLC_TESTS_UNIT_COLLECTDIAGNOSTICS_H
#define DLC_TESTS_UNIT_COLLECTDIAGNOSTICS_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <string>
#include <vector>

struct CollectDiagnostics {
  mlir::MLIRContext ctx;
  std::vector<std::string> errors;
  CollectDiagnostics() {
    ctx.getDiagEngine().registerHandler([this](mlir::Diagnostic &d) {
      errors.push_back(d.str());
      return mlir::success();
    });
  }
};

#endif
