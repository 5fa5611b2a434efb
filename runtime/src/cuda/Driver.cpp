//===- Driver.cpp - the CUDA driver API, loaded at run time ---------------===//
#include "cuda/Driver.h"
#include "cuda/Libraries.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace dlrt::cuda {

std::string Driver::describe(const char *call, CUresult r) const {
  const char *name = nullptr, *text = nullptr;
  if (cuGetErrorName) cuGetErrorName(r, &name);
  if (cuGetErrorString) cuGetErrorString(r, &text);
  return std::string(call) + ": " + (name ? name : "CUDA error " + std::to_string(r)) + (text ? std::string(" (") + text + ")" : "");
}

namespace {

struct Loaded {
  Driver driver;
  std::string error;
};

Loaded load() {
  Loaded out;
  Driver &d = out.driver;
  const char *override = std::getenv("DLRT_CUDA_DRIVER");
  d.path = override && *override ? override : "libcuda.so.1";
  d.handle = dlopen(d.path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!d.handle) {
    const char *e = dlerror();
    out.error = "cannot load the CUDA driver library " + d.path + " (" + (e ? e : "unknown error") +
                "): a cuda session needs an NVIDIA driver; DLRT_CUDA_DRIVER names another library";
    return out;
  }
  auto sym = [&](auto &fn, const char *name) { bindSymbol(d.handle, fn, name, "the CUDA driver library " + d.path, out.error); };
  sym(d.cuInit, "cuInit");
  sym(d.cuDriverGetVersion, "cuDriverGetVersion");
  sym(d.cuDeviceGetCount, "cuDeviceGetCount");
  sym(d.cuDeviceGet, "cuDeviceGet");
  sym(d.cuDeviceGetName, "cuDeviceGetName");
  sym(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
  sym(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  sym(d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
  sym(d.cuCtxSetCurrent, "cuCtxSetCurrent");
  sym(d.cuModuleLoadData, "cuModuleLoadData");
  sym(d.cuModuleUnload, "cuModuleUnload");
  sym(d.cuModuleGetFunction, "cuModuleGetFunction");
  sym(d.cuLaunchKernel, "cuLaunchKernel");
  sym(d.cuMemAlloc, "cuMemAlloc_v2");
  sym(d.cuMemFree, "cuMemFree_v2");
  sym(d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
  sym(d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
  sym(d.cuMemsetD32Async, "cuMemsetD32Async");
  sym(d.cuStreamCreate, "cuStreamCreate");
  sym(d.cuStreamDestroy, "cuStreamDestroy_v2");
  sym(d.cuStreamSynchronize, "cuStreamSynchronize");
  sym(d.cuGetErrorName, "cuGetErrorName");
  sym(d.cuGetErrorString, "cuGetErrorString");
  if (!out.error.empty()) {
    out.error += ": the driver is too old";
    return out;
  }
  if (CUresult r = d.cuInit(0); r != CUDA_SUCCESS) {
    out.error = "the CUDA driver " + d.path + " found no usable GPU: " + d.describe("cuInit", r);
    return out;
  }
  return out;
}

} // namespace

const Driver *driver(std::string &error) {
  // Loaded once; the library stays open for the process's life (its threads and
  // handlers outlive any session).
  static const Loaded loaded = load();
  if (!loaded.error.empty()) {
    error = loaded.error;
    return nullptr;
  }
  return &loaded.driver;
}

} // namespace dlrt::cuda
