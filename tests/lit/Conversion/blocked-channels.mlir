// RUN: dlc-opt %s --dl-sink-relu-below-max-pool --dl-lower-to-cpu --canonicalize --cse | FileCheck %s
// RUN: dlc-opt %s --dl-sink-relu-below-max-pool --dl-lower-to-cpu=channel-block=8 --canonicalize --cse | FileCheck %s --check-prefix=B8

// Two (Winograd) convolutions (3x3, stride 1, 64 channels) with an elementwise op between
// them: blocked once after the input's transpose, unblocked once before the output's. The
// convolutions get layout 2 (16-channel blocks, the default) in their geometry's last word, and exp
// runs on the blocked buffer.
// CHECK-LABEL: func.func @chain
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c0_i64, %c16_i64)
// CHECK: memref.store %c2_i64, %{{.*}}[%c19]
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK-NOT: dlrt_k_block_channels_f32
// CHECK: math.exp
// CHECK-NOT: dlrt_k_block_channels_f32
// CHECK: memref.store %c2_i64, %{{.*}}[%c19]
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c1_i64, %c16_i64)
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK: return

// With 8-channel blocks (a CPU without AVX-512): the same, in layout 3.
// B8-LABEL: func.func @chain
// B8: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c0_i64, %c8_i64)
// B8: memref.store %c3_i64, %{{.*}}[%c19]
// B8: dlrt.call @dlrt_k_conv2d_f32
// B8-NOT: dlrt_k_block_channels_f32
// B8: math.exp
// B8-NOT: dlrt_k_block_channels_f32
// B8: memref.store %c3_i64, %{{.*}}[%c19]
// B8: dlrt.call @dlrt_k_conv2d_f32
// B8: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c1_i64, %c8_i64)

// 8 channels, not a whole block: direct convolution on NHWC (layout 1), nothing blocked.
// CHECK-LABEL: func.func @narrow
// CHECK-NOT: dlrt_k_block_channels_f32
// CHECK: memref.store %c1_i64, %{{.*}}[%c19]
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK-NOT: dlrt_k_block_channels_f32
// CHECK: return

// d + h with d a 1x1 convolution and h a 3x3 one, both of x, both on blocks: the sum goes
// into the 3x3 one (site 4), whatever the operand order, which accumulates into d's
// result (its inout destination, arg kind 3), blocked as it is; x is transposed and
// blocked once for both.
// CHECK-LABEL: func.func @skip
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c0_i64, %c16_i64)
// CHECK: %[[D:.*]] = dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c3_i64, {{.*}}, %cst, %c0_i64)
// CHECK-NOT: dlrt_k_block_channels_f32
// CHECK: dlrt.call @dlrt_k_conv2d_f32(%{{.*}}, %c4_i64, %{{[a-z0-9_]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %[[D]], %cst, %c1_i64)
// CHECK-SAME: arg_kinds = array<i32: 0, 0, 0, 0, 0, 1, 3, 1, 0, 0>
// CHECK: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c1_i64, %c16_i64)
// CHECK: return

// conv -> relu -> max_pool of 32 channels: relu moves below the pooling (dl-sink-relu-below-max-pool) and into it
// (word 16), which pools the blocks (layout 2 in its geometry's word 15), and one unblock
// follows. A
// 16-channel tensor's blocks are its NHWC bytes: no block_channels before the first
// convolution, which reads a 16-channel input. Average pooling reads NHWC.
// CHECK-LABEL: func.func @pool
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK-NOT: dlrt_k_block_channels_f32
// CHECK: memref.store %c2_i64, %{{.*}}[%c19]
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK-NOT: dlrt_k_block_channels_f32
// CHECK: memref.store %c2_i64, %{{.*}}[%c15]
// CHECK: memref.store %c1_i64, %{{.*}}[%c16]
// CHECK: dlrt.call @dlrt_k_pool2d_f32
// CHECK-NOT: arith.cmpf
// CHECK: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c1_i64, %c16_i64)
// CHECK: memref.store %c1_i64, %{{.*}}[%c15]
// CHECK: dlrt.call @dlrt_k_pool2d_f32
// CHECK: return

// In 8-channel blocks a 16-channel input is two blocks, blocked before the convolution.
// B8-LABEL: func.func @pool
// B8: dlrt.call @dlrt_k_transpose_f32
// B8: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c0_i64, %c8_i64)
// B8: memref.store %c3_i64, %{{.*}}[%c19]
// B8: dlrt.call @dlrt_k_conv2d_f32
// B8: memref.store %c3_i64, %{{.*}}[%c15]
// B8: dlrt.call @dlrt_k_pool2d_f32
// B8: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c1_i64, %c8_i64)
// A classifier head on a blocked pooling of 32 channels: the flatten reads the blocks as
// they are, with no block_channels back, and the dense gets [C, H, W, B] = [32, 4, 4, 16]
// (or 8).
// CHECK-LABEL: func.func @head
// CHECK: dlrt.call @dlrt_k_pool2d_f32
// CHECK-NOT: dlrt_k_block_channels_f32
// CHECK: memref.store %c32_i64, %[[CHWB:.*]][%c0]
// CHECK: memref.store %c4_i64, %[[CHWB]][%c1]
// CHECK: memref.store %c4_i64, %[[CHWB]][%c2]
// CHECK: memref.store %c16_i64, %[[CHWB]][%c3]
// CHECK: dlrt.call @dlrt_k_dense_f32
// CHECK: return
// B8-LABEL: func.func @head
// B8: dlrt.call @dlrt_k_pool2d_f32
// B8-NOT: dlrt_k_block_channels_f32
// B8: memref.store %c8_i64, %[[CHWB:.*]][%c3]
// B8: dlrt.call @dlrt_k_dense_f32

