//===- RuntimeCalls.cpp - building calls into the dlrt kernels ------------===//
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "compiler/Basic/Diagnostics.h"
#include "dialects/DL/Activation.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DLRT/DLRTOps.h"
#include "runtime/include/dlrt/model_abi.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using mlir::dlrt::KernelArgKind;

// The dialect's activation codes go to the kernels unchanged.
static_assert(int64_t(mlir::dl::ActivationNone) == DLRT_ACTIVATION_NONE &&
                  int64_t(mlir::dl::ActivationRelu) == DLRT_ACTIVATION_RELU &&
                  int64_t(mlir::dl::ActivationSigmoid) == DLRT_ACTIVATION_SIGMOID &&
                  int64_t(mlir::dl::ActivationTanh) == DLRT_ACTIVATION_TANH &&
                  int64_t(mlir::dl::ActivationSilu) == DLRT_ACTIVATION_SILU &&
                  int64_t(mlir::dl::ActivationGeluErf) == DLRT_ACTIVATION_GELU_ERF &&
                  int64_t(mlir::dl::ActivationGeluTanh) == DLRT_ACTIVATION_GELU_TANH,
              "dl::Activation and dlrt_activation disagree");

namespace dlc {

Value runtimeContext(Operation *op) {
  auto fn = op->getParentOfType<func::FuncOp>();
  return fn.getArgument(0);
}

bool isLoweredEntry(func::FuncOp fn) {
  return fn.isPublic() && !fn.isExternal() && fn.getNumArguments() > 0 &&
         isa<LLVM::LLVMPointerType>(fn.getArgument(0).getType());
}

KernelCall::KernelCall(OpBuilder &b, Location loc, Operation *op, StringRef callee)
    : b(b), loc(loc), callee(callee.str()) {
  in(runtimeContext(op));
  in(siteOf(b, loc, op));
}

KernelCall &KernelCall::in(Value v) {
  operands.push_back(v);
  kinds.push_back(int32_t(KernelArgKind::In));
  return *this;
}

KernelCall &KernelCall::optional(Value tensorOrNull) {
  if (tensorOrNull) return in(tensorOrNull);
  kinds.push_back(int32_t(KernelArgKind::Null));
  return *this;
}

KernelCall &KernelCall::addresses(ValueRange tensors) {
  operands.append(tensors.begin(), tensors.end());
  kinds.push_back(dlrt::addressesKind(tensors.size()));
  return *this;
}

KernelCall &KernelCall::out(RankedTensorType type, ValueRange dynSizes) {
  Value dest = tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType(), dynSizes);
  return into(dest, /*readsDest=*/false);
}

KernelCall &KernelCall::into(Value dest, bool readsDest) {
  operands.push_back(dest);
  kinds.push_back(int32_t(readsDest ? KernelArgKind::InOut : KernelArgKind::Out));
  resultTypes.push_back(dest.getType());
  return *this;
}

SmallVector<Value> KernelCall::emit() {
  auto call = dlrt::KernelCallOp::create(b, loc, resultTypes, FlatSymbolRefAttr::get(b.getContext(), callee),
                                         operands, b.getDenseI32ArrayAttr(kinds),
                                         inPlace_ ? b.getUnitAttr() : UnitAttr());
  return SmallVector<Value>(call->getResults());
}

Value KernelCall::emitResult() {
  SmallVector<Value> results = emit();
  assert(results.size() == 1 && "a kernel with one result");
  return results.front();
}

Value i64Value(OpBuilder &b, Location loc, Value index) {
  return arith::IndexCastOp::create(b, loc, b.getI64Type(), index);
}

Value i64Const(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIntOp::create(b, loc, b.getI64Type(), v);
}

Value f64Const(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF64Type(), b.getF64FloatAttr(v));
}

void numberCallSites(ModuleOp module) {
  SmallVector<Attribute> sites;
  module.walk([&](Operation *op) {
    if (!op->hasTrait<dl::RuntimeCallSite>()) return;
    op->setAttr("dl.site", IntegerAttr::get(IntegerType::get(op->getContext(), 64), int64_t(sites.size())));
    std::string where;
    llvm::raw_string_ostream os(where);
    // An op made for a layer of another name (batch_norm's checks) says so in `layer`.
    if (auto layer = op->getAttrOfType<StringAttr>("layer")) os << layer.getValue() << " at ";
    else os << op->getName().stripDialect() << " at ";
    std::string at = describeLocation(op->getLoc());
    if (!at.empty()) os << at;
    else os << op->getLoc();
    sites.push_back(StringAttr::get(op->getContext(), where));
  });
  module->setAttr("dl.sites", ArrayAttr::get(module.getContext(), sites));
}

LogicalResult requireAllLowered(ModuleOp module, StringRef target) {
  bool left = false;
  module.walk([&](Operation *op) {
    if (!isa<dl::DLDialect>(op->getDialect())) return;
    op->emitError("'") << op->getName() << "' has no " << target << " lowering for these types";
    left = true;
  });
  return failure(left);
}

Value siteOf(OpBuilder &b, Location loc, Operation *op) {
  auto site = op->getAttrOfType<IntegerAttr>("dl.site");
  return i64Const(b, loc, site ? site.getInt() : -1);
}

Value workspaceBytes(OpBuilder &b, Location loc, Operation *op, StringRef kernel, Value geom) {
  Value size = KernelCall(b, loc, op, kernel).in(geom).out(RankedTensorType::get({1}, b.getI64Type()), {}).emitResult();
  Value word = tensor::ExtractOp::create(b, loc, size, ValueRange{arith::ConstantIndexOp::create(b, loc, 0)});
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), word);
}

Value i64Array(OpBuilder &b, Location loc, ArrayRef<Value> values) {
  auto type = MemRefType::get({int64_t(values.size())}, b.getI64Type());
  Value array = memref::AllocaOp::create(b, loc, type);
  for (auto [i, v] : llvm::enumerate(values)) {
    Value at = arith::ConstantIndexOp::create(b, loc, int64_t(i));
    Value word = v.getType().isIndex() ? i64Value(b, loc, v) : v;
    memref::StoreOp::create(b, loc, word, array, at);
  }
  return array;
}

} // namespace dlc
