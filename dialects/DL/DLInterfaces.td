//===- DLInterfaces.td - behaviour shared across dl ops -----*- tablegen -*-===//
#ifndef DL_INTERFACES
#define DL_INTERFACES

include "mlir/IR/OpBase.td"

// An op that computes each output element from the elements of its operands at the same
// (broadcast) position. One lowering and, later, one fusion rule serve all of them.
def DL_ScalarElementwiseOpInterface : OpInterface<"ScalarElementwiseOpInterface"> {
  let cppNamespace = "::mlir::dl";
  let description = [{
    Elementwise ops describe their arithmetic on one element; lowerings build loops
    (linalg.generic bodies, GPU kernels) around it.
  }];
  let methods = [
    InterfaceMethod<"Builds the scalar computation for one element.",
      "::mlir::Value", "buildScalar",
      (ins "::mlir::OpBuilder &":$b, "::mlir::Location":$loc,
           "::mlir::ValueRange":$args)>,
    InterfaceMethod<[{
      The gradient reaching operand `operand` at one element: `grad` (the gradient of
      the result there) times the derivative of the result with respect to that operand,
      given the operands `args` and the `result` at that element. Autodiff's elementwise
      rule builds loops around it and sums broadcast dims back to the operand's shape.
    }], "::mlir::Value", "buildScalarGradient",
      (ins "::mlir::OpBuilder &":$b, "::mlir::Location":$loc, "::mlir::ValueRange":$args,
           "::mlir::Value":$result, "::mlir::Value":$grad, "unsigned":$operand)>,
  ];
}

// An activation that a dense or convolution kernel can apply to its result while it is
// still in cache (a oneDNN post-op), instead of in a pass of its own.
def DL_KernelActivationOpInterface : OpInterface<"KernelActivationOpInterface"> {
  let cppNamespace = "::mlir::dl";
  let methods = [
    InterfaceMethod<"The activation's code (dl::Activation, dialects/DL/Activation.h).",
      "int64_t", "getKernelActivation">,
  ];
}

// Reverse-mode differentiation: how the gradients of an op's results flow to its
// operands. The dl-autodiff pass walks the train step backwards and asks each op on the
// path from a trainable parameter to the loss; an op without this interface there is an
// error that names it. Gradients are built as dl ops (and linalg/tensor where no dl op
// says it), so both kernel paths and later targets lower them like any other op.
def DL_GradientOpInterface : OpInterface<"GradientOpInterface"> {
  let cppNamespace = "::mlir::dl";
  let methods = [
    InterfaceMethod<[{
      Appends one value per operand to `operandGrads`: the gradient of the loss with
      respect to that operand, of the operand's type, or a null Value where `needed` is
      false for it (nothing upstream is trained) or it has no gradient (integer ids).
      `resultGrads` holds one gradient per result, null for a result nothing reads on
      the way to the loss. The default serves ops with ScalarElementwiseOpInterface.
    }], "::mlir::LogicalResult", "buildGradient",
      (ins "::mlir::OpBuilder &":$b, "::mlir::ValueRange":$resultGrads,
           "::llvm::ArrayRef<bool>":$needed, "::llvm::SmallVectorImpl<::mlir::Value> &":$operandGrads),
      /*methodBody=*/[{}],
      /*defaultImplementation=*/[{
        return ::mlir::dl::buildElementwiseGradient($_op, b, resultGrads, needed, operandGrads);
      }]>,
  ];
}

// Whether an op keeps the samples of a batch apart: row i of its result (along dim 0)
// computed from row i of its batched operands alone. dl-mark-batch-split asks each op
// of the inference entry, and where every op on the way from the batched inputs to the
// outputs says so, the runtime may run the entry on slices of the batch side by side
// (one per thread) and get each sample's result as a whole call would. An op without
// this interface mixes samples as far as the analysis knows: the entry then runs whole.
// A wrong "yes" here returns wrong numbers without an error, so each answer must hold for
// every shape and attribute the op accepts; "no" only costs speed.
def DL_BatchSeparableOpInterface : OpInterface<"BatchSeparableOpInterface"> {
  let cppNamespace = "::mlir::dl";
  let methods = [
    InterfaceMethod<[{
      `batched[i]`: operand i holds one sample per row of its dim 0 (its rows are the
      batch's); every other operand is the same for every sample (a parameter, a
      constant, or computed from those alone). True when the result then holds one
      sample per row of dim 0, each computed from that sample's rows alone. The default
      serves elementwise ops with NumPy broadcasting.
    }], "bool", "keepsSamplesApart", (ins "::llvm::ArrayRef<bool>":$batched),
      /*methodBody=*/[{}],
      /*defaultImplementation=*/[{
        return ::mlir::dl::broadcastKeepsSamplesApart($_op, batched);
      }]>,
  ];
}

#endif // DL_INTERFACES
