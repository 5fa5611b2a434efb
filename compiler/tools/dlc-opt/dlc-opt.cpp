//===- dlc-opt.cpp - mlir-opt with the dl dialect and dlc's passes --------===//
#include "compiler/Target/Pipeline.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  dlc::registerDialects(registry);
  dlc::registerPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "dlc optimizer driver\n", registry));
}
