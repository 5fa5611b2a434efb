// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s
// RUN: dlc-opt %s --dl-lower-to-cpu=kernels=linalg | FileCheck %s --check-prefix=LINALG

// With oneDNN kernels, convolutions and pooling run on NHWC. The input is transposed once
// (a oneDNN reorder); between the oneDNN ops the transposes cancel, an elementwise op runs
// on NHWC in place, and a global average pool (mean over H, W) reduces NHWC's dims 1 and 2
// without any transpose back.
// CHECK-LABEL: func.func @infer
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK-NOT: linalg.transpose
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK: linalg.generic
// CHECK: math.exp
// CHECK: dlrt.call @dlrt_k_pool2d_f32
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "reduction", "parallel"]
// CHECK-NOT: linalg.transpose
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: return

// A one-channel input needs no transpose (a reshape), but flattening the NHWC result in
// PyTorch's order does.
// CHECK-LABEL: func.func @unit
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: tensor.reshape
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK: return

// A classifier head (after the input's transpose): the flattened NHWC tensor goes to the dense as it is, which permutes
// its weight's columns ([C, H, W, B] = [4, 8, 8, 4] passed to the kernel: NHWC is one
// block of all channels) instead of a transpose of the activations.
// CHECK-LABEL: func.func @head
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK: memref.store %c4_i64, %[[CHW:.*]][%c0]
// CHECK: memref.store %c8_i64, %[[CHW]][%c1]
// CHECK: memref.store %c8_i64, %[[CHW]][%c2]
// CHECK: memref.store %c4_i64, %[[CHW]][%c3]
// CHECK: dlrt.call @dlrt_k_dense_f32
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: return

// The portable kernels keep NCHW.
// LINALG-LABEL: func.func @infer
// LINALG-NOT: transpose
// LINALG: return
module attributes {dl.signature = "{}"} {
  func.func @infer(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %w1: tensor<4x3x3x3xf32> {dl.param = "c1.weight"},
                   %w2: tensor<6x4x1x1xf32> {dl.param = "c2.weight"}) -> (tensor<?x6xf32> {dl.output = "y"}) {
    %0 = dl.conv2d %x, %w1 {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32> -> tensor<?x4x8x8xf32>
    %1 = dl.exp %0 : tensor<?x4x8x8xf32>
    %2 = dl.pool2d %1 {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x4x8x8xf32> -> tensor<?x4x4x4xf32>
    %3 = dl.conv2d %2, %w2 {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>} : tensor<?x4x4x4xf32>, tensor<6x4x1x1xf32> -> tensor<?x6x4x4xf32>
    %4 = dl.mean %3 {axes = array<i64: 2, 3>, keepdims = false} : tensor<?x6x4x4xf32> -> tensor<?x6xf32>
    return %4 : tensor<?x6xf32>
  }
  func.func @unit(%x: tensor<?x1x8x8xf32> {dl.input = "x"}, %w1: tensor<4x1x3x3xf32> {dl.param = "c1.weight"}) -> (tensor<?x256xf32> {dl.output = "y"}) {
    %0 = dl.conv2d %x, %w1 {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32> -> tensor<?x4x8x8xf32>
    %1 = dl.reshape %0 {from = array<i64: 0, 1>} : tensor<?x4x8x8xf32> -> tensor<?x256xf32>
    return %1 : tensor<?x256xf32>
  }
  func.func @head(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %w1: tensor<4x3x3x3xf32> {dl.param = "c1.weight"},
                  %w2: tensor<10x256xf32> {dl.param = "d.weight"}) -> (tensor<?x10xf32> {dl.output = "y"}) {
    %0 = dl.conv2d %x, %w1 {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32> -> tensor<?x4x8x8xf32>
    %1 = dl.reshape %0 {from = array<i64: 0, 1>} : tensor<?x4x8x8xf32> -> tensor<?x256xf32>
    %2 = dl.dense %1, %w2 : tensor<?x256xf32>, tensor<10x256xf32> -> tensor<?x10xf32>
    return %2 : tensor<?x10xf32>
  }
}
