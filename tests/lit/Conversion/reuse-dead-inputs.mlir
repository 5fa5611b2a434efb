// RUN: dlc-opt %s --dl-reuse-dead-inputs | FileCheck %s

// An elementwise generic whose input, made here and read by nothing else, has the
// result's type takes that input as its init (bufferization then writes in place).
// CHECK-LABEL: func.func @dying
// CHECK: %[[A:.*]] = linalg.generic
// CHECK: linalg.generic {{.*}} ins(%[[A]] : tensor<8x16xf32>) outs(%[[A]] : tensor<8x16xf32>)

// Left with their tensor.empty: an input read again later, a function's input (a
// read-only to_tensor), and a result that ends in an output buffer.
// CHECK-LABEL: func.func @read_again
// CHECK: %[[E:.*]] = tensor.empty
// CHECK: linalg.generic {{.*}} outs(%[[E]] : tensor<8x16xf32>)
// CHECK-LABEL: func.func @argument
// CHECK: %[[E2:.*]] = tensor.empty
// CHECK: linalg.generic {{.*}} outs(%[[E2]] : tensor<8x16xf32>)
// CHECK-LABEL: func.func @into_output
// CHECK: %[[E3:.*]] = tensor.empty
// CHECK: linalg.generic {{.*}} outs(%[[E3]] : tensor<8x16xf32>)
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @exp(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %e = tensor.empty() : tensor<8x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<8x16xf32>) outs(%e : tensor<8x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<8x16xf32>
  return %r : tensor<8x16xf32>
}
func.func @dying(%x: tensor<8x16xf32>) -> tensor<8x16xf32> {
  %e0 = tensor.empty() : tensor<8x16xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<8x16xf32>) outs(%e0 : tensor<8x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %w = math.exp %v : f32
    linalg.yield %w : f32
  } -> tensor<8x16xf32>
  %e = tensor.empty() : tensor<8x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<8x16xf32>) outs(%e : tensor<8x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %zero = arith.constant 0.0 : f32
    %w = arith.maximumf %v, %zero : f32
    linalg.yield %w : f32
  } -> tensor<8x16xf32>
  return %r : tensor<8x16xf32>
}
func.func @read_again(%x: tensor<8x16xf32>) -> (tensor<8x16xf32>, tensor<8x16xf32>) {
  %a = func.call @exp(%x) : (tensor<8x16xf32>) -> tensor<8x16xf32>
  %e = tensor.empty() : tensor<8x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<8x16xf32>) outs(%e : tensor<8x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %w = arith.negf %v : f32
    linalg.yield %w : f32
  } -> tensor<8x16xf32>
  return %r, %a : tensor<8x16xf32>, tensor<8x16xf32>
}
func.func @argument(%m: memref<8x16xf32>) -> tensor<8x16xf32> {
  %x = bufferization.to_tensor %m restrict : memref<8x16xf32> to tensor<8x16xf32>
  %e = tensor.empty() : tensor<8x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<8x16xf32>) outs(%e : tensor<8x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %w = arith.negf %v : f32
    linalg.yield %w : f32
  } -> tensor<8x16xf32>
  return %r : tensor<8x16xf32>
}
func.func @into_output(%x: tensor<8x16xf32>, %out: memref<8x16xf32>) {
  %a = func.call @exp(%x) : (tensor<8x16xf32>) -> tensor<8x16xf32>
  %e = tensor.empty() : tensor<8x16xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : tensor<8x16xf32>) outs(%e : tensor<8x16xf32>) {
  ^bb0(%v: f32, %o: f32):
    %w = arith.negf %v : f32
    linalg.yield %w : f32
  } -> tensor<8x16xf32>
  bufferization.materialize_in_destination %r in restrict writable %out : (tensor<8x16xf32>, memref<8x16xf32>) -> ()
  return
}
