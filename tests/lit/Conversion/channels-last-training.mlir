// RUN: dlc-opt %s --dl-lower-to-cpu | FileCheck %s
// RUN: dlc-opt %s --dl-lower-to-cpu=kernels=linalg | FileCheck %s --check-prefix=LINALG

// A train step's convolution and pooling gradients run on NHWC like their forwards, so
// the layout transposes between them cancel: only those at the function's NCHW
// boundary remain (x and dy in, y and dx out). The relu and its gradient run on NHWC
// between the oneDNN ops, and the bias gradient sums NHWC's dims 0-2 with the channels
// innermost. Max pooling runs in training form beside its gradient, which reads its
// workspace (the forward's site passed along) instead of searching the windows again.
// CHECK-LABEL: func.func @train_step
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: linalg.generic {{.*}} ins(%{{[0-9]+}} : tensor<?x8x8x4xf32>)
// CHECK: dlrt.call @dlrt_k_pool2d_workspace_bytes(%{{.*}}, %[[FWD:c[0-9]+_i64]],
// CHECK: %[[POOL:.*]]:2 = dlrt.call @dlrt_k_pool2d_f32(%{{.*}}, %[[FWD]], {{.*}} -> (tensor<?x4x4x4xf32>, tensor<?xi8>)
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_pool2d_backward_f32(%{{.*}}, %{{.*}}, %[[FWD]], %{{.*}}, %{{.*}}, %[[POOL]]#1, {{.*}} -> tensor<?x8x8x4xf32>
// The relu's gradient: its result and the incoming gradient, the unused operand (the
// convolution's result) gone.
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: linalg.generic {{.*}} ins(%{{[0-9]+}}, %{{[0-9]+}} : tensor<?x8x8x4xf32>, tensor<?x8x8x4xf32>)
// CHECK: dlrt.call @dlrt_k_conv2d_backward_data_f32({{.*}} -> tensor<?x8x8x3xf32>
// CHECK: dlrt.call @dlrt_k_transpose_f32({{.*}} -> tensor<?x3x8x8xf32>
// CHECK: dlrt.call @dlrt_k_conv2d_backward_weights_f32({{.*}} -> tensor<4x3x3x3xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["reduction", "reduction", "reduction", "parallel"]
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: return

// A training batch_norm between convolutions runs on NHWC too, with its gradient; its
// run-time check of the values per channel counts around NHWC's dim 3.
// CHECK-LABEL: func.func @eval_step
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_check_count
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_batch_norm_f32({{.*}}, %c1_i64, %c1_i64) {{.*}} -> (tensor<4xf32>, tensor<4xf32>, tensor<?x8x8x4xf32>)
// The output y back to NCHW, the gradient dy to NHWC:
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_batch_norm_backward_f32({{.*}}, %c1_i64) {{.*}} -> (tensor<?x8x8x4xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_conv2d_backward_weights_f32
// CHECK: return

// A global average pool's gradient is a broadcast of [N, C] in NCHW. Beside a transposed
// operand it is computed in NHWC instead (its input map permuted), so the relu gradient
// that reads both, and the pool of the relu's result that shares its transpose, stay on
// NHWC: only the input's transpose is left.
// CHECK-LABEL: func.func @pooled
// CHECK: dlrt.call @dlrt_k_transpose_f32
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: dlrt.call @dlrt_k_conv2d_f32
// The pool reduces NHWC's dims 1 and 2 into [N, C] (map (d0, d1, d2, d3) -> (d0, d3)); the
// broadcast reads [N, C] through that same map:
// CHECK: linalg.generic {indexing_maps = [#{{map[0-9]*}}, #[[NC:map[0-9]*]]], iterator_types = ["parallel", "reduction", "reduction", "parallel"]}
// CHECK: linalg.generic {indexing_maps = [#[[NC]], #{{map[0-9]*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%{{.*}} : tensor<?x4xf32>) outs(%{{.*}} : tensor<?x8x8x4xf32>)
// CHECK: dlrt.call @dlrt_k_conv2d_backward_weights_f32
// CHECK-NOT: dlrt_k_transpose_f32
// CHECK: return

// The portable kernels keep NCHW.
// LINALG-LABEL: func.func @train_step
// LINALG-NOT: transpose
// LINALG: return
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
module attributes {dl.signature = "{}"} {
  func.func @train_step(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %dy: tensor<?x4x4x4xf32> {dl.input = "dy"},
                        %w: tensor<4x3x3x3xf32> {dl.param = "c.weight"}, %b: tensor<4xf32> {dl.param = "c.bias"})
      -> (tensor<?x4x4x4xf32> {dl.output = "y"}, tensor<?x3x8x8xf32> {dl.output = "dx"},
          tensor<4x3x3x3xf32> {dl.output = "dw"}, tensor<4xf32> {dl.output = "db"}) {
    %c = dl.conv2d %x, %w, %b {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32> -> tensor<?x4x8x8xf32>
    %r = dl.relu %c : tensor<?x4x8x8xf32>
    %p = dl.pool2d %r {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x4x8x8xf32> -> tensor<?x4x4x4xf32>
    %gr = dl.pool2d_backward %dy, %r {is_max = true, kernel = array<i64: 2, 2>, padding = array<i64: 0, 0, 0, 0>, stride = array<i64: 2, 2>} : tensor<?x4x4x4xf32>, tensor<?x4x8x8xf32> -> tensor<?x4x8x8xf32>
    %c0 = arith.constant 0 : index
    %n = tensor.dim %r, %c0 : tensor<?x4x8x8xf32>
    %e = tensor.empty(%n) : tensor<?x4x8x8xf32>
    // The relu's gradient as buildElementwiseGradient makes it: every operand of the op
    // (here the convolution's result, unused), its result and the incoming gradient.
    %gc = linalg.generic {indexing_maps = [#id, #id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%c, %r, %gr : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) outs(%e : tensor<?x4x8x8xf32>) {
    ^bb0(%in: f32, %y: f32, %g: f32, %out: f32):
      %zero = arith.constant 0.0 : f32
      %pos = arith.cmpf ogt, %y, %zero : f32
      %v = arith.select %pos, %g, %zero : f32
      linalg.yield %v : f32
    } -> tensor<?x4x8x8xf32>
    %dx = dl.conv2d_backward_data %gc, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<4x3x3x3xf32> -> tensor<?x3x8x8xf32>
    %dw = dl.conv2d_backward_weights %gc, %x {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<?x3x8x8xf32> -> tensor<4x3x3x3xf32>
    %db = dl.sum %gc {axes = array<i64: 0, 2, 3>, keepdims = false} : tensor<?x4x8x8xf32> -> tensor<4xf32>
    return %p, %dx, %dw, %db : tensor<?x4x4x4xf32>, tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>
  }
  // (Named eval_step only to be an entry function of its own.)
  func.func @eval_step(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %dy: tensor<?x4x8x8xf32> {dl.input = "dy"},
                       %w: tensor<4x3x3x3xf32> {dl.param = "c.weight"}, %g: tensor<4xf32> {dl.param = "bn.weight"},
                       %b: tensor<4xf32> {dl.param = "bn.bias"})
      -> (tensor<?x4x8x8xf32> {dl.output = "y"}, tensor<4x3x3x3xf32> {dl.output = "dw"}) {
    %c = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32> -> tensor<?x4x8x8xf32>
    %k = dl.channel_count_check %c {layer = "batch_norm", min = 2 : i64} : tensor<?x4x8x8xf32> -> tensor<?x4x8x8xf32>
    %y, %mean, %var = dl.batch_norm_train %k, %g, %b {eps = 1.000000e-05 : f64} : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
    %gc, %gg, %gb = dl.batch_norm_backward %dy, %k, %g, %mean, %var {eps = 1.000000e-05 : f64} : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>)
    %dw = dl.conv2d_backward_weights %gc, %x {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<?x3x8x8xf32> -> tensor<4x3x3x3xf32>
    return %y, %dw : tensor<?x4x8x8xf32>, tensor<4x3x3x3xf32>
  }
  func.func @pooled(%x: tensor<?x3x8x8xf32> {dl.input = "x"}, %dm: tensor<?x4xf32> {dl.input = "dm"},
                    %w: tensor<4x3x3x3xf32> {dl.param = "c.weight"})
      -> (tensor<?x4xf32> {dl.output = "m"}, tensor<4x3x3x3xf32> {dl.output = "dw"}) {
    %c = dl.conv2d %x, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32> -> tensor<?x4x8x8xf32>
    %y = dl.relu %c : tensor<?x4x8x8xf32>
    %m = dl.mean %y {axes = array<i64: 2, 3>, keepdims = false} : tensor<?x4x8x8xf32> -> tensor<?x4xf32>
    %c0 = arith.constant 0 : index
    %n = tensor.dim %y, %c0 : tensor<?x4x8x8xf32>
    %e = tensor.empty(%n) : tensor<?x4x8x8xf32>
    // mean's gradient as expandReduced builds it: dm spread over H and W, divided by 64.
    %g = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%dm : tensor<?x4xf32>) outs(%e : tensor<?x4x8x8xf32>) {
    ^bb0(%a: f32, %out: f32):
      %k = arith.constant 64.0 : f32
      %v = arith.divf %a, %k : f32
      linalg.yield %v : f32
    } -> tensor<?x4x8x8xf32>
    %e2 = tensor.empty(%n) : tensor<?x4x8x8xf32>
    %gy = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
        ins(%y, %g : tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>) outs(%e2 : tensor<?x4x8x8xf32>) {
    ^bb0(%yy: f32, %gg: f32, %out: f32):
      %zero = arith.constant 0.0 : f32
      %pos = arith.cmpf ogt, %yy, %zero : f32
      %v = arith.select %pos, %gg, %zero : f32
      linalg.yield %v : f32
    } -> tensor<?x4x8x8xf32>
    %dw = dl.conv2d_backward_weights %gy, %x {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1, 1, 1>, stride = array<i64: 1, 1>} : tensor<?x4x8x8xf32>, tensor<?x3x8x8xf32> -> tensor<4x3x3x3xf32>
    return %m, %dw : tensor<?x4xf32>, tensor<4x3x3x3xf32>
  }
}
