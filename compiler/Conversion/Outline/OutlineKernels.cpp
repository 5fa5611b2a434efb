//===- OutlineKernels.cpp - each loop nest a function, each distinct one once ===//
//
// A model's entry function holds every layer's loops one after the other: TinyGpt's train
// step at 8 layers is one LLVM function of 105k instructions in which each layer's
// layer_norm, softmax and GELU loops appear again. LLVM's instruction selection and
// scheduling grow faster than linearly with a function's size, and it compiles each copy
// anew. This pass moves each top-level loop nest of an entry function (a linalg op or a
// loop) into a private function of its own, taking the buffers and values it uses as
// arguments (constants are cloned in, so shapes and bounds stay static), and keeps one
// function per distinct body: the layers' identical loops become calls of one function.
// Compile time and code size then follow the distinct code rather than the depth. Runtime
// calls, copies and bookkeeping stay in the entry function. The functions are never
// inlined back (that would undo the point), which costs one call per loop nest.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/Passes.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/LoopLikeInterface.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLOUTLINEKERNELS
#include "compiler/Conversion/Passes.h.inc"

namespace {

bool isLoopNest(Operation *op) { return isa<linalg::LinalgOp, LoopLikeOpInterface>(op); }

class Outliner {
public:
  explicit Outliner(ModuleOp module) : module(module) {}

  void outline(Operation *op) {
    MLIRContext *ctx = module.getContext();
    // What the nest reads from outside it: operands and values its regions capture.
    llvm::SetVector<Value> used(op->getOperands().begin(), op->getOperands().end());
    getUsedValuesDefinedAbove(op->getRegions(), used);
    SmallVector<Value> args;
    SmallVector<Operation *> constants;
    for (Value v : used) {
      Operation *def = v.getDefiningOp();
      if (def && def->hasTrait<OpTrait::ConstantLike>() && def->getNumResults() == 1) constants.push_back(def);
      else args.push_back(v);
    }

    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto type = FunctionType::get(ctx, ValueRange(args).getTypes(), op->getResultTypes());
    auto fn = func::FuncOp::create(mb, op->getLoc(), "dl_kernel", type);
    fn.setPrivate();
    Block *body = fn.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockBegin(body);
    IRMapping map;
    for (auto [v, a] : llvm::zip(args, body->getArguments())) map.map(v, a);
    for (Operation *c : constants) map.map(c->getResult(0), b.clone(*c)->getResult(0));
    Operation *copy = b.clone(*op, map);
    func::ReturnOp::create(b, op->getLoc(), copy->getResults());

    // The body as text, without locations or the function's name: equal text, equal code.
    std::string key;
    {
      llvm::raw_string_ostream os(key);
      OpPrintingFlags flags;
      flags.enableDebugInfo(false);
      flags.useLocalScope();
      fn->print(os, flags);
    }
    auto [it, added] = seen.try_emplace(key, fn);
    if (added) {
      fn.setSymName(("dl_kernel_" + llvm::Twine(seen.size() - 1)).str());
      // Internal and never inlined: LLVM would otherwise paste the one-call functions back.
      fn->setAttr("llvm.linkage", LLVM::LinkageAttr::get(ctx, LLVM::Linkage::Internal));
      // (func-to-llvm carries `passthrough` over to LLVM; a `no_inline` unit attribute it drops.)
      fn->setAttr("passthrough", ArrayAttr::get(ctx, {StringAttr::get(ctx, "noinline")}));
    } else {
      fn.erase();
    }
    OpBuilder at(op);
    auto call = func::CallOp::create(at, op->getLoc(), it->second, args);
    op->replaceAllUsesWith(call.getResults());
    op->erase();
  }

private:
  ModuleOp module;
  llvm::StringMap<func::FuncOp> seen;
};

struct OutlineKernels : impl::DLOutlineKernelsBase<OutlineKernels> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<func::FuncOp> entries;
    for (auto fn : module.getOps<func::FuncOp>())
      if (isLoweredEntry(fn)) entries.push_back(fn);
    Outliner outliner(module);
    for (func::FuncOp fn : entries)
      for (Block &block : fn.getBody())
        for (Operation &op : llvm::make_early_inc_range(block))
          if (isLoopNest(&op)) outliner.outline(&op);
  }
};

} // namespace
} // namespace dlc
