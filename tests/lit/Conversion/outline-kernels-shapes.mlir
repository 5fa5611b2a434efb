// RUN: dlc-opt %s --dl-outline-kernels | FileCheck %s
// RUN: dlc-opt %s --dl-outline-kernels=share-across-shapes=false | FileCheck %s --check-prefix=EXACT

// Nests that differ only in their buffers' shapes, strides and offsets share one kernel
// that knows no shape; each call casts its buffers to the kernel's types. Unit strides
// stay known (a contiguous buffer stays contiguous). The relu of an 8x16 and of a 4x32
// buffer share one kernel, and so do the relus of two strided slices (k and v out of
// one qkv buffer); the scale by 2 is the only one of its kind and keeps its static
// shapes, and so does each window sum (a window's loops index by sums of loops).
// CHECK-LABEL: func.func @infer
// CHECK:      %[[X:.*]] = memref.cast %arg1 : memref<8x16xf32> to memref<?x?xf32>
// CHECK-NEXT: %[[Y:.*]] = memref.cast %arg2 : memref<8x16xf32> to memref<?x?xf32>
// CHECK-NEXT: call @[[RELU:dl_kernel_[0-9]+]](%[[X]], %[[Y]]) : (memref<?x?xf32>, memref<?x?xf32>) -> ()
// CHECK:      %[[K:.*]] = memref.cast %{{.*}} : memref<4x32xf32, strided<[96, 1], offset: 32>> to memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK:      call @[[SLICE:dl_kernel_[0-9]+]](%[[K]], %{{.*}}) : (memref<?x?xf32, strided<[?, 1], offset: ?>>, memref<?x?xf32>) -> ()
// CHECK:      %[[V:.*]] = memref.cast %{{.*}} : memref<4x32xf32, strided<[96, 1], offset: 64>> to memref<?x?xf32, strided<[?, 1], offset: ?>>
// CHECK:      call @[[SLICE]](%[[V]], %{{.*}})
// CHECK:      %[[Z:.*]] = memref.cast %arg4 : memref<4x32xf32> to memref<?x?xf32>
// CHECK-NEXT: %[[W:.*]] = memref.cast %arg5 : memref<4x32xf32> to memref<?x?xf32>
// CHECK-NEXT: call @[[RELU]](%[[Z]], %[[W]])
// CHECK-NEXT: call @[[SCALE:dl_kernel_[0-9]+]](%arg5) : (memref<4x32xf32>) -> ()
// CHECK-NEXT: call @[[WIN6:dl_kernel_[0-9]+]](%arg6, %arg10, %arg7) : (memref<6x6xf32>, memref<2x2xf32>, memref<5x5xf32>) -> ()
// CHECK-NEXT: call @[[WIN5:dl_kernel_[0-9]+]](%arg8, %arg10, %arg9) : (memref<5x5xf32>, memref<2x2xf32>, memref<4x4xf32>) -> ()

// Without sharing, each shape has its own kernel and no call casts.
// EXACT-LABEL:   func.func @infer
// EXACT-NOT:     memref.cast
// EXACT-COUNT-13: func.func private @dl_kernel_
// EXACT-NOT:     func.func
#map = affine_map<(d0, d1) -> (d0, d1)>
#win_in = affine_map<(d0, d1, d2, d3) -> (d0 + d2, d1 + d3)>
#win = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#win_out = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
func.func @infer(%ctx: !llvm.ptr, %x: memref<8x16xf32>, %y: memref<8x16xf32>, %qkv: memref<4x96xf32>, %z: memref<4x32xf32>,
                 %w: memref<4x32xf32>, %in6: memref<6x6xf32>, %out5: memref<5x5xf32>, %in5: memref<5x5xf32>,
                 %out4: memref<4x4xf32>, %window: memref<2x2xf32>) {
  %zero = arith.constant 0.0 : f32
  %two = arith.constant 2.0 : f32
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%x : memref<8x16xf32>) outs(%y : memref<8x16xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  }
  %k = memref.subview %qkv[0, 32] [4, 32] [1, 1] : memref<4x96xf32> to memref<4x32xf32, strided<[96, 1], offset: 32>>
  %v = memref.subview %qkv[0, 64] [4, 32] [1, 1] : memref<4x96xf32> to memref<4x32xf32, strided<[96, 1], offset: 64>>
  %kc = memref.alloc() : memref<4x32xf32>
  %vc = memref.alloc() : memref<4x32xf32>
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%k : memref<4x32xf32, strided<[96, 1], offset: 32>>) outs(%kc : memref<4x32xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%v : memref<4x32xf32, strided<[96, 1], offset: 64>>) outs(%vc : memref<4x32xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%z : memref<4x32xf32>) outs(%w : memref<4x32xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.maximumf %i, %zero : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%w : memref<4x32xf32>) outs(%w : memref<4x32xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.mulf %i, %two : f32
    linalg.yield %m : f32
  }
  linalg.generic {indexing_maps = [#win_in, #win, #win_out], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%in6, %window : memref<6x6xf32>, memref<2x2xf32>) outs(%out5 : memref<5x5xf32>) {
  ^bb0(%i: f32, %u: f32, %o: f32):
    %s = arith.addf %i, %o : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#win_in, #win, #win_out], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%in5, %window : memref<5x5xf32>, memref<2x2xf32>) outs(%out4 : memref<4x4xf32>) {
  ^bb0(%i: f32, %u: f32, %o: f32):
    %s = arith.addf %i, %o : f32
    linalg.yield %s : f32
  }
  memref.dealloc %kc : memref<4x32xf32>
  memref.dealloc %vc : memref<4x32xf32>
  return
}

