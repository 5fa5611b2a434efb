// RUN: dlc-opt %s --split-input-file --dl-mark-batch-split | FileCheck %s

// Every op keeps the samples apart: convolution, ReLU, pooling, a reshape that keeps
// dim 0, a dense layer. The module is marked with the batch's symbol.
// CHECK: module attributes {dl.batch_split = "N"
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"1\",\"8\",\"8\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"10\"]}]}"} {
  func.func @infer(%x: tensor<?x1x8x8xf32> {dl.input = "x"}, %w: tensor<4x1x3x3xf32> {dl.param = "w"},
                   %d: tensor<10x64xf32> {dl.param = "d"}) -> (tensor<?x10xf32> {dl.output = "y"}) {
    %0 = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32> -> tensor<?x4x8x8xf32>
    %1 = dl.relu %0 : tensor<?x4x8x8xf32>
    %2 = dl.pool2d %1 {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x4x8x8xf32> -> tensor<?x4x4x4xf32>
    %3 = dl.reshape %2 {from = array<i64: 0, 1>} : tensor<?x4x4x4xf32> -> tensor<?x64xf32>
    %4 = dl.dense %3, %d : tensor<?x64xf32>, tensor<10x64xf32> -> tensor<?x10xf32>
    return %4 : tensor<?x10xf32>
  }
}

// -----

// Attention's shape: a [T, T] input free of the batch is the same for every slice; the
// head split moves dims behind dim 0 only; softmax runs along the last dim.
// CHECK: module attributes {dl.batch_split = "B"
module attributes {dl.signature = "{\"symbols\":[\"B\",\"T\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"B\",\"T\",\"8\"]},{\"name\":\"bias\",\"shape\":[\"T\",\"T\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"B\",\"T\",\"T\"]}]}"} {
  func.func @infer(%x: tensor<?x?x8xf32> {dl.input = "x"}, %bias: tensor<?x?xf32> {dl.input = "bias"}) -> (tensor<?x?x?xf32> {dl.output = "y"}) {
    %0 = dl.transpose %x {perm = array<i64: 0, 2, 1>} : tensor<?x?x8xf32> -> tensor<?x8x?xf32>
    %1 = dl.matmul %x, %0 : tensor<?x?x8xf32>, tensor<?x8x?xf32> -> tensor<?x?x?xf32>
    %2 = dl.add %1, %bias : tensor<?x?x?xf32>, tensor<?x?xf32> -> tensor<?x?x?xf32>
    %3 = dl.causal_mask %2 : tensor<?x?x?xf32>
    %4 = dl.softmax %3 {axis = 2 : i64} : tensor<?x?x?xf32>
    return %4 : tensor<?x?x?xf32>
  }
}

// -----

// Softmax along the batch mixes samples.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x4xf32> {dl.input = "x"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.softmax %x {axis = 0 : i64} : tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// A mean over the batch, broadcast back: shapes keep dim 0, but every row depends on all.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x4xf32> {dl.input = "x"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.mean %x {axes = array<i64: 0>, keepdims = true} : tensor<?x4xf32> -> tensor<1x4xf32>
    %1 = dl.sub %x, %0 : tensor<?x4xf32>, tensor<1x4xf32> -> tensor<?x4xf32>
    return %1 : tensor<?x4xf32>
  }
}

// -----

// A reshape whose dim 0 merges the batch with another dim regroups rows.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\",\"8\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"32\"]}]}"} {
  func.func @infer(%x: tensor<?x4x8xf32> {dl.input = "x"}) -> (tensor<?x8xf32> {dl.output = "y"}) {
    %0 = dl.reshape %x {from = array<i64: 0, 2>} : tensor<?x4x8xf32> -> tensor<?x8xf32>
    return %0 : tensor<?x8xf32>
  }
}

// -----

// A transpose that moves the batch away from dim 0.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x4xf32> {dl.input = "x"}, %w: tensor<4x4xf32> {dl.param = "w"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.transpose %x {perm = array<i64: 1, 0>} : tensor<?x4xf32> -> tensor<4x?xf32>
    %1 = dl.matmul %w, %0 : tensor<4x4xf32>, tensor<4x?xf32> -> tensor<4x?xf32>
    %2 = dl.transpose %1 {perm = array<i64: 1, 0>} : tensor<4x?xf32> -> tensor<?x4xf32>
    return %2 : tensor<?x4xf32>
  }
}

// -----

// A batched matrix multiplied by a batched matrix of rank 2 sums over the batch.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"N\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"N\"]}]}"} {
  func.func @infer(%x: tensor<?x?xf32> {dl.input = "x"}) -> (tensor<?x?xf32> {dl.output = "y"}) {
    %0 = dl.matmul %x, %x : tensor<?x?xf32>, tensor<?x?xf32> -> tensor<?x?xf32>
    return %0 : tensor<?x?xf32>
  }
}

// -----

// A batched stack of matrices times a stack of the same count that every sample shares:
// dim 0 of the shared one would have to be the batch's.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\",\"4\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"4\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x4x4xf32> {dl.input = "x"}, %w: tensor<5x4x4xf32> {dl.param = "w"}) -> (tensor<?x4x4xf32> {dl.output = "y"}) {
    %0 = dl.matmul %x, %w : tensor<?x4x4xf32>, tensor<5x4x4xf32> -> tensor<?x4x4xf32>
    return %0 : tensor<?x4x4xf32>
  }
}

// -----

// Concatenating along the batch.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x4xf32> {dl.input = "x"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.concat %x, %x {axis = 0 : i64} : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// An op the analysis has no rule for (a batch-size check) ends it.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x4xf32> {dl.input = "x"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.channel_count_check %x {min = 2 : i64, layer = "bn", axis = 1 : i64} : tensor<?x4xf32> -> tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// The batch's symbol elsewhere than dim 0 of an input ([4, N]), or of an output.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\"]},{\"name\":\"m\",\"shape\":[\"4\",\"N\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x4xf32> {dl.input = "x"}, %m: tensor<4x?xf32> {dl.input = "m"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.relu %x : tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"(N*2)\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x4xf32> {dl.input = "x"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.concat %x, %x {axis = 0 : i64} : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
    return %0 : tensor<?x4xf32>
  }
}

// -----

// Broadcasting a batched matrix against a parameter of higher rank puts the batch in
// dim 1 of the result.
// CHECK-NOT: dl.batch_split
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"4\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"2\",\"N\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x4xf32> {dl.input = "x"}, %p: tensor<2x1x4xf32> {dl.param = "p"}) -> (tensor<2x?x4xf32> {dl.output = "y"}) {
    %0 = dl.add %x, %p : tensor<?x4xf32>, tensor<2x1x4xf32> -> tensor<2x?x4xf32>
    return %0 : tensor<2x?x4xf32>
  }
}

// -----

// ... and a parameter of lower rank is the same for every row.
// CHECK: module attributes {dl.batch_split = "N"
module attributes {dl.signature = "{\"symbols\":[\"N\"],\"inputs\":[{\"name\":\"x\",\"shape\":[\"N\",\"1\",\"4\"]}],\"outputs\":[{\"name\":\"y\",\"shape\":[\"N\",\"3\",\"4\"]}]}"} {
  func.func @infer(%x: tensor<?x1x4xf32> {dl.input = "x"}, %p: tensor<3x4xf32> {dl.param = "p"}) -> (tensor<?x3x4xf32> {dl.output = "y"}) {
    %0 = dl.add %x, %p : tensor<?x1x4xf32>, tensor<3x4xf32> -> tensor<?x3x4xf32>
    return %0 : tensor<?x3x4xf32>
  }
}
