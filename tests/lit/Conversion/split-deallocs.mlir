// RUN: dlc-opt %s --split-input-file --allow-unregistered-dialect --dl-split-deallocs | FileCheck %s

// A block's owned allocations, freed together at its end as ownership-based deallocation
// leaves them: distinct allocations, unconditionally, nothing retained. Each gets a
// memref.dealloc of its own.
// CHECK-LABEL: func.func @owned
// CHECK-NOT:  bufferization.dealloc
// CHECK:      memref.dealloc %[[A:.*]] : memref<?xf32>
// CHECK-NEXT: memref.dealloc %{{.*}} : memref<4xf32>
// CHECK-NEXT: return
func.func @owned(%n: index) {
  %true = arith.constant true
  %a = memref.alloc(%n) : memref<?xf32>
  %b = memref.alloc() : memref<4xf32>
  "test.use"(%a, %b) : (memref<?xf32>, memref<4xf32>) -> ()
  bufferization.dealloc (%a, %b : memref<?xf32>, memref<4xf32>) if (%true, %true)
  return
}

// -----

// A retained buffer may be a view of one of them; a condition known only at run time;
// a buffer that is not an allocation (it may alias one): left to the simplification.
// CHECK-LABEL: func.func @not_split
// CHECK-COUNT-3: bufferization.dealloc
// CHECK-NOT:  memref.dealloc
func.func @not_split(%n: index, %c: i1, %m: memref<8xf32>) -> memref<2xf32> {
  %true = arith.constant true
  %a = memref.alloc() : memref<8xf32>
  %b = memref.alloc() : memref<8xf32>
  %v = memref.subview %a[0] [2] [1] : memref<8xf32> to memref<2xf32>
  %r = bufferization.dealloc (%a : memref<8xf32>) if (%true) retain (%v : memref<2xf32>)
  bufferization.dealloc (%b : memref<8xf32>) if (%c)
  %d = memref.alloc() : memref<8xf32>
  bufferization.dealloc (%d, %m : memref<8xf32>, memref<8xf32>) if (%true, %true)
  return %v : memref<2xf32>
}
