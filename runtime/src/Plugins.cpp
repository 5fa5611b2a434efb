//===- Plugins.cpp - plugins' run-time parts and their kernel calls -------===//
#include "Plugins.h"
#include "KernelContext.h"
#include "Status.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace dlrt {

namespace {

std::mutex dirsMutex;
std::vector<std::string> &registeredDirs() {
  static std::vector<std::string> dirs;
  return dirs;
}

bool isFile(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> searchDirs(const std::string &modelPath) {
  std::vector<std::string> dirs;
  size_t slash = modelPath.rfind('/');
  dirs.push_back(slash == std::string::npos ? "." : modelPath.substr(0, slash == 0 ? 1 : slash));
  if (const char *env = std::getenv("DLRT_PLUGIN_PATH")) {
    std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      size_t end = list.find(':', start);
      if (end == std::string::npos) end = list.size();
      if (end > start) dirs.push_back(list.substr(start, end - start));
      start = end + 1;
    }
  }
  std::lock_guard<std::mutex> lock(dirsMutex);
  for (const std::string &d : registeredDirs()) dirs.push_back(d);
  return dirs;
}

std::string version(uint32_t major, uint32_t minor) { return std::to_string(major) + "." + std::to_string(minor); }

/// Loads one plugin's run-time part and checks it against what the model was built with.
const dlrt_plugin_info *loadPlugin(const PluginNeed &need, const std::vector<std::string> &dirs, PluginSet &set,
                                   std::string &error) {
  std::string what = "plugin '" + need.name + "' " + version(need.major, need.minor);
  std::string looked;
  for (const std::string &dir : dirs) {
    std::string path = dir + "/" + need.file;
    looked += (looked.empty() ? "" : ", ") + dir;
    if (!isFile(path)) continue;
    void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char *e = dlerror();
      error = what + ": cannot load '" + path + "': " + (e ? e : "unknown error");
      return nullptr;
    }
    auto fail = [&](const std::string &msg) -> const dlrt_plugin_info * {
      dlclose(h);
      error = what + ": '" + path + "' " + msg;
      return nullptr;
    };
    auto abiFn = reinterpret_cast<dlrt_plugin_abi_version_fn>(dlsym(h, "dlrt_plugin_abi_version"));
    auto entry = reinterpret_cast<dlrt_plugin_entry_fn>(dlsym(h, "dlrt_plugin_entry"));
    if (!abiFn || !entry) return fail("is not a plugin's run-time part (no dlrt_plugin_entry)");
    if (abiFn() != DLRT_PLUGIN_ABI_VERSION)
      return fail("was built for plugin kernel ABI " + std::to_string(abiFn()) + ", but this runtime has ABI " +
                  std::to_string(DLRT_PLUGIN_ABI_VERSION) + ": rebuild the plugin");
    const dlrt_plugin_info *info = entry(DLRT_PLUGIN_ABI_VERSION);
    if (!info || info->abi_version != DLRT_PLUGIN_ABI_VERSION)
      return fail("refuses this runtime's plugin kernel ABI " + std::to_string(DLRT_PLUGIN_ABI_VERSION));
    if (!info->name || need.name != info->name)
      return fail("is the plugin '" + std::string(info->name ? info->name : "") + "'");
    if (info->version_major != need.major || info->version_minor < need.minor)
      return fail("is version " + version(info->version_major, info->version_minor) +
                  ", which cannot serve a model built against " + version(need.major, need.minor) +
                  " (compatible: the same major version, a minor version at least as new)");
    set.handles.push_back(h);
    return info;
  }
  error = "the model needs " + what + " (its run-time part " + need.file + "), which is in none of: " + looked +
          " (put it beside the model, or name its folder in DLRT_PLUGIN_PATH or with dlrt_add_plugin_dir)";
  return nullptr;
}

} // namespace

PluginSet::~PluginSet() {
  for (void *h : handles) dlclose(h);
}

