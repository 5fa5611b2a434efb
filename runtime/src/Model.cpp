//===- Model.cpp - loading a model.so and inspecting its signature --------===//
#include "Model.h"
#include "Status.h"

#include <dnnl.hpp>
#include <dlfcn.h>

#include <cstring>

using namespace dlrt;

namespace dlrt {
bool computesBf16(const dlrt_model &m) {
  if (m.cuda || m.sig.precision != "bf16") return false;
  // oneDNN's ISA values are nested bit sets: AMX's contains AVX512-BF16's.
  auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (static_cast<unsigned>(dnnl::get_effective_cpu_isa()) & bf16) == bf16;
}
} // namespace dlrt

extern "C" {

const char *dlrt_status_message(dlrt_status status) { return status ? status->message.c_str() : "ok"; }
void dlrt_status_free(dlrt_status status) { delete status; }
void dlrt_string_free(char *s) { std::free(s); }

dlrt_status dlrt_model_load(const char *path, dlrt_model **out) {
  if (!path || !out) return fail("dlrt_model_load: path and out_model must not be NULL");
  *out = nullptr;
  // A bare file name means the file here, not a search of the library path.
  std::string file = std::strchr(path, '/') ? std::string(path) : "./" + std::string(path);
  void *h = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    return fail(std::string("cannot load model '") + path + "': " + (e ? e : "unknown error"));
  }
  auto close = [&](std::string msg) {
    dlclose(h);
    return fail(std::string("'") + path + "': " + msg);
  };
  auto abiFn = reinterpret_cast<dl_model_abi_version_fn>(dlsym(h, "dl_model_abi_version"));
  auto sigFn = reinterpret_cast<dl_model_signature_fn>(dlsym(h, "dl_model_signature"));
  auto bindFn = reinterpret_cast<dl_model_bind_fn>(dlsym(h, "dl_model_bind"));
  if (!abiFn || !sigFn || !bindFn) return close("not a model compiled by dlc (no dl_model_* symbols)");
  int32_t abi = abiFn();
  if (abi != DLRT_MODEL_ABI_VERSION)
    return close("built for model ABI " + std::to_string(abi) + ", but this runtime implements ABI " +
                 std::to_string(DLRT_MODEL_ABI_VERSION) + ": recompile it with a matching dlc");
  auto model = std::make_unique<dlrt_model>();
  std::string err;
  if (!parseSignature(sigFn(), model->sig, err)) return close(err);
  if (!loadPlugins(model->sig, file, model->plugins, err)) return close(err);
  model->cuda = model->sig.target == "cuda";
  if (model->cuda) {
    model->code.archs = model->sig.gpuArchs;
    model->code.kernels = model->sig.gpuKernels;
    model->code.words = model->sig.gpuWords;
    model->code.image = reinterpret_cast<const char *(*)(int32_t)>(dlsym(h, "dl_model_gpu_code"));
    if (!model->code.image || (model->code.archs.empty() && !model->code.kernels.empty()))
      return close("compiled with --target cuda but carries no GPU code (dl_model_gpu_code)");
  }
  struct Missing {
    std::vector<std::string> names;
    bool cuda;
  } missing{{}, model->cuda};
  int32_t unresolved = bindFn(
      [](const char *name, void *user) -> void * {
        auto *miss = static_cast<Missing *>(user);
        void *fn = miss->cuda ? resolveCudaKernel(name, nullptr) : resolveKernel(name, nullptr);
        if (!fn) miss->names.push_back(name);
        return fn;
      },
      &missing);
  if (unresolved) {
    std::string list;
    for (const std::string &n : missing.names) list += (list.empty() ? "" : ", ") + n;
    return close("needs runtime kernels this runtime does not provide (" + list +
                 "): the runtime is older than the compiler that built the model");
  }
  if (auto weightsFn = reinterpret_cast<dl_model_weights_fn>(dlsym(h, "dl_model_weights"))) {
    uint64_t size = 0;
    const uint8_t *data = weightsFn(&size);
    model->baked = std::make_unique<SafetensorsFile>();
    if (!data || !parseSafetensors(std::vector<uint8_t>(data, data + size), *model->baked, err, "baked weights"))
      return close("its baked weights are unreadable: " + err);
  }
  model->infer = reinterpret_cast<dl_entry_fn>(dlsym(h, "dl_entry_infer"));
  if (!model->infer) return close("has no inference entry point (dl_entry_infer)");
  model->trainStep = reinterpret_cast<dl_entry_fn>(dlsym(h, "dl_entry_train_step"));
  model->evalStep = reinterpret_cast<dl_entry_fn>(dlsym(h, "dl_entry_eval_step"));
  for (size_t i = 0; i < model->sig.inputs.size(); ++i) {
    model->allInputs.push_back(int(i));
    if (!model->sig.inputs[i].trainOnly) model->inferInputs.push_back(int(i));
  }
  model->handle = h;
  model->path = path;
  model->abi = abi;
  *out = model.release();
  return nullptr;
}

