// RUN: dlc-opt %s --split-input-file --dl-concat-insert-chains | FileCheck %s

// 16 inserts of one step each into zeros (the gradient of an unrolled recurrence's step
// slices), in any order, with steps 5 and 17-19 left out: one concat of the pieces in
// order, zeros of their own in the gaps, and no fill of the whole.
// CHECK-LABEL: func.func @tiled_with_gaps
// CHECK-NOT:  tensor.insert_slice
// CHECK-NOT:  tensor<?x20x4xf32> to
// CHECK-NOT:  tensor.empty(%{{.*}}) : tensor<?x20x4xf32>
// CHECK-DAG:  %[[ZERO:.*]] = arith.constant 0.0
// CHECK-DAG:  %[[G1:.*]] = tensor.empty(%{{.*}}) : tensor<?x1x4xf32>
// CHECK-DAG:  %[[Z1:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[G1]]
// CHECK-DAG:  %[[G3:.*]] = tensor.empty(%{{.*}}) : tensor<?x3x4xf32>
// CHECK-DAG:  %[[Z3:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[G3]]
// CHECK:      tensor.concat dim(1) %arg0, %arg0, %arg0, %arg0, %arg0, %[[Z1]], %arg0, {{.*}}, %arg0, %[[Z3]] :
// CHECK-SAME: -> tensor<?x20x4xf32>
// CHECK-NEXT: return %concat
func.func @tiled_with_gaps(%s: tensor<?x1x4xf32>) -> tensor<?x20x4xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %s, %c0 : tensor<?x1x4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty(%n) : tensor<?x20x4xf32>
  %r = linalg.fill ins(%z : f32) outs(%e : tensor<?x20x4xf32>) -> tensor<?x20x4xf32>
  %i0 = tensor.insert_slice %s into %r[0, 16, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i1 = tensor.insert_slice %s into %i0[0, 15, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i2 = tensor.insert_slice %s into %i1[0, 14, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i3 = tensor.insert_slice %s into %i2[0, 13, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i4 = tensor.insert_slice %s into %i3[0, 12, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i5 = tensor.insert_slice %s into %i4[0, 11, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i6 = tensor.insert_slice %s into %i5[0, 10, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i7 = tensor.insert_slice %s into %i6[0, 9, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i8 = tensor.insert_slice %s into %i7[0, 8, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i9 = tensor.insert_slice %s into %i8[0, 7, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i10 = tensor.insert_slice %s into %i9[0, 6, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i11 = tensor.insert_slice %s into %i10[0, 4, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i12 = tensor.insert_slice %s into %i11[0, 3, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i13 = tensor.insert_slice %s into %i12[0, 2, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i14 = tensor.insert_slice %s into %i13[0, 1, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  %i15 = tensor.insert_slice %s into %i14[0, 0, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x20x4xf32>
  return %i15 : tensor<?x20x4xf32>
}

// -----

// 15 inserts: short enough for bufferization's analysis, and left as they are, so that
// their pieces can be computed in place.
// CHECK-LABEL: func.func @short_chain
// CHECK-NOT:  tensor.concat
// CHECK-COUNT-15: tensor.insert_slice
func.func @short_chain(%s: tensor<?x1x4xf32>) -> tensor<?x16x4xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %s, %c0 : tensor<?x1x4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty(%n) : tensor<?x16x4xf32>
  %r = linalg.fill ins(%z : f32) outs(%e : tensor<?x16x4xf32>) -> tensor<?x16x4xf32>
  %i0 = tensor.insert_slice %s into %r[0, 0, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i1 = tensor.insert_slice %s into %i0[0, 1, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i2 = tensor.insert_slice %s into %i1[0, 2, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i3 = tensor.insert_slice %s into %i2[0, 3, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i4 = tensor.insert_slice %s into %i3[0, 4, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i5 = tensor.insert_slice %s into %i4[0, 5, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i6 = tensor.insert_slice %s into %i5[0, 6, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i7 = tensor.insert_slice %s into %i6[0, 7, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i8 = tensor.insert_slice %s into %i7[0, 8, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i9 = tensor.insert_slice %s into %i8[0, 9, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i10 = tensor.insert_slice %s into %i9[0, 10, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i11 = tensor.insert_slice %s into %i10[0, 11, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i12 = tensor.insert_slice %s into %i11[0, 12, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i13 = tensor.insert_slice %s into %i12[0, 13, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i14 = tensor.insert_slice %s into %i13[0, 14, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  return %i14 : tensor<?x16x4xf32>
}

// -----

// Two inserts into the same step: the later one wins, which a concat cannot say.
// CHECK-LABEL: func.func @overlapping
// CHECK-NOT:  tensor.concat
func.func @overlapping(%s: tensor<?x1x4xf32>) -> tensor<?x16x4xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %s, %c0 : tensor<?x1x4xf32>
  %z = arith.constant 0.0 : f32
  %e = tensor.empty(%n) : tensor<?x16x4xf32>
  %r = linalg.fill ins(%z : f32) outs(%e : tensor<?x16x4xf32>) -> tensor<?x16x4xf32>
  %i0 = tensor.insert_slice %s into %r[0, 0, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i1 = tensor.insert_slice %s into %i0[0, 1, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i2 = tensor.insert_slice %s into %i1[0, 2, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i3 = tensor.insert_slice %s into %i2[0, 3, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i4 = tensor.insert_slice %s into %i3[0, 4, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i5 = tensor.insert_slice %s into %i4[0, 5, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i6 = tensor.insert_slice %s into %i5[0, 6, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i7 = tensor.insert_slice %s into %i6[0, 7, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i8 = tensor.insert_slice %s into %i7[0, 8, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i9 = tensor.insert_slice %s into %i8[0, 9, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i10 = tensor.insert_slice %s into %i9[0, 10, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i11 = tensor.insert_slice %s into %i10[0, 11, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i12 = tensor.insert_slice %s into %i11[0, 12, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i13 = tensor.insert_slice %s into %i12[0, 13, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i14 = tensor.insert_slice %s into %i13[0, 14, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  %i15 = tensor.insert_slice %s into %i14[0, 3, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x16x4xf32>
  return %i15 : tensor<?x16x4xf32>
}

// -----

// A chain that starts from a value of unknown contents, its slices as wide as that value
// (tensor.dim of it): the gap is that value's slice.
// CHECK-LABEL: func.func @argument_root
// CHECK:      %[[GAP:.*]] = tensor.extract_slice %arg1[0, 16, 0] [%{{.*}}, 2, 4] [1, 1, 1]
// CHECK:      tensor.concat dim(1) {{.*}}, %[[GAP]] :
func.func @argument_root(%s: tensor<?x1x4xf32>, %r: tensor<?x18x4xf32>) -> tensor<?x18x4xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %r, %c0 : tensor<?x18x4xf32>
  %i0 = tensor.insert_slice %s into %r[0, 0, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i1 = tensor.insert_slice %s into %i0[0, 1, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i2 = tensor.insert_slice %s into %i1[0, 2, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i3 = tensor.insert_slice %s into %i2[0, 3, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i4 = tensor.insert_slice %s into %i3[0, 4, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i5 = tensor.insert_slice %s into %i4[0, 5, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i6 = tensor.insert_slice %s into %i5[0, 6, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i7 = tensor.insert_slice %s into %i6[0, 7, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i8 = tensor.insert_slice %s into %i7[0, 8, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i9 = tensor.insert_slice %s into %i8[0, 9, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i10 = tensor.insert_slice %s into %i9[0, 10, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i11 = tensor.insert_slice %s into %i10[0, 11, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i12 = tensor.insert_slice %s into %i11[0, 12, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i13 = tensor.insert_slice %s into %i12[0, 13, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i14 = tensor.insert_slice %s into %i13[0, 14, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  %i15 = tensor.insert_slice %s into %i14[0, 15, 0] [%n, 1, 4] [1, 1, 1] : tensor<?x1x4xf32> into tensor<?x18x4xf32>
  return %i15 : tensor<?x18x4xf32>
}
