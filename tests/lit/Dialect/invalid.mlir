// RUN: dlc-opt %s -split-input-file -verify-diagnostics

func.func @dense_inner_dim(%x: tensor<?x8xf32>, %w: tensor<4x7xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{disagree on the inner dim}}
  %0 = dl.dense %x, %w : tensor<?x8xf32>, tensor<4x7xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @dense_nhwc_input_size(%x: tensor<?x12xf32>, %w: tensor<4x12xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{nhwc_input must be [C, H, W] or [C, H, W, B] with C*H*W the weight's inner dim}}
  %0 = dl.dense %x, %w {nhwc_input = array<i64: 3, 2, 1>} : tensor<?x12xf32>, tensor<4x12xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @dense_nhwc_input_block(%x: tensor<?x12xf32>, %w: tensor<4x12xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{nhwc_input's channel block 2 must divide its 3 channels}}
  %0 = dl.dense %x, %w {nhwc_input = array<i64: 3, 2, 2, 2>} : tensor<?x12xf32>, tensor<4x12xf32> -> tensor<?x4xf32>
  return %0 : tensor<?x4xf32>
}

// -----

func.func @broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> tensor<2x3xf32> {
  // expected-error @+2 {{cannot broadcast}}
  // expected-error @+1 {{failed to infer returned types}}
  %0 = dl.add %a, %b : tensor<2x3xf32>, tensor<4xf32> -> tensor<2x3xf32>
  return %0 : tensor<2x3xf32>
}

// -----

func.func @mixed_types(%a: tensor<3xf32>, %b: tensor<3xi64>) -> tensor<3xf32> {
  // expected-error @+1 {{one element type}}
  %0 = dl.mul %a, %b : tensor<3xf32>, tensor<3xi64> -> tensor<3xf32>
  return %0 : tensor<3xf32>
}

// -----

func.func @axis(%a: tensor<3x4xf32>) -> tensor<3x4xf32> {
  // expected-error @+1 {{axis 2 out of range for rank 2}}
  %0 = dl.softmax %a {axis = 2 : i64} : tensor<3x4xf32>
  return %0 : tensor<3x4xf32>
}

// -----

func.func @perm(%a: tensor<3x4xf32>) -> tensor<4x3xf32> {
  // expected-error @+1 {{perm is not a permutation}}
  %0 = dl.transpose %a {perm = array<i64: 0, 0>} : tensor<3x4xf32> -> tensor<4x3xf32>
  return %0 : tensor<4x3xf32>
}

// -----

func.func @reduce_shape(%a: tensor<3x4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{does not match the computed shape}}
  %0 = dl.sum %a {axes = array<i64: 1>, keepdims = false} : tensor<3x4xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @matmul_inner(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) -> tensor<2x5xf32> {
  // expected-error @+1 {{inner dims disagree}}
  %0 = dl.matmul %a, %b : tensor<2x3xf32>, tensor<4x5xf32> -> tensor<2x5xf32>
  return %0 : tensor<2x5xf32>
}

// -----

func.func @reshape_count(%a: tensor<3x4xf32>) -> tensor<5x2xf32> {
  // expected-error @+1 {{element count changes}}
  %0 = dl.reshape %a {from = array<i64>} : tensor<3x4xf32> -> tensor<5x2xf32>
  return %0 : tensor<5x2xf32>
}

// -----

func.func @block_channels_not_16(%x: tensor<?x5x5x24xf32>) -> tensor<?x5x5x24xf32> {
  // expected-error @+1 {{static channel count that is a multiple of 16}}
  %0 = dl.block_channels %x {block = 16} : tensor<?x5x5x24xf32>
  return %0 : tensor<?x5x5x24xf32>
}

// -----

func.func @block_channels_of_12(%x: tensor<?x5x5x24xf32>) -> tensor<?x5x5x24xf32> {
  // expected-error @+1 {{channel blocks of 8 or 16, not 12}}
  %0 = dl.block_channels %x {block = 12} : tensor<?x5x5x24xf32>
  return %0 : tensor<?x5x5x24xf32>
}

// -----

func.func @blocked_conv_nchw(%x: tensor<?x32x5x5xf32>, %w: tensor<32x32x3x3xf32>) -> tensor<?x32x5x5xf32> {
  // expected-error @+1 {{blocked_channels needs channels_last}}
  %0 = dl.conv2d %x, %w {blocked_channels = 16, dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x32x5x5xf32>, tensor<32x32x3x3xf32> -> tensor<?x32x5x5xf32>
  return %0 : tensor<?x32x5x5xf32>
}
