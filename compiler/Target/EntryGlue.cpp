//===- EntryGlue.cpp - model.so's big straight-line entry functions -------===//
#include "compiler/Target/EntryGlue.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/IR/CFG.h"

namespace dlc {

namespace {

/// Whether every branch of `f` goes forward in the order of its blocks, so that it has
/// no loop (a cycle needs at least one edge backwards in any order).
bool isStraightForward(const llvm::Function &f) {
  llvm::DenseMap<const llvm::BasicBlock *, unsigned> order;
  for (const llvm::BasicBlock &b : f) order[&b] = order.size();
  for (const llvm::BasicBlock &b : f)
    for (const llvm::BasicBlock *s : llvm::successors(&b))
      if (order.lookup(s) <= order.lookup(&b)) return false;
  return true;
}

} // namespace

bool isEntryGlue(const llvm::Function &f, unsigned threshold) {
  return !f.isDeclaration() && f.hasExternalLinkage() && f.getName().starts_with("dl_entry_") &&
         f.getInstructionCount() >= threshold && isStraightForward(f);
}

static constexpr const char *kGlueAttribute = "dlc-entry-glue";

void markEntryGlue(llvm::Function &f) { f.addFnAttr(kGlueAttribute); }

bool isMarkedEntryGlue(const llvm::Function &f) { return f.hasFnAttribute(kGlueAttribute); }

} // namespace dlc
