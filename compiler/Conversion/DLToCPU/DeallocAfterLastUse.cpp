//===- DeallocAfterLastUse.cpp - free buffers when they die ---------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLDEALLOCAFTERLASTUSE
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// The last operation of `dealloc`'s block that reads a value derived from the freed
/// buffer, or null where the buffer escapes: its pointer is stored to memory, it is
/// returned, or a derived value is used in another block.
Operation *lastUse(memref::DeallocOp dealloc, Operation *alloc) {
  Block *block = dealloc->getBlock();
  Operation *last = alloc;
  SmallVector<Value> worklist = {dealloc.getMemref()};
  llvm::SmallPtrSet<Value, 16> seen;
  while (!worklist.empty()) {
    Value v = worklist.pop_back_val();
    if (!seen.insert(v).second) continue;
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (user == dealloc) continue;
      Operation *inBlock = block->findAncestorOpInBlock(*user);
      if (!inBlock || isa<func::ReturnOp>(user)) return nullptr;
      // The buffer's address (or a view of it) written to memory: read later through it.
      if (auto store = dyn_cast<memref::StoreOp>(user); store && store.getValueToStore() == v) return nullptr;
      if (auto store = dyn_cast<LLVM::StoreOp>(user); store && store.getValue() == v) return nullptr;
      if (last->isBeforeInBlock(inBlock)) last = inBlock;
      for (Value r : user->getResults()) worklist.push_back(r);
    }
  }
  return last;
}

struct DeallocAfterLastUsePass : public impl::DLDeallocAfterLastUseBase<DeallocAfterLastUsePass> {
  void runOnOperation() override {
    SmallVector<memref::DeallocOp> deallocs;
    getOperation()->walk([&](memref::DeallocOp d) { deallocs.push_back(d); });
    for (memref::DeallocOp d : deallocs) {
      Operation *alloc = d.getMemref().getDefiningOp<memref::AllocOp>();
      if (!alloc || alloc->getBlock() != d->getBlock()) continue;
      Operation *last = lastUse(d, alloc);
      if (last && last->isBeforeInBlock(d)) d->moveAfter(last);
    }
  }
};

} // namespace
} // namespace dlc
