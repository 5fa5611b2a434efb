// RUN: dlc-opt %s --dl-lower-to-cpu --canonicalize --cse | FileCheck %s

// conv2d(conv2d(s)) + s: the skip tensor's other reader, a convolution, runs earlier, so
// the last convolution writes its result over s (its dst and residual are one pointer) and
// allocates nothing.
// CHECK-LABEL: func.func @dead
// CHECK: call @dlrt_k_conv2d_f32(%{{.*}}, %c0_i64, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %[[S:[0-9]+]],
// CHECK: call @dlrt_k_conv2d_f32(%{{.*}}, %c1_i64,
// CHECK-NOT: memref.alloc(
// CHECK: call @dlrt_k_conv2d_f32(%{{.*}}, %c2_i64, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %[[S]], %{{[0-9]+}}, %cst, %[[S]])
// CHECK: return

// The same block with s read again afterwards: the residual convolution gets a buffer of
// its own (the kernel copies s into it first); the add after it, fused into the last
// convolution, may overwrite that buffer, which nothing reads later.
// CHECK-LABEL: func.func @live
// CHECK: call @dlrt_k_conv2d_f32(%{{.*}}, %c3_i64, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %[[S:[0-9]+]],
// CHECK: call @dlrt_k_conv2d_f32(%{{.*}}, %c4_i64,
// CHECK: memref.alloc(
// CHECK: call @dlrt_k_conv2d_f32(%{{.*}}, %c5_i64, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %[[Y:[0-9]+]], %{{[0-9]+}}, %cst, %[[S]])
// CHECK-NOT: memref.alloc(
// CHECK: call @dlrt_k_conv2d_f32(%{{.*}}, %c6_i64, %{{[0-9]+}}, %[[S]], %{{[0-9]+}}, %{{[0-9]+}}, %[[Y]], %{{[0-9]+}}, %cst, %[[Y]])
// CHECK: return

// A skip tensor that is also the convolution's input is never overwritten.
// CHECK-LABEL: func.func @input
// CHECK: call @dlrt_k_conv2d_f32(%{{.*}}, %c7_i64, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %[[S:[0-9]+]],
// CHECK: memref.alloc(
// CHECK: call @dlrt_k_conv2d_f32(%{{.*}}, %c8_i64, %{{[0-9]+}}, %[[S]], %{{[0-9]+}}, %{{[0-9]+}}, %[[Y:[0-9]+]], %{{[0-9]+}}, %cst, %[[S]])
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
