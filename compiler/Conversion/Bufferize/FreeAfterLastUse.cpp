//===- FreeAfterLastUse.cpp - free each buffer once nothing reads it ------===//
//
// After buffer-deallocation-pipeline, a model function's deallocs all sit at its end. Here
// each moves up to just after the last op of the body block that can touch its buffer:
// a use of the buffer or of anything that may alias it or carry its address. Aliases are
// memref (or pointer) results of ops that use an alias (views, casts, loops yielding it);
// addresses are the integers extracted from an alias and whatever is computed from them,
// and memory an address is stored into. Kernel calls, linalg ops and copies only read and
// write through their operands, so their outputs are not aliases of their inputs. The
// approximation errs on the long side (an address compared for a conditional dealloc
// keeps the buffer until the comparison), which only costs memory.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLFREEAFTERLASTUSE
#include "compiler/Conversion/Passes.h.inc"

namespace {

bool mayHoldAddress(Type t) { return isa<BaseMemRefType, LLVM::LLVMPointerType>(t); }

struct FreeAfterLastUsePass : public impl::DLFreeAfterLastUseBase<FreeAfterLastUsePass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal() || !fn.getBody().hasOneBlock()) return;
    Block &body = fn.getBody().front();
    // Ops' places in the body, numbered here rather than asked of the block: every move
    // makes the block number its ops again at the next isBeforeInBlock, which made this
    // pass quadratic (17 s on a train step unrolled over 640 steps).
    DenseMap<Operation *, unsigned> position;
    auto numberOps = [&] {
      unsigned k = 0;
      for (Operation &op : body) position[&op] = k++;
    };
    numberOps();

    // Allocations first move down to their first use: destinations made early (a residual
    // stream's buffers, created before the layers that fill them) would otherwise be alive
    // from the start of the call. (Moving an allocation leaves the others' order as it was.)
    for (auto alloc : llvm::to_vector(body.getOps<memref::AllocOp>())) {
      Operation *first = nullptr;
      for (Operation *user : alloc->getUsers()) {
        Operation *top = body.findAncestorOpInBlock(*user);
        if (top && (!first || position.lookup(top) < position.lookup(first))) first = top;
      }
      if (first && first != alloc.getOperation()) alloc->moveBefore(first);
    }
    numberOps();

    for (auto dealloc : llvm::to_vector(body.getOps<memref::DeallocOp>())) {
      Value buffer = dealloc.getMemref();
      Operation *def = buffer.getDefiningOp();
      if (!def || def->getBlock() != &body) continue; // an argument, or not from this block
      Operation *last = def;
      llvm::DenseSet<Value> derived{buffer};
      SmallVector<Value> work{buffer};
      auto mark = [&](Value r) {
        if (derived.insert(r).second) work.push_back(r);
      };
      while (!work.empty()) {
        Value v = work.pop_back_val();
        bool address = !mayHoldAddress(v.getType()); // an integer computed from the buffer's address
        for (OpOperand &use : v.getUses()) {
          Operation *user = use.getOwner();
          if (user == dealloc.getOperation()) continue;
          Operation *top = body.findAncestorOpInBlock(*user);
          if (!top || top == dealloc.getOperation()) continue;
          if (position.lookup(top) > position.lookup(last)) last = top;
          bool extractsAddress = isa<memref::ExtractAlignedPointerAsIndexOp, memref::ExtractStridedMetadataOp>(user);
          for (Value r : user->getResults())
            if (address || extractsAddress || mayHoldAddress(r.getType())) mark(r);
          // An op in a region of `top` (a loop body) may pass an alias out as `top`'s result.
          if (top != user)
            for (Value r : top->getResults())
              if (mayHoldAddress(r.getType())) mark(r);
          // An address stored to memory: that memory now leads to the buffer.
          if (address)
            for (Value o : user->getOperands())
              if (mayHoldAddress(o.getType())) mark(o);
        }
      }
      // Never past the dealloc's own place, nor before its buffer exists.
      if (position.lookup(last) >= position.lookup(dealloc)) continue;
      dealloc->moveAfter(last);
    }
  }
};

} // namespace
} // namespace dlc
