//===- EliminateEmptyTensors.cpp - results straight into their final buffer ===//
//
// One-shot bufferization allocates a buffer for every tensor.empty. Where a value ends
// in an output buffer (materialize_in_destination) or in a slice of a concat
// (insert_slice), its chain's tensor.empty can be replaced by a view of that final
// place, saving a copy. That is sound only if nothing else reads any value on the chain:
// the replacement makes the chain's ops write the final buffer early, and writes through
// an output memref are invisible to bufferization's analysis.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.h"
#include "mlir/Interfaces/SubsetOpInterface.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotModuleBufferize.h"
#include "mlir/IR/Dominance.h"

using namespace mlir;
using namespace mlir::bufferization;

namespace dlc {

#define GEN_PASS_DEF_DLELIMINATEEMPTYTENSORS
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// The tensor.empty that `v` is computed in, through ops that each write their one
/// equivalent destination in place, when `v` and every value before it on that chain has
/// exactly one reader; otherwise null.
tensor::EmptyOp soleChainRoot(Value v, const OneShotAnalysisState &state) {
  while (v.hasOneUse()) {
    if (auto empty = v.getDefiningOp<tensor::EmptyOp>()) return empty;
    auto result = dyn_cast<OpResult>(v);
    if (!result || !state.getOptions().dynCastBufferizableOp(result.getOwner())) return {};
    AliasingOpOperandList aliases = state.getAliasingOpOperands(result);
    if (aliases.getNumAliases() != 1) return {};
    const AliasingOpOperand &alias = aliases.getAliases().front();
    if (alias.relation != BufferRelation::Equivalent || !state.isInPlace(*alias.opOperand)) return {};
    if (alias.opOperand->get().getType() != v.getType()) return {};
    v = alias.opOperand->get();
  }
  return {};
}

/// Where the replacement of `empty` can go: at `empty`, or right after one of `needed`
/// (what building it reads), provided all of `needed` dominate it and it dominates every
/// use of `empty`.
Operation *insertionPoint(DominanceInfo &dom, tensor::EmptyOp empty, ArrayRef<Value> needed) {
  SmallVector<Operation *> candidates{empty};
  for (Value v : needed) {
    if (auto arg = dyn_cast<BlockArgument>(v)) candidates.push_back(&arg.getOwner()->front());
    else candidates.push_back(v.getDefiningOp()->getNextNode());
  }
  for (Operation *at : candidates) {
    bool ok = llvm::all_of(needed, [&](Value v) {
      if (auto arg = dyn_cast<BlockArgument>(v)) return arg.getOwner()->findAncestorOpInBlock(*at) != nullptr;
      return dom.properlyDominates(v.getDefiningOp(), at);
    });
    ok = ok && llvm::all_of(empty->getUsers(), [&](Operation *user) { return dom.dominates(at, user); });
    if (ok) return at;
  }
  return nullptr;
}

struct EliminateEmptyTensorsPass : public impl::DLEliminateEmptyTensorsBase<EliminateEmptyTensorsPass> {
  void runOnOperation() override {
    Operation *root = getOperation();
    OneShotBufferizationOptions options;
    options.allowReturnAllocsFromLoops = true;
    // As one-shot-bufferize will see it: across calls of shared fn bodies, whose
    // destination arguments they write.
    options.bufferizeFunctionBoundaries = true;
    options.setFunctionBoundaryTypeConversion(LayoutMapOption::IdentityLayoutMap);
    OneShotAnalysisState state(root, options);
    if (failed(analyzeModuleOp(root, state))) return signalPassFailure();
    DominanceInfo dom(root);
    IRRewriter rewriter(root->getContext());
    root->walk([&](SubsetInsertionOpInterface insertion) {
      OpOperand &source = insertion.getSourceOperand();
      if (!state.isInPlace(source)) return;
      // A tensor destination (a concat's accumulator) must have no reader besides the
      // insertion either: the chain writes its slice before the insertion runs.
      Value dest = insertion.getDestinationOperand().get();
      if (isa<TensorType>(dest.getType()) && !dest.hasOneUse()) return;
      tensor::EmptyOp empty = soleChainRoot(source.get(), state);
      if (!empty) return;
      SmallVector<Value> needed = insertion.getValuesNeededToBuildSubsetExtraction();
      Operation *at = insertionPoint(dom, empty, needed);
      if (!at) return;
      rewriter.setInsertionPoint(at);
      Value replacement = insertion.buildSubsetExtraction(rewriter, empty.getLoc());
      if (!replacement || replacement.getDefiningOp() == empty) return;
      if (replacement.getType() != empty.getType())
        replacement = tensor::CastOp::create(rewriter, empty.getLoc(), empty.getType(), replacement);
      rewriter.replaceOp(empty, replacement);
      state.resetCache();
    });
  }
};

} // namespace
} // namespace dlc
