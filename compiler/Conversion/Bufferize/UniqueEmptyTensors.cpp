//===- UniqueEmptyTensors.cpp - one tensor.empty per destination ----------===//
#include "compiler/Conversion/Passes.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLUNIQUEEMPTYTENSORS
#include "compiler/Conversion/Passes.h.inc"

namespace {

struct UniqueEmptyTensorsPass : public impl::DLUniqueEmptyTensorsBase<UniqueEmptyTensorsPass> {
  void runOnOperation() override {
    SmallVector<tensor::EmptyOp> shared;
    getOperation()->walk([&](tensor::EmptyOp e) {
      if (!e->hasOneUse() && !e->use_empty()) shared.push_back(e);
    });
    for (tensor::EmptyOp e : shared) {
      // Every use but the first gets a clone placed beside the original, where its
      // dynamic sizes are defined and which dominates every use.
      OpBuilder b(e);
      b.setInsertionPointAfter(e);
      for (OpOperand &use : llvm::make_early_inc_range(llvm::drop_begin(e->getUses())))
        use.set(b.clone(*e)->getResult(0));
    }
  }
};

} // namespace
} // namespace dlc
