// RUN: dlc-opt %s --dl-sink-relu-below-max-pool --split-input-file | FileCheck %s
// RUN: dlc-opt %s --dl-sink-relu-below-max-pool --dl-autodiff --split-input-file | FileCheck %s --check-prefix=GRAD

// relu before max pooling moves below it, to run over the pooled tensor; not before
// average pooling, nor where relu's result has another use.
// CHECK-LABEL: func.func @infer
// CHECK: %[[P:.*]] = dl.pool2d %arg0 {is_max = true
// CHECK: dl.relu %[[P]] : tensor<?x2x2x2xf32>
// CHECK: %[[R:.*]] = dl.relu %arg1 : tensor<?x2x4x4xf32>
// CHECK: dl.pool2d %[[R]] {is_max = false
// CHECK: %[[Z:.*]] = dl.relu %arg2 : tensor<?x2x4x4xf32>
// CHECK: dl.pool2d %[[Z]] {is_max = true
func.func @infer(%x: tensor<?x2x4x4xf32> {dl.input = "x"}, %y: tensor<?x2x4x4xf32> {dl.input = "y"},
                 %z: tensor<?x2x4x4xf32> {dl.input = "z"})
    -> (tensor<?x2x2x2xf32> {dl.output = "a"}, tensor<?x2x2x2xf32> {dl.output = "b"},
        tensor<?x2x2x2xf32> {dl.output = "c"}, tensor<?x2x4x4xf32> {dl.output = "d"}) {
  %0 = dl.relu %x : tensor<?x2x4x4xf32>
  %1 = dl.pool2d %0 {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x2x4x4xf32> -> tensor<?x2x2x2xf32>
  %2 = dl.relu %y : tensor<?x2x4x4xf32>
  %3 = dl.pool2d %2 {is_max = false, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x2x4x4xf32> -> tensor<?x2x2x2xf32>
  %4 = dl.relu %z : tensor<?x2x4x4xf32>
  %5 = dl.pool2d %4 {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x2x4x4xf32> -> tensor<?x2x2x2xf32>
  return %1, %3, %5, %4 : tensor<?x2x2x2xf32>, tensor<?x2x2x2xf32>, tensor<?x2x2x2xf32>, tensor<?x2x4x4xf32>
}

// -----

// In a train step, before the gradient is taken: relu's gradient then runs over the
// pooled tensor too, and the pooling's gradient takes it back to the convolution's size.
// GRAD-LABEL: func.func @train_step
// GRAD: dl.pool2d %{{.*}} {is_max = true{{.*}} -> tensor<?x4x3x3xf32>
// GRAD: dl.relu %{{.*}} : tensor<?x4x3x3xf32>
// GRAD: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32>)
// GRAD: arith.cmpf ogt
// GRAD: dl.pool2d_backward {{.*}} -> tensor<?x4x8x8xf32>
// GRAD: dl.conv2d_backward_weights
func.func @train_step(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %t: tensor<?x4x3x3xf32> {dl.input = "t"},
                      %w: tensor<4x3x3x3xf32> {dl.param = "c.weight"}, %b: tensor<4xf32> {dl.param = "c.bias"},
                      %seed: tensor<i64> {dl.seed}, %step: tensor<i64> {dl.step}, %lr: tensor<f64> {dl.lr})
    -> (tensor<f32> {dl.loss}) attributes {dl.train = {optimizer = "sgd", hyper = {lr = 0.1 : f64, momentum = 0.0 : f64, nesterov = false, weight_decay = 0.0 : f64}}} {
  %c = dl.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1, 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32> -> tensor<?x4x8x8xf32>
  %r = dl.relu %c : tensor<?x4x8x8xf32>
  %p = dl.pool2d %r {is_max = true, kernel = array<i64: 3, 3>, stride = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>} : tensor<?x4x8x8xf32> -> tensor<?x4x3x3xf32>
  %l = dl.mse %p, %t : tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32> -> tensor<f32>
  return %l : tensor<f32>
}
