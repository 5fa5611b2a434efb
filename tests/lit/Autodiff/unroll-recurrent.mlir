// RUN: dlc-opt %s --dl-unroll-recurrent --split-input-file | FileCheck %s --check-prefix=UNROLL
// RUN: dlc-opt %s --dl-unroll-recurrent=keep-fused-f32=true --split-input-file | FileCheck %s --check-prefix=KEEP
// RUN: dlc-opt %s --dl-unroll-recurrent=keep-fused-f32=true --dl-autodiff --split-input-file | FileCheck %s --check-prefix=GRAD
// RUN: dlc-opt %s --dl-unroll-recurrent=keep-fused=true --split-input-file | FileCheck %s --check-prefix=ALL

// A static-length LSTM in the train step: unrolled into dl ops (one dense for the input
// projections of all steps, one per step for the hidden state after the first), or kept
// whole where the target runs its gradient fused, which is then one dl.recurrent_backward.
// UNROLL-LABEL: func.func @train_step
// UNROLL-NOT: dl.recurrent
// UNROLL: dl.dense
// UNROLL-COUNT-2: dl.dense
// UNROLL-NOT: dl.dense
// UNROLL: dl.mse
// KEEP-LABEL: func.func @train_step
// KEEP: dl.recurrent
// ALL-LABEL: func.func @train_step
// ALL: dl.recurrent
// GRAD-LABEL: func.func @train_step
// GRAD: dl.recurrent
// GRAD: dl.recurrent_backward
// GRAD-COUNT-4: dl.sgd_update
func.func @train_step(%x: tensor<2x3x4xf32> {dl.input = "x"}, %t: tensor<2x3xf32> {dl.input = "t"},
                      %wih: tensor<12x4xf32> {dl.param = "w_ih"}, %whh: tensor<12x3xf32> {dl.param = "w_hh"},
                      %bih: tensor<12xf32> {dl.param = "b_ih"}, %bhh: tensor<12xf32> {dl.param = "b_hh"},
                      %seed: tensor<i64> {dl.seed}, %step: tensor<i64> {dl.step}, %lr: tensor<f64> {dl.lr})
    -> (tensor<f32> {dl.loss}) attributes {dl.train = {optimizer = "sgd", hyper = {lr = 0.1 : f64, momentum = 0.0 : f64, nesterov = false, weight_decay = 0.0 : f64}}} {
  %h = dl.recurrent %x, %wih, %whh, %bih, %bhh {is_gru = false, hidden = 3 : i64, layers = 1 : i64, sequences = false} : tensor<2x3x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32> -> tensor<2x3xf32>
  %l = dl.mse %h, %t : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Dynamic length: nothing to unroll, so the op is marked for autodiff to report; kept
// where its gradient is fused. Inference functions are left alone.
// UNROLL-LABEL: func.func @train_step
// UNROLL: dl.recurrent
// UNROLL-SAME: dl.gradient_unavailable = "this target unrolls the recurrence for training, which needs a static sequence length"
// UNROLL-LABEL: func.func @infer
// UNROLL: dl.recurrent
// UNROLL-NOT: dl.gradient_unavailable
// KEEP-LABEL: func.func @train_step
// KEEP: dl.recurrent
// KEEP-NOT: dl.gradient_unavailable
// ALL-LABEL: func.func @train_step
// ALL: dl.recurrent
// ALL-NOT: dl.gradient_unavailable
func.func @train_step(%x: tensor<2x?x4xf32> {dl.input = "x"}, %t: tensor<2x3xf32> {dl.input = "t"},
                      %wih: tensor<12x4xf32> {dl.param = "w_ih"}, %whh: tensor<12x3xf32> {dl.param = "w_hh"},
                      %bih: tensor<12xf32> {dl.param = "b_ih"}, %bhh: tensor<12xf32> {dl.param = "b_hh"},
                      %seed: tensor<i64> {dl.seed}, %step: tensor<i64> {dl.step}, %lr: tensor<f64> {dl.lr})
    -> (tensor<f32> {dl.loss}) attributes {dl.train = {optimizer = "sgd", hyper = {lr = 0.1 : f64, momentum = 0.0 : f64, nesterov = false, weight_decay = 0.0 : f64}}} {
  %h = dl.recurrent %x, %wih, %whh, %bih, %bhh {is_gru = false, hidden = 3 : i64, layers = 1 : i64, sequences = false} : tensor<2x?x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32> -> tensor<2x3xf32>
  %l = dl.mse %h, %t : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<f32>
  return %l : tensor<f32>
}
func.func @infer(%x: tensor<2x?x4xf32> {dl.input = "x"}, %wih: tensor<12x4xf32> {dl.param = "w_ih"},
                 %whh: tensor<12x3xf32> {dl.param = "w_hh"}, %bih: tensor<12xf32> {dl.param = "b_ih"},
                 %bhh: tensor<12xf32> {dl.param = "b_hh"}) -> (tensor<2x3xf32> {dl.output = "h"}) {
  %h = dl.recurrent %x, %wih, %whh, %bih, %bhh {is_gru = false, hidden = 3 : i64, layers = 1 : i64, sequences = false} : tensor<2x?x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32> -> tensor<2x3xf32>
  return %h : tensor<2x3xf32>
}

// -----

// A bf16 GRU: oneDNN's RNN backward takes f32 only, so keep-fused-f32 unrolls it; the
// portable path's loop over time (keep-fused) takes any float type.
// UNROLL-LABEL: func.func @train_step
// UNROLL-NOT: dl.recurrent
// KEEP-LABEL: func.func @train_step
// KEEP-NOT: dl.recurrent
// ALL-LABEL: func.func @train_step
// ALL: dl.recurrent
func.func @train_step(%x: tensor<2x3x4xbf16> {dl.input = "x"}, %t: tensor<2x3xbf16> {dl.input = "t"},
                      %wih: tensor<9x4xbf16> {dl.param = "w_ih"}, %whh: tensor<9x3xbf16> {dl.param = "w_hh"},
                      %bih: tensor<9xbf16> {dl.param = "b_ih"}, %bhh: tensor<9xbf16> {dl.param = "b_hh"},
                      %seed: tensor<i64> {dl.seed}, %step: tensor<i64> {dl.step}, %lr: tensor<f64> {dl.lr})
    -> (tensor<bf16> {dl.loss}) attributes {dl.train = {optimizer = "sgd", hyper = {lr = 0.1 : f64, momentum = 0.0 : f64, nesterov = false, weight_decay = 0.0 : f64}}} {
  %h = dl.recurrent %x, %wih, %whh, %bih, %bhh {is_gru = true, hidden = 3 : i64, layers = 1 : i64, sequences = false} : tensor<2x3x4xbf16>, tensor<9x4xbf16>, tensor<9x3xbf16>, tensor<9xbf16>, tensor<9xbf16> -> tensor<2x3xbf16>
  %l = dl.mse %h, %t : tensor<2x3xbf16>, tensor<2x3xbf16> -> tensor<bf16>
  return %l : tensor<bf16>
}
