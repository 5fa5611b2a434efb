//===- PluginLoader.cpp - loading plugins' compile-time parts -------------===//
#include "compiler/Plugin/PluginLoader.h"
#include "compiler/Plugin/PluginAPI.h"
#include "compiler/Plugin/PluginLayerDef.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <dlfcn.h>

namespace dlc {

std::string runtimePartName(const std::string &path) {
  llvm::StringRef file = llvm::sys::path::filename(path);
  llvm::StringRef stem = file.ends_with(".so") ? file.drop_back(3) : file;
  return (stem + "_rt.so").str();
}

namespace {

using SdkVersionFn = uint32_t (*)();
using RegisterFn = void (*)(PluginRegistrar *);

/// Adds a plugin's layers to the registry, checking each as it comes.
class Registrar final : public PluginRegistrar {
public:
  Registrar(LayerRegistry &registry, LoadedPlugin &plugin, const dlrt_plugin_info &table)
      : registry(registry), plugin(plugin), table(table) {}

  void add(LayerDef def) override {
    if (!error.empty()) return;
    std::string what = "layer '" + def.name + "'";
    if (def.name.empty()) return fail("a layer without a name");
    if (!def.infer) return fail(what + " has no shape rule (LayerDef::infer)");
    bool kernel = !def.plugin.kernel.empty(), linalg = bool(def.plugin.lowerToLinalg);
    if (kernel == linalg)
      return fail(what + " must run either a kernel (plugin.kernel) or a lowering (plugin.lowerToLinalg)");
    if (def.build) return fail(what + ": plugin layers are built as dl.plugin; leave LayerDef::build empty");
    if (kernel) {
      const dlrt_plugin_layer *entry = nullptr;
      for (int32_t k = 0; k < table.num_layers; ++k)
        if (table.layers[k].name && def.plugin.kernel == table.layers[k].name) entry = &table.layers[k];
      if (!entry || !entry->forward)
        return fail(what + " runs kernel '" + def.plugin.kernel + "', which the plugin's run-time table lacks");
      def.plugin.kernelBackward = entry->backward != nullptr;
    } else if (def.plugin.kernelBackward) {
      return fail(what + ": kernelBackward without a kernel");
    }
    def.plugin.plugin = &plugin.info;
    def.origin = "plugin '" + plugin.info.name + "'";
    makePluginLayerDef(def);
    std::string name = def.name, err;
    if (!registry.addPluginLayer(std::move(def), err)) return fail(err);
    plugin.layers.push_back(name);
  }

  std::string error;

private:
  void fail(const std::string &msg) {
    if (error.empty()) error = msg;
  }
  LayerRegistry &registry;
  LoadedPlugin &plugin;
  const dlrt_plugin_info &table;
};

} // namespace

bool PluginLoader::load(const std::string &path, std::string &error) {
  auto fail = [&](const std::string &msg) {
    error = "plugin '" + path + "': " + msg;
    return false;
  };
  if (!llvm::sys::fs::exists(path)) return fail("no such file");
  if (llvm::sys::fs::is_directory(path)) return fail("is a folder; name the plugin's library");
  llvm::SmallString<256> real;
  if (llvm::sys::fs::real_path(path, real)) real = path;
  for (const auto &p : loaded)
    if (p->info.path == real.str()) return true; // named twice: once is enough
  // RTLD_LOCAL: two plugins' own symbols never meet. Their references to dlc's layer API
  // resolve against the dlc executable, which exports it.
  void *handle = dlopen(real.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    return fail(std::string("cannot load it: ") + (why ? why : "unknown error"));
  }
  auto sdk = reinterpret_cast<SdkVersionFn>(dlsym(handle, "dlc_plugin_sdk_version"));
  auto reg = reinterpret_cast<RegisterFn>(dlsym(handle, "dlc_plugin_register"));
  auto abi = reinterpret_cast<dlrt_plugin_abi_version_fn>(dlsym(handle, "dlrt_plugin_abi_version"));
  auto entry = reinterpret_cast<dlrt_plugin_entry_fn>(dlsym(handle, "dlrt_plugin_entry"));
  if (!sdk || !reg || !abi || !entry) {
    if (llvm::StringRef(real).ends_with("_rt.so") && abi && entry)
      return fail("this is a plugin's run-time part; dlc loads the compile-time part beside it (without _rt)");
    return fail("not a dlc plugin (it lacks dlc_plugin_sdk_version, dlc_plugin_register or the run-time "
                "table; build it with the SDK's dlc_add_plugin())");
  }
  // Never dlclose: the registry keeps the plugin's shape rules and lowerings.
  if (sdk() != DLC_PLUGIN_SDK_VERSION)
    return fail("built for dlc plugin SDK version " + std::to_string(sdk()) + ", but this dlc has version " +
                std::to_string(DLC_PLUGIN_SDK_VERSION) + ": rebuild it against this dlc");
  if (abi() != DLRT_PLUGIN_ABI_VERSION)
    return fail("built for plugin kernel ABI " + std::to_string(abi()) + ", but this dlc has ABI " +
                std::to_string(DLRT_PLUGIN_ABI_VERSION) + ": rebuild it against this dlc");
  const dlrt_plugin_info *table = entry(DLRT_PLUGIN_ABI_VERSION);
  if (!table || table->abi_version != DLRT_PLUGIN_ABI_VERSION || !table->name || !*table->name)
    return fail("its run-time table refuses kernel ABI " + std::to_string(DLRT_PLUGIN_ABI_VERSION));
  for (const auto &p : loaded)
    if (p->info.name == table->name)
      return fail("a plugin named '" + std::string(table->name) + "' is already loaded from '" + p->info.path + "'");

  auto plugin = std::make_unique<LoadedPlugin>();
  plugin->info.name = table->name;
  plugin->info.major = table->version_major;
  plugin->info.minor = table->version_minor;
  plugin->info.abi = table->abi_version;
  plugin->info.path = real.str().str();
  plugin->info.runtimeFile = runtimePartName(plugin->info.path);
  Registrar registrar(registry, *plugin, *table);
  reg(&registrar);
  std::string problem = !registrar.error.empty() ? registrar.error : plugin->layers.empty() ? "registers no layer" : "";
  if (!problem.empty()) {
    // Layers it added before failing point at its info: keep that alive.
    rejected.push_back(std::move(plugin));
    return fail(problem);
  }
  loaded.push_back(std::move(plugin));
  return true;
}

bool PluginLoader::loadPathList(const std::string &list, std::string &error) {
  llvm::SmallVector<llvm::StringRef> entries;
  llvm::StringRef(list).split(entries, ':', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef entry : entries) {
    if (!llvm::sys::fs::is_directory(entry)) {
      if (!load(entry.str(), error)) return false;
      continue;
    }
    std::vector<std::string> files;
    std::error_code ec;
    for (llvm::sys::fs::directory_iterator it(entry, ec), end; it != end && !ec; it.increment(ec)) {
      llvm::StringRef name = llvm::sys::path::filename(it->path());
      if (name.ends_with(".so") && !name.ends_with("_rt.so")) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    for (const std::string &f : files)
      if (!load(f, error)) return false;
  }
  return true;
}

} // namespace dlc
