// A test plugin whose run-time part does not match its compile-time part, as when a
// model is deployed with another build of the plugin: `skewed_abi` reports another
// kernel ABI, `skewed_version` an older minor version (the model needs 1.2, it is 1.1).
#include <dlc/plugin.h>

#include <cstring>

static int32_t identity(const dlrt_plugin_call *call) {
  std::memcpy(call->outputs[0].data, call->inputs[0].data, size_t(dlrt_plugin_numel(&call->inputs[0])) * 4);
  return 0;
}
// Unused where the plugin only reports another ABI.
[[maybe_unused]] static const dlrt_plugin_layer kLayers[] = {{SKEWED_LAYER, identity, nullptr, nullptr, nullptr}};

#if defined(DLC_PLUGIN_COMPILER)
DLRT_PLUGIN(SKEWED_NAME, 1, 2, kLayers)
#elif defined(SKEW_ABI)
extern "C" DLRT_PLUGIN_EXPORT uint32_t dlrt_plugin_abi_version(void) { return 999; }
extern "C" DLRT_PLUGIN_EXPORT const dlrt_plugin_info *dlrt_plugin_entry(uint32_t) { return nullptr; }
#else
DLRT_PLUGIN(SKEWED_NAME, 1, 1, kLayers)
#endif

#ifdef DLC_PLUGIN_COMPILER
DLC_PLUGIN_LAYERS(registrar) {
  dlc::LayerDef def;
  def.name = SKEWED_LAYER;
  def.infer = [](dlc::LayerCall &c) {
    c.result = c.inputs[0];
    return true;
  };
  def.plugin.kernel = SKEWED_LAYER;
  registrar.add(std::move(def));
}
#endif
