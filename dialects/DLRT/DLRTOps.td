//===- DLRTOps.td - calls into the dlrt runtime -------------*- tablegen -*-===//
#ifndef DLRT_OPS
#define DLRT_OPS

include "mlir/IR/OpBase.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Dialect/Bufferization/IR/BufferizableOpInterface.td"

def DLRT_Dialect : Dialect {
  let name = "dlrt";
  let summary = "Calls of the dlrt runtime's kernels, visible to bufferization";
  let description = [{
    The target-independent form of a runtime kernel call: the CPU lowering (oneDNN
    kernels) and, later, the GPU host code both call into dlrt. A call names its tensor
    operands as tensors until one-shot bufferization has decided every buffer, so the
    alias and liveness analysis sees each read and write a kernel makes.
  }];
  let cppNamespace = "::mlir::dlrt";
}

def DLRT_KernelCallOp : Op<DLRT_Dialect, "call", [
    DeclareOpInterfaceMethods<MemoryEffectsOpInterface>,
    DeclareOpInterfaceMethods<ReifyRankedShapedTypeOpInterface, ["reifyResultShapes"]>,
    DeclareOpInterfaceMethods<BufferizableOpInterface,
        ["bufferizesToMemoryRead", "bufferizesToMemoryWrite", "bufferizesToElementwiseAccess",
         "getAliasingValues", "bufferize"]>]> {
  let summary = "a call of a runtime kernel over tensors or buffers";
  let description = [{
    Calls the kernel `callee` with one C argument per entry of `arg_kinds`, in order.
    Each kind says how many operands the argument takes and how the kernel uses them:

    - `in` (0): one operand. A tensor or memref is passed as its data pointer and only
      read; any other value (index words, the context pointer) is passed as it is.
    - `null` (1): no operand; a null pointer (an absent optional buffer).
    - `out` (2): one tensor operand, the destination of the next result. The kernel
      writes it without reading it first.
    - `inout` (3): like `out`, but the kernel reads the destination's contents before
      writing (a convolution adding its result to a skip tensor; an in-place softmax).
    - `4 + n`: n operands, read; passed as a pointer to an i64 array of their data
      addresses (a folded batch_norm's vectors, an RNN's weights).

    On tensors, result k is the new value of the k-th `out`/`inout` destination
    (destination-passing style): bufferization writes in place where the destination is
    dead afterwards and into a copy otherwise. After bufferization every destination is a
    memref the kernel writes and the op has no results. Every pointer handed to a kernel
    addresses a buffer with the identity layout: bufferization copies strided views into
    contiguous buffers around the call.

    `in_place`: the kernel may be given a destination that is also one of its `in`
    buffers (oneDNN's softmax and normalisations read each position before writing
    it); bufferization then reuses a dead input's buffer. Without it such a call always
    gets a destination of its own.

    A result has its destination's shape (ReifyRankedShapedTypeOpInterface), so the
    size of a kernel's result resolves to what its destination was made with.
    The call writes the runtime context (it records failures there), so it is never
    removed or merged with another.
  }];
  let arguments = (ins FlatSymbolRefAttr:$callee, Variadic<AnyType>:$args, DenseI32ArrayAttr:$arg_kinds,
                       UnitAttr:$in_place);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let assemblyFormat = "$callee `(` $args `)` attr-dict `:` functional-type($args, $results)";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// One C argument of the kernel: its kind and the operands it takes.
    struct Argument {
      KernelArgKind kind;
      ::mlir::MutableArrayRef<::mlir::OpOperand> operands;
    };
    /// The C arguments in order (valid only on a verified op).
    ::llvm::SmallVector<Argument> getKernelArguments();
    /// The kind of the argument operand `operand` belongs to.
    KernelArgKind getKindOf(::mlir::OpOperand &operand);
    /// The result that destination operand `operand` (out or inout) becomes, or null.
    ::mlir::OpResult getTiedResult(::mlir::OpOperand &operand);
  }];
}

#endif // DLRT_OPS
