// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s

// relu after dense or conv2d is a oneDNN post-op: the kernel's last argument says so, and
// no loop is left for the relu. A relu whose producer has another use stays a loop.
// CHECK-LABEL: func.func @infer
// CHECK: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK: call @dlrt_k_dense_f32({{.*}}, %[[ONE]])
// CHECK: call @dlrt_k_dense_f32
// CHECK: linalg.generic
// CHECK: arith.cmpf ugt
// CHECK-NOT: linalg.generic
// CHECK: return
module attributes {dl.signature = "{}"} {
  func.func @infer(%x: tensor<?x8xf32> {dl.input = "x"}, %w: tensor<8x8xf32> {dl.param = "d.weight"}) -> (tensor<?x8xf32> {dl.output = "y"}, tensor<?x8xf32> {dl.output = "z"}) {
    %0 = dl.dense %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
    %1 = dl.relu %0 : tensor<?x8xf32>
    %2 = dl.dense %1, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
    %3 = dl.relu %2 : tensor<?x8xf32>
    return %3, %2 : tensor<?x8xf32>, tensor<?x8xf32>
  }
}
