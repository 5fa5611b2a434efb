// RUN: dlc-opt %s --dl-autodiff --split-input-file --verify-diagnostics | FileCheck %s

// A dense layer trained on mse by SGD with momentum: dW = dY^T X as a matmul of the
// transposed gradient, db = the batch sum of dY, the input x (not a parameter) gets no
// gradient, and the update takes the parameter, its gradient, its slot and the rate.
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: -> (tensor<f32> {dl.loss}, tensor<3x4xf32> {dl.param_out = "d.weight"}, tensor<3xf32> {dl.param_out = "d.bias"}, tensor<3x4xf32> {dl.slot_out = "d.weight.momentum_buffer"}, tensor<3xf32> {dl.slot_out = "d.bias.momentum_buffer"})
// CHECK: %[[Y:.*]] = dl.dense %arg0, %arg2, %arg3
// CHECK: %[[L:.*]] = dl.mse %[[Y]], %arg1
// CHECK: %[[G:.*]] = linalg.generic
// CHECK-NOT: dl.matmul %[[G]], %arg2
// CHECK: %[[GT:.*]] = dl.transpose %[[G]] {perm = array<i64: 1, 0>}
// CHECK: %[[DW:.*]] = dl.matmul %[[GT]], %arg0 : tensor<3x?xf32>, tensor<?x4xf32> -> tensor<3x4xf32>
// CHECK: %[[DB:.*]] = dl.sum %[[G]] {axes = array<i64: 0>, keepdims = false}
// CHECK: %[[W:[^,]*]], %[[MW:.*]] = dl.sgd_update %arg2, %[[DW]], %arg4, %arg8
// CHECK: %[[B:[^,]*]], %[[MB:.*]] = dl.sgd_update %arg3, %[[DB]], %arg5, %arg8
// CHECK: return %[[L]], %[[W]], %[[B]], %[[MW]], %[[MB]]
func.func @train_step(%x: tensor<?x4xf32> {dl.input = "x"}, %t: tensor<?x3xf32> {dl.input = "t"},
                      %w: tensor<3x4xf32> {dl.param = "d.weight"}, %b: tensor<3xf32> {dl.param = "d.bias"},
                      %mw: tensor<3x4xf32> {dl.slot = "d.weight.momentum_buffer"}, %mb: tensor<3xf32> {dl.slot = "d.bias.momentum_buffer"},
                      %seed: tensor<i64> {dl.seed}, %step: tensor<i64> {dl.step}, %lr: tensor<f64> {dl.lr})
    -> (tensor<f32> {dl.loss}) attributes {dl.train = {optimizer = "sgd", hyper = {lr = 0.1 : f64, momentum = 0.9 : f64, nesterov = false, weight_decay = 0.0 : f64}}} {
  %y = dl.dense %x, %w, %b : tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32> -> tensor<?x3xf32>
  %l = dl.mse %y, %t : tensor<?x3xf32>, tensor<?x3xf32> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// An op whose gradient the target cannot run (marked by a target's preparation, as
// dl-unroll-recurrent marks a recurrence of dynamic length) between a parameter and the
// loss is an error that names it and says why.
func.func @train_step(%x: tensor<2x?x4xf32> {dl.input = "x"}, %t: tensor<2x3xf32> {dl.input = "t"},
                      %wih: tensor<12x4xf32> {dl.param = "w_ih"}, %whh: tensor<12x3xf32> {dl.param = "w_hh"},
                      %bih: tensor<12xf32> {dl.param = "b_ih"}, %bhh: tensor<12xf32> {dl.param = "b_hh"},
                      %seed: tensor<i64> {dl.seed}, %step: tensor<i64> {dl.step}, %lr: tensor<f64> {dl.lr})
    -> (tensor<f32> {dl.loss}) attributes {dl.train = {optimizer = "sgd", hyper = {lr = 0.1 : f64, momentum = 0.0 : f64, nesterov = false, weight_decay = 0.0 : f64}}} {
  // expected-error @+1 {{(from built-in) is on the training path but has no gradient (needs a static length)}}
  %h = dl.recurrent %x, %wih, %whh, %bih, %bhh {is_gru = false, hidden = 3 : i64, layers = 1 : i64, sequences = false, dl.gradient_unavailable = "needs a static length"} : tensor<2x?x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32> -> tensor<2x3xf32>
  %l = dl.mse %h, %t : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Convolution and pooling: their gradients are the backward ops, reading the forward's
// input (dx of the first convolution is not needed: x is no parameter).
// CHECK-LABEL: func.func @train_step
// CHECK: dl.pool2d_backward
// CHECK-SAME: is_max = true
// CHECK: dl.conv2d_backward_weights
// CHECK-NOT: dl.conv2d_backward_data
// CHECK: dl.sum
// CHECK: dl.sgd_update
func.func @train_step(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %t: tensor<?x4x3x3xf32> {dl.input = "t"},
                      %w: tensor<4x3x3x3xf32> {dl.param = "c.weight"}, %b: tensor<4xf32> {dl.param = "c.bias"},
                      %seed: tensor<i64> {dl.seed}, %step: tensor<i64> {dl.step}, %lr: tensor<f64> {dl.lr})
    -> (tensor<f32> {dl.loss}) attributes {dl.train = {optimizer = "sgd", hyper = {lr = 0.1 : f64, momentum = 0.0 : f64, nesterov = false, weight_decay = 0.0 : f64}}} {
  %c = dl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32> -> tensor<?x4x8x8xf32>
  %p = dl.pool2d %c {is_max = true, kernel = array<i64: 3, 3>, stride = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>} : tensor<?x4x8x8xf32> -> tensor<?x4x3x3xf32>
  %l = dl.mse %p, %t : tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32> -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Slices of one parameter, as an unrolled recurrence reads its steps: each slice's
// gradient is inserted into the accumulated one, the last use's first (rows 1-2). Where a
// slice misses every slice accumulated before it (rows 4-5, then row 0), that part is
// still zero and its gradient goes in without a read and an add; rows 2-3 overlap row 2,
// and read, add and insert.
// CHECK-LABEL: func.func @train_step
// CHECK:     %[[Z:.*]] = linalg.fill
// CHECK:     %[[S1:.*]] = tensor.insert_slice %{{.*}} into %[[Z]][1, 0] [2, 4]
// CHECK-NOT: tensor.extract_slice
// CHECK:     %[[S2:.*]] = tensor.insert_slice %{{.*}} into %[[S1]][4, 0] [2, 4]
// CHECK:     %[[OLD:.*]] = tensor.extract_slice %[[S2]][2, 0] [2, 4]
// CHECK:     %[[SUM:.*]] = dl.add %[[OLD]], %{{.*}}
// CHECK:     %[[S3:.*]] = tensor.insert_slice %[[SUM]] into %[[S2]][2, 0] [2, 4]
// CHECK-NOT: tensor.extract_slice
// CHECK:     %[[S4:.*]] = tensor.insert_slice %{{.*}} into %[[S3]][0, 0] [1, 4]
// CHECK:     dl.sgd_update %arg1, %[[S4]]
func.func @train_step(%t: tensor<f32> {dl.input = "t"}, %w: tensor<6x4xf32> {dl.param = "w"},
                      %seed: tensor<i64> {dl.seed}, %step: tensor<i64> {dl.step}, %lr: tensor<f64> {dl.lr})
    -> (tensor<f32> {dl.loss}) attributes {dl.train = {optimizer = "sgd", hyper = {lr = 0.1 : f64, momentum = 0.0 : f64, nesterov = false, weight_decay = 0.0 : f64}}} {
  %a = dl.slice %w {axis = 0 : i64, start = 0 : i64, end = 1 : i64} : tensor<6x4xf32> -> tensor<1x4xf32>
  %b = dl.slice %w {axis = 0 : i64, start = 2 : i64, end = 4 : i64} : tensor<6x4xf32> -> tensor<2x4xf32>
  %c = dl.slice %w {axis = 0 : i64, start = 4 : i64, end = 6 : i64} : tensor<6x4xf32> -> tensor<2x4xf32>
  %d = dl.slice %w {axis = 0 : i64, start = 1 : i64, end = 3 : i64} : tensor<6x4xf32> -> tensor<2x4xf32>
  %sa = dl.sum %a {axes = array<i64: 0, 1>, keepdims = false} : tensor<1x4xf32> -> tensor<f32>
  %sb = dl.sum %b {axes = array<i64: 0, 1>, keepdims = false} : tensor<2x4xf32> -> tensor<f32>
  %sc = dl.sum %c {axes = array<i64: 0, 1>, keepdims = false} : tensor<2x4xf32> -> tensor<f32>
  %sd = dl.sum %d {axes = array<i64: 0, 1>, keepdims = false} : tensor<2x4xf32> -> tensor<f32>
  %x = dl.add %sa, %sb : tensor<f32>, tensor<f32> -> tensor<f32>
  %y = dl.add %x, %sc : tensor<f32>, tensor<f32> -> tensor<f32>
  %z = dl.add %y, %sd : tensor<f32>, tensor<f32> -> tensor<f32>
  %l = dl.mse %z, %t : tensor<f32>, tensor<f32> -> tensor<f32>
  return %l : tensor<f32>
}
