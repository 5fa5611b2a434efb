//===- Device.cpp - one session's GPU: context, stream, kernels, memory ---===//
#include "cuda/Device.h"
#include "cuda/Blas.h"
#include "cuda/Dnn.h"

#include <algorithm>
#include <climits>
#include <string_view>
#include <unordered_map>

namespace dlrt::cuda {

namespace {

/// 80 for "sm_80"; -1 for anything else.
int archNumber(const std::string &arch) {
  if (arch.size() < 4 || arch.compare(0, 3, "sm_") != 0) return -1;
  int v = 0;
  for (size_t i = 3; i < arch.size(); ++i) {
    if (arch[i] < '0' || arch[i] > '9') return -1;
    v = v * 10 + (arch[i] - '0');
  }
  return v;
}

/// Each .entry kernel of `ptx` and the number of parameters it declares, in one pass over
/// the text (a model's PTX runs to megabytes and a thousand kernels).
std::unordered_map<std::string_view, int64_t> entryParams(std::string_view ptx) {
  std::unordered_map<std::string_view, int64_t> out;
  constexpr std::string_view entry = ".entry ", param = ".param";
  for (size_t at = ptx.find(entry); at != std::string_view::npos; at = ptx.find(entry, at + entry.size())) {
    size_t open = ptx.find('(', at), close = ptx.find(')', at);
    if (open == std::string_view::npos || close == std::string_view::npos) break;
    int64_t n = 0;
    for (size_t p = ptx.find(param, open); p < close; p = ptx.find(param, p + param.size())) ++n;
    out[ptx.substr(at + entry.size(), open - at - entry.size())] = n;
  }
  return out;
}

} // namespace

std::unique_ptr<Device> Device::open(int ordinal, const GpuCode &code, std::string &error) {
  const Driver *d = driver(error);
  if (!d) return nullptr;
  std::unique_ptr<Device> dev(new Device());
  dev->d = d;
  int count = 0;
  if (CUresult r = d->cuDeviceGetCount(&count); r != CUDA_SUCCESS) {
    error = d->describe("cuDeviceGetCount", r);
    return nullptr;
  }
  if (ordinal < 0 || ordinal >= count) {
    error = "there is no CUDA device " + std::to_string(ordinal) + " (the driver reports " + std::to_string(count) +
            ")";
    return nullptr;
  }
  auto check = [&](const char *call, CUresult r) {
    if (r != CUDA_SUCCESS) error = d->describe(call, r);
    return r == CUDA_SUCCESS;
  };
  int major = 0, minor = 0;
  char name[256] = {0};
  if (!check("cuDeviceGet", d->cuDeviceGet(&dev->device, ordinal)) ||
      !check("cuDeviceGetName", d->cuDeviceGetName(name, int(sizeof name) - 1, dev->device)) ||
      !check("cuDeviceGetAttribute",
             d->cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev->device)) ||
      !check("cuDeviceGetAttribute",
             d->cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev->device)))
    return nullptr;
  int cc = major * 10 + minor;
  std::string devArch = "sm_" + std::to_string(cc);
  dev->description_ = std::string(name) + " (" + devArch + ")";
  auto start = [&] {
    return check("cuDevicePrimaryCtxRetain", d->cuDevicePrimaryCtxRetain(&dev->context, dev->device)) &&
           check("cuCtxSetCurrent", d->cuCtxSetCurrent(dev->context)) &&
           check("cuStreamCreate", d->cuStreamCreate(&dev->stream_, CU_STREAM_NON_BLOCKING));
  };
  // A model whose work is all library calls has no kernels to load.
  if (code.kernels.empty()) return start() ? std::move(dev) : nullptr;
  // The newest image the device runs: the driver compiles PTX for newer devices too.
  int best = -1;
  for (size_t i = 0; i < code.archs.size(); ++i) {
    int a = archNumber(code.archs[i]);
    if (a >= 0 && a <= cc && (best < 0 || a > archNumber(code.archs[best]))) best = int(i);
  }
  if (best < 0) {
    std::string have;
    for (const std::string &a : code.archs) have += (have.empty() ? "" : ", ") + a;
    error = "the GPU " + dev->description_ + " is older than every architecture the model carries PTX for (" + have +
            ")";
    return nullptr;
  }
  const char *ptx = code.image ? code.image(best) : nullptr;
  if (!ptx) {
    error = "the model names PTX for " + code.archs[best] + " but carries none";
    return nullptr;
  }
  dev->arch_ = code.archs[best];
  if (!start()) return nullptr;
  if (!check("cuModuleLoadData", d->cuModuleLoadData(&dev->module, ptx))) {
    error = "loading the model's PTX for " + dev->arch_ + " on " + dev->description_ + ": " + error;
    return nullptr;
  }
  // The host code packs as many words as each kernel had parameters when it was compiled
  // (the signature's counts): a PTX that declares another number would read garbage.
  // Refused before anything runs.
  std::unordered_map<std::string_view, int64_t> declared = entryParams(ptx);
  for (size_t i = 0; i < code.kernels.size(); ++i) {
    const std::string &k = code.kernels[i];
    auto it = declared.find(k);
    if (it == declared.end() || it->second != code.words[i]) {
      error = "the model's PTX declares " + (it == declared.end() ? std::string("no") : std::to_string(it->second)) +
              " parameters for kernel '" + k + "', its host code passes " + std::to_string(code.words[i]) +
              ": a damaged or mismatched model.so";
      return nullptr;
    }
    CUfunction f = nullptr;
    if (CUresult r = d->cuModuleGetFunction(&f, dev->module, k.c_str()); r != CUDA_SUCCESS) {
      error = "the model's PTX has no kernel '" + k + "': " + d->describe("cuModuleGetFunction", r);
      return nullptr;
    }
    dev->functions.push_back(f);
  }
  dev->names = code.kernels;
  dev->paramCounts = code.words;
  return dev;
}

