// A test plugin that registers a layer under a name already taken: DUPLICATE_LAYER is a
// built-in's name (relu) or the shipped rms_norm plugin's. Loading it must fail.
#include <dlc/plugin.h>

DLRT_PLUGIN_NO_KERNELS(DUPLICATE_PLUGIN, 1, 0)

#ifdef DLC_PLUGIN_COMPILER
DLC_PLUGIN_LAYERS(registrar) {
  dlc::LayerDef def;
  def.name = DUPLICATE_LAYER;
  def.infer = [](dlc::LayerCall &c) {
    c.result = c.inputs[0];
    return true;
  };
  def.plugin.lowerToLinalg = [](const mlir::dl::PluginLowering &l) {
    return llvm::SmallVector<mlir::Value>{l.operands[0]};
  };
  registrar.add(std::move(def));
}
#endif
