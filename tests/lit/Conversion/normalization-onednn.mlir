// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s
// RUN: dlc-opt %s --dl-lower-to-cpu=kernels=linalg | FileCheck %s --check-prefix=LINALG

// With oneDNN kernels, layer_norm, batch_norm, softmax and log_softmax are runtime calls,
// numbered in program order; inference passes no statistics buffers (null pointers). Each
// result may take over its input's buffer (in_place, the input as destination): the
// softmaxes both read %[[BN]], so bufferization gives at most one of them that buffer.
// CHECK-LABEL: func.func @infer(
// CHECK: %[[LN:.*]] = dlrt.call @dlrt_k_layer_norm_f32(%{{.*}}, %c0_i64, %{{.*}}, %c8_i64, %[[X:[0-9]+]], %{{.*}}, %{{.*}}, %[[X]], %{{[a-z0-9_]+}})
// CHECK-SAME: arg_kinds = array<i32: 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 1>
// CHECK-SAME: in_place
// CHECK: %[[BN:.*]] = dlrt.call @dlrt_k_batch_norm_f32(%{{.*}}, %c1_i64, %c3_i64, %{{.*}}, %[[LN]], {{.*}}, %[[LN]], %{{.*}}, %c0_i64)
// CHECK: dlrt.call @dlrt_k_softmax_f32(%{{.*}}, %c2_i64, %c3_i64, %{{.*}}, %c2_i64, %[[BN]], %[[BN]], %c0_i64)
// CHECK: dlrt.call @dlrt_k_softmax_f32(%{{.*}}, %c3_i64, %c3_i64, %{{.*}}, %c1_i64, %[[BN]], %[[BN]], %c1_i64)
// CHECK-NOT: linalg.generic
// The portable lowering keeps them in linalg.
// LINALG-NOT: dlrt.call
// LINALG: linalg.generic
module attributes {dl.signature = "{}"} {
  func.func @infer(%x: tensor<?x5x8xf32> {dl.input = "x"}, %g: tensor<8xf32> {dl.param = "ln.weight"}, %b: tensor<8xf32> {dl.param = "ln.bias"},
                   %bg: tensor<5xf32> {dl.param = "bn.weight"}, %bb: tensor<5xf32> {dl.param = "bn.bias"},
                   %m: tensor<5xf32> {dl.param = "bn.running_mean"}, %v: tensor<5xf32> {dl.param = "bn.running_var"})
      -> (tensor<?x5x8xf32> {dl.output = "s"}, tensor<?x5x8xf32> {dl.output = "l"}) {
    %0 = dl.layer_norm %x, %g, %b {eps = 1.0e-05 : f64} : tensor<?x5x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x5x8xf32>
    %1 = dl.batch_norm %0, %bg, %bb, %m, %v {eps = 1.0e-05 : f64} : (tensor<?x5x8xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>, tensor<5xf32>) -> tensor<?x5x8xf32>
    %2 = dl.softmax %1 {axis = 2 : i64} : tensor<?x5x8xf32>
    %3 = dl.log_softmax %1 {axis = 1 : i64} : tensor<?x5x8xf32>
    return %2, %3 : tensor<?x5x8xf32>, tensor<?x5x8xf32>
  }
}
