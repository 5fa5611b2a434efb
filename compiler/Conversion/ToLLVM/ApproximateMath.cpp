//===- ApproximateMath.cpp - inline polynomial erf and exp ----------------===//
//
// libm's erff and expf are scalar calls: a loop that calls them does not vectorise, and in
// a transformer the exact GELU's erf alone took a fifth of the time. MLIR's polynomial
// approximations are plain arithmetic that LLVM vectorises; they stay within the tests'
// tolerance against PyTorch (a few ulp).
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLAPPROXIMATEMATH
#include "compiler/Conversion/Passes.h.inc"

namespace {

struct ApproximateMathPass : public impl::DLApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populatePolynomialApproximateErfPattern(patterns);
    populateMathPolynomialApproximationPatterns(
        patterns, [](StringRef name) { return llvm::StringSwitch<bool>(name).Cases({"math.exp", "math.expm1"}, true).Default(false); });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns)))) signalPassFailure();
  }
};

} // namespace
} // namespace dlc
