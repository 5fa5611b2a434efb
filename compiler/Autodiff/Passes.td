//===- Passes.td - reverse-mode autodiff --------------------*- tablegen -*-===//
#ifndef DLC_AUTODIFF_PASSES
#define DLC_AUTODIFF_PASSES

include "mlir/Pass/PassBase.td"

def DLAutodiff : Pass<"dl-autodiff", "::mlir::ModuleOp"> {
  let summary = "Complete @train_step: gradients of the loss, clipping, optimizer update";
  let description = [{
    For each function tagged `dl.train` (the train step MLIRGen emits: the forward pass
    and the loss as its first result), walks the ops backwards from the loss and asks each
    op on a path from a trainable parameter (an argument tagged `dl.param` without
    `dl.buffer`) to the loss for its operands' gradients through GradientOpInterface;
    gradients of a value read several times are summed. Then clips the global gradient
    norm (`clip_grad_norm`) and applies the optimizer (named in `dl.train`, from the
    layer registry) to each parameter with a gradient, its slots being the arguments
    tagged `dl.slot`. The function then also returns every parameter's new value (in
    argument order; buffers and parameters without a gradient unchanged) and every
    slot's. An op without a gradient on such a path is an error naming it.
  }];
  let options = [
    Option<"allowInferenceOnly", "allow-inference-only", "bool", /*default=*/"false",
           "Where a built-in op lacks a gradient, warn and drop the train step (the module "
           "keeps @infer and @eval_step, and records why in dl.train_unavailable) instead "
           "of failing">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect", "::mlir::math::MathDialect",
                           "::mlir::tensor::TensorDialect"];
}

def DLUnrollRecurrent : Pass<"dl-unroll-recurrent", "::mlir::ModuleOp"> {
  let summary = "Unroll lstm/gru in the train step into dl ops, for targets without their fused gradient";
  let description = [{
    Runs before dl-autodiff. In each function tagged `dl.train`, a dl.recurrent over a
    sequence of static length becomes its recurrence written out in dl ops (PyTorch's
    formulas, gate order i, f, g, o for LSTM and r, z, n for GRU, zero initial states),
    so that autodiff composes those ops' gradients into backpropagation through time.
    A target that runs dl.recurrent_backward as one kernel keeps the recurrences it can
    run that way (`keep-fused-f32`: the f32 ones, for oneDNN's RNN backward;
    `keep-fused`: all of them, for the portable path's loop over time). One of dynamic
    length that it cannot keep is marked `dl.gradient_unavailable`, and autodiff reports
    it as having no gradient. Inference functions keep the fused op.
  }];
  let options = [
    Option<"keepFusedF32", "keep-fused-f32", "bool", /*default=*/"false",
           "Keep f32 recurrences, whose gradient the target runs fused (dl.recurrent_backward)">,
    Option<"keepFused", "keep-fused", "bool", /*default=*/"false",
           "Keep every recurrence: the target runs dl.recurrent_backward for any element type">
  ];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

def DLSinkReluBelowMaxPool : Pass<"dl-sink-relu-below-max-pool", "::mlir::ModuleOp"> {
  let summary = "max_pool2d(relu(x)) -> relu(max_pool2d(x)), before the gradient is taken";
  let description = [{
    Runs before dl-autodiff, in every function: where nothing but a max pooling reads a
    relu's result, the relu moves below the pooling, so that it and its gradient run over
    the pooled tensor. Both the forward and the gradient are PyTorch's, NaN and ties
    included (the argument is in SinkReluBelowMaxPool.cpp).
  }];
}

#endif