Device::~Device() {
  if (!d) return;
  if (context) d->cuCtxSetCurrent(context);
  blas_.reset();
  dnn_.reset();
  release(ones_);
  release(workspace_);
  if (stream_) d->cuStreamSynchronize(stream_);
  if (module) d->cuModuleUnload(module);
  if (stream_) d->cuStreamDestroy(stream_);
  if (context) d->cuDevicePrimaryCtxRelease(device);
}

bool Device::bind(std::string &error) {
  if (CUresult r = d->cuCtxSetCurrent(context); r != CUDA_SUCCESS) {
    error = d->describe("cuCtxSetCurrent", r);
    return false;
  }
  return true;
}

void *Device::allocate(size_t bytes) {
  CUdeviceptr p = 0;
  if (d->cuMemAlloc(&p, std::max<size_t>(bytes, 1)) != CUDA_SUCCESS) return nullptr;
  return reinterpret_cast<void *>(static_cast<uintptr_t>(p));
}

void Device::release(void *p) {
  if (p) d->cuMemFree(static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p)));
}

bool Device::toDevice(void *dst, const void *src, size_t bytes, std::string &error) {
  if (!bytes) return true;
  CUresult r = d->cuMemcpyHtoDAsync(static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(dst)), src, bytes, stream_);
  if (r != CUDA_SUCCESS) error = d->describe("cuMemcpyHtoDAsync", r);
  // The source is the caller's and may change once this returns.
  return r == CUDA_SUCCESS && synchronize(error);
}

bool Device::toHost(void *dst, const void *src, size_t bytes, std::string &error) {
  if (!bytes) return true;
  CUresult r = d->cuMemcpyDtoHAsync(dst, static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(src)), bytes, stream_);
  if (r != CUDA_SUCCESS) {
    error = d->describe("cuMemcpyDtoHAsync", r);
    return false;
  }
  return synchronize(error);
}

bool Device::launch(int64_t kernel, const int64_t grid[3], const int64_t block[3], const int64_t *words,
                    int64_t count, std::string &error) {
  if (kernel < 0 || kernel >= int64_t(functions.size())) {
    error = "launch of kernel " + std::to_string(kernel) + ", which the model's table does not have";
    return false;
  }
  if (count != paramCounts[size_t(kernel)]) {
    error = "kernel " + names[kernel] + " takes " + std::to_string(paramCounts[size_t(kernel)]) +
            " parameters, the launch passes " + std::to_string(count);
    return false;
  }
  for (int i = 0; i < 3; ++i) {
    if (grid[i] == 0) return true; // no iterations
    if (grid[i] < 0 || grid[i] > INT_MAX || block[i] <= 0 || block[i] > 1024) {
      error = "kernel " + names[kernel] + ": grid or block size out of range (" + std::to_string(grid[i]) + ", " +
              std::to_string(block[i]) + ")";
      return false;
    }
  }
  params.resize(size_t(count)); // kept across launches: no allocation per kernel
  for (int64_t i = 0; i < count; ++i) params[size_t(i)] = const_cast<int64_t *>(words + i);
  CUresult r = d->cuLaunchKernel(functions[size_t(kernel)], unsigned(grid[0]), unsigned(grid[1]), unsigned(grid[2]),
                                 unsigned(block[0]), unsigned(block[1]), unsigned(block[2]), 0, stream_,
                                 params.data(), nullptr);
  if (r != CUDA_SUCCESS) error = "kernel " + names[kernel] + ": " + d->describe("cuLaunchKernel", r);
  return r == CUDA_SUCCESS;
}

Blas *Device::blas(std::string &error) {
  if (!blas_) blas_ = Blas::open(*this, error);
  return blas_.get();
}

Dnn *Device::dnn(std::string &error) {
  if (!dnn_) dnn_ = Dnn::open(*this, error);
  return dnn_.get();
}

void *Device::workspace(size_t bytes, std::string &error) {
  if (bytes > workspaceBytes) {
    // The stream may still be using the old one.
    if (workspace_ && !synchronize(error)) return nullptr;
    release(workspace_);
    workspaceBytes = 0;
    workspace_ = allocate(bytes);
    if (!workspace_) {
      error = "out of GPU memory for a " + std::to_string(bytes) + "-byte workspace";
      return nullptr;
    }
    workspaceBytes = bytes;
  }
  return workspace_;
}

const float *Device::ones(int64_t count, std::string &error) {
  if (count > onesCount) {
    release(ones_);
    onesCount = 0;
    ones_ = allocate(size_t(count) * sizeof(float));
    if (!ones_) {
      error = "out of GPU memory";
      return nullptr;
    }
    CUresult r = d->cuMemsetD32Async(static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(ones_)), 0x3f800000u,
                                     size_t(count), stream_);
    if (r != CUDA_SUCCESS) {
      error = d->describe("cuMemsetD32Async", r);
      return nullptr;
    }
    onesCount = count;
  }
  return static_cast<const float *>(ones_);
}

bool Device::synchronize(std::string &error) {
  if (CUresult r = d->cuStreamSynchronize(stream_); r != CUDA_SUCCESS) {
    error = d->describe("cuStreamSynchronize", r);
    return false;
  }
  return true;
}

} // namespace dlrt::cuda
