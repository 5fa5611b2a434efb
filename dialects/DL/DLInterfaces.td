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
  ];
}

// An activation that a dense or convolution kernel can apply to its result while it is
// still in cache (a oneDNN post-op), instead of in a pass of its own.
def DL_KernelActivationOpInterface : OpInterface<"KernelActivationOpInterface"> {
  let cppNamespace = "::mlir::dl";
  let methods = [
    InterfaceMethod<"The activation's code in the kernel ABI (dlrt_activation of model_abi.h).",
      "int64_t", "getKernelActivation">,
  ];
}

#endif // DL_INTERFACES
