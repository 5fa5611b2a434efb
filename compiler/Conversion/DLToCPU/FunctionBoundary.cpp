//===- FunctionBoundary.cpp - entry functions to the runtime's convention -===//
//
// func @infer(%x: tensor<?x64xf32>, ...) -> tensor<?x10xf32>
// becomes
// func @infer(%ctx: !llvm.ptr, %x: memref<?x64xf32>, ..., %out: memref<?x10xf32>)
// with to_tensor views of the arguments and materialize_in_destination into the outputs,
// so that one-shot bufferization writes results straight into the caller's buffers.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Boundary.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

using namespace mlir;

namespace dlc {

static MemRefType bufferType(Type t) {
  auto rt = cast<RankedTensorType>(t);
  return MemRefType::get(rt.getShape(), rt.getElementType());
}

LogicalResult lowerEntryBoundary(func::FuncOp fn) {
  if (fn.isExternal()) return success();
  MLIRContext *ctx = fn.getContext();
  FunctionType oldType = fn.getFunctionType();
  for (Type t : llvm::concat<const Type>(oldType.getInputs(), oldType.getResults()))
    if (!isa<RankedTensorType>(t))
      return fn.emitError("entry functions take and return ranked tensors only, got ") << t;

  SmallVector<Type> inputs{LLVM::LLVMPointerType::get(ctx)};
  for (Type t : oldType.getInputs()) {
    inputs.push_back(bufferType(t));
  }
  for (Type t : oldType.getResults()) {
    inputs.push_back(bufferType(t));
  }

  Block &entry = fn.getBody().front();
  OpBuilder b(ctx);
  b.setInsertionPointToStart(&entry);
  Location loc = fn.getLoc();
  // Arguments: a new block argument of memref type, viewed as the old tensor.
  SmallVector<BlockArgument> oldArgs(entry.getArguments().begin(), entry.getArguments().end());
  unsigned numOld = oldArgs.size();
  entry.insertArgument(0u, inputs[0], loc);
  for (unsigned i = 0; i < numOld; ++i) {
    BlockArgument buf = entry.insertArgument(1 + i, inputs[1 + i], loc);
    // Entry arguments are read, never written: the caller owns them.
    Value view = bufferization::ToTensorOp::create(b, loc, oldArgs[i].getType(), buf, /*restrict=*/true);
    oldArgs[i].replaceAllUsesWith(view);
  }
  entry.eraseArguments(1 + numOld, numOld);

  SmallVector<BlockArgument> outs;
  for (Type t : oldType.getResults()) outs.push_back(entry.addArgument(bufferType(t), loc));

  auto ret = cast<func::ReturnOp>(entry.getTerminator());
  b.setInsertionPoint(ret);
  for (auto [v, out] : llvm::zip(ret.getOperands(), outs))
    bufferization::MaterializeInDestinationOp::create(b, ret.getLoc(), TypeRange{}, v, out,
                                                      /*restrict=*/true, /*writable=*/true);
  func::ReturnOp::create(b, ret.getLoc());
  ret.erase();

  // Argument attributes move with their arguments; outputs keep their names.
  SmallVector<DictionaryAttr> argAttrs{DictionaryAttr::get(ctx)};
  for (unsigned i = 0; i < oldType.getNumInputs(); ++i) argAttrs.push_back(fn.getArgAttrDict(i));
  for (unsigned i = 0; i < oldType.getNumResults(); ++i) argAttrs.push_back(fn.getResultAttrDict(i));
  for (DictionaryAttr &d : argAttrs)
    if (!d) d = DictionaryAttr::get(ctx);
  fn.setType(FunctionType::get(ctx, inputs, {}));
  fn.setAllArgAttrs(argAttrs);
  fn.removeResAttrsAttr();
  // The C interface takes one descriptor pointer per memref: dl-emit-model-interface reads
  // from its wrapper which descriptor each argument comes from, and moves this function's
  // body into dl_entry_<fn>, which loads them. Called as it is, the function would take
  // every descriptor's fields as scalar arguments: TinyGpt's 32-layer train step passed
  // 4000, and instruction selection of that one call took 7 of the model's 40 s to compile.
  fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  fn->setAttr("llvm.linkage", LLVM::LinkageAttr::get(ctx, LLVM::Linkage::Internal));
  return success();
}

} // namespace dlc
