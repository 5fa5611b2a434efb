//===- RuntimeCalls.cpp - building calls into the dlrt kernels ------------===//
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/BuiltinOps.h"

using namespace mlir;

namespace dlc {

Value runtimeContext(Operation *op) {
  auto fn = op->getParentOfType<func::FuncOp>();
  return fn.getArgument(0);
}

Value bufferAddress(OpBuilder &b, Location loc, Value tensorOrMemref) {
  Value buf = tensorOrMemref;
  if (auto t = dyn_cast<RankedTensorType>(buf.getType()))
    buf = bufferization::ToBufferOp::create(b, loc, MemRefType::get(t.getShape(), t.getElementType()),
                                            buf, /*read_only=*/true);
  return memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buf);
}

Value bufferPointer(OpBuilder &b, Location loc, Value tensorOrMemref) {
  Value i = arith::IndexCastOp::create(b, loc, b.getI64Type(), bufferAddress(b, loc, tensorOrMemref));
  return LLVM::IntToPtrOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()), i);
}

Value optionalPointer(OpBuilder &b, Location loc, Value tensorOrNull) {
  if (tensorOrNull) return bufferPointer(b, loc, tensorOrNull);
  return LLVM::ZeroOp::create(b, loc, LLVM::LLVMPointerType::get(b.getContext()));
}

Value addressArray(OpBuilder &b, Location loc, ValueRange tensors) {
  SmallVector<Value> addresses;
  for (Value t : tensors) addresses.push_back(bufferAddress(b, loc, t));
  return i64ArrayPointer(b, loc, addresses);
}

Value allocResult(OpBuilder &b, Location loc, RankedTensorType type, ValueRange dynSizes) {
  auto mt = MemRefType::get(type.getShape(), type.getElementType());
  return memref::AllocOp::create(b, loc, mt, dynSizes, b.getI64IntegerAttr(64));
}

Value asTensor(OpBuilder &b, Location loc, Value memref, RankedTensorType type) {
  return bufferization::ToTensorOp::create(b, loc, type, memref, /*restrict=*/true, /*writable=*/true);
}

void callRuntime(OpBuilder &b, Location loc, Operation *anchor, StringRef name, ValueRange args) {
  auto module = anchor->getParentOfType<ModuleOp>();
  auto fn = module.lookupSymbol<func::FuncOp>(name);
  if (!fn) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(module.getBody());
    fn = func::FuncOp::create(b, loc, name, b.getFunctionType(TypeRange(args), {}));
    fn.setPrivate();
  }
  func::CallOp::create(b, loc, fn, args);
}

Value i64Value(OpBuilder &b, Location loc, Value index) {
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), index);
}

Value i64Const(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
}

Value siteOf(OpBuilder &b, Location loc, Operation *op) {
  auto site = op->getAttrOfType<IntegerAttr>("dl.site");
  return i64Const(b, loc, site ? site.getInt() : -1);
}

Value i64ArrayPointer(OpBuilder &b, Location loc, ArrayRef<Value> values) {
  auto type = MemRefType::get({int64_t(values.size())}, b.getI64Type());
  Value array = memref::AllocaOp::create(b, loc, type);
  for (auto [i, v] : llvm::enumerate(values)) {
    Value at = arith::ConstantIndexOp::create(b, loc, int64_t(i));
    Value word = v.getType().isIndex() ? i64Value(b, loc, v) : v;
    memref::StoreOp::create(b, loc, word, array, at);
  }
  return bufferPointer(b, loc, array);
}

} // namespace dlc
