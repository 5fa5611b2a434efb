// RUN: not dlc-opt %s --dl-lower-to-cpu 2>&1 | FileCheck %s

// dlc-opt loads no plugins: lowering a plugin's layer names the layer and its plugin.
// CHECK: error: layer 'mish' (from plugin 'mish'): that plugin is not loaded (dlc --plugin PATH)
func.func @not_loaded(%x: tensor<4x8xf32> {dl.input = "x"}) -> (tensor<4x8xf32> {dl.output = "y"}) {
  %0 = dl.plugin "mish"(%x) {dynamic_dims = array<i64>, layer_attrs = {}, plugin = "mish"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
