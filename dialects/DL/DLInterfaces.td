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

#endif // DL_INTERFACES