void addPluginDir(const std::string &dir) {
  std::lock_guard<std::mutex> lock(dirsMutex);
  registeredDirs().push_back(dir);
}

bool loadPlugins(const Signature &sig, const std::string &modelPath, PluginSet &out, std::string &error) {
  if (sig.plugins.empty()) return true;
  std::vector<std::string> dirs = searchDirs(modelPath);
  std::unordered_map<std::string, const dlrt_plugin_info *> infos;
  for (const PluginNeed &need : sig.plugins) {
    if (need.abi != DLRT_PLUGIN_ABI_VERSION) {
      error = "compiled against plugin kernel ABI " + std::to_string(need.abi) + " (plugin '" + need.name +
              "'), but this runtime has ABI " + std::to_string(DLRT_PLUGIN_ABI_VERSION) + ": recompile the model";
      return false;
    }
    const dlrt_plugin_info *info = loadPlugin(need, dirs, out, error);
    if (!info) return false;
    infos[need.name] = info;
  }
  for (const PluginCallSpec &call : sig.pluginCalls) {
    auto it = infos.find(call.plugin);
    if (it == infos.end()) {
      error = "a plugin call names plugin '" + call.plugin + "', which the model does not list";
      return false;
    }
    PluginSite site;
    for (int32_t k = 0; k < it->second->num_layers; ++k)
      if (it->second->layers[k].name && call.kernel == it->second->layers[k].name) site.layer = &it->second->layers[k];
    if (!site.layer || !site.layer->forward || (call.backward && !site.layer->backward)) {
      error = "plugin '" + call.plugin + "' has no " + (call.backward ? "backward " : "") + "kernel '" + call.kernel +
              "', which the model calls";
      return false;
    }
    site.backward = call.backward;
    site.spec = &call;
    for (const PluginCallSpec::Attr &a : call.attrs) {
      dlrt_plugin_attr attr{};
      attr.name = a.name.c_str();
      if (a.kind == "int") attr.kind = DLRT_PLUGIN_ATTR_INT;
      else if (a.kind == "bool") attr.kind = DLRT_PLUGIN_ATTR_BOOL;
      else if (a.kind == "float") attr.kind = DLRT_PLUGIN_ATTR_FLOAT;
      else if (a.kind == "string") attr.kind = DLRT_PLUGIN_ATTR_STRING;
      else if (a.kind == "ints") attr.kind = DLRT_PLUGIN_ATTR_INTS;
      else attr.kind = DLRT_PLUGIN_ATTR_NONE;
      attr.i = a.i;
      attr.f = a.f;
      attr.s = a.s.c_str();
      attr.count = int32_t(a.ints.size());
      attr.ints = a.ints.data();
      site.attrs.push_back(attr);
    }
    out.sites[call.site] = std::move(site);
  }
  return true;
}

