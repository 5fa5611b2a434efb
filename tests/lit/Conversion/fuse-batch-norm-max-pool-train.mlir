// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s
// RUN: dlc-opt %s --dl-lower-to-cpu=kernels=linalg | FileCheck %s --check-prefix=LINALG

// A training batch_norm whose result only its max pooling reads (and that pooling's
// gradient, which reads the forward's record of the maxima): one call computes the
// statistics and the pooling of the normalised values, the normalised tensor never
// stored; the gradient reads the call's workspace (its fourth result), and the
// batch norm's gradient the call's statistics.
// CHECK-LABEL: func.func @fused
// CHECK-NOT: dlrt_k_batch_norm_f32
// CHECK: %[[BN:.*]]:4 = dlrt.call @dlrt_k_batch_norm_max_pool_f32({{.*}}) {{.*}} -> (tensor<16xf32>, tensor<16xf32>, tensor<?x4x4x16xf32>, tensor<?xi8>)
// CHECK-NOT: dlrt_k_pool2d_f32
// CHECK-NOT: dlrt_k_batch_norm_f32
// CHECK: dlrt.call @dlrt_k_pool2d_backward_f32({{.*}}, %[[BN]]#3, {{.*}} -> tensor<?x8x8x16xf32>
// CHECK: dlrt.call @dlrt_k_batch_norm_backward_f32({{.*}}, %[[BN]]#0, %[[BN]]#1, {{.*}})
// CHECK: return

// The normalised tensor also an output: the two kernels apart.
// CHECK-LABEL: func.func @kept
// CHECK-NOT: dlrt_k_batch_norm_max_pool_f32
// CHECK: dlrt.call @dlrt_k_batch_norm_f32
// CHECK: dlrt.call @dlrt_k_pool2d_f32
// CHECK-NOT: dlrt_k_batch_norm_max_pool_f32
// CHECK: return

// The portable kernels decompose both.
// LINALG-LABEL: func.func @fused
// LINALG-NOT: dlrt_k_batch_norm_max_pool_f32
// LINALG: return
module attributes {dl.signature = "{}"} {
  func.func @fused(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %dp: tensor<?x16x4x4xf32> {dl.input = "dp"},
                   %w: tensor<16x3x3x3xf32> {dl.param = "c.weight"}, %g: tensor<16xf32> {dl.param = "bn.weight"},
                   %b: tensor<16xf32> {dl.param = "bn.bias"})
      -> (tensor<?x16x4x4xf32> {dl.output = "p"}, tensor<16x3x3x3xf32> {dl.output = "dw"}) {
    %c = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x3x8x8xf32>, tensor<16x3x3x3xf32> -> tensor<?x16x8x8xf32>
    %y, %mean, %var = dl.batch_norm_train %c, %g, %b {eps = 1.000000e-05 : f64} : (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>)
    %p = dl.pool2d %y {is_max = true, kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 2, 2>} : tensor<?x16x8x8xf32> -> tensor<?x16x4x4xf32>
    %gy = dl.pool2d_backward %dp, %y {is_max = true, kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 2, 2>} : tensor<?x16x4x4xf32>, tensor<?x16x8x8xf32> -> tensor<?x16x8x8xf32>
    %gc, %gg, %gb = dl.batch_norm_backward %gy, %c, %g, %mean, %var {eps = 1.000000e-05 : f64} : (tensor<?x16x8x8xf32>, tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>)
    %dw = dl.conv2d_backward_weights %gc, %x {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x16x8x8xf32>, tensor<?x3x8x8xf32> -> tensor<16x3x3x3xf32>
    return %p, %dw : tensor<?x16x4x4xf32>, tensor<16x3x3x3xf32>
  }
  func.func @kept(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %dp: tensor<?x16x4x4xf32> {dl.input = "dp"},
                  %w: tensor<16x3x3x3xf32> {dl.param = "c.weight"}, %g: tensor<16xf32> {dl.param = "bn.weight"},
                  %b: tensor<16xf32> {dl.param = "bn.bias"})
      -> (tensor<?x16x8x8xf32> {dl.output = "y"}, tensor<?x16x4x4xf32> {dl.output = "p"}, tensor<?x16x8x8xf32> {dl.output = "gy"}) {
    %c = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x3x8x8xf32>, tensor<16x3x3x3xf32> -> tensor<?x16x8x8xf32>
    %y, %mean, %var = dl.batch_norm_train %c, %g, %b {eps = 1.000000e-05 : f64} : (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>)
    %p = dl.pool2d %y {is_max = true, kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 2, 2>} : tensor<?x16x8x8xf32> -> tensor<?x16x4x4xf32>
    %gy = dl.pool2d_backward %dp, %y {is_max = true, kernel = array<i64: 3, 3>, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 2, 2>} : tensor<?x16x4x4xf32>, tensor<?x16x8x8xf32> -> tensor<?x16x8x8xf32>
    return %y, %p, %gy : tensor<?x16x8x8xf32>, tensor<?x16x4x4xf32>, tensor<?x16x8x8xf32>
  }
}
