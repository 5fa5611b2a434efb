//===- KernelNoAlias.cpp - separate buffers of outlined kernels as noalias ===//
//
// dl-outline-kernels finds which buffers of a kernel no other argument reaches at any of
// its calls, and records where their aligned pointers will be among the kernel's
// arguments in the LLVM dialect (func-to-llvm drops argument attributes of memrefs, whose
// descriptors it expands into several arguments). Here, after that conversion, those
// pointers become `noalias`, so that LLVM may reorder a store to one buffer with a load
// from another: vectorise a copy, keep a reduction's accumulator in a register. Where
// the arguments do not have the count and kinds the positions assume, nothing is marked.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLKERNELNOALIAS
#include "compiler/Conversion/Passes.h.inc"

namespace {

struct KernelNoAliasPass : public impl::DLKernelNoAliasBase<KernelNoAliasPass> {
  void runOnOperation() override {
    for (auto fn : getOperation().getOps<LLVM::LLVMFuncOp>()) {
      auto pointers = fn->getAttrOfType<DenseI64ArrayAttr>(kNoAliasArgsAttr);
      auto count = fn->getAttrOfType<IntegerAttr>(kNoAliasArgCountAttr);
      fn->removeAttr(kNoAliasArgsAttr);
      fn->removeAttr(kNoAliasArgCountAttr);
      if (!pointers || !count) continue;
      ArrayRef<Type> args = fn.getFunctionType().getParams();
      bool laidOut = int64_t(args.size()) == count.getInt() && llvm::all_of(pointers.asArrayRef(), [&](int64_t at) {
                       return at < int64_t(args.size()) && isa<LLVM::LLVMPointerType>(args[at]);
                     });
      if (!laidOut) {
        fn.emitWarning("internal: the arguments are not laid out as dl-outline-kernels assumed; no noalias");
        continue;
      }
      for (int64_t at : pointers.asArrayRef())
        fn.setArgAttr(unsigned(at), LLVM::LLVMDialect::getNoAliasAttrName(), UnitAttr::get(&getContext()));
    }
  }
};

} // namespace
} // namespace dlc
