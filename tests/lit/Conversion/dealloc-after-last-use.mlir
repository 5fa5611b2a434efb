// RUN: dlc-opt %s --dl-dealloc-after-last-use | FileCheck %s

// Each buffer is freed right after the last call that reads its address; one whose
// address is stored to memory (read later through it) keeps its dealloc at the end.
// CHECK-LABEL: func.func @kernels
// CHECK: %[[A:.*]] = memref.alloc
// CHECK: %[[B:.*]] = memref.alloc
// CHECK: call @k(%{{.*}}, %{{.*}})
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK: %[[C:.*]] = memref.alloc
// CHECK: call @k(%{{.*}}, %{{.*}})
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK: memref.store
// CHECK: call @k(%{{.*}}, %{{.*}})
// CHECK: memref.copy %[[C]], %arg0
// CHECK-NEXT: memref.dealloc %[[C]]
// CHECK-NEXT: memref.dealloc %[[D:.*]]
// CHECK-NEXT: return
func.func private @k(index, index)
func.func @kernels(%out: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  %pa = memref.extract_aligned_pointer_as_index %a : memref<16xf32> -> index
  %pb = memref.extract_aligned_pointer_as_index %b : memref<16xf32> -> index
  call @k(%pa, %pb) : (index, index) -> ()
  %c = memref.alloc() : memref<16xf32>
  %v = memref.subview %b[0] [8] [1] : memref<16xf32> to memref<8xf32, strided<[1]>>
  %pv = memref.extract_aligned_pointer_as_index %v : memref<8xf32, strided<[1]>> -> index
  %pc = memref.extract_aligned_pointer_as_index %c : memref<16xf32> -> index
  call @k(%pv, %pc) : (index, index) -> ()
  %d = memref.alloc() : memref<16xf32>
  %pd = memref.extract_aligned_pointer_as_index %d : memref<16xf32> -> index
  %table = memref.alloca() : memref<1xindex>
  %c0 = arith.constant 0 : index
  memref.store %pd, %table[%c0] : memref<1xindex>
  %pt = memref.extract_aligned_pointer_as_index %table : memref<1xindex> -> index
  call @k(%pt, %pc) : (index, index) -> ()
  memref.copy %c, %out : memref<16xf32> to memref<16xf32>
  memref.dealloc %a : memref<16xf32>
  memref.dealloc %b : memref<16xf32>
  memref.dealloc %c : memref<16xf32>
  memref.dealloc %d : memref<16xf32>
  return
}
