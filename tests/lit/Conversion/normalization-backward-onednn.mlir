// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s
// RUN: dlc-opt %s --dl-lower-to-cpu=kernels=linalg | FileCheck %s --check-prefix=LINALG

// The gradients of layer_norm and softmax on oneDNN's backward primitives. The layer_norm
// beside its gradient runs in training form, handing the backward its row statistics
// ([rows], dynamic with the batch); a gradient without its forward runs a training-form
// forward of its own. softmax_backward reads the forward's output.
// CHECK-LABEL: func.func @train_step(
// CHECK: %[[FWD:.*]]:3 = dlrt.call @dlrt_k_layer_norm_f32(%{{.*}}, %[[S0:c[0-9]+_i64]], {{.*}} -> (tensor<?x5x8xf32>, tensor<?xf32>, tensor<?xf32>)
// CHECK-NOT: dlrt.call @dlrt_k_layer_norm_f32
// CHECK: dlrt.call @dlrt_k_layer_norm_backward_f32({{.*}}, %[[FWD]]#1, %[[FWD]]#2, {{.*}} -> (tensor<?x5x8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK: %[[OWN:.*]]:3 = dlrt.call @dlrt_k_layer_norm_f32({{.*}} -> (tensor<3x8xf32>, tensor<3xf32>, tensor<3xf32>)
// CHECK: dlrt.call @dlrt_k_layer_norm_backward_f32({{.*}}, %[[OWN]]#1, %[[OWN]]#2, {{.*}} -> (tensor<3x8xf32>, tensor<8xf32>, tensor<8xf32>)
// CHECK: dlrt.call @dlrt_k_softmax_backward_f32(%{{.*}}, %{{.*}}, %c3_i64, %{{.*}}, %c1_i64, %{{.*}}, %{{.*}}, %{{.*}}, %c1_i64)
// CHECK-NOT: dl.
// The portable lowering decomposes them into linalg.
// LINALG-NOT: dlrt.call @dlrt_k_layer_norm_backward_f32
// LINALG-NOT: dlrt.call @dlrt_k_softmax_backward_f32
// LINALG: linalg.generic
module attributes {dl.signature = "{}"} {
  func.func @train_step(%x: tensor<?x5x8xf32> {dl.input = "x"}, %dy: tensor<?x5x8xf32> {dl.input = "dy"},
                        %x2: tensor<3x8xf32> {dl.input = "x2"}, %dy2: tensor<3x8xf32> {dl.input = "dy2"},
                        %g: tensor<8xf32> {dl.param = "ln.weight"}, %b: tensor<8xf32> {dl.param = "ln.bias"})
      -> (tensor<?x5x8xf32> {dl.output = "y"}, tensor<?x5x8xf32> {dl.output = "dx"}, tensor<8xf32> {dl.output = "dw"},
          tensor<8xf32> {dl.output = "db"}, tensor<3x8xf32> {dl.output = "dx2"}, tensor<?x5x8xf32> {dl.output = "ds"}) {
    %y = dl.layer_norm %x, %g, %b {eps = 1.0e-05 : f64} : tensor<?x5x8xf32>, tensor<8xf32>, tensor<8xf32> -> tensor<?x5x8xf32>
    %dx, %dw, %db = dl.layer_norm_backward %dy, %x, %g {eps = 1.0e-05 : f64} : (tensor<?x5x8xf32>, tensor<?x5x8xf32>, tensor<8xf32>) -> (tensor<?x5x8xf32>, tensor<8xf32>, tensor<8xf32>)
    %dx2, %dw2, %db2 = dl.layer_norm_backward %dy2, %x2, %g {eps = 1.0e-05 : f64} : (tensor<3x8xf32>, tensor<3x8xf32>, tensor<8xf32>) -> (tensor<3x8xf32>, tensor<8xf32>, tensor<8xf32>)
    %s = dl.log_softmax %y {axis = 1 : i64} : tensor<?x5x8xf32>
    %ds = dl.softmax_backward %dy, %s {axis = 1 : i64, log = true} : (tensor<?x5x8xf32>, tensor<?x5x8xf32>) -> tensor<?x5x8xf32>
    return %y, %dx, %dw, %db, %dx2, %ds : tensor<?x5x8xf32>, tensor<?x5x8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<3x8xf32>, tensor<?x5x8xf32>
  }
}
