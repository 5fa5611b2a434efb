// RUN: dlc-opt %s --split-input-file --allow-unregistered-dialect --pass-pipeline="builtin.module(func.func(dl-free-after-last-use))" | FileCheck %s

// Buffers made at the top and freed at the end (as the ownership-based deallocation
// leaves them) move: each alloc to its first use, each dealloc after its last use, which
// counts uses through views and inside regions.
// CHECK-LABEL: func.func @chain
// CHECK:      %[[A:.*]] = memref.alloc
// CHECK-NEXT: linalg.fill {{.*}} outs(%[[A]]
// CHECK-NEXT: %[[V:.*]] = memref.subview %[[A]]
// CHECK-NEXT: %[[B:.*]] = memref.alloc
// CHECK-NEXT: memref.copy %[[V]], %[[B]]
// CHECK-NEXT: memref.dealloc %[[A]]
// CHECK-NEXT: %[[C:.*]] = memref.alloc
// CHECK-NEXT: scf.for
// CHECK:      memref.copy %[[B]]
// CHECK:      }
// CHECK-NEXT: memref.dealloc %[[B]]
// CHECK-NEXT: memref.copy %[[C]], %arg0
// CHECK-NEXT: memref.dealloc %[[C]]
// CHECK-NEXT: return
func.func @chain(%out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %f = arith.constant 1.0 : f32
  %a = memref.alloc() : memref<8xf32>
  %b = memref.alloc() : memref<4xf32>
  %c = memref.alloc() : memref<4xf32>
  linalg.fill ins(%f : f32) outs(%a : memref<8xf32>)
  %v = memref.subview %a[0] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1]>>
  memref.copy %v, %b : memref<4xf32, strided<[1]>> to memref<4xf32>
  scf.for %i = %c0 to %c2 step %c1 {
    memref.copy %b, %c : memref<4xf32> to memref<4xf32>
  }
  memref.copy %c, %out : memref<4xf32> to memref<4xf32>
  memref.dealloc %a : memref<8xf32>
  memref.dealloc %b : memref<4xf32>
  memref.dealloc %c : memref<4xf32>
  return
}

// -----

// An address taken from a buffer and stored in memory that a later op reads keeps the
// buffer alive until that op.
// CHECK-LABEL: func.func @address
// CHECK:      memref.store
// CHECK-NEXT: "test.use"
// CHECK-NEXT: memref.dealloc
func.func @address() {
  %c0 = arith.constant 0 : index
  %a = memref.alloc() : memref<8xf32>
  %arr = memref.alloca() : memref<1xindex>
  %p = memref.extract_aligned_pointer_as_index %a : memref<8xf32> -> index
  memref.store %p, %arr[%c0] : memref<1xindex>
  "test.use"(%arr) : (memref<1xindex>) -> ()
  memref.dealloc %a : memref<8xf32>
  return
}
