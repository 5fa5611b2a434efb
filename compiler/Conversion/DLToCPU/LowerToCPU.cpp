//===- LowerToCPU.cpp - the dl-lower-to-cpu pass --------------------------===//
#include "compiler/Conversion/DLToCPU/Boundary.h"
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLLOWERTOCPU
#include "compiler/Conversion/Passes.h.inc"

namespace {

struct LowerToCPUPass : public impl::DLLowerToCPUBase<LowerToCPUPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Number the kernel call sites in program order: the runtime caches a primitive per site.
    int64_t site = 0;
    module.walk([&](Operation *op) {
      if (isa<dl::DenseOp, dl::MatmulOp>(op))
        op->setAttr("dl.site", IntegerAttr::get(IntegerType::get(op->getContext(), 64), site++));
    });
    module->setAttr("dl.num_sites", IntegerAttr::get(IntegerType::get(module.getContext(), 64), site));

    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>()))
      if (!fn.isPrivate() && failed(lowerEntryBoundary(fn))) return signalPassFailure();

    RewritePatternSet patterns(&getContext());
    populateMatmulToOneDNN(patterns);
    populateElementwiseToLinalg(patterns);
    populateSoftmaxToLinalg(patterns);
    populateReductionToLinalg(patterns);
    populateShapeToTensor(patterns);
    if (failed(applyPatternsGreedily(module, std::move(patterns)))) return signalPassFailure();

    bool left = false;
    module.walk([&](Operation *op) {
      if (isa<dl::DLDialect>(op->getDialect())) {
        op->emitError("'") << op->getName() << "' has no CPU lowering for these types";
        left = true;
      }
    });
    if (left) signalPassFailure();
  }
};

} // namespace
} // namespace dlc
