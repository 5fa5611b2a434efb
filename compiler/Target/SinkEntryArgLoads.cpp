//===- SinkEntryArgLoads.cpp - argument loads next to their uses ----------===//
//
// dl_entry_<fn>(ctx, void **descriptors) unpacks every memref descriptor up front: the
// C-interface wrapper loads each field and calls the graph function, which LLVM inlines.
// A deep model's train step has thousands of arguments (TinyGpt at 64 layers: 4,650
// pointers, 11,663 loads), so the entry block started with all of them loaded and kept
// each live until its use, somewhere in 28,000 instructions. Code generation paid for
// those live ranges: instruction selection clustered the loads that share one chain
// (quadratic), the register allocator split and spilled thousands of ranges and the stack
// slot colouring and post-RA scheduler walked the spill slots: 6.7 of the 16 s compile.
//
// The table and the descriptors belong to the caller (the runtime builds them for this
// call and nothing else holds them; runtime/include/dlrt/model_abi.h), so they do not
// change while the entry runs, and each load can happen at its first use. This runs after
// LLVM's optimisation pipeline, which has no pass that sinks loads within a block, and
// checks first that the entry only reads through those pointers: if any of them is
// stored to, passed on or converted, the function is left as it is.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/SinkEntryArgLoads.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/IR/Instructions.h"

#include <cassert>
#include <functional>

namespace dlc {

namespace {

/// The instructions of `fn`'s entry block that only compute or read the argument table
/// and the descriptors (GEPs from them, loads through them), used only in that block;
/// empty when some use of those pointers is not such a read.
llvm::DenseSet<llvm::Instruction *> argTableReads(llvm::Function &fn) {
  llvm::DenseSet<llvm::Instruction *> movable;
  llvm::BasicBlock &entry = fn.getEntryBlock();
  // Pointers into the table (level 0) or into a descriptor (level 1).
  llvm::DenseMap<llvm::Value *, int> level;
  level[fn.getArg(1)] = 0;
  llvm::SmallVector<llvm::Value *> work{fn.getArg(1)};
  while (!work.empty()) {
    llvm::Value *p = work.pop_back_val();
    int lv = level[p];
    for (llvm::User *u : p->users()) {
      auto *inst = llvm::dyn_cast<llvm::Instruction>(u);
      if (!inst) return {};
      if (auto *gep = llvm::dyn_cast<llvm::GetElementPtrInst>(inst); gep && gep->getPointerOperand() == p) {
        if (level.try_emplace(gep, lv).second) work.push_back(gep);
      } else if (auto *load = llvm::dyn_cast<llvm::LoadInst>(inst); load && !load->isVolatile()) {
        // A load from the table is a descriptor's address; a load from a descriptor is a
        // field (a data pointer, an offset, a size), whose memory is not ours to reason about.
        if (lv == 0 && load->getType()->isPointerTy() && level.try_emplace(load, 1).second) work.push_back(load);
      } else {
        return {}; // stored to, passed on, compared or converted: not only read
      }
      if (inst->getParent() != &entry) continue;
      movable.insert(inst);
    }
  }
  // Only what is used in this block alone can move within it.
  for (auto it = movable.begin(); it != movable.end();) {
    auto cur = it++;
    for (llvm::User *u : (*cur)->users())
      if (llvm::cast<llvm::Instruction>(u)->getParent() != &entry) {
        movable.erase(cur);
        break;
      }
  }
  return movable;
}

} // namespace

void sinkEntryArgLoads(llvm::Module &m) {
  for (llvm::Function &fn : m) {
    if (fn.isDeclaration() || !fn.getName().starts_with("dl_entry_") || fn.arg_size() != 2) continue;
    llvm::DenseSet<llvm::Instruction *> movable = argTableReads(fn);
    if (movable.empty()) continue;
    // The new order: the block's other instructions as they were, each preceded by the
    // movable ones it needs and that are not placed yet, operands first. (A copy of the
    // reads before every use, so that nothing stays live from the forward pass to the
    // update, saved no further time: the activations kept for the backward pass are the
    // long ranges that remain.)
    llvm::BasicBlock &entry = fn.getEntryBlock();
    llvm::SmallVector<llvm::Instruction *> order;
    llvm::DenseSet<llvm::Instruction *> placed;
    std::function<void(llvm::Instruction *)> place = [&](llvm::Instruction *i) {
      for (llvm::Value *op : i->operands())
        if (auto *d = llvm::dyn_cast<llvm::Instruction>(op); d && movable.count(d) && placed.insert(d).second)
          place(d);
      order.push_back(i);
    };
    // One without users stays where it was: nothing else would place it.
    for (llvm::Instruction &i : entry)
      if (!movable.count(&i) || i.use_empty()) place(&i);
    assert(order.size() == entry.size() && "every instruction placed once");
    for (llvm::Instruction *i : order) {
      i->removeFromParent();
      i->insertInto(&entry, entry.end());
    }
  }
}

} // namespace dlc
