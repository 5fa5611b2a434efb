// RUN: dlc-opt %s | dlc-opt | FileCheck %s
// Round trip of the dl ops through their textual form.

// CHECK-LABEL: func @ops
func.func @ops(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %s: tensor<?x3x4xf32>) -> tensor<?x4xf32> {
  // CHECK: dl.dense %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32> -> tensor<?x4xf32>
  %0 = dl.dense %x, %w, %b : tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32> -> tensor<?x4xf32>
  // CHECK: dl.relu
  %1 = dl.relu %0 : tensor<?x4xf32>
  // CHECK: dl.gelu {{.*}}tanh_approx = true
  %2 = dl.gelu %1 {tanh_approx = true} : tensor<?x4xf32>
  // CHECK: dl.add {{.*}} : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x4xf32>
  %3 = dl.add %2, %b : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x4xf32>
  // CHECK: dl.softmax {{.*}}axis = 1
  %4 = dl.softmax %3 {axis = 1 : i64} : tensor<?x4xf32>
  // CHECK: dl.transpose {{.*}}perm = array<i64: 0, 2, 1>
  %5 = dl.transpose %s {perm = array<i64: 0, 2, 1>} : tensor<?x3x4xf32> -> tensor<?x4x3xf32>
  // CHECK: dl.matmul
  %6 = dl.matmul %s, %5 : tensor<?x3x4xf32>, tensor<?x4x3xf32> -> tensor<?x3x3xf32>
  // CHECK: dl.sum {{.*}}axes = array<i64: 1, 2>
  %7 = dl.sum %6 {axes = array<i64: 1, 2>, keepdims = false} : tensor<?x3x3xf32> -> tensor<?xf32>
  // CHECK: dl.reshape {{.*}}from = array<i64: 0, 1>
  %8 = dl.reshape %s {from = array<i64: 0, 1>} : tensor<?x3x4xf32> -> tensor<?x12xf32>
  return %4 : tensor<?x4xf32>
}

// A layout-pass op: an NHWC tensor in 16-channel blocks and back, and a convolution on
// them; and the same in 8-channel blocks.
// CHECK-LABEL: func @blocked
// CHECK: dl.block_channels %{{.*}} {block = 16 : i64} : tensor<?x5x5x32xf32>
// CHECK: dl.conv2d {{.*}}blocked_channels = 16 : i64{{.*}}channels_last
// CHECK: dl.block_channels %{{.*}} {block = 16 : i64, inverse} : tensor<?x5x5x32xf32>
// CHECK: dl.block_channels %{{.*}} {block = 8 : i64} : tensor<?x5x5x32xf32>
// CHECK: dl.conv2d {{.*}}blocked_channels = 8 : i64{{.*}}channels_last
func.func @blocked(%x: tensor<?x5x5x32xf32>, %w: tensor<32x32x3x3xf32>) -> tensor<?x5x5x32xf32> {
  %0 = dl.block_channels %x {block = 16} : tensor<?x5x5x32xf32>
  %1 = dl.conv2d %0, %w {blocked_channels = 16, channels_last, dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x5x5x32xf32>, tensor<32x32x3x3xf32> -> tensor<?x5x5x32xf32>
  %2 = dl.block_channels %1 {block = 16, inverse} : tensor<?x5x5x32xf32>
  %3 = dl.block_channels %2 {block = 8} : tensor<?x5x5x32xf32>
  %4 = dl.conv2d %3, %w {blocked_channels = 8, channels_last, dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x5x5x32xf32>, tensor<32x32x3x3xf32> -> tensor<?x5x5x32xf32>
  %5 = dl.block_channels %4 {block = 8, inverse} : tensor<?x5x5x32xf32>
  return %5 : tensor<?x5x5x32xf32>
}
