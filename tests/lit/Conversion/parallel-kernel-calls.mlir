// RUN: dlc-opt %s --dl-parallel-kernel-calls | FileCheck %s

// A kernel call marked dl.parallel_rows becomes a call of the runtime's
// dlrt_k_parallel_rows(ctx, rows fn, frame, rows, work per row), its other arguments
// stored into one frame on the caller's stack; the rows fn loads them back and calls the
// kernel for its range. A call that does not start at row 0 runs as it was.
// CHECK:       llvm.func @infer(%[[CTX:.*]]: !llvm.ptr, %[[P:.*]]: !llvm.ptr, %[[N:.*]]: i64)
// CHECK:       %[[FRAME:.*]] = llvm.alloca %{{.*}} x i8 {alignment = 8 : i64}
// CHECK:       %[[F0:.*]] = llvm.getelementptr %[[FRAME]][0, 0] : (!llvm.ptr) -> !llvm.ptr, !llvm.struct<(ptr, i64)>
// CHECK-NEXT:  llvm.store volatile %[[P]], %[[F0]]
// CHECK-NEXT:  %[[F1:.*]] = llvm.getelementptr %[[FRAME]][0, 1]
// CHECK-NEXT:  llvm.store volatile %[[N]], %[[F1]]
// CHECK-NEXT:  %[[FN:.*]] = llvm.mlir.addressof @dl_kernel_0_rows
// CHECK-NEXT:  %[[W:.*]] = llvm.mlir.constant(3 : i64)
// CHECK-NEXT:  llvm.call @dlrt_k_parallel_rows(%[[CTX]], %[[FN]], %[[FRAME]], %[[N]], %[[W]])
// CHECK:       llvm.call @dl_kernel_0(%{{.*}}, %[[N]], %[[P]], %[[N]]) : (i64, i64, !llvm.ptr, i64) -> ()
// CHECK:       llvm.func internal @dl_kernel_0_rows(%[[D:.*]]: !llvm.ptr, %[[B:.*]]: i64, %[[E:.*]]: i64)
// CHECK:       %[[A0:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
// CHECK:       %[[A1:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i64
// CHECK-NEXT:  llvm.call @dl_kernel_0(%[[B]], %[[E]], %[[A0]], %[[A1]])
llvm.func internal @dl_kernel_0(%b: i64, %e: i64, %p: !llvm.ptr, %n: i64) {
  llvm.return
}
llvm.func @infer(%ctx: !llvm.ptr, %p: !llvm.ptr, %n: i64) {
  %c0 = llvm.mlir.constant(0 : i64) : i64
  llvm.call @dl_kernel_0(%c0, %n, %p, %n) {dl.parallel_rows = 3 : i64} : (i64, i64, !llvm.ptr, i64) -> ()
  %c1 = llvm.mlir.constant(1 : i64) : i64
  llvm.call @dl_kernel_0(%c1, %n, %p, %n) {dl.parallel_rows = 3 : i64} : (i64, i64, !llvm.ptr, i64) -> ()
  llvm.return
}