namespace {

/// The call's state behind dlrt_plugin_call::runtime.
struct CallState {
  std::string error;
};

void setError(const dlrt_plugin_call *call, const char *message) {
  auto *state = static_cast<CallState *>(call->runtime);
  if (state->error.empty()) state->error = message && *message ? message : "(no message)";
}

/// parallel_for on OpenMP's threads (those oneDNN runs on): no second thread pool
/// competes with oneDNN's.
void parallelFor(const dlrt_plugin_call *call, int64_t n, dlrt_plugin_body body, void *arg) {
  parallelRanges(call->threads, n, [&](int64_t begin, int64_t end) { body(arg, begin, end); });
}

void runPluginCall(void *vctx, int64_t site, const int64_t *inputs, const int64_t *dims, void **outputs,
                   int32_t numOutputs) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (!ctx.error.empty()) return;
  const PluginSite *s = nullptr;
  if (ctx.pluginSites) {
    auto it = ctx.pluginSites->find(site);
    if (it != ctx.pluginSites->end()) s = &it->second;
  }
  if (!s || !s->spec || int32_t(s->spec->outputs.size()) != numOutputs) {
    ctx.fail(ctx.where(site) + ": no plugin kernel is bound to this call site");
    return;
  }
  const PluginCallSpec &spec = *s->spec;
  std::vector<dlrt_plugin_view> ins, outs;
  const int64_t *d = dims;
  for (size_t k = 0; k < spec.inputs.size(); ++k) {
    ins.push_back({int32_t(spec.inputs[k].first), spec.inputs[k].second, d,
                   reinterpret_cast<void *>(static_cast<intptr_t>(inputs[k]))});
    d += spec.inputs[k].second;
  }
  for (size_t k = 0; k < spec.outputs.size(); ++k) {
    outs.push_back({int32_t(spec.outputs[k].first), spec.outputs[k].second, d, outputs[k]});
    d += spec.outputs[k].second;
  }
  CallState state;
  dlrt_plugin_call call{};
  call.layer = s->layer->name;
  call.inputs = ins.data();
  call.num_inputs = int32_t(ins.size());
  call.outputs = outs.data();
  call.num_outputs = int32_t(outs.size());
  call.attrs = s->attrs.data();
  call.num_attrs = int32_t(s->attrs.size());
  call.threads = std::max(1, ctx.threading.threads);
  call.parallel_for = &parallelFor;
  call.set_error = &setError;
  call.runtime = &state;
  std::string where = ctx.where(site);
  try {
    dlrt_plugin_workspace wsFn = s->backward ? s->layer->backward_workspace : s->layer->forward_workspace;
    int64_t bytes = wsFn ? wsFn(&call) : 0;
    if (bytes < 0) {
      ctx.fail(where + ": the plugin asked for " + std::to_string(bytes) + " bytes of workspace");
      return;
    }
    if (bytes > 0) {
      call.workspace = ctx.pluginWorkspace.get(size_t(bytes));
      call.workspace_bytes = bytes;
    }
    setOpenMPThreads(call.threads);
    dlrt_plugin_kernel kernel = s->backward ? s->layer->backward : s->layer->forward;
    int32_t rc = kernel(&call);
    if (rc != 0)
      ctx.fail(where + ": " + (state.error.empty() ? "the plugin's kernel failed (returned " + std::to_string(rc) + ")"
                                                   : state.error));
  } catch (const std::exception &e) {
    ctx.fail(where + ": the plugin's kernel threw: " + e.what());
  } catch (...) {
    ctx.fail(where + ": the plugin's kernel threw an exception");
  }
}

} // namespace
} // namespace dlrt

// The trampolines compiled code calls, one per output count (model_abi.h: kernels are
// plain C functions resolved by name).
#define DLRT_PLUGIN_TRAMPOLINE(N, PARAMS, ...)                                                            \
  extern "C" void dlrt_k_plugin_##N(void *ctx, int64_t site, const int64_t *inputs, const int64_t *dims PARAMS) { \
    void *outs[] = {__VA_ARGS__};                                                                                 \
    dlrt::runPluginCall(ctx, site, inputs, dims, outs, N);                                                   \
  }
#define P(k) , void *o##k
DLRT_PLUGIN_TRAMPOLINE(1, P(0), o0)
DLRT_PLUGIN_TRAMPOLINE(2, P(0) P(1), o0, o1)
DLRT_PLUGIN_TRAMPOLINE(3, P(0) P(1) P(2), o0, o1, o2)
DLRT_PLUGIN_TRAMPOLINE(4, P(0) P(1) P(2) P(3), o0, o1, o2, o3)
DLRT_PLUGIN_TRAMPOLINE(5, P(0) P(1) P(2) P(3) P(4), o0, o1, o2, o3, o4)
DLRT_PLUGIN_TRAMPOLINE(6, P(0) P(1) P(2) P(3) P(4) P(5), o0, o1, o2, o3, o4, o5)
DLRT_PLUGIN_TRAMPOLINE(7, P(0) P(1) P(2) P(3) P(4) P(5) P(6), o0, o1, o2, o3, o4, o5, o6)
DLRT_PLUGIN_TRAMPOLINE(8, P(0) P(1) P(2) P(3) P(4) P(5) P(6) P(7), o0, o1, o2, o3, o4, o5, o6, o7)
DLRT_PLUGIN_TRAMPOLINE(9, P(0) P(1) P(2) P(3) P(4) P(5) P(6) P(7) P(8), o0, o1, o2, o3, o4, o5, o6, o7, o8)
DLRT_PLUGIN_TRAMPOLINE(10, P(0) P(1) P(2) P(3) P(4) P(5) P(6) P(7) P(8) P(9), o0, o1, o2, o3, o4, o5, o6, o7, o8, o9)
DLRT_PLUGIN_TRAMPOLINE(11, P(0) P(1) P(2) P(3) P(4) P(5) P(6) P(7) P(8) P(9) P(10), o0, o1, o2, o3, o4, o5, o6, o7,
                       o8, o9, o10)
