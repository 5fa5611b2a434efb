// RUN: dlc-opt %s --dl-lower-to-cpu --canonicalize --cse --eliminate-empty-tensors --one-shot-bufferize="unknown-type-conversion=identity-layout-map" | FileCheck %s

// A convolution with a skip tensor reads its destination (dlrt.call inout) and adds to it:
// one-shot bufferization writes the result over the skip tensor where nothing reads it
// later, and over a copy of it otherwise. No rule of dlc's own decides it.

// conv2d(conv2d(s)) + s: the skip tensor's other reader, a convolution, runs earlier, so
// the last convolution accumulates into s's buffer and allocates nothing.
// CHECK-LABEL: func.func @dead
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c0_i64, %{{.*}}, %{{.*}}, %{{.*}}, %[[S:alloc_[0-9]+]], %cst, %c0_i64)
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c1_i64, %{{.*}}, %[[S]], %{{.*}}, %[[C1:alloc_[0-9]+]], %cst, %c0_i64)
// CHECK-NOT: memref.alloc(
// CHECK-NOT: memref.copy
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c2_i64, %{{.*}}, %[[C1]], %{{.*}}, %[[S]], %cst, %c1_i64)
// CHECK: return

// The same block with s read again afterwards: the residual convolution gets a copy of s;
// the add after it, fused into the last convolution, overwrites that copy, which nothing
// reads later.
// CHECK-LABEL: func.func @live
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c3_i64, %{{.*}}, %{{.*}}, %{{.*}}, %[[S:alloc_[0-9]+]], %cst, %c0_i64)
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c4_i64, %{{.*}}, %[[S]], %{{.*}}, %[[C1:alloc_[0-9]+]], %cst, %c0_i64)
// CHECK: %[[Y:.*]] = memref.alloc(
// CHECK: memref.copy %[[S]], %[[Y]]
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c5_i64, %{{.*}}, %[[C1]], %{{.*}}, %[[Y]], %cst, %c1_i64)
// CHECK-NOT: memref.alloc(
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c6_i64, %{{.*}}, %[[S]], %{{.*}}, %[[Y]], %cst, %c1_i64)
// CHECK: return

// A skip tensor that is also the convolution's input is never overwritten.
// CHECK-LABEL: func.func @input
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c7_i64, %{{.*}}, %{{.*}}, %{{.*}}, %[[S:alloc_[0-9]+]], %cst, %c0_i64)
// CHECK: %[[Y:.*]] = memref.alloc(
// CHECK: memref.copy %[[S]], %[[Y]]
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c8_i64, %{{.*}}, %[[S]], %{{.*}}, %[[Y]], %cst, %c1_i64)
// CHECK: return
module attributes {dl.signature = "{}"} {
  func.func @dead(%x: tensor<?x8x6x6xf32> {dl.input = "x"}, %w: tensor<8x8x3x3xf32> {dl.param = "w"}) -> (tensor<?x8x6x6xf32> {dl.output = "y"}) {
    %s = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x6x6xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x6x6xf32>
    %c1 = dl.conv2d %s, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x6x6xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x6x6xf32>
    %c2 = dl.conv2d %c1, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x6x6xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x6x6xf32>
    %a = dl.add %c2, %s : tensor<?x8x6x6xf32>, tensor<?x8x6x6xf32> -> tensor<?x8x6x6xf32>
    return %a : tensor<?x8x6x6xf32>
  }
  func.func @live(%x: tensor<?x8x6x6xf32> {dl.input = "x"}, %w: tensor<8x8x3x3xf32> {dl.param = "w"}) -> (tensor<?x8x6x6xf32> {dl.output = "y"}) {
    %s = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x6x6xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x6x6xf32>
    %c1 = dl.conv2d %s, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x6x6xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x6x6xf32>
    %c2 = dl.conv2d %c1, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x6x6xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x6x6xf32>
    %a = dl.add %c2, %s : tensor<?x8x6x6xf32>, tensor<?x8x6x6xf32> -> tensor<?x8x6x6xf32>
    %b = dl.conv2d %s, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x6x6xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x6x6xf32>
    %o = dl.add %a, %b : tensor<?x8x6x6xf32>, tensor<?x8x6x6xf32> -> tensor<?x8x6x6xf32>
    return %o : tensor<?x8x6x6xf32>
  }

  func.func @input(%x: tensor<?x8x6x6xf32> {dl.input = "x"}, %w: tensor<8x8x3x3xf32> {dl.param = "w"}) -> (tensor<?x8x6x6xf32> {dl.output = "y"}) {
    %s = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x6x6xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x6x6xf32>
    %c = dl.conv2d %s, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x6x6xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x6x6xf32>
    %a = dl.add %c, %s : tensor<?x8x6x6xf32>, tensor<?x8x6x6xf32> -> tensor<?x8x6x6xf32>
    return %a : tensor<?x8x6x6xf32>
  }
}
