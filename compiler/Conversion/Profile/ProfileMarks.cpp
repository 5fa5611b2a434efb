//===- ProfileMarks.cpp - where each op of the dl graph starts running ----===//
//
// dlrun bench --profile reports time per op of the dl graph. After fusion and
// bufferization an entry function is a sequence of loop nests, copies and runtime calls,
// each located at the dl ops it came from. This pass numbers those names ("units") and
// marks where the running unit changes; the runtime times from mark to mark when a
// session asks for a profile, and otherwise returns from the mark at once (one indirect
// call and a branch per unit).
//
//===----------------------------------------------------------------------===//
#include "compiler/Basic/Diagnostics.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/DLRT/DLRTOps.h"

#include "mlir/Interfaces/LoopLikeInterface.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLPROFILEMARKS
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// Whether `op` runs work of its own rather than bookkeeping (allocations, views, scalar
/// arithmetic, address arrays): the ops a profile charges time to.
bool doesWork(Operation *op) {
  return isa<linalg::LinalgOp, dlrt::KernelCallOp, memref::CopyOp, func::CallOp, LoopLikeOpInterface>(op);
}

/// "dense at model.dl:6:8", "relu at model.dl:6:25 + add at model.dl:9:3" for fused
/// code: every named position in the op's location, in order, once each. Code no layer
/// names (a copy into an output) goes by what it is and where.
std::string unitName(Operation *op) {
  SmallVector<std::string> parts;
  op->getLoc()->walk([&](Location l) {
    auto named = dyn_cast<NameLoc>(l);
    if (!named || isFnScopeName(named.getName().getValue())) return WalkResult::advance();
    std::string part = named.getName().str();
    std::string at = describeLocation(named.getChildLoc());
    if (!at.empty()) part += " at " + at;
    if (!llvm::is_contained(parts, part)) parts.push_back(part);
    return WalkResult::advance();
  });
  if (parts.empty()) {
    std::string what = isa<memref::CopyOp, linalg::CopyOp>(op) ? "copy" : op->getName().stripDialect().str();
    std::string at = describeLocation(op->getLoc());
    return at.empty() ? what : what + " at " + at;
  }
  return llvm::join(parts, " + ");
}

struct ProfileMarks : impl::DLProfileMarksBase<ProfileMarks> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Attribute> names;
    llvm::StringMap<int64_t> ids;
    for (auto fn : module.getOps<func::FuncOp>()) {
      // A shared fn body marks its own units; a call of one ends the caller's unit.
      if (!isLoweredEntry(fn) && !fn->hasAttr(kSharedFnBodyAttr)) continue;
      // A runtime call like any other: the context, a site (none: -1), then the unit.
      auto mark = [&](Operation *before, int64_t unit) {
        OpBuilder b(before);
        Location loc = before->getLoc();
        KernelCall(b, loc, before, "dlrt_k_profile").in(i64Const(b, loc, unit)).emit();
      };
      int64_t running = -1;
      for (Block &block : fn.getBody()) {
        for (Operation &op : llvm::make_early_inc_range(block)) {
          if (op.hasTrait<OpTrait::ReturnLike>()) {
            if (running >= 0) mark(&op, -1);
            continue;
          }
          if (auto call = dyn_cast<func::CallOp>(op)) {
            auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
            if (callee && callee->hasAttr(kSharedFnBodyAttr)) {
              running = -1;
              continue;
            }
          }
          if (!doesWork(&op)) continue;
          std::string name = unitName(&op);
          auto [it, added] = ids.try_emplace(name, int64_t(names.size()));
          if (added) names.push_back(StringAttr::get(module.getContext(), name));
          if (it->second == running) continue;
          running = it->second;
          mark(&op, running);
        }
        running = -1;
      }
    }
    module->setAttr("dl.profile_units", ArrayAttr::get(module.getContext(), names));
  }
};

} // namespace
} // namespace dlc
