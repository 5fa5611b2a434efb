// RUN: dlc-opt %s --dl-lower-to-cpu=kernels=linalg | FileCheck %s

// An LSTM's gradient on the portable path (dynamic length): the forward again, keeping
// each step's gates and c ([B, T, 5H]), then one loop from the last step back carrying dh
// and dc and writing each step's pre-activation gradients ([B, T, 4H]); the weights'
// gradients are contractions after it. Nothing grows with the sequence.
// CHECK-LABEL: func.func @grads
// CHECK: scf.for {{.*}} -> (tensor<2x3xf32>, tensor<2x?x3xf32>, tensor<2x3xf32>, tensor<2x?x15xf32>)
// CHECK: scf.for %[[S:.*]] = %c0 to %{{.*}} step %c1 iter_args({{.*}}) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x?x12xf32>)
// CHECK-NEXT: arith.subi %{{.*}}, %[[S]] : index
// CHECK-NOT: scf.for
// CHECK-NOT: dl.recurrent_backward
func.func @grads(%dy: tensor<2x3xf32>, %x: tensor<2x?x4xf32>, %wih: tensor<12x4xf32>, %whh: tensor<12x3xf32>,
                 %bih: tensor<12xf32>, %bhh: tensor<12xf32>)
    -> (tensor<2x?x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32>) {
  %g:5 = dl.recurrent_backward %dy, %x, %wih, %whh, %bih, %bhh {is_gru = false, hidden = 3 : i64, layers = 1 : i64, sequences = false} : (tensor<2x3xf32>, tensor<2x?x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32>) -> (tensor<2x?x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32>)
  return %g#0, %g#1, %g#2, %g#3, %g#4 : tensor<2x?x4xf32>, tensor<12x4xf32>, tensor<12x3xf32>, tensor<12xf32>, tensor<12xf32>
}
