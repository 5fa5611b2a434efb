// RUN: dlc-opt %s --dl-lower-to-cpu="kernels=linalg" | FileCheck %s
// RUN: not dlc-opt %s --dl-lower-to-cpu="kernels=cuda" 2>&1 | FileCheck %s --check-prefix=BAD

// The portable lowering: dense is a contraction with a reduction loop, its bias and relu an
// elementwise epilogue; no runtime kernel is called.
// CHECK-NOT: dlrt_k_dense_f32
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CHECK: arith.select
// BAD: kernels must be onednn or linalg, not 'cuda'
module attributes {dl.signature = "{}"} {
  func.func @infer(%x: tensor<?x8xf32> {dl.input = "x"}, %w: tensor<4x8xf32> {dl.param = "d.weight"}, %b: tensor<4xf32> {dl.param = "d.bias"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.dense %x, %w, %b : tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32> -> tensor<?x4xf32>
    %1 = dl.relu %0 : tensor<?x4xf32>
    return %1 : tensor<?x4xf32>
  }
}
