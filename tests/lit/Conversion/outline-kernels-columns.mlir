// RUN: dlc-opt %s --dl-outline-kernels=parallel-rows=true | FileCheck %s
// A sum over rows per column (a bias's gradient: outer loop a reduction over the batch,
// inner loop parallel) takes a range of its columns: the input's dim 1 and the output's
// dim 0 are cut to it, and every row is still summed in order. Below 128 columns, or with
// a column count unknown, it runs whole.
// The call passes the rows' count too (the kernel does not read it): a column's work is
// the body's one op times that, known at run time.
// CHECK-LABEL: func.func @train_step
// CHECK:      %[[C512:.*]] = arith.constant 512 : index
// CHECK:      %[[ROWS:.*]] = memref.dim %arg1, %{{.*}} : memref<?x512xf32>
// CHECK-NEXT: call @[[COLS:dl_kernel_[0-9]+]](%{{.*}}, %[[C512]], %[[ROWS]], %arg1, %arg2) {dl.parallel_rows = 1 : i64, dl.parallel_rows_scaled} : (index, index, index, memref<?x512xf32>, memref<512xf32>) -> ()
// CHECK:      call @[[NARROW:dl_kernel_[0-9]+]](%{{.*}}, %{{.*}}) : (memref<?x?xf32>, memref<?xf32>) -> ()
// CHECK-NEXT: call @[[NARROW]](%arg5, %arg6) : (memref<?x?xf32>, memref<?xf32>) -> ()
// CHECK:      func.func private @[[COLS]](%[[B:.*]]: index, %[[E:.*]]: index, %{{.*}}: index, %[[X:.*]]: memref<?x512xf32>, %[[Y:.*]]: memref<512xf32>)
// CHECK:      %[[N:.*]] = arith.subi %[[E]], %[[B]]
// CHECK:      memref.subview %[[X]][0, %[[B]]] [%{{.*}}, %[[N]]] [1, 1]
// CHECK:      memref.subview %[[Y]][%[[B]]] [%[[N]]] [1]
// CHECK:      linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]
// CHECK:      func.func private @[[NARROW]]
// CHECK-NOT:  subview
#rows = affine_map<(d0, d1) -> (d0, d1)>
#cols = affine_map<(d0, d1) -> (d1)>
func.func @train_step(%ctx: !llvm.ptr, %dy: memref<?x512xf32>, %db: memref<512xf32>, %dy64: memref<?x64xf32>,
                      %db64: memref<64xf32>, %dyq: memref<?x?xf32>, %dbq: memref<?xf32>) {
  linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["reduction", "parallel"]} ins(%dy : memref<?x512xf32>) outs(%db : memref<512xf32>) {
  ^bb0(%i: f32, %o: f32):
    %s = arith.addf %i, %o : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["reduction", "parallel"]} ins(%dy64 : memref<?x64xf32>) outs(%db64 : memref<64xf32>) {
  ^bb0(%i: f32, %o: f32):
    %s = arith.addf %i, %o : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["reduction", "parallel"]} ins(%dyq : memref<?x?xf32>) outs(%dbq : memref<?xf32>) {
  ^bb0(%i: f32, %o: f32):
    %s = arith.addf %i, %o : f32
    linalg.yield %s : f32
  }
  return
}