// The same with the pooled tensor an output too: unblocked and transposed back to NCHW
// once, for the output and the flatten both; the dense reads NCHW (no word array).
// CHECK-LABEL: func.func @head_and_output
// CHECK: dlrt.call @dlrt_k_pool2d_f32
// CHECK: dlrt.call @dlrt_k_block_channels_f32({{.*}}, %c1_i64, %c16_i64)
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK-NOT: dlrt.call
// CHECK: dlrt.call @dlrt_k_dense_f32({{.*}}, %c0_i64) {
// CHECK: return
module attributes {dl.signature = "{}"} {
  func.func @chain(%x: tensor<?x64x8x8xf32> {dl.input = "x"}, %w: tensor<64x64x3x3xf32> {dl.param = "w"}) -> (tensor<?x64x8x8xf32> {dl.output = "y"}) {
    %a = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x64x8x8xf32>, tensor<64x64x3x3xf32> -> tensor<?x64x8x8xf32>
    %e = dl.exp %a : tensor<?x64x8x8xf32>
    %b = dl.conv2d %e, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x64x8x8xf32>, tensor<64x64x3x3xf32> -> tensor<?x64x8x8xf32>
    return %b : tensor<?x64x8x8xf32>
  }
  func.func @narrow(%x: tensor<?x8x8x8xf32> {dl.input = "x"}, %w: tensor<8x8x3x3xf32> {dl.param = "w"}) -> (tensor<?x8x8x8xf32> {dl.output = "y"}) {
    %a = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x8x8x8xf32>, tensor<8x8x3x3xf32> -> tensor<?x8x8x8xf32>
    return %a : tensor<?x8x8x8xf32>
  }
  func.func @skip(%x: tensor<?x64x8x8xf32> {dl.input = "x"}, %w: tensor<64x64x3x3xf32> {dl.param = "w"}, %w1: tensor<64x64x1x1xf32> {dl.param = "w1"}) -> (tensor<?x64x8x8xf32> {dl.output = "y"}) {
    %d = dl.conv2d %x, %w1 {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 1, 1>} : tensor<?x64x8x8xf32>, tensor<64x64x1x1xf32> -> tensor<?x64x8x8xf32>
    %h = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x64x8x8xf32>, tensor<64x64x3x3xf32> -> tensor<?x64x8x8xf32>
    %s = dl.add %d, %h : tensor<?x64x8x8xf32>, tensor<?x64x8x8xf32> -> tensor<?x64x8x8xf32>
    return %s : tensor<?x64x8x8xf32>
  }
  func.func @pool(%x: tensor<?x16x8x8xf32> {dl.input = "x"}, %w: tensor<32x16x3x3xf32> {dl.param = "w"}) -> (tensor<?x32x4x4xf32> {dl.output = "y"}, tensor<?x16x4x4xf32> {dl.output = "z"}) {
    %a = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x16x8x8xf32>, tensor<32x16x3x3xf32> -> tensor<?x32x8x8xf32>
    %r = dl.relu %a : tensor<?x32x8x8xf32>
    %p = dl.pool2d %r {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x32x8x8xf32> -> tensor<?x32x4x4xf32>
    %q = dl.pool2d %x {is_max = false, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x16x8x8xf32> -> tensor<?x16x4x4xf32>
    return %p, %q : tensor<?x32x4x4xf32>, tensor<?x16x4x4xf32>
  }
  func.func @head(%x: tensor<?x16x8x8xf32> {dl.input = "x"}, %w: tensor<32x16x3x3xf32> {dl.param = "w"}, %d: tensor<10x512xf32> {dl.param = "d"}) -> (tensor<?x10xf32> {dl.output = "y"}) {
    %a = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x16x8x8xf32>, tensor<32x16x3x3xf32> -> tensor<?x32x8x8xf32>
    %p = dl.pool2d %a {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x32x8x8xf32> -> tensor<?x32x4x4xf32>
    %f = dl.reshape %p {from = array<i64: 0, 1>} : tensor<?x32x4x4xf32> -> tensor<?x512xf32>
    %y = dl.dense %f, %d : tensor<?x512xf32>, tensor<10x512xf32> -> tensor<?x10xf32>
    return %y : tensor<?x10xf32>
  }
  func.func @head_and_output(%x: tensor<?x16x8x8xf32> {dl.input = "x"}, %w: tensor<32x16x3x3xf32> {dl.param = "w"}, %d: tensor<10x512xf32> {dl.param = "d"}) -> (tensor<?x10xf32> {dl.output = "y"}, tensor<?x32x4x4xf32> {dl.output = "p"}) {
    %a = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x16x8x8xf32>, tensor<32x16x3x3xf32> -> tensor<?x32x8x8xf32>
    %p = dl.pool2d %a {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x32x8x8xf32> -> tensor<?x32x4x4xf32>
    %f = dl.reshape %p {from = array<i64: 0, 1>} : tensor<?x32x4x4xf32> -> tensor<?x512xf32>
    %y = dl.dense %f, %d : tensor<?x512xf32>, tensor<10x512xf32> -> tensor<?x10xf32>
    return %y, %p : tensor<?x10xf32>, tensor<?x32x4x4xf32>
  }
}
