//===- BufferizeKernelCall.cpp - dlrt.call under one-shot bufferization ---===//
//
// A kernel call reads its `in` tensors and writes its destinations, which its results
// become (destination-passing style): the analysis sees every read and write, so a
// buffer a kernel still reads is never reused for another op's result, and a destination
// is written in place only where its old value is dead.
//
//===----------------------------------------------------------------------===//
#include "dialects/DLRT/DLRTOps.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::dlrt;
using namespace mlir::bufferization;

bool KernelCallOp::bufferizesToMemoryRead(OpOperand &operand, const AnalysisState &) {
  return getKindOf(operand) != KernelArgKind::Out;
}

bool KernelCallOp::bufferizesToMemoryWrite(OpOperand &operand, const AnalysisState &) {
  return isDestination(getKindOf(operand));
}

bool KernelCallOp::bufferizesToElementwiseAccess(const AnalysisState &, ArrayRef<OpOperand *>) {
  return getInPlace();
}

AliasingValueList KernelCallOp::getAliasingValues(OpOperand &operand, const AnalysisState &) {
  if (OpResult r = getTiedResult(operand)) return {{r, BufferRelation::Equivalent, /*isDefinite=*/true}};
  return {};
}

/// A contiguous (identity layout) buffer with the sizes of `buffer`, allocated as
/// bufferization allocates.
static FailureOr<Value> allocContiguous(RewriterBase &rw, Location loc, Value buffer,
                                        const BufferizationOptions &options) {
  auto type = cast<MemRefType>(buffer.getType());
  SmallVector<Value> dynSizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i)) dynSizes.push_back(memref::DimOp::create(rw, loc, buffer, i));
  auto flat = MemRefType::get(type.getShape(), type.getElementType(), MemRefLayoutAttrInterface(),
                              type.getMemorySpace());
  return options.createAlloc(rw, loc, flat, dynSizes);
}

LogicalResult KernelCallOp::bufferize(RewriterBase &rw, const BufferizationOptions &options,
                                      BufferizationState &state) {
  Location loc = getLoc();
  SmallVector<Value> operands, results;
  // Kernels address rows from the data pointer: strided buffers get a contiguous stand-in.
  // A strided destination (a concat's slice, after empty-tensor elimination) is the
  // result's buffer, so its stand-in is copied back after the call.
  SmallVector<std::pair<Value, Value>> copyBack;
  rw.setInsertionPoint(*this);
  for (const Argument &arg : getKernelArguments())
    for (OpOperand &operand : arg.operands) {
      Value v = operand.get();
      if (!isa<TensorType>(v.getType())) {
        operands.push_back(v);
        continue;
      }
      FailureOr<Value> buffer = getBuffer(rw, v, options, state);
      if (failed(buffer)) return failure();
      Value passed = *buffer;
      if (!cast<MemRefType>(passed.getType()).getLayout().isIdentity()) {
        FailureOr<Value> flat = allocContiguous(rw, loc, *buffer, options);
        if (failed(flat)) return failure();
        if (arg.kind != KernelArgKind::Out && failed(options.createMemCpy(rw, loc, *buffer, *flat))) return failure();
        if (isDestination(arg.kind)) copyBack.push_back({*flat, *buffer});
        passed = *flat;
      }
      operands.push_back(passed);
      if (isDestination(arg.kind)) results.push_back(*buffer);
    }
  auto call = KernelCallOp::create(rw, loc, TypeRange{}, getCalleeAttr(), operands, getArgKindsAttr(),
                                   getInPlaceAttr());
  rw.setInsertionPointAfter(call);
  for (auto [flat, strided] : copyBack)
    if (failed(options.createMemCpy(rw, loc, flat, strided))) return failure();
  replaceOpWithBufferizedValues(rw, *this, results);
  return success();
}
