// RUN: dlc-opt %s --dl-unique-empty-tensors | FileCheck %s --check-prefix=UNIQUE
// RUN: dlc-opt %s --dl-unique-empty-tensors --dl-eliminate-empty-tensors | FileCheck %s

// Two concats of one shape whose accumulators CSE made one tensor.empty: each gets its
// own, and each concat is then computed in its output buffer.
// UNIQUE-LABEL: func.func @shared_empty
// UNIQUE: %[[E1:.*]] = tensor.empty(%{{.*}}) : tensor<?x6xf32>
// UNIQUE: %[[E2:.*]] = tensor.empty(%{{.*}}) : tensor<?x6xf32>
// UNIQUE-DAG: tensor.insert_slice %{{.*}} into %[[E1]]
// UNIQUE-DAG: tensor.insert_slice %{{.*}} into %[[E2]]
// CHECK-LABEL: func.func @shared_empty
// CHECK-DAG: bufferization.to_tensor %arg1 restrict writable
// CHECK-DAG: bufferization.to_tensor %arg2 restrict writable
// CHECK-NOT: tensor.empty
// CHECK: return
func.func @shared_empty(%a: tensor<?x3xf32>, %o1: memref<?x6xf32>, %o2: memref<?x6xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?x3xf32>
  %e = tensor.empty(%n) : tensor<?x6xf32>
  %p = tensor.insert_slice %a into %e[0, 0] [%n, 3] [1, 1] : tensor<?x3xf32> into tensor<?x6xf32>
  %x = tensor.insert_slice %a into %p[0, 3] [%n, 3] [1, 1] : tensor<?x3xf32> into tensor<?x6xf32>
  %q = tensor.insert_slice %a into %e[0, 3] [%n, 3] [1, 1] : tensor<?x3xf32> into tensor<?x6xf32>
  %y = tensor.insert_slice %a into %q[0, 0] [%n, 3] [1, 1] : tensor<?x3xf32> into tensor<?x6xf32>
  bufferization.materialize_in_destination %x in restrict writable %o1 : (tensor<?x6xf32>, memref<?x6xf32>) -> ()
  bufferization.materialize_in_destination %y in restrict writable %o2 : (tensor<?x6xf32>, memref<?x6xf32>) -> ()
  return
}

// Two concats sharing their first insert_slice (CSE): the shared prefix, read by both,
// keeps either from being placed in an output buffer (upstream's elimination put it in
// o1's, where o1's final copy overwrote the other concat's value before it was read).
// CHECK-LABEL: func.func @shared_prefix
// CHECK: tensor.empty
// CHECK-NOT: bufferization.to_tensor
// CHECK: return
func.func @shared_prefix(%a: tensor<?x3xf32>, %b: tensor<?x3xf32>, %o1: memref<?x6xf32>, %o2: memref<?x6xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?x3xf32>
  %e = tensor.empty(%n) : tensor<?x6xf32>
  %p = tensor.insert_slice %a into %e[0, 0] [%n, 3] [1, 1] : tensor<?x3xf32> into tensor<?x6xf32>
  %x = tensor.insert_slice %a into %p[0, 3] [%n, 3] [1, 1] : tensor<?x3xf32> into tensor<?x6xf32>
  %y = tensor.insert_slice %b into %p[0, 3] [%n, 3] [1, 1] : tensor<?x3xf32> into tensor<?x6xf32>
  bufferization.materialize_in_destination %x in restrict writable %o1 : (tensor<?x6xf32>, memref<?x6xf32>) -> ()
  bufferization.materialize_in_destination %y in restrict writable %o2 : (tensor<?x6xf32>, memref<?x6xf32>) -> ()
  return
}

// A chain nothing else reads is computed straight into the output buffer.
// CHECK-LABEL: func.func @sole
// CHECK-SAME: %[[OUT:[a-z0-9]+]]: memref<4xf32>
// CHECK: %[[T:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK: linalg.exp ins(%{{.*}}) outs(%[[T]] : tensor<4xf32>)
// CHECK-NOT: tensor.empty
func.func @sole(%a: tensor<4xf32>, %o: memref<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.exp ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  bufferization.materialize_in_destination %r in restrict writable %o : (tensor<4xf32>, memref<4xf32>) -> ()
  return
}

// A value also read by another op stays out of its output buffer; the other op's
// result, read by nothing else, goes into its own.
// CHECK-LABEL: func.func @read_elsewhere
// CHECK-NOT: bufferization.to_tensor %arg1
// CHECK: %[[E:.*]] = tensor.empty() : tensor<4xf32>
// CHECK-NOT: bufferization.to_tensor %arg1
// CHECK: linalg.exp ins(%{{.*}}) outs(%[[E]] : tensor<4xf32>)
// CHECK: bufferization.to_tensor %arg2 restrict writable
// CHECK-NOT: bufferization.to_tensor %arg1
func.func @read_elsewhere(%a: tensor<4xf32>, %o: memref<4xf32>, %o2: memref<4xf32>) {
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.exp ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>) -> tensor<4xf32>
  %e2 = tensor.empty() : tensor<4xf32>
  %s = linalg.negf ins(%r : tensor<4xf32>) outs(%e2 : tensor<4xf32>) -> tensor<4xf32>
  bufferization.materialize_in_destination %r in restrict writable %o : (tensor<4xf32>, memref<4xf32>) -> ()
  bufferization.materialize_in_destination %s in restrict writable %o2 : (tensor<4xf32>, memref<4xf32>) -> ()
  return
}
