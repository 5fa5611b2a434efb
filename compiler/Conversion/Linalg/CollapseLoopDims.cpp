//===- CollapseLoopDims.cpp - merge loops that walk memory contiguously ---===//
//
// convert-linalg-to-loops gives a generic one loop per dim, and LLVM vectorises only the
// innermost one. Where that loop is short and static (the 16 or 32 channels of an NHWC
// activation) LLVM unrolls it fully and then vectorises the loop around it, which walks
// memory with the channel count as stride: gathers and scatters, one element per lane.
// In the CNN's train step a relu's backward over [64, 28, 28, 16] took 0.6 ms that way.
//
// Consecutive loops of one kind (all parallel or all reduction) whose dims every operand
// indexes together, in order, address memory as one longer loop would: this pass merges
// them (linalg's collapseOpIterationDims, reshaping the operands around the op), so that
// an elementwise op over a contiguous tensor becomes a single loop, and a reduction of
// NHWC over N, H and W a loop of rows around a loop over the channels.
//
// It runs twice: on tensors, and again on buffers for the generics it left there, whose
// results end in an output buffer (a train step's optimizer updates): on buffers the
// reshape is a view (memref.collapse_shape) with nothing to copy back. Unmerged, the SGD
// update of ResNet-18's [K, C, 3, 3] filters ran scalar along their rows of 3 (26 ms of a
// 907 ms step at batch 16, one Sapphire Rapids core).
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Bufferize/FinalPlace.h"
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLCOLLAPSELOOPDIMS
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// The groups of consecutive loops of `op` that can run as one (see the file comment);
/// none where there is nothing to merge or the op is not a plain generic on tensors.
SmallVector<ReassociationIndices> mergeableLoops(linalg::LinalgOp op) {
  auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
  if (!generic || generic.getNumLoops() < 2) return {};
  // Buffers in their plain row-major layout, which any run of consecutive dims of can be
  // viewed as one; a strided view (a slice) is left alone.
  const bool onBuffers = generic.hasPureBufferSemantics();
  if (onBuffers && !llvm::all_of(generic->getOperandTypes(), [](Type t) {
        auto m = dyn_cast<MemRefType>(t);
        return m && m.getLayout().isIdentity();
      }))
    return {};
  if (!onBuffers && !generic.hasPureTensorSemantics()) return {};
  // A body that reads its loop indices would need them rebuilt by division.
  if (!generic.getBody()->getOps<linalg::IndexOp>().empty()) return {};
  // A result that ends in an output buffer or a concat's slice is computed there directly
  // (dl-eliminate-empty-tensors), which the reshape back would prevent: the optimizer's
  // updates of a train step would be computed aside and copied (MLP 784-256-256-10: a
  // 3.3 MiB arena instead of 1.1, the step 15% slower). The run on buffers merges them.
  if (!onBuffers && endsInFinalPlace(generic)) return {};
  SmallVector<AffineMap> maps = generic.getIndexingMapsArray();
  // areDimSequencesPreserved expects projected permutations (no broadcast constants).
  if (!llvm::all_of(maps, [](AffineMap m) { return m.isProjectedPermutation(); })) return {};
  auto iterators = generic.getIteratorTypesArray();
  SmallVector<int64_t> ranges = generic.getStaticLoopRanges();
  auto dynamicIn = [&](const ReassociationIndices &group) {
    return llvm::count_if(group, [&](int64_t d) { return ShapedType::isDynamic(ranges[d]); });
  };
  SmallVector<ReassociationIndices> groups;
  ReassociationIndices current = {0};
  auto flush = [&] {
    if (current.size() > 1) groups.push_back(current);
  };
  for (int64_t d = 1; d < int64_t(iterators.size()); ++d) {
    ReassociationIndices longer = current;
    longer.push_back(d);
    // At most one dynamic size per group: MLIR 22's expand-strided-metadata crashes on a
    // memref.expand_shape that splits one dim into two dynamic ones (the result's
    // reshape back), and the batch dim of [B, T, C] merged with T buys little.
    if (iterators[d] == iterators[current.back()] && dynamicIn(longer) <= 1 &&
        linalg::areDimSequencesPreserved(maps, {longer})) {
      current = longer;
      continue;
    }
    flush();
    current = {d};
  }
  flush();
  return groups;
}

struct CollapseLoopDimsPass : public impl::DLCollapseLoopDimsBase<CollapseLoopDimsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateCollapseDimensions(patterns, mergeableLoops);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns)))) signalPassFailure();
  }
};

} // namespace
} // namespace dlc