// A loop's result that a later nest uses reaches that nest's call from the loop's call
// (every nest is seen before any is replaced).
// CHECK-LABEL: func.func @step
// CHECK:      %[[SUM:.*]] = call @[[LOOP:dl_kernel_[0-9]+]](%arg1) : (memref<4xf32>) -> f32
// CHECK-NEXT: call @[[SHIFT:dl_kernel_[0-9]+]](%arg2, %arg3, %[[SUM]]) : (memref<8xf32>, memref<8xf32>, f32) -> ()
#vec = affine_map<(d0) -> (d0)>
func.func @step(%ctx: !llvm.ptr, %small: memref<4xf32>, %x: memref<8xf32>, %y: memref<8xf32>) {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %sum = scf.for %i = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> f32 {
    %v = memref.load %small[%i] : memref<4xf32>
    %a = arith.addf %acc, %v : f32
    scf.yield %a : f32
  }
  linalg.generic {indexing_maps = [#vec, #vec], iterator_types = ["parallel"]} ins(%x : memref<8xf32>) outs(%y : memref<8xf32>) {
  ^bb0(%i: f32, %o: f32):
    %s = arith.addf %i, %sum : f32
    linalg.yield %s : f32
  }
  return
}

// A contraction in the wide sense (two inputs read along a reduction loop: here a matmul
// with a relu of its left operand fused in) keeps its static shapes at every shape; a
// reduction of one input (a row sum) shares.
// CHECK-LABEL: func.func @dense
// CHECK:      call @[[MM4:dl_kernel_[0-9]+]](%arg1, %arg2, %arg3) : (memref<4x8xf32>, memref<8x16xf32>, memref<4x16xf32>) -> ()
// CHECK-NEXT: call @[[MM2:dl_kernel_[0-9]+]](%arg4, %arg5, %arg6) : (memref<2x16xf32>, memref<16x8xf32>, memref<2x8xf32>) -> ()
// CHECK:      call @[[SUM:dl_kernel_[0-9]+]](%{{.*}}, %{{.*}}) : (memref<?x?xf32>, memref<?xf32>) -> ()
// CHECK:      call @[[SUM]](%{{.*}}, %{{.*}}) : (memref<?x?xf32>, memref<?xf32>) -> ()
// CHECK:      func.func private @[[RELU]](%{{.*}}: memref<?x?xf32>, %{{.*}}: memref<?x?xf32>)
// CHECK:      func.func private @[[SLICE]](%{{.*}}: memref<?x?xf32, strided<[?, 1], offset: ?>>, %{{.*}}: memref<?x?xf32>)
// CHECK:      func.func private @[[SCALE]](%{{.*}}: memref<4x32xf32>)
// CHECK:      func.func private @[[WIN6]](%{{.*}}: memref<6x6xf32>, %{{.*}}: memref<2x2xf32>, %{{.*}}: memref<5x5xf32>)
// CHECK:      func.func private @[[WIN5]](%{{.*}}: memref<5x5xf32>, %{{.*}}: memref<2x2xf32>, %{{.*}}: memref<4x4xf32>)
// CHECK:      func.func private @[[LOOP]](%{{.*}}: memref<4xf32>) -> f32
// CHECK:      scf.for
// CHECK:      func.func private @[[SHIFT]](%{{.*}}: memref<8xf32>, %{{.*}}: memref<8xf32>, %{{.*}}: f32)
// CHECK:      func.func private @[[MM4]](%{{.*}}: memref<4x8xf32>, %{{.*}}: memref<8x16xf32>, %{{.*}}: memref<4x16xf32>)
// CHECK:      func.func private @[[MM2]](%{{.*}}: memref<2x16xf32>, %{{.*}}: memref<16x8xf32>, %{{.*}}: memref<2x8xf32>)
// CHECK:      func.func private @[[SUM]](%{{.*}}: memref<?x?xf32>, %{{.*}}: memref<?xf32>)
// CHECK-NOT:  func.func
#lhs = affine_map<(d0, d1, d2) -> (d0, d2)>
#rhs = affine_map<(d0, d1, d2) -> (d2, d1)>
#res = affine_map<(d0, d1, d2) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @dense(%ctx: !llvm.ptr, %a4: memref<4x8xf32>, %b4: memref<8x16xf32>, %c4: memref<4x16xf32>,
                 %a2: memref<2x16xf32>, %b2: memref<16x8xf32>, %c2: memref<2x8xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.generic {indexing_maps = [#lhs, #rhs, #res], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a4, %b4 : memref<4x8xf32>, memref<8x16xf32>) outs(%c4 : memref<4x16xf32>) {
  ^bb0(%x: f32, %w: f32, %o: f32):
    %r = arith.maximumf %x, %zero : f32
    %m = arith.mulf %r, %w : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#lhs, #rhs, #res], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a2, %b2 : memref<2x16xf32>, memref<16x8xf32>) outs(%c2 : memref<2x8xf32>) {
  ^bb0(%x: f32, %w: f32, %o: f32):
    %r = arith.maximumf %x, %zero : f32
    %m = arith.mulf %r, %w : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  }
  %s4 = memref.alloc() : memref<4xf32>
  %s2 = memref.alloc() : memref<2xf32>
  linalg.generic {indexing_maps = [#map, #row], iterator_types = ["parallel", "reduction"]} ins(%c4 : memref<4x16xf32>) outs(%s4 : memref<4xf32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.addf %o, %x : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#map, #row], iterator_types = ["parallel", "reduction"]} ins(%c2 : memref<2x8xf32>) outs(%s2 : memref<2xf32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.addf %o, %x : f32
    linalg.yield %s : f32
  }
  memref.dealloc %s4 : memref<4xf32>
  memref.dealloc %s2 : memref<2xf32>
  return
}
