//===- KernelCallOp.cpp - dlrt.call: arguments, verifier, effects ---------===//
#include "dialects/DLRT/DLRTOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::dlrt;

#define GET_OP_CLASSES
#include "dialects/DLRT/DLRTOps.cpp.inc"

namespace {
/// The kind encoded by one `arg_kinds` entry and how many operands it takes.
std::pair<KernelArgKind, int64_t> decode(int32_t word) {
  if (word >= int32_t(KernelArgKind::Addresses)) return {KernelArgKind::Addresses, word - int32_t(KernelArgKind::Addresses)};
  auto kind = KernelArgKind(word);
  return {kind, kind == KernelArgKind::Null ? 0 : 1};
}
} // namespace

SmallVector<KernelCallOp::Argument> KernelCallOp::getKernelArguments() {
  SmallVector<Argument> args;
  MutableArrayRef<OpOperand> operands = getOperation()->getOpOperands();
  size_t at = 0;
  for (int32_t word : getArgKinds()) {
    auto [kind, n] = decode(word);
    args.push_back({kind, operands.slice(at, n)});
    at += n;
  }
  return args;
}

KernelArgKind KernelCallOp::getKindOf(OpOperand &operand) {
  for (const Argument &a : getKernelArguments())
    for (OpOperand &o : a.operands)
      if (&o == &operand) return a.kind;
  llvm_unreachable("not an operand of this call");
}

OpResult KernelCallOp::getTiedResult(OpOperand &operand) {
  if (getNumResults() == 0) return {};
  unsigned k = 0;
  for (const Argument &a : getKernelArguments()) {
    if (!isDestination(a.kind)) continue;
    if (&a.operands.front() == &operand) return getOperation()->getResult(k);
    ++k;
  }
  return {};
}

LogicalResult KernelCallOp::reifyResultShapes(OpBuilder &b, ReifiedRankedShapedTypeDims &shapes) {
  if (getNumResults() == 0) return failure(); // on buffers: nothing to say
  for (const Argument &a : getKernelArguments())
    if (isDestination(a.kind)) shapes.push_back(tensor::getMixedSizes(b, getLoc(), a.operands.front().get()));
  return success();
}

LogicalResult KernelCallOp::verify() {
  int64_t operands = 0, destinations = 0;
  bool onTensors = getNumResults() > 0;
  for (int32_t word : getArgKinds()) {
    if (word < 0) return emitOpError("arg_kinds holds a negative kind ") << word;
    auto [kind, n] = decode(word);
    if (isDestination(kind)) {
      if (operands >= int64_t(getArgs().size())) break;
      Type t = getArgs()[operands].getType();
      if (!isa<RankedTensorType, MemRefType>(t))
        return emitOpError("destination argument ") << operands << " is not a tensor or memref: " << t;
      if (isa<RankedTensorType>(t)) {
        if (destinations >= int64_t(getNumResults()) || getResult(destinations).getType() != t)
          return emitOpError("destination ") << operands << " must have the type of result " << destinations;
        ++destinations;
      } else if (onTensors) {
        return emitOpError("a call on tensors takes its destinations as tensors");
      }
    }
    if (kind == KernelArgKind::Addresses)
      for (int64_t i = operands; i < operands + n && i < int64_t(getArgs().size()); ++i)
        if (!isa<RankedTensorType, MemRefType>(getArgs()[i].getType()))
          return emitOpError("address array operand ") << i << " is not a tensor or memref";
    operands += n;
  }
  if (operands != int64_t(getArgs().size()))
    return emitOpError("arg_kinds takes ") << operands << " operands, the call has " << getArgs().size();
  if (destinations != int64_t(getNumResults()))
    return emitOpError("has ") << getNumResults() << " results but " << destinations << " tensor destinations";
  return success();
}

void KernelCallOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  // Failures are recorded in the runtime context: the call is never dead nor a duplicate.
  effects.emplace_back(MemoryEffects::Write::get());
  for (const Argument &a : getKernelArguments())
    for (OpOperand &o : a.operands) {
      if (!isa<MemRefType>(o.get().getType())) continue;
      if (a.kind != KernelArgKind::Out) effects.emplace_back(MemoryEffects::Read::get(), &o);
      if (isDestination(a.kind)) effects.emplace_back(MemoryEffects::Write::get(), &o);
    }
}
