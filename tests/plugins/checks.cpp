// A test plugin: `assert_positive(x)` returns x, and its kernel fails (through the error
// channel) when an element is not > 0. It has no backward kernel, so training through it
// must be a compile error naming it and this plugin.
#include <dlc/plugin.h>

#include <cstdio>
#include <cstring>

static int32_t assertPositive(const dlrt_plugin_call *call) {
  const float *x = static_cast<const float *>(call->inputs[0].data);
  float *y = static_cast<float *>(call->outputs[0].data);
  int64_t n = dlrt_plugin_numel(&call->inputs[0]);
  for (int64_t i = 0; i < n; ++i) {
    if (!(x[i] > 0)) {
      char msg[128];
      std::snprintf(msg, sizeof msg, "element %lld is %g, not > 0", (long long)i, double(x[i]));
      call->set_error(call, msg);
      return 1;
    }
  }
  std::memcpy(y, x, size_t(n) * sizeof(float));
  return 0;
}

static const dlrt_plugin_layer kLayers[] = {{"assert_positive", assertPositive, nullptr, nullptr, nullptr}};
DLRT_PLUGIN(checks, 1, 0, kLayers)

#ifdef DLC_PLUGIN_COMPILER
DLC_PLUGIN_LAYERS(registrar) {
  dlc::LayerDef def;
  def.name = "assert_positive";
  def.infer = [](dlc::LayerCall &c) {
    if (c.inputs[0].dtype != dlc::DType::F32) return c.error("assert_positive takes f32");
    c.result = c.inputs[0];
    return true;
  };
  def.plugin.kernel = "assert_positive";
  registrar.add(std::move(def));
}
#endif
