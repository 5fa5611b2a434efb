// RUN: dlc-opt %s --dl-parallel-kernel-calls | FileCheck %s

// A call marked dl.parallel_rows_scaled (columns below reductions: a bias's gradient)
// passes, third, the iterations of a column's sums, which the kernel does not read: the
// work the runtime is told is dl.parallel_rows times it, and the rows fn passes poison.
// CHECK:       llvm.func @train_step(%[[CTX:.*]]: !llvm.ptr, %[[P:.*]]: !llvm.ptr, %[[COLS:.*]]: i64, %[[ROWS:.*]]: i64)
// CHECK:       %[[FN:.*]] = llvm.mlir.addressof @dl_kernel_0_rows
// CHECK-NEXT:  %[[W:.*]] = llvm.mlir.constant(2 : i64)
// CHECK-NEXT:  %[[WORK:.*]] = llvm.mul %[[W]], %[[ROWS]] : i64
// CHECK-NEXT:  llvm.call @dlrt_k_parallel_rows(%[[CTX]], %[[FN]], %{{.*}}, %[[COLS]], %[[WORK]])
// CHECK:       llvm.func internal @dl_kernel_0_rows(%{{.*}}: !llvm.ptr, %[[B:.*]]: i64, %[[E:.*]]: i64)
// CHECK-NEXT:  %[[SCALE:.*]] = llvm.mlir.poison : i64
// CHECK:       %[[A0:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
// CHECK-NEXT:  llvm.call @dl_kernel_0(%[[B]], %[[E]], %[[SCALE]], %[[A0]])
llvm.func internal @dl_kernel_0(%b: i64, %e: i64, %rows: i64, %p: !llvm.ptr) {
  llvm.store %e, %p : i64, !llvm.ptr
  llvm.return
}
llvm.func @train_step(%ctx: !llvm.ptr, %p: !llvm.ptr, %cols: i64, %rows: i64) {
  %c0 = llvm.mlir.constant(0 : i64) : i64
  llvm.call @dl_kernel_0(%c0, %cols, %rows, %p) {dl.parallel_rows = 2 : i64, dl.parallel_rows_scaled} : (i64, i64, i64, !llvm.ptr) -> ()
  llvm.return
}