dlrt_status dlrt_add_plugin_dir(const char *dir) {
  if (!dir || !*dir) return fail("dlrt_add_plugin_dir: dir must be a folder's path");
  addPluginDir(dir);
  return nullptr;
}

void dlrt_model_free(dlrt_model *model) {
  if (!model) return;
  // model.so stays mapped: dlclose while another model handle of the same file is alive
  // would be safe (refcounted), but unmapping code a caller might still reach is not.
  if (model->handle) dlclose(model->handle);
  delete model;
}

const char *dlrt_model_name(const dlrt_model *m) { return m ? m->sig.model.c_str() : ""; }
const char *dlrt_model_signature(const dlrt_model *m) { return m ? m->sig.json.c_str() : ""; }
int32_t dlrt_model_abi_version(const dlrt_model *m) { return m ? m->abi : 0; }
int32_t dlrt_model_has_weights(const dlrt_model *m) { return m && m->baked ? 1 : 0; }
const char *dlrt_model_precision(const dlrt_model *m) { return m && computesBf16(*m) ? "bf16" : "fp32"; }
int32_t dlrt_model_num_inputs(const dlrt_model *m) { return m ? int32_t(m->sig.inputs.size()) : 0; }
int32_t dlrt_model_num_outputs(const dlrt_model *m) { return m ? int32_t(m->sig.outputs.size()) : 0; }
int32_t dlrt_model_num_params(const dlrt_model *m) { return m ? int32_t(m->sig.params.size()) : 0; }

static dlrt_status info(const std::vector<ValueSpec> &list, int32_t i, dlrt_value_info *out, const char *what) {
  if (!out) return fail("out must not be NULL");
  if (i < 0 || size_t(i) >= list.size())
    return fail(std::string(what) + " index " + std::to_string(i) + " out of range (" + std::to_string(list.size()) + ")");
  const ValueSpec &v = list[i];
  *out = dlrt_value_info{v.name.c_str(), v.dtype, int32_t(v.dims.size()), v.dimPtrs.data(), v.trainOnly, v.buffer};
  return nullptr;
}

dlrt_status dlrt_model_input(const dlrt_model *m, int32_t i, dlrt_value_info *out) {
  if (!m) return fail("model must not be NULL");
  return info(m->sig.inputs, i, out, "input");
}
dlrt_status dlrt_model_output(const dlrt_model *m, int32_t i, dlrt_value_info *out) {
  if (!m) return fail("model must not be NULL");
  return info(m->sig.outputs, i, out, "output");
}
dlrt_status dlrt_model_param(const dlrt_model *m, int32_t i, dlrt_value_info *out) {
  if (!m) return fail("model must not be NULL");
  return info(m->sig.params, i, out, "parameter");
}

} // extern "C"
