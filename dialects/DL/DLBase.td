//===- DLBase.td - the dl dialect ---------------------------*- tablegen -*-===//
#ifndef DL_BASE
#define DL_BASE

include "mlir/IR/OpBase.td"

def DL_Dialect : Dialect {
  let name = "dl";
  let summary = "Deep-learning model graph: tensor ops at the level of the .dl language";
  let description = [{
    Ops of the `dl` dialect work on ranked tensors whose dims may be dynamic (a symbolic
    dim of the model, such as the batch). Parameters enter functions as arguments tagged
    `dl.param`; model inputs as arguments tagged `dl.input`.
  }];
  let cppNamespace = "::mlir::dl";
}

// Ops that lower to a call of a runtime kernel: each gets a call-site number, which keys
// the runtime's primitive cache and names the op's source location in run-time errors.
def DL_RuntimeCallSite : NativeOpTrait<"RuntimeCallSite"> { let cppNamespace = "::mlir::dl"; }

class DL_Op<string mnemonic, list<Trait> traits = []> :
    Op<DL_Dialect, mnemonic, traits>;

def DL_Float : AnyTypeOf<[F32, BF16, F16]>;
def DL_FloatTensor : RankedTensorOf<[F32, BF16, F16]>;
def DL_AnyTensor : RankedTensorOf<[F32, BF16, F16, I64, I32, I1]>;

#endif // DL_BASE
