//===- SplitDeallocs.cpp - one memref.dealloc per owned allocation --------===//
//
// Ownership-based deallocation ends a block with one bufferization.dealloc of every
// buffer the block owns. buffer-deallocation-simplification then asks, for each pair of
// them, whether they may alias, so that it can split the op: time quadratic in the
// buffers, which a train step unrolled over a long recurrence has by the ten thousand
// (35 s for a 640-step LSTM's). Where every buffer of the op is its own memref.alloc,
// owned unconditionally, and none is retained, no two can alias, and the op is the same
// as one memref.dealloc each: that is what this pass writes, before the simplification.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLSPLITDEALLOCS
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// Whether `dealloc` frees distinct allocations, each unconditionally, and keeps none.
bool freesDistinctAllocations(bufferization::DeallocOp dealloc) {
  if (!dealloc.getRetained().empty() || dealloc.getMemrefs().empty()) return false;
  llvm::SmallDenseSet<Value, 64> seen;
  for (auto [memref, condition] : llvm::zip(dealloc.getMemrefs(), dealloc.getConditions()))
    if (!memref.getDefiningOp<memref::AllocOp>() || !matchPattern(condition, m_One()) || !seen.insert(memref).second)
      return false;
  return true;
}

struct SplitDeallocsPass : public impl::DLSplitDeallocsBase<SplitDeallocsPass> {
  void runOnOperation() override {
    SmallVector<bufferization::DeallocOp> splittable;
    getOperation()->walk([&](bufferization::DeallocOp op) {
      if (freesDistinctAllocations(op)) splittable.push_back(op);
    });
    for (bufferization::DeallocOp op : splittable) {
      OpBuilder b(op);
      for (Value memref : op.getMemrefs()) memref::DeallocOp::create(b, op.getLoc(), memref);
      op->erase();
    }
  }
};

} // namespace
} // namespace dlc
