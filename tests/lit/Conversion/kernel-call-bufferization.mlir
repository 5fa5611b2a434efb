// RUN: dlc-opt %s --one-shot-bufferize="unknown-type-conversion=identity-layout-map" | FileCheck %s
// RUN: dlc-opt %s --one-shot-bufferize="unknown-type-conversion=identity-layout-map" --dlrt-call-to-func | FileCheck %s --check-prefix=CALL

// The issue's model at the kernel level: e is read by a softmax, then by a dense after an
// in-place softmax chain. Bufferization sees the dense's read of e, so the sigmoid-like
// in-place kernel after the first softmax may not write over e.
// CHECK-LABEL: func.func @read_later
// CHECK-SAME: (%[[CTX:.*]]: !llvm.ptr, %[[X:.*]]: memref<2x16xf32>)
// CHECK: %[[E:.*]] = memref.alloc() {{.*}} : memref<2x16xf32>
// CHECK: dlrt.call @scale(%[[CTX]], %[[X]], %[[E]])
// e is still read: the first softmax gets a buffer of its own, not e's.
// CHECK: %[[S1:.*]] = memref.alloc() {{.*}} : memref<2x16xf32>
// CHECK: dlrt.call @softmax(%[[CTX]], %[[E]], %[[S1]])
// s1 is dead after the second softmax, which takes its buffer over.
// CHECK: dlrt.call @softmax(%[[CTX]], %[[S1]], %[[S1]])
// CHECK: dlrt.call @dense(%[[CTX]], %[[E]], %{{.*}})
func.func @read_later(%ctx: !llvm.ptr, %x: memref<2x16xf32>) -> (tensor<2x16xf32>, tensor<2x16xf32>) {
  %xt = bufferization.to_tensor %x restrict : memref<2x16xf32> to tensor<2x16xf32>
  %d0 = tensor.empty() : tensor<2x16xf32>
  %e = dlrt.call @scale(%ctx, %xt, %d0) {arg_kinds = array<i32: 0, 0, 2>} : (!llvm.ptr, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
  %s1 = dlrt.call @softmax(%ctx, %e, %e) {arg_kinds = array<i32: 0, 0, 2>, in_place} : (!llvm.ptr, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
  %s2 = dlrt.call @softmax(%ctx, %s1, %s1) {arg_kinds = array<i32: 0, 0, 2>, in_place} : (!llvm.ptr, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
  %d1 = tensor.empty() : tensor<2x16xf32>
  %y = dlrt.call @dense(%ctx, %e, %d1) {arg_kinds = array<i32: 0, 0, 2>} : (!llvm.ptr, tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
  return %y, %s2 : tensor<2x16xf32>, tensor<2x16xf32>
}

// Without in_place, a call whose destination is also its input always gets a copy: the
// kernel might not read each position before writing it.
// CHECK-LABEL: func.func @not_in_place
// CHECK: %[[A:.*]] = memref.alloc() {{.*}} : memref<4xf32>
// CHECK: dlrt.call @k(%{{.*}}, %[[A]], %[[B:[a-z0-9_]+]])
// CHECK-NOT: %[[A]], %[[A]]
func.func @not_in_place(%ctx: !llvm.ptr) -> tensor<4xf32> {
  %d = tensor.empty() : tensor<4xf32>
  %a = dlrt.call @fill(%ctx, %d) {arg_kinds = array<i32: 0, 2>} : (!llvm.ptr, tensor<4xf32>) -> tensor<4xf32>
  %b = dlrt.call @k(%ctx, %a, %a) {arg_kinds = array<i32: 0, 0, 2>} : (!llvm.ptr, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return %b : tensor<4xf32>
}

// An inout destination that is read later is copied first (the kernel reads it), and a
// strided one is passed through a contiguous stand-in.
// CHECK-LABEL: func.func @inout_strided
// CHECK: %[[V:.*]] = memref.subview
// CHECK: %[[FLAT:.*]] = memref.alloc() {{.*}} : memref<4xf32>
// CHECK: memref.copy %[[V]], %[[FLAT]]
// CHECK: dlrt.call @acc(%{{.*}}, %[[FLAT]])
func.func @inout_strided(%ctx: !llvm.ptr, %m: memref<8xf32>) -> (tensor<4xf32>, tensor<8xf32>) {
  %t = bufferization.to_tensor %m restrict : memref<8xf32> to tensor<8xf32>
  %s = tensor.extract_slice %t[0] [4] [2] : tensor<8xf32> to tensor<4xf32>
  %r = dlrt.call @acc(%ctx, %s) {arg_kinds = array<i32: 0, 3>} : (!llvm.ptr, tensor<4xf32>) -> tensor<4xf32>
  return %r, %t : tensor<4xf32>, tensor<8xf32>
}

// The train step's shape: a forward kernel with two results (its output and the
// workspace its backward reads), elementwise work in between that could reuse a dead
// buffer of that shape, and the backward reading both. The workspace stays its own buffer
// until the backward has read it.
// CHECK-LABEL: func.func @forward_backward
// CHECK: %[[Y:.*]] = memref.alloc() {{.*}} : memref<8xf32>
// CHECK: %[[WS:.*]] = memref.alloc() {{.*}} : memref<8xf32>
// CHECK: dlrt.call @pool_fwd(%{{.*}}, %{{.*}}, %[[Y]], %[[WS]])
// CHECK: %[[Z:.*]] = memref.alloc() {{.*}} : memref<8xf32>
// CHECK: dlrt.call @relu(%{{.*}}, %[[Y]], %[[Z]])
// CHECK: dlrt.call @pool_bwd(%{{.*}}, %[[Z]], %[[WS]], %{{.*}})
func.func @forward_backward(%ctx: !llvm.ptr, %x: memref<8xf32>) -> tensor<8xf32> {
  %xt = bufferization.to_tensor %x restrict : memref<8xf32> to tensor<8xf32>
  %d0 = tensor.empty() : tensor<8xf32>
  %d1 = tensor.empty() : tensor<8xf32>
  %y, %ws = dlrt.call @pool_fwd(%ctx, %xt, %d0, %d1) {arg_kinds = array<i32: 0, 0, 2, 2>} : (!llvm.ptr, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>)
  %d2 = tensor.empty() : tensor<8xf32>
  %z = dlrt.call @relu(%ctx, %y, %d2) {arg_kinds = array<i32: 0, 0, 2>} : (!llvm.ptr, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  %d3 = tensor.empty() : tensor<8xf32>
  %dx = dlrt.call @pool_bwd(%ctx, %z, %ws, %d3) {arg_kinds = array<i32: 0, 0, 0, 2>} : (!llvm.ptr, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %dx : tensor<8xf32>
}

// After bufferization: buffers become data pointers, an absent buffer a null pointer, an
// address array a stack array of i64 addresses; the kernel is declared once.
// CALL-DAG: func.func private @dense(!llvm.ptr, !llvm.ptr, !llvm.ptr)
// CALL-DAG: func.func private @arrays(!llvm.ptr, !llvm.ptr, !llvm.ptr, i64)
// CALL-LABEL: func.func @kinds
// CALL: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
// CALL: %[[ARRAY:.*]] = memref.alloca() : memref<2xi64>
// CALL: memref.store %{{.*}}, %[[ARRAY]][%{{.*}}] : memref<2xi64>
// CALL: memref.store %{{.*}}, %[[ARRAY]][%{{.*}}] : memref<2xi64>
// CALL: memref.extract_aligned_pointer_as_index %[[ARRAY]]
// CALL: call @arrays(%{{.*}}, %[[NULL]], %{{.*}}, %c7_i64)
// CALL-NOT: dlrt.call
func.func @kinds(%ctx: !llvm.ptr, %a: memref<4xf32>, %b: memref<3xf32>) {
  %at = bufferization.to_tensor %a restrict : memref<4xf32> to tensor<4xf32>
  %bt = bufferization.to_tensor %b restrict : memref<3xf32> to tensor<3xf32>
  %c7 = arith.constant 7 : i64
  dlrt.call @arrays(%ctx, %at, %bt, %c7) {arg_kinds = array<i32: 0, 1, 6, 0>} : (!llvm.ptr, tensor<4xf32>, tensor<3xf32>, i64) -> ()
  return
}
