// RUN: dlc-opt %s --dl-parallel-kernel-calls | FileCheck %s

// A kernel call marked dl.parallel_rows becomes a call of the runtime's
// dlrt_k_parallel_rows(ctx, rows fn, frame, rows, work per row), its other arguments
// stored into one frame on the caller's stack; the rows fn loads them back and calls the
// kernel for its range. Only what the kernel uses and what varies goes through the frame:
// %c is 7 at every call (the rows fn passes 7), %unused is never read and %d only into a
// descriptor field that is never read back (the rows fn passes poison), and %n is 5 at one
// call but a value at the other (framed). A call that does not start at row 0 runs as it was.
// CHECK:       llvm.func @infer(%[[CTX:.*]]: !llvm.ptr, %[[P:.*]]: !llvm.ptr, %[[N:.*]]: i64)
// CHECK:       %[[FRAME:.*]] = llvm.alloca %{{.*}} x i8 {alignment = 8 : i64}
// CHECK:       %[[F0:.*]] = llvm.getelementptr %[[FRAME]][0, 0] : (!llvm.ptr) -> !llvm.ptr, !llvm.struct<(ptr, i64)>
// CHECK-NEXT:  llvm.store volatile %[[P]], %[[F0]]
// CHECK-NEXT:  %[[F1:.*]] = llvm.getelementptr %[[FRAME]][0, 1]
// CHECK-NEXT:  llvm.store volatile %[[N]], %[[F1]]
// CHECK-NEXT:  %[[FN:.*]] = llvm.mlir.addressof @dl_kernel_0_rows
// CHECK-NEXT:  %[[W:.*]] = llvm.mlir.constant(3 : i64)
// CHECK-NEXT:  llvm.call @dlrt_k_parallel_rows(%[[CTX]], %[[FN]], %[[FRAME]], %[[N]], %[[W]])
// CHECK:       llvm.store volatile %[[P]]
// CHECK:       llvm.store volatile %{{.*}}
// CHECK-NOT:   llvm.store
// CHECK:       llvm.call @dlrt_k_parallel_rows
// CHECK:       llvm.call @dl_kernel_0(%{{.*}}, %[[N]], %[[P]], %[[N]], %[[N]], %{{.*}}, %[[N]]) : (i64, i64, !llvm.ptr, i64, i64, i64, i64) -> ()
// CHECK:       llvm.func internal @dl_kernel_0_rows(%[[D:.*]]: !llvm.ptr, %[[B:.*]]: i64, %[[E:.*]]: i64)
// CHECK:       %[[A0:.*]] = llvm.load %{{.*}} : !llvm.ptr -> !llvm.ptr
// CHECK:       %[[A1:.*]] = llvm.load %{{.*}} : !llvm.ptr -> i64
// CHECK-NEXT:  %[[UNUSED:.*]] = llvm.mlir.poison : i64
// CHECK-NEXT:  %[[SEVEN:.*]] = llvm.mlir.constant(7 : i64) : i64
// CHECK-NEXT:  %[[DESC:.*]] = llvm.mlir.poison : i64
// CHECK-NEXT:  llvm.call @dl_kernel_0(%[[B]], %[[E]], %[[A0]], %[[A1]], %[[UNUSED]], %[[SEVEN]], %[[DESC]])
llvm.func internal @dl_kernel_0(%b: i64, %e: i64, %p: !llvm.ptr, %n: i64, %unused: i64, %c: i64, %d: i64) {
  %u = llvm.mlir.undef : !llvm.struct<(i64, i64)>
  %s0 = llvm.insertvalue %d, %u[0] : !llvm.struct<(i64, i64)>
  %s1 = llvm.insertvalue %c, %s0[1] : !llvm.struct<(i64, i64)>
  %c1 = llvm.extractvalue %s1[1] : !llvm.struct<(i64, i64)>
  %sum = llvm.add %n, %c1 : i64
  llvm.store %sum, %p : i64, !llvm.ptr
  llvm.return
}
llvm.func @infer(%ctx: !llvm.ptr, %p: !llvm.ptr, %n: i64) {
  %c0 = llvm.mlir.constant(0 : i64) : i64
  %c5 = llvm.mlir.constant(5 : i64) : i64
  %c7 = llvm.mlir.constant(7 : i64) : i64
  llvm.call @dl_kernel_0(%c0, %n, %p, %n, %n, %c7, %n) {dl.parallel_rows = 3 : i64} : (i64, i64, !llvm.ptr, i64, i64, i64, i64) -> ()
  llvm.call @dl_kernel_0(%c0, %n, %p, %c5, %n, %c7, %n) {dl.parallel_rows = 3 : i64} : (i64, i64, !llvm.ptr, i64, i64, i64, i64) -> ()
  %c1 = llvm.mlir.constant(1 : i64) : i64
  llvm.call @dl_kernel_0(%c1, %n, %p, %n, %n, %c7, %n) {dl.parallel_rows = 3 : i64} : (i64, i64, !llvm.ptr, i64, i64, i64, i64) -> ()
  llvm.return
}
