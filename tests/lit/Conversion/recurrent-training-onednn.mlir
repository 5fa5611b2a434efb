// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s

// An LSTM's train step on the oneDNN kernels (as dl-autodiff leaves it): the forward runs
// in training form, into a workspace whose size the runtime gives (oneDNN's layout), and
// the backward reads that workspace and the forward's output, naming the forward's call
// site (whose primitives laid it out); every weight's gradient is a view of one buffer.
// The backward's geometry has an eighth word, 0: the input's gradient is not used.
// CHECK: %[[SIZE:.*]] = dlrt.call @dlrt_k_rnn_workspace_bytes(%{{.*}}, %[[SITE:c[0-9]+_i64]], {{.*}}) -> tensor<1xi64>
// CHECK: tensor.extract %[[SIZE]]
// CHECK: %[[FWD:.*]]:2 = dlrt.call @dlrt_k_rnn_f32(%{{.*}}, %[[SITE]], {{.*}} -> (tensor<2x3xf32>, tensor<?xi8>)
// CHECK: %[[GEOM:.*]] = memref.alloca() : memref<8xi64>
// CHECK: memref.store %c0_i64, %[[GEOM]][%c7]
// CHECK: dlrt.call @dlrt_k_rnn_backward_f32(%{{.*}}, %{{.*}}, %[[SITE]], %[[GEOM]], {{.*}}, %[[FWD]]#0, %[[FWD]]#1, {{.*}} -> (tensor<2x3x4xf32>, tensor<108xf32>)
// CHECK-COUNT-4: tensor.extract_slice
// CHECK-NOT: dl.recurrent
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> ()>
module {
  func.func @train_step(%arg0: tensor<2x3x4xf32> {dl.input = "x"}, %arg1: tensor<2x3xf32> {dl.input = "t"}, %arg2: tensor<12x4xf32> {dl.param = "w_ih"}, %arg3: tensor<12x3xf32> {dl.param = "w_hh"}, %arg4: tensor<12xf32> {dl.param = "b_ih"}, %arg5: tensor<12xf32> {dl.param = "b_hh"}, %arg6: tensor<i64> {dl.seed}, %arg7: tensor<i64> {dl.step}, %arg8: tensor<f64> {dl.lr}) -> (tensor<f32> {dl.loss}, tensor<12x4xf32> {dl.param_out = "w_ih"}, tensor<12x3xf32> {dl.param_out = "w_hh"}, tensor<12xf32> {dl.param_out = "b_ih"}, tensor<12xf32> {dl.param_out = "b_hh"}) {
    %0 = dl.recurrent %arg0, %arg2, %arg3, %arg4, %arg5 {hidden = 3 : i64, is_gru = false, layers = 1 : i64, sequences = false} : tensor<2x3x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32> -> tensor<2x3xf32>
    %1 = dl.mse %0, %arg1 : tensor<2x3xf32>, tensor<2x3xf32> -> tensor<f32>
    %cst = arith.constant dense<1.000000e+00> : tensor<f32>
    %cst_0 = arith.constant 6.000000e+00 : f32
    %2 = tensor.empty() : tensor<2x3xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%0, %arg1, %cst : tensor<2x3xf32>, tensor<2x3xf32>, tensor<f32>) outs(%2 : tensor<2x3xf32>) {
    ^bb0(%in: f32, %in_4: f32, %in_5: f32, %out: f32):
      %4 = arith.divf %in_5, %cst_0 : f32
      %5 = arith.subf %in, %in_4 : f32
      %cst_6 = arith.constant 2.000000e+00 : f32
      %6 = arith.mulf %cst_6, %5 : f32
      %7 = arith.mulf %6, %4 : f32
      linalg.yield %7 : f32
    } -> tensor<2x3xf32>
    %input_grad, %weight_grads:4 = dl.recurrent_backward %3, %arg0, %arg2, %arg3, %arg4, %arg5 {hidden = 3 : i64, is_gru = false, layers = 1 : i64, sequences = false} : (tensor<2x3xf32>, tensor<2x3x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32>) -> (tensor<2x3x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32>)
    %new_param = dl.sgd_update %arg2, %weight_grads#0, %arg8 {momentum = 0.000000e+00 : f64, nesterov = false, weight_decay = 0.000000e+00 : f64} : (tensor<12x4xf32>, tensor<12x4xf32>, tensor<f64>) -> tensor<12x4xf32>
    %new_param_1 = dl.sgd_update %arg3, %weight_grads#1, %arg8 {momentum = 0.000000e+00 : f64, nesterov = false, weight_decay = 0.000000e+00 : f64} : (tensor<12x3xf32>, tensor<12x3xf32>, tensor<f64>) -> tensor<12x3xf32>
    %new_param_2 = dl.sgd_update %arg4, %weight_grads#2, %arg8 {momentum = 0.000000e+00 : f64, nesterov = false, weight_decay = 0.000000e+00 : f64} : (tensor<12xf32>, tensor<12xf32>, tensor<f64>) -> tensor<12xf32>
    %new_param_3 = dl.sgd_update %arg5, %weight_grads#3, %arg8 {momentum = 0.000000e+00 : f64, nesterov = false, weight_decay = 0.000000e+00 : f64} : (tensor<12xf32>, tensor<12xf32>, tensor<f64>) -> tensor<12xf32>
    return %1, %new_param, %new_param_1, %new_param_2, %new_param_3 : tensor<f32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32>
  }
}

