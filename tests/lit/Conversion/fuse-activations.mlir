// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s
// RUN: dlc-opt %s --dl-lower-to-cpu=kernels=linalg | FileCheck %s --check-prefix=LINALG

// An activation after dense or conv2d is a oneDNN post-op: the kernel's last argument
// (dense) or geometry word 18 (conv2d) is its dlrt_activation code, and no loop is left
// for it. An activation whose producer has another use stays a loop, and so does relu
// always: oneDNN's relu turns NaN into 0, torch.relu keeps it (the loop's unordered
// compare does: x >u 0 ? x : 0).
// CHECK-LABEL: func.func @infer
// CHECK-DAG: %[[SIG:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[NONE:.*]] = arith.constant 0 : i64
// CHECK: dlrt.call @dlrt_k_dense_f32({{.*}}, %[[SIG]])
// CHECK: dlrt.call @dlrt_k_dense_f32({{.*}}, %[[NONE]])
// CHECK: linalg.generic
// CHECK: arith.cmpf ugt
// CHECK: dlrt.call @dlrt_k_dense_f32({{.*}}, %[[NONE]])
// CHECK: linalg.generic
// CHECK: math.tanh
// CHECK-NOT: linalg.generic
// CHECK: return
module attributes {dl.signature = "{}"} {
  func.func @infer(%x: tensor<?x8xf32> {dl.input = "x"}, %w: tensor<8x8xf32> {dl.param = "d.weight"}) -> (tensor<?x8xf32> {dl.output = "y"}, tensor<?x8xf32> {dl.output = "z"}, tensor<?x8xf32> {dl.output = "u"}) {
    %0 = dl.dense %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
    %1 = dl.sigmoid %0 : tensor<?x8xf32>
    %2 = dl.dense %1, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
    %3 = dl.relu %2 : tensor<?x8xf32>
    %4 = dl.dense %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
    %5 = dl.tanh %4 : tensor<?x8xf32>
    return %3, %5, %4 : tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>
  }

// Each activation's own code: gelu exact 5, gelu tanh 6, sigmoid 2, tanh 3, silu 4 (the
// convolution's, in its geometry).
// CHECK-LABEL: func.func @codes
// CHECK-DAG: %[[GELU:.*]] = arith.constant 5 : i64
// CHECK-DAG: %[[GELUT:.*]] = arith.constant 6 : i64
// CHECK-DAG: %[[SIG:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[TANH:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[SILU:.*]] = arith.constant 4 : i64
// CHECK: dlrt.call @dlrt_k_dense_f32({{.*}}, %[[GELU]])
// CHECK: dlrt.call @dlrt_k_dense_f32({{.*}}, %[[GELUT]])
// CHECK: dlrt.call @dlrt_k_dense_f32({{.*}}, %[[SIG]])
// CHECK: dlrt.call @dlrt_k_dense_f32({{.*}}, %[[TANH]])
// CHECK: memref.store %[[SILU]], %{{.*}}[%c18] : memref<20xi64>
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK-NOT: linalg.generic
// CHECK: return
// The portable lowering applies them after the contraction, as loops.
// LINALG-LABEL: func.func @codes
// LINALG: math.erf
// LINALG: math.tanh
// LINALG: math.exp
// LINALG: math.tanh
// LINALG: math.exp
// LINALG: return
  func.func @codes(%x: tensor<?x8xf32> {dl.input = "x"}, %w: tensor<8x8xf32> {dl.param = "d.weight"},
                   %img: tensor<?x2x5x5xf32> {dl.input = "img"}, %k: tensor<3x2x3x3xf32> {dl.param = "c.weight"})
      -> (tensor<?x8xf32> {dl.output = "y"}, tensor<?x3x3x3xf32> {dl.output = "z"}) {
    %0 = dl.dense %x, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
    %1 = dl.gelu %0 {tanh_approx = false} : tensor<?x8xf32>
    %2 = dl.dense %1, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
    %3 = dl.gelu %2 {tanh_approx = true} : tensor<?x8xf32>
    %4 = dl.dense %3, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
    %5 = dl.sigmoid %4 : tensor<?x8xf32>
    %6 = dl.dense %5, %w : tensor<?x8xf32>, tensor<8x8xf32> -> tensor<?x8xf32>
    %7 = dl.tanh %6 : tensor<?x8xf32>
    %8 = dl.conv2d %img, %k {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>} : tensor<?x2x5x5xf32>, tensor<3x2x3x3xf32> -> tensor<?x3x3x3xf32>
    %9 = dl.silu %8 : tensor<?x3x3x3xf32>
    return %7, %9 : tensor<?x8xf32>, tensor<?x3x3x3xf32>
  }

// relu after max pooling (where dl-sink-relu-below-max-pool moved it, before the
// gradient) goes into the pooling (geometry word 16, relu: the runtime applies it as it
// stores each maximum, keeping NaN); relu before average pooling stays a loop, and so
// does relu before max pooling (this pass does not move it).
// CHECK-LABEL: func.func @relu_and_pooling
// CHECK: memref.store %c1_i64, %{{.*}}[%c16] : memref<17xi64>
// CHECK: dlrt.call @dlrt_k_pool2d_f32
// CHECK-NOT: arith.cmpf
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<?x2x4x4xf32>)
// CHECK: arith.cmpf ugt
// CHECK: dlrt.call @dlrt_k_pool2d_f32
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<?x2x4x4xf32>)
// CHECK: arith.cmpf ugt
// CHECK: dlrt.call @dlrt_k_pool2d_f32
// CHECK: return
  func.func @relu_and_pooling(%x: tensor<?x2x4x4xf32> {dl.input = "x"}, %y: tensor<?x2x4x4xf32> {dl.input = "y"},
                       %z: tensor<?x2x4x4xf32> {dl.input = "z"})
      -> (tensor<?x2x2x2xf32> {dl.output = "a"}, tensor<?x2x2x2xf32> {dl.output = "b"},
          tensor<?x2x2x2xf32> {dl.output = "c"}, tensor<?x2x4x4xf32> {dl.output = "d"}) {
    %0 = dl.pool2d %x {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x2x4x4xf32> -> tensor<?x2x2x2xf32>
    %1 = dl.relu %0 : tensor<?x2x2x2xf32>
    %2 = dl.relu %y : tensor<?x2x4x4xf32>
    %3 = dl.pool2d %2 {is_max = false, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x2x4x4xf32> -> tensor<?x2x2x2xf32>
    %4 = dl.relu %z : tensor<?x2x4x4xf32>
    %5 = dl.pool2d %4 {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x2x4x4xf32> -> tensor<?x2x2x2xf32>
    return %1, %3, %5, %4 : tensor<?x2x2x2xf32>, tensor<?x2x2x2xf32>, tensor<?x2x2x2xf32>, tensor<?x2x4x4xf32>
  }
}
