// RUN: dlc-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// A plugin layer's op round-trips; its dynamic result dim names an operand dim.
// CHECK-LABEL: func.func @forward
// CHECK: dl.plugin "rms_norm"(%{{.*}}, %{{.*}}) {dynamic_dims = array<i64: 0, 0, 0, 0>, layer_attrs = {eps = 5.000000e-01 : f64}, plugin = "rms_norm"} : (tensor<?x8xf32>, tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?xf32>)
func.func @forward(%x: tensor<?x8xf32>, %w: tensor<8xf32>) -> tensor<?x8xf32> {
  %0:2 = dl.plugin "rms_norm"(%x, %w) {dynamic_dims = array<i64: 0, 0, 0, 0>, layer_attrs = {eps = 5.0e-1 : f64}, plugin = "rms_norm"} : (tensor<?x8xf32>, tensor<8xf32>) -> (tensor<?x8xf32>, tensor<?xf32>)
  return %0#0 : tensor<?x8xf32>
}

// -----

func.func @missing_dim_source(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{dynamic_dims must give (operand, dim) for each of the results' 1 dynamic dims}}
  %0 = dl.plugin "mish"(%x) {dynamic_dims = array<i64>, layer_attrs = {}, plugin = "mish"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @bad_dim_source(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-error @+1 {{dynamic_dims names no operand dim: (0, 2)}}
  %0 = dl.plugin "mish"(%x) {dynamic_dims = array<i64: 0, 2>, layer_attrs = {}, plugin = "mish"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}

// -----

func.func @backward_types(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %g: tensor<4x8xf32>) -> tensor<4x4xf32> {
  // expected-error @+1 {{backward: gradient 0 must have its operand's type 'tensor<4x8xf32>'}}
  %0 = dl.plugin "swiglu"(%x, %y, %g) {backward, dynamic_dims = array<i64>, layer_attrs = {}, plugin = "swiglu"} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

