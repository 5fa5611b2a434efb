// RUN: dlc-opt %s --dl-outline-kernels=parallel-rows=true | FileCheck %s

// Each loop nest of an entry function becomes a call; nests that differ only in their
// buffers and locations (two layers' relu) share one function, whose constants are its
// own. A runtime call, the copy and the allocations stay where they were; a function
// without the runtime context is not an entry and keeps its loops. A nest whose outer
// loop is parallel takes a range of its rows first (all of them at the call, which says
// how much work a row is) and works on the subviews of those rows; one whose outer loop
// is a reduction (the row sum) runs whole, and so does one whose static work is below
// what the runtime would split (the 4-row copy: DLRT_MIN_PARALLEL_ROWS_WORK).
// CHECK-LABEL: func.func @infer
// CHECK:      memref.alloc
// CHECK:      %[[C4:.*]] = arith.constant 65536 : index
// CHECK-NEXT: call @[[RELU:dl_kernel_[0-9]+]](%{{.*}}, %[[C4]], %arg1, %[[A:.*]]) {dl.parallel_rows = 1 : i64} : (index, index, memref<65536xf32>, memref<65536xf32>) -> ()
// CHECK-NEXT: arith.constant 0 : i64
// CHECK-NEXT: dlrt.call @dlrt_k_dense
// CHECK:      call @[[RELU]](%{{.*}}, %{{.*}}, %[[A]], %arg2) {dl.parallel_rows = 1 : i64}
// CHECK:      call @[[ADD:dl_kernel_[0-9]+]](%{{.*}}, %{{.*}}, %arg2, %[[A]]) {dl.parallel_rows = 1 : i64}
// CHECK-NEXT: call @[[SUM:dl_kernel_[0-9]+]](%[[A]], %arg3) : (memref<65536xf32>, memref<f32>) -> ()
// CHECK-NEXT: call @[[SMALL:dl_kernel_[0-9]+]](%arg4, %arg5) : (memref<4xf32>, memref<4xf32>) -> ()
// CHECK-NEXT: memref.copy
// CHECK-LABEL: func.func @helper
// CHECK:      linalg.generic
// CHECK:      func.func private @[[RELU]](%[[B:.*]]: index, %[[E:.*]]: index, %[[X:.*]]: memref<65536xf32>, %[[Y:.*]]: memref<65536xf32>) attributes {{{.*}}llvm.linkage = #llvm.linkage<internal>, passthrough = ["noinline"]}
// CHECK-NEXT: arith.constant 0.0
// CHECK-NEXT: %[[N:.*]] = arith.subi %[[E]], %[[B]]
// CHECK-NEXT: memref.subview %[[X]][%[[B]]] [%[[N]]] [1]
// CHECK-NEXT: memref.subview %[[Y]][%[[B]]] [%[[N]]] [1]
// CHECK:      func.func private @[[ADD]]
// CHECK:      func.func private @[[SUM]](%{{.*}}: memref<65536xf32>, %{{.*}}: memref<f32>)
// CHECK-NOT:  subview
// CHECK:      func.func private @[[SMALL]](%{{.*}}: memref<4xf32>, %{{.*}}: memref<4xf32>)
// CHECK-NOT:  subview
// CHECK-NOT:  func.func
#map = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>
func.func @infer(%ctx: !llvm.ptr, %x: memref<65536xf32>, %out: memref<65536xf32>, %sum: memref<f32>, %small: memref<4xf32>, %small_out: memref<4xf32>) {
  %zero = arith.constant 0.0 : f32
  %a = memref.alloc() : memref<65536xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%x : memref<65536xf32>) outs(%a : memref<65536xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  } loc("relu"("m.dl":3:5))
  %site = arith.constant 0 : i64
  dlrt.call @dlrt_k_dense(%ctx, %site, %x, %a) {arg_kinds = array<i32: 0, 0, 0, 3>} : (!llvm.ptr, i64, memref<65536xf32>, memref<65536xf32>) -> ()
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%a : memref<65536xf32>) outs(%out : memref<65536xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  } loc("relu"("m.dl":4:5))
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%out : memref<65536xf32>) outs(%a : memref<65536xf32>) {
  ^bb0(%i: f32, %o: f32):
    %s = arith.addf %i, %o : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#map, #scalar], iterator_types = ["reduction"]} ins(%a : memref<65536xf32>) outs(%sum : memref<f32>) {
  ^bb0(%i: f32, %o: f32):
    %s = arith.addf %i, %o : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%small : memref<4xf32>) outs(%small_out : memref<4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %n = arith.negf %i : f32
    linalg.yield %n : f32
  }
  memref.copy %a, %out : memref<65536xf32> to memref<65536xf32>
  memref.dealloc %a : memref<65536xf32>
  return
}
func.func @helper(%x: memref<65536xf32>, %y: memref<65536xf32>) {
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%x : memref<65536xf32>) outs(%y : memref<65536xf32>) {
  ^bb0(%i: f32, %o: f32):
    linalg.yield %i : f32
  }
  return
}
