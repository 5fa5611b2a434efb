// RUN: dlc-opt %s --dl-share-fn-bodies | FileCheck %s

// Three calls of `fn block` (a dense kernel and a relu, their locations carrying the call's
// scope) become three calls of one function, each passing its own parameters and the
// number of its first run-time site (4, 6, 8); the kernel's site inside is that number
// plus its place. The result is written into a destination the caller makes. The layer
// outside any call stays as it is.
// CHECK-LABEL: func.func @infer
// CHECK:       tensor.dim
// CHECK-NEXT:  %[[E0:.*]] = tensor.empty(%{{.*}}) : tensor<?x4xf32>
// CHECK-NEXT:  %[[C0:.*]] = call @[[BODY:dl_fn_block_[0-9]+]](%arg0, %c4_i64{{.*}}, %{{.*}}, %{{.*}}, %dim, %[[E0]])
// CHECK-SAME:  -> tensor<?x4xf32>
// CHECK:       %[[C1:.*]] = call @[[BODY]](%arg0, %c6_i64{{.*}}, %[[C0]], %{{.*}}, %dim, %{{.*}})
// CHECK:       %[[C2:.*]] = call @[[BODY]](%arg0, %c8_i64{{.*}}, %[[C1]], %{{.*}}, %dim, %{{.*}})
// CHECK-NEXT:  dlrt.call @dlrt_k_dense_f32(%arg0, %c1_i64, %[[C2]]
// CHECK-NOT:   call @dl_fn
// CHECK:       func.func private @[[BODY]](%[[CTX:.*]]: !llvm.ptr, %[[SITE:.*]]: i64, %{{.*}}: tensor<?x4xf32> {bufferization.writable = false}, %{{.*}}: tensor<4x4xf32> {bufferization.writable = false}, %{{.*}}: index, %[[DEST:.*]]: tensor<?x4xf32> {bufferization.writable = true}) -> tensor<?x4xf32>
// CHECK-SAME:  dl.shared_fn_body
// CHECK-SAME:  llvm.linkage = #llvm.linkage<internal>
// CHECK-SAME:  passthrough = ["noinline"]
// CHECK:       %[[S:.*]] = arith.addi %[[SITE]], %c0_i64
// CHECK:       dlrt.call @dlrt_k_dense_f32(%[[CTX]], %[[S]]
// CHECK:       linalg.generic
// CHECK:       bufferization.materialize_in_destination %{{.*}} in %[[DEST]]
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @infer(%ctx: !llvm.ptr, %xm: memref<?x4xf32>, %w0m: memref<4x4xf32>, %w1m: memref<4x4xf32>,
                 %w2m: memref<4x4xf32>, %w3m: memref<4x4xf32>, %outm: memref<?x4xf32>) {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %c1_i64 = arith.constant 1 : i64
  %c4_i64 = arith.constant 4 : i64
  %c6_i64 = arith.constant 6 : i64
  %c8_i64 = arith.constant 8 : i64
  %x = bufferization.to_tensor %xm restrict : memref<?x4xf32> to tensor<?x4xf32>
  %w0 = bufferization.to_tensor %w0m restrict : memref<4x4xf32> to tensor<4x4xf32>
  %w1 = bufferization.to_tensor %w1m restrict : memref<4x4xf32> to tensor<4x4xf32>
  %w2 = bufferization.to_tensor %w2m restrict : memref<4x4xf32> to tensor<4x4xf32>
  %w3 = bufferization.to_tensor %w3m restrict : memref<4x4xf32> to tensor<4x4xf32>
  %b = memref.dim %xm, %c0 : memref<?x4xf32>
  %e0 = tensor.empty(%b) : tensor<?x4xf32> loc("dense"("fn:block.0."("m.dl":3:5)))
  %d0 = dlrt.call @dlrt_k_dense_f32(%ctx, %c4_i64, %x, %w0, %e0) {arg_kinds = array<i32: 0, 0, 0, 0, 2>} : (!llvm.ptr, i64, tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> loc("dense"("fn:block.0."("m.dl":3:5)))
  %r0 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%d0 : tensor<?x4xf32>) outs(%e0 : tensor<?x4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x4xf32> loc("relu"("fn:block.0."("m.dl":3:20)))
  %e1 = tensor.empty(%b) : tensor<?x4xf32> loc("dense"("fn:block.1."("m.dl":3:5)))
  %d1 = dlrt.call @dlrt_k_dense_f32(%ctx, %c6_i64, %r0, %w1, %e1) {arg_kinds = array<i32: 0, 0, 0, 0, 2>} : (!llvm.ptr, i64, tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> loc("dense"("fn:block.1."("m.dl":3:5)))
  %r1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%d1 : tensor<?x4xf32>) outs(%e1 : tensor<?x4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x4xf32> loc("relu"("fn:block.1."("m.dl":3:20)))
  %e2 = tensor.empty(%b) : tensor<?x4xf32> loc("dense"("fn:block.2."("m.dl":3:5)))
  %d2 = dlrt.call @dlrt_k_dense_f32(%ctx, %c8_i64, %r1, %w2, %e2) {arg_kinds = array<i32: 0, 0, 0, 0, 2>} : (!llvm.ptr, i64, tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> loc("dense"("fn:block.2."("m.dl":3:5)))
  %r2 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%d2 : tensor<?x4xf32>) outs(%e2 : tensor<?x4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  } -> tensor<?x4xf32> loc("relu"("fn:block.2."("m.dl":3:20)))
  %e3 = tensor.empty(%b) : tensor<?x4xf32>
  %d3 = dlrt.call @dlrt_k_dense_f32(%ctx, %c1_i64, %r2, %w3, %e3) {arg_kinds = array<i32: 0, 0, 0, 0, 2>} : (!llvm.ptr, i64, tensor<?x4xf32>, tensor<4x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32> loc("dense"("m.dl":6:3))
  bufferization.materialize_in_destination %d3 in restrict writable %outm : (tensor<?x4xf32>, memref<?x4xf32>) -> ()
  return
}
