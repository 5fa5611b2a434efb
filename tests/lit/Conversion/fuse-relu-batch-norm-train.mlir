// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s
// RUN: dlc-opt %s --dl-lower-to-cpu=kernels=linalg | FileCheck %s --check-prefix=LINALG

// A relu after a training batch_norm, nothing else reading the normalised tensor: the
// runtime's batch norm applies it (training form 2), and the relu's gradient reads the
// kernel's result, which is the relu's.
// CHECK-LABEL: func.func @fused
// CHECK: dlrt.call @dlrt_k_batch_norm_f32({{.*}}, %c2_i64, %c1_i64) {{.*}} -> (tensor<4xf32>, tensor<4xf32>, tensor<?x8x8x4xf32>)
// No relu loop (relu keeps NaN by an unordered comparison); its gradient's (ogt) reads
// the kernel's result, moved back to NCHW with the output z.
// CHECK-NOT: arith.cmpf ugt
// CHECK: arith.cmpf ogt
// CHECK-NOT: arith.cmpf ugt
// CHECK: return

// The normalised tensor read elsewhere too (an output): the relu stays a loop.
// CHECK-LABEL: func.func @kept
// CHECK: dlrt.call @dlrt_k_batch_norm_f32({{.*}}, %c1_i64, %c1_i64)
// CHECK: arith.cmpf ugt
// CHECK: return

// relu(bn(conv(a)) + a), a = relu(conv(x)) on NHWC as the skip tensors of a network's
// blocks are: the skip tensor, computed before the batch norm, becomes its residual (a
// present optional operand: arg kind 0), the add and the relu go.
// CHECK-LABEL: func.func @residual
// CHECK: arith.cmpf ugt
// CHECK: dlrt.call @dlrt_k_batch_norm_f32({{.*}}, %c2_i64, %c1_i64, %{{.*}}) {arg_kinds = array<i32: 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0>}
// CHECK-NOT: arith.addf
// CHECK-NOT: arith.cmpf ugt
// CHECK: return

// The portable kernels decompose batch_norm and keep the relu.
// LINALG-LABEL: func.func @fused
// LINALG-NOT: dlrt_k_batch_norm_f32
// LINALG: return
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
module attributes {dl.signature = "{}"} {
  func.func @fused(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %dz: tensor<?x4x8x8xf32> {dl.input = "dz"},
                   %w: tensor<4x3x3x3xf32> {dl.param = "c.weight"}, %g: tensor<4xf32> {dl.param = "bn.weight"},
                   %b: tensor<4xf32> {dl.param = "bn.bias"})
      -> (tensor<?x4x8x8xf32> {dl.output = "z"}, tensor<4x3x3x3xf32> {dl.output = "dw"}) {
    %c = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32> -> tensor<?x4x8x8xf32>
    %y, %mean, %var = dl.batch_norm_train %c, %g, %b {eps = 1.000000e-05 : f64} : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
    %z = dl.relu %y : tensor<?x4x8x8xf32>
    %c0 = arith.constant 0 : index
    %n = tensor.dim %z, %c0 : tensor<?x4x8x8xf32>
    %e = tensor.empty(%n) : tensor<?x4x8x8xf32>
    // The relu's gradient as buildElementwiseGradient makes it (its result and dz).
    %gy = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%z, %dz : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) outs(%e : tensor<?x4x8x8xf32>) {
    ^bb0(%r: f32, %d: f32, %out: f32):
      %zero = arith.constant 0.0 : f32
      %pos = arith.cmpf ogt, %r, %zero : f32
      %v = arith.select %pos, %d, %zero : f32
      linalg.yield %v : f32
    } -> tensor<?x4x8x8xf32>
    %gc, %gg, %gb = dl.batch_norm_backward %gy, %c, %g, %mean, %var {eps = 1.000000e-05 : f64} : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
    %dw = dl.conv2d_backward_weights %gc, %x {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<?x3x8x8xf32> -> tensor<4x3x3x3xf32>
    return %z, %dw : tensor<?x4x8x8xf32>, tensor<4x3x3x3xf32>
  }
  func.func @kept(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %w: tensor<4x3x3x3xf32> {dl.param = "c.weight"},
                  %g: tensor<4xf32> {dl.param = "bn.weight"}, %b: tensor<4xf32> {dl.param = "bn.bias"})
      -> (tensor<?x4x8x8xf32> {dl.output = "y"}, tensor<?x4x8x8xf32> {dl.output = "z"}) {
    %c = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32> -> tensor<?x4x8x8xf32>
    %y, %mean, %var = dl.batch_norm_train %c, %g, %b {eps = 1.000000e-05 : f64} : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
    %z = dl.relu %y : tensor<?x4x8x8xf32>
    return %y, %z : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>
  }
  func.func @residual(%x: tensor<?x4x8x8xf32> {dl.input = "x"}, %w: tensor<4x4x3x3xf32> {dl.param = "c.weight"},
                      %g: tensor<4xf32> {dl.param = "bn.weight"}, %b: tensor<4xf32> {dl.param = "bn.bias"})
      -> (tensor<?x4x8x8xf32> {dl.output = "z"}) {
    %c0 = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<4x4x3x3xf32> -> tensor<?x4x8x8xf32>
    %a = dl.relu %c0 : tensor<?x4x8x8xf32>
    %c = dl.conv2d %a, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<4x4x3x3xf32> -> tensor<?x4x8x8xf32>
    %y, %mean, %var = dl.batch_norm_train %c, %g, %b {eps = 1.000000e-05 : f64} : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
    %s = dl.add %y, %a : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32> -> tensor<?x4x8x8xf32>
    %z = dl.relu %s : tensor<?x4x8x8xf32>
    return %z : tensor<?x4x8x8xf32>
  }
}
