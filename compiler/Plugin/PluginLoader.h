//===- PluginLoader.h - loading plugins' compile-time parts -----*- C++ -*-===//
//
// dlc loads plugins named with --plugin and found through DLC_PLUGIN_PATH. Paths are
// explicit: nothing is loaded from the current folder unless named. A plugin is native
// code run inside dlc; loading one trusts it.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_PLUGIN_PLUGINLOADER_H
#define DLC_PLUGIN_PLUGINLOADER_H

#include "dialects/DL/PluginLayer.h"

#include <memory>
#include <string>
#include <vector>

namespace dlc {

class LayerRegistry;

struct LoadedPlugin {
  mlir::dl::PluginInfo info;
  std::vector<std::string> layers;
};

class PluginLoader {
public:
  explicit PluginLoader(LayerRegistry &registry) : registry(registry) {}

  /// Loads the compile-time part at `path` and registers its layers; false with `error`
  /// (which names the file) when it cannot.
  bool load(const std::string &path, std::string &error);
  /// Loads every plugin of a DLC_PLUGIN_PATH-style list: folders (each compile-time part
  /// in them, in name order) and files, separated by ':'.
  bool loadPathList(const std::string &list, std::string &error);

  const std::vector<std::unique_ptr<LoadedPlugin>> &plugins() const { return loaded; }

private:
  LayerRegistry &registry;
  std::vector<std::unique_ptr<LoadedPlugin>> loaded;
  /// Plugins whose registration failed part way: the registry may hold layers of theirs.
  std::vector<std::unique_ptr<LoadedPlugin>> rejected;
};

/// The file name of the run-time part that belongs to the compile-time part at `path`
/// (libfoo.so -> libfoo_rt.so), as the SDK's dlc_add_plugin() builds them.
std::string runtimePartName(const std::string &path);

} // namespace dlc
#endif
