//===- KernelCallsToFunc.cpp - bufferized dlrt.call -> func.call ----------===//
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Conversion/Passes.h"
#include "dialects/DLRT/DLRTOps.h"

using namespace mlir;
using mlir::dlrt::KernelArgKind;

namespace dlc {

#define GEN_PASS_DEF_DLRTCALLTOFUNC
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// The data address of a contiguous buffer, as an index.
Value bufferAddress(OpBuilder &b, Location loc, Value memref) {
  return memref::ExtractAlignedPointerAsIndexOp::create(b, loc, memref);
}

Value asPointer(OpBuilder &b, Location loc, Value address) {
  Value i = arith::IndexCastOp::create(b, loc, b.getI64Type(), address);
  return LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()), i);
}

LogicalResult lowerCall(dlrt::KernelCallOp call, SymbolTable &symbols) {
  if (call.getNumResults() != 0) return call.emitOpError("is still on tensors: bufferize it first");
  OpBuilder b(call);
  Location loc = call.getLoc();
  SmallVector<Value> args;
  for (const auto &arg : call.getKernelArguments()) {
    if (arg.kind == KernelArgKind::Null) {
      args.push_back(LLVM::ZeroOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext())));
      continue;
    }
    SmallVector<Value> addresses;
    for (OpOperand &o : arg.operands) {
      Value v = o.get();
      auto type = dyn_cast<MemRefType>(v.getType());
      if (!type) {
        if (arg.kind != KernelArgKind::In) return call.emitOpError("buffer argument is not a memref: ") << v.getType();
        args.push_back(v);
        continue;
      }
      // Kernels address rows from the data pointer; bufferization made every buffer
      // contiguous.
      if (!type.getLayout().isIdentity())
        return call.emitOpError("kernel buffer without the identity layout: ") << type;
      addresses.push_back(bufferAddress(b, loc, v));
    }
    if (arg.kind != KernelArgKind::Addresses) {
      if (!addresses.empty()) args.push_back(asPointer(b, loc, addresses.front()));
      continue;
    }
    args.push_back(asPointer(b, loc, bufferAddress(b, loc, i64Array(b, loc, addresses))));
  }

  auto fn = symbols.lookup<func::FuncOp>(call.getCallee());
  FunctionType type = b.getFunctionType(TypeRange(args), {});
  if (!fn) {
    OpBuilder top(symbols.getOp()->getContext());
    top.setInsertionPointToStart(&symbols.getOp()->getRegion(0).front());
    fn = func::FuncOp::create(top, loc, call.getCallee(), type);
    fn.setPrivate();
    symbols.insert(fn);
  } else if (fn.getFunctionType() != type) {
    return call.emitOpError("calls ") << call.getCallee() << " as " << type << ", declared " << fn.getFunctionType();
  }
  func::CallOp::create(b, loc, fn, args);
  call.erase();
  return success();
}

struct DLRTCallToFuncPass : public impl::DLRTCallToFuncBase<DLRTCallToFuncPass> {
  void runOnOperation() override {
    SymbolTable symbols(getOperation());
    SmallVector<dlrt::KernelCallOp> calls;
    getOperation()->walk([&](dlrt::KernelCallOp c) { calls.push_back(c); });
    for (dlrt::KernelCallOp c : calls)
      if (failed(lowerCall(c, symbols))) return signalPassFailure();
  }
};

} // namespace
} // namespace dlc
