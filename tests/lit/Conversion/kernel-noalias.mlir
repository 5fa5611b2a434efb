// RUN: dlc-opt %s --dl-outline-kernels | FileCheck %s
// RUN: dlc-opt %s --pass-pipeline="builtin.module(dl-outline-kernels,func.func(convert-linalg-to-loops),convert-scf-to-cf,expand-strided-metadata,finalize-memref-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,convert-func-to-llvm,convert-cf-to-llvm,reconcile-unrealized-casts,dl-kernel-noalias)" | FileCheck %s --check-prefix=LLVM

// A kernel's buffer is separate where no other argument of any of its calls can reach it:
// a fresh allocation beside the caller's buffers or another allocation, and the caller's
// buffer beside fresh allocations. Two of the caller's buffers may be one; views of one
// buffer (an update in place, a slice beside its whole) are never apart; and a kernel
// called once with separate buffers and once without gets no mark.
//
// @copy_in (x -> a): both separate. Arguments in the LLVM dialect: x is (allocated,
// aligned, offset, size, stride) = 0..4, a is 5..9: the aligned pointers 1 and 6.
// CHECK: func.func private @[[COPY_IN:dl_kernel_[0-9]+]](%{{.*}}: memref<4xf32>, %{{.*}}: memref<4xf32>) attributes {dl.noalias_arg_count = 10 : i64, dl.noalias_args = array<i64: 1, 6>
// @scale (x -> out, both the caller's): none.
// CHECK: func.func private @[[SCALE:dl_kernel_[0-9]+]](
// CHECK-NOT: dl.noalias
// CHECK-SAME: {
// @in_place (a -> a's subview): a row of a doubled into a's other row: none.
// CHECK: func.func private @[[IN_PLACE:dl_kernel_[0-9]+]](
// CHECK-NOT: dl.noalias
// CHECK-SAME: {
// @shared (relu: x -> b at one call, one view of a buffer -> another view at the other):
// none.
// CHECK: func.func private @[[SHARED:dl_kernel_[0-9]+]](
// CHECK-NOT: dl.noalias
// CHECK-SAME: {
// @branch (an argument of a later block that carries the allocation beside it): none.
// CHECK: func.func private @{{dl_kernel_[0-9]+}}(
// CHECK-NOT: dl.noalias
// CHECK-SAME: {

// LLVM: llvm.func internal @dl_kernel_0(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr {llvm.noalias}, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr {llvm.noalias}, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64)
// LLVM-NOT: dl.noalias
// LLVM: llvm.func internal @dl_kernel_1(
// LLVM-NOT: llvm.noalias
// LLVM-SAME: {
#map = affine_map<(d0) -> (d0)>
func.func @copy_in(%ctx: !llvm.ptr, %x: memref<4xf32>, %out: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%x : memref<4xf32>) outs(%a : memref<4xf32>) {
  ^bb0(%i: f32, %o: f32):
    linalg.yield %i : f32
  }
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%x : memref<4xf32>) outs(%out : memref<4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %d = arith.mulf %i, %i : f32
    linalg.yield %d : f32
  }
  %lo = memref.subview %a[0] [2] [1] : memref<4xf32> to memref<2xf32, strided<[1]>>
  %hi = memref.subview %a[2] [2] [1] : memref<4xf32> to memref<2xf32, strided<[1], offset: 2>>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%lo : memref<2xf32, strided<[1]>>) outs(%hi : memref<2xf32, strided<[1], offset: 2>>) {
  ^bb0(%i: f32, %o: f32):
    %d = arith.addf %i, %i : f32
    linalg.yield %d : f32
  }
  %b = memref.alloc() : memref<4xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%x : memref<4xf32>) outs(%b : memref<4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %zero = arith.constant 0.0 : f32
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  }
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %bytes = memref.alloc() : memref<32xi8>
  %v1 = memref.view %bytes[%c0][] : memref<32xi8> to memref<4xf32>
  %v2 = memref.view %bytes[%c16][] : memref<32xi8> to memref<4xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%v1 : memref<4xf32>) outs(%v2 : memref<4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %zero = arith.constant 0.0 : f32
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  }
  memref.copy %a, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %a : memref<4xf32>
  memref.dealloc %b : memref<4xf32>
  memref.dealloc %bytes : memref<32xi8>
  return
}
func.func @branch(%ctx: !llvm.ptr, %x: memref<4xf32>) {
  %a = memref.alloc() : memref<4xf32>
  cf.br ^bb1(%a : memref<4xf32>)
^bb1(%m: memref<4xf32>):
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%m : memref<4xf32>) outs(%a : memref<4xf32>) {
  ^bb0(%i: f32, %o: f32):
    %n = arith.negf %i : f32
    linalg.yield %n : f32
  }
  memref.copy %a, %x : memref<4xf32> to memref<4xf32>
  memref.dealloc %a : memref<4xf32>
  return
}