DLRT_PLUGIN_TRAMPOLINE(12, P(0) P(1) P(2) P(3) P(4) P(5) P(6) P(7) P(8) P(9) P(10) P(11), o0, o1, o2, o3, o4, o5, o6,
                       o7, o8, o9, o10, o11)
DLRT_PLUGIN_TRAMPOLINE(13, P(0) P(1) P(2) P(3) P(4) P(5) P(6) P(7) P(8) P(9) P(10) P(11) P(12), o0, o1, o2, o3, o4,
                       o5, o6, o7, o8, o9, o10, o11, o12)
DLRT_PLUGIN_TRAMPOLINE(14, P(0) P(1) P(2) P(3) P(4) P(5) P(6) P(7) P(8) P(9) P(10) P(11) P(12) P(13), o0, o1, o2, o3,
                       o4, o5, o6, o7, o8, o9, o10, o11, o12, o13)
DLRT_PLUGIN_TRAMPOLINE(15, P(0) P(1) P(2) P(3) P(4) P(5) P(6) P(7) P(8) P(9) P(10) P(11) P(12) P(13) P(14), o0, o1,
                       o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14)
DLRT_PLUGIN_TRAMPOLINE(16, P(0) P(1) P(2) P(3) P(4) P(5) P(6) P(7) P(8) P(9) P(10) P(11) P(12) P(13) P(14) P(15), o0,
                       o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15)
#undef P
#undef DLRT_PLUGIN_TRAMPOLINE

void *dlrt::resolvePluginTrampoline(const char *name) {
  static void *const table[] = {
      nullptr, reinterpret_cast<void *>(&dlrt_k_plugin_1), reinterpret_cast<void *>(&dlrt_k_plugin_2),
      reinterpret_cast<void *>(&dlrt_k_plugin_3), reinterpret_cast<void *>(&dlrt_k_plugin_4),
      reinterpret_cast<void *>(&dlrt_k_plugin_5), reinterpret_cast<void *>(&dlrt_k_plugin_6),
      reinterpret_cast<void *>(&dlrt_k_plugin_7), reinterpret_cast<void *>(&dlrt_k_plugin_8),
      reinterpret_cast<void *>(&dlrt_k_plugin_9), reinterpret_cast<void *>(&dlrt_k_plugin_10),
      reinterpret_cast<void *>(&dlrt_k_plugin_11), reinterpret_cast<void *>(&dlrt_k_plugin_12),
      reinterpret_cast<void *>(&dlrt_k_plugin_13), reinterpret_cast<void *>(&dlrt_k_plugin_14),
      reinterpret_cast<void *>(&dlrt_k_plugin_15), reinterpret_cast<void *>(&dlrt_k_plugin_16)};
  const char *prefix = "dlrt_k_plugin_";
  if (std::strncmp(name, prefix, std::strlen(prefix)) != 0) return nullptr;
  char *end = nullptr;
  long n = std::strtol(name + std::strlen(prefix), &end, 10);
  return end && *end == 0 && n >= 1 && n <= 16 ? table[n] : nullptr;
}
