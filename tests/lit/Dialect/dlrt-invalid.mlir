// RUN: dlc-opt %s -split-input-file -verify-diagnostics

func.func @operand_count(%x: tensor<4xf32>) {
  // expected-error @+1 {{arg_kinds takes 2 operands, the call has 1}}
  dlrt.call @k(%x) {arg_kinds = array<i32: 0, 0>} : (tensor<4xf32>) -> ()
  return
}

// -----

func.func @result_type(%x: tensor<4xf32>, %d: tensor<8xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{destination 1 must have the type of result 0}}
  %0 = dlrt.call @k(%x, %d) {arg_kinds = array<i32: 0, 2>} : (tensor<4xf32>, tensor<8xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @missing_result(%x: tensor<4xf32>, %d: tensor<4xf32>) {
  // expected-error @+1 {{destination 1 must have the type of result 0}}
  dlrt.call @k(%x, %d) {arg_kinds = array<i32: 0, 2>} : (tensor<4xf32>, tensor<4xf32>) -> ()
  return
}

// -----

func.func @scalar_destination(%n: i64) {
  // expected-error @+1 {{destination argument 0 is not a tensor or memref}}
  dlrt.call @k(%n) {arg_kinds = array<i32: 2>} : (i64) -> ()
  return
}

// -----

func.func @address_scalar(%n: i64, %x: tensor<4xf32>) {
  // expected-error @+1 {{address array operand 1 is not a tensor or memref}}
  dlrt.call @k(%x, %n) {arg_kinds = array<i32: 6>} : (tensor<4xf32>, i64) -> ()
  return
}

// -----

func.func @mixed(%x: tensor<4xf32>, %d: memref<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{a call on tensors takes its destinations as tensors}}
  %0 = dlrt.call @k(%x, %d, %x) {arg_kinds = array<i32: 0, 2, 2>} : (tensor<4xf32>, memref<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
