//===- PluginAPI.h - what a plugin's compile-time part sees -----*- C++ -*-===//
//
// A plugin's compile-time part (loaded by dlc) adds LayerDefs to the registry that the
// built-in layers use, through a PluginRegistrar. It is C++ built against this dlc's
// headers, so it must be rebuilt for another SDK version: dlc checks
// dlc_plugin_sdk_version() before calling anything else.
//
// Plugins include <dlc/plugin.h>, which includes this file when DLC_PLUGIN_COMPILER is
// defined (the SDK's CMake function defines it for the compile-time build only).
//
//===----------------------------------------------------------------------===//
#ifndef DLC_PLUGIN_PLUGINAPI_H
#define DLC_PLUGIN_PLUGINAPI_H

#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/Gradients/GradientBuilders.h"
#include "dialects/DL/PluginLayer.h"
#include "dlrt/plugin.h"

#include <cstdint>

/// Bumped whenever LayerDef, LayerCall, PluginLayer or this file change in a way that a
/// plugin built against the old headers would misread.
#define DLC_PLUGIN_SDK_VERSION 1

namespace dlc {

class PluginRegistrar {
public:
  virtual ~PluginRegistrar() = default;
  /// Adds a layer. Its `plugin` says how it runs: `plugin.kernel` (a kernel of the
  /// plugin's run-time table of the same file) or `plugin.lowerToLinalg`. A name that a
  /// built-in or another plugin already uses is an error that dlc reports.
  virtual void add(LayerDef def) = 0;
};

} // namespace dlc

#if defined(_WIN32)
#define DLC_PLUGIN_EXPORT __declspec(dllexport)
#else
#define DLC_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/// Opens the function that registers the plugin's layers:
///   DLC_PLUGIN_LAYERS(registrar) { registrar.add(...); }
#define DLC_PLUGIN_LAYERS(REGISTRAR)                                                               \
  static void dlcPluginAddLayers(::dlc::PluginRegistrar &);                                        \
  extern "C" DLC_PLUGIN_EXPORT uint32_t dlc_plugin_sdk_version(void) { return DLC_PLUGIN_SDK_VERSION; } \
  extern "C" DLC_PLUGIN_EXPORT void dlc_plugin_register(::dlc::PluginRegistrar *r) { dlcPluginAddLayers(*r); } \
  static void dlcPluginAddLayers(::dlc::PluginRegistrar &REGISTRAR)

#endif
