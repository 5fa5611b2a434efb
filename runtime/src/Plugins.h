//===- Plugins.h - plugins' run-time parts, for the models that use them -*- C++ -*-===//
//
// A model that calls plugin kernels names each plugin it needs (name, version, kernel
// ABI, file) in its signature. Loading the model loads those run-time parts, from the
// model's own folder, the folders of DLRT_PLUGIN_PATH and those registered with
// dlrt_add_plugin_dir, in that order; nothing else (never the current folder unless named).
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_PLUGINS_H
#define DLRT_SRC_PLUGINS_H

#include "Signature.h"
#include "dlrt/plugin.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace dlrt {

/// One plugin kernel call of a model, resolved: the kernel, and the attributes as the
/// kernel's call record holds them.
struct PluginSite {
  const dlrt_plugin_layer *layer = nullptr;
  bool backward = false;
  std::vector<dlrt_plugin_attr> attrs; // pointing into `spec`
  const PluginCallSpec *spec = nullptr;
};

struct PluginSet {
  std::vector<void *> handles;
  std::unordered_map<int64_t, PluginSite> sites;

  PluginSet() = default;
  PluginSet(const PluginSet &) = delete;
  PluginSet &operator=(const PluginSet &) = delete;
  ~PluginSet();
};

/// Loads the run-time parts `sig` needs and resolves its plugin calls; false with `error`
/// (naming the plugin and where it looked) when one is missing or incompatible.
bool loadPlugins(const Signature &sig, const std::string &modelPath, PluginSet &out, std::string &error);

/// The trampoline dlrt_k_plugin_<N> compiled code calls for a plugin kernel with N
/// outputs; null for another name.
void *resolvePluginTrampoline(const char *name);

/// Adds a folder to search for plugins' run-time parts (dlrt_add_plugin_dir).
void addPluginDir(const std::string &dir);

} // namespace dlrt
#endif
