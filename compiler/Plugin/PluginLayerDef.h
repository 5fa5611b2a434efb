//===- PluginLayerDef.h - a plugin's LayerDef made whole --------*- C++ -*-===//
#ifndef DLC_PLUGIN_PLUGINLAYERDEF_H
#define DLC_PLUGIN_PLUGINLAYERDEF_H

namespace dlc {
struct LayerDef;

/// Completes a plugin's layer for the registry: its shape rule also checks that every
/// dynamic dim of what it returns is one of its inputs' dims (the lowering sizes results
/// from them), and it builds as dl.plugin.
void makePluginLayerDef(LayerDef &def);

} // namespace dlc
#endif
