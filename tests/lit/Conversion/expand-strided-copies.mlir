// RUN: dlc-opt %s --dl-expand-strided-copies | FileCheck %s

// A contiguous copy stays a memcpy, a strided one becomes a loop nest (no memrefCopy in
// model.so), and a buffer copied onto itself (an output computed in its own buffer) is
// no copy at all.
// CHECK-LABEL: func.func @copies
// CHECK: memref.copy %arg0, %arg1 : memref<4x4xf32> to memref<4x4xf32>
// CHECK: linalg.copy ins(%arg3 : memref<2x4xf32>) outs(%{{.*}} : memref<2x4xf32, strided<[8, 1], offset: 4>>)
// CHECK-NOT: memref.copy
// CHECK: return
func.func @copies(%a: memref<4x4xf32>, %b: memref<4x4xf32>, %c: memref<4x8xf32>, %d: memref<2x4xf32>) {
  memref.copy %a, %b : memref<4x4xf32> to memref<4x4xf32>
  %w = memref.subview %c[0, 4] [2, 4] [1, 1] : memref<4x8xf32> to memref<2x4xf32, strided<[8, 1], offset: 4>>
  memref.copy %d, %w : memref<2x4xf32> to memref<2x4xf32, strided<[8, 1], offset: 4>>
  memref.copy %b, %b : memref<4x4xf32> to memref<4x4xf32>
  return
}
