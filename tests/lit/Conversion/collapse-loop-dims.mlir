// RUN: dlc-opt %s --dl-collapse-loop-dims | FileCheck %s

// An elementwise op over a contiguous NHWC tensor becomes one loop; a reduction over N, H
// and W of NHWC one reduction loop of rows around the channels.
// CHECK-LABEL: func.func @elementwise
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1, 2, 3]] : tensor<?x28x28x16xf32> into tensor<?xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel"]
// CHECK: tensor.expand_shape
// CHECK-LABEL: func.func @channel_sum
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0, 1, 2], [3]] : tensor<?x14x14x32xf32> into tensor<?x32xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "parallel"]

// Left alone: a body that reads its indices, a broadcast (a constant in a map), a result
// that ends in an output buffer (computed there directly, which a reshape back would
// prevent), and two
// dynamic dims in one group (MLIR 22 cannot lower the reshape back); [B, T, 24] merges
// T with the 24 only.
// CHECK-LABEL: func.func @indexed
// CHECK-NOT: collapse_shape
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]
// CHECK-LABEL: func.func @broadcast
// CHECK-NOT: collapse_shape
// CHECK-LABEL: func.func @into_output
// CHECK-NOT: collapse_shape
// CHECK-LABEL: func.func @two_dynamic
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2]] : tensor<?x?x24xf32> into tensor<?x?xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]

// On buffers (the run after bufferization): a train step's update of [K, C, 3, 3] filters
// in place becomes one loop over views of the buffers; a strided view (a slice) is left
// alone.
// CHECK-LABEL: func.func @update_in_place
// CHECK-DAG: memref.collapse_shape %{{.*}} {{\[}}[0, 1, 2, 3]] : memref<8x4x3x3xf32> into memref<288xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel"]
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : memref<288xf32>, memref<288xf32>) outs(%{{.*}} : memref<288xf32>)
// CHECK-LABEL: func.func @strided_view
// CHECK-NOT: collapse_shape
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#c4 = affine_map<(d0, d1, d2, d3) -> (d3)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#b2 = affine_map<(d0, d1) -> (0, d1)>
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @elementwise(%y: tensor<?x28x28x16xf32>, %g: tensor<?x28x28x16xf32>, %e: tensor<?x28x28x16xf32>) -> tensor<?x28x28x16xf32> {
  %r = linalg.generic {indexing_maps = [#id4, #id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%y, %g : tensor<?x28x28x16xf32>, tensor<?x28x28x16xf32>) outs(%e : tensor<?x28x28x16xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %zero = arith.constant 0.0 : f32
    %p = arith.cmpf ogt, %a, %zero : f32
    %v = arith.select %p, %b, %zero : f32
    linalg.yield %v : f32
  } -> tensor<?x28x28x16xf32>
  return %r : tensor<?x28x28x16xf32>
}
func.func @channel_sum(%x: tensor<?x14x14x32xf32>, %init: tensor<32xf32>) -> tensor<32xf32> {
  %r = linalg.generic {indexing_maps = [#id4, #c4], iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
      ins(%x : tensor<?x14x14x32xf32>) outs(%init : tensor<32xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %o : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %r : tensor<32xf32>
}
func.func @indexed(%x: tensor<4x8xf32>, %e: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %r = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 1 : index
    %j = arith.index_cast %i : index to i64
    %f = arith.sitofp %j : i64 to f32
    %s = arith.addf %a, %f : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}
func.func @broadcast(%x: tensor<1x8xf32>, %e: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %r = linalg.generic {indexing_maps = [#b2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<1x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}
func.func @into_output(%x: tensor<16x3x3xf32>, %e: tensor<16x3x3xf32>, %out: memref<16x3x3xf32>) {
  %r = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : tensor<16x3x3xf32>) outs(%e : tensor<16x3x3xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<16x3x3xf32>
  bufferization.materialize_in_destination %r in restrict writable %out : (tensor<16x3x3xf32>, memref<16x3x3xf32>) -> ()
  return
}
func.func @two_dynamic(%x: tensor<?x?x24xf32>, %e: tensor<?x?x24xf32>) -> tensor<?x?x24xf32> {
  %r = linalg.generic {indexing_maps = [#id3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : tensor<?x?x24xf32>) outs(%e : tensor<?x?x24xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<?x?x24xf32>
  return %r : tensor<?x?x24xf32>
}
func.func @update_in_place(%p: memref<8x4x3x3xf32>, %g: memref<8x4x3x3xf32>) {
  linalg.generic {indexing_maps = [#id4, #id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%p, %g : memref<8x4x3x3xf32>, memref<8x4x3x3xf32>) outs(%p : memref<8x4x3x3xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %lr = arith.constant -0.1 : f32
    %d = arith.mulf %b, %lr : f32
    %s = arith.addf %a, %d : f32
    linalg.yield %s : f32
  }
  return
}
func.func @strided_view(%x: memref<4x8xf32, strided<[16, 1]>>, %out: memref<4x8xf32>) {
  linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x8xf32, strided<[16, 1]>>) outs(%out : memref<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  }
  return
}
