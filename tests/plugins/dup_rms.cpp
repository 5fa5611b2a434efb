// A test plugin that registers `rms_norm`, as the shipped plugin does: loading both fails.
#include <dlc/plugin.h>

DLRT_PLUGIN_NO_KERNELS(dup_rms, 1, 0)

#ifdef DLC_PLUGIN_COMPILER
DLC_PLUGIN_LAYERS(registrar) {
  dlc::LayerDef def;
  def.name = "rms_norm";
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
