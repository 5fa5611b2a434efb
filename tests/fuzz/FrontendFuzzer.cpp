//===- FrontendFuzzer.cpp - .dl text through a verified dl module ---------===//
//
// The lexer, parser, Sema and MLIRGen on arbitrary text, then the dl dialect's verifier:
// any input must end in diagnostics or a module that verifies, never a crash, a hang or
// a sanitizer report.
//
//===----------------------------------------------------------------------===//
#include "compiler/Basic/Diagnostics.h"
#include "compiler/Frontend/MLIRGen.h"
#include "compiler/Frontend/Parser.h"
#include "compiler/Frontend/Sema.h"
#include "compiler/Target/Pipeline.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // One context for the process: making one per input would dominate the run.
  static mlir::MLIRContext *ctx = [] {
    mlir::DialectRegistry registry;
    dlc::registerDialects(registry);
    auto *c = new mlir::MLIRContext(registry);
    c->loadAllAvailableDialects();
    c->getDiagEngine().registerHandler([](mlir::Diagnostic &) { return mlir::success(); });
    return c;
  }();
  std::string src(reinterpret_cast<const char *>(data), size);
  dlc::Diagnostics diags(*ctx, "fuzz.dl");
  auto ast = dlc::parseModel(src, diags);
  if (!ast || diags.errorCount()) return 0;
  auto graph = dlc::analyze(*ast, diags);
  if (!graph || diags.errorCount()) return 0;
  auto module = dlc::emitModule(*graph, diags);
  if (!module || diags.errorCount()) return 0;
  if (mlir::failed(mlir::verify(*module))) {
    // A module the front end made without an error must verify: a bug in Sema/MLIRGen.
    std::fprintf(stderr, "the front end accepted the input but its dl module does not verify\n");
    std::abort();
  }
  return 0;
}
