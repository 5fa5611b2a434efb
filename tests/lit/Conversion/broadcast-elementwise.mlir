// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s

// A size-1 dim broadcasts through a constant index in the operand's map.
// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1) -> (0, d1)>
// CHECK-DAG: #[[VEC:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[ROW]], #[[ID]]]
// CHECK: arith.mulf
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[VEC]], #[[ID]]]
// CHECK: arith.subf
module attributes {dl.signature = "{}"} {
  func.func @infer(%a: tensor<?x4xf32> {dl.input = "a"}, %r: tensor<1x4xf32> {dl.input = "r"}, %v: tensor<4xf32> {dl.input = "v"}) -> (tensor<?x4xf32> {dl.output = "y"}) {
    %0 = dl.mul %a, %r : tensor<?x4xf32>, tensor<1x4xf32> -> tensor<?x4xf32>
    %1 = dl.sub %0, %v : tensor<?x4xf32>, tensor<4xf32> -> tensor<?x4xf32>
    return %1 : tensor<?x4xf32>
  }
}
