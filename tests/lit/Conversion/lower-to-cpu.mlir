// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s

// The entry takes the runtime context, input and parameter buffers, then output buffers.
// CHECK-LABEL: func.func @infer(
// CHECK-SAME: %[[CTX:.*]]: !llvm.ptr, %[[X:.*]]: memref<?x8xf32> {dl.input = "x"}, %{{.*}}: memref<4x8xf32> {dl.param = "d.weight"}, %{{.*}}: memref<4xf32> {dl.param = "d.bias"}, %[[OUT:.*]]: memref<?x4xf32> {dl.output = "y"})
// CHECK-SAME: llvm.emit_c_interface
// CHECK: bufferization.to_tensor %[[X]] restrict
// dense is a call of the oneDNN kernel, site 0, on tensors: it reads x, the weight and
// the bias, writes a new tensor and takes no nhwc_input word array (null).
// CHECK: %[[DEST:.*]] = tensor.empty(%{{.*}}) : tensor<?x4xf32>
// CHECK: dlrt.call @dlrt_k_dense_f32(%[[CTX]], %c0_i64, %{{.*}}, %c8_i64, %c4_i64, %{{.*}}, %{{.*}}, %{{.*}}, %[[DEST]], %c0_i64)
// CHECK-SAME: arg_kinds = array<i32: 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1>
// CHECK-SAME: -> tensor<?x4xf32>
// exp is a linalg.generic with the op's scalar body.
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: bufferization.materialize_in_destination {{.*}} in restrict writable %[[OUT]]
module attributes {dl.signature = "{}"} {
  func.func @infer(%x: tensor<?x8xf32> {dl.input = "x"}, %w: tensor<4x8xf32> {dl.param = "d.weight"}, %b: tensor<4xf32> {dl.param = "d.bias"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.dense %x, %w, %b : tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32> -> tensor<?x4xf32>
    %1 = dl.exp %0 : tensor<?x4xf32>
    return %1 : tensor<?x4xf32>
  }
}
