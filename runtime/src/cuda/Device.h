//===- Device.h - one session's GPU: context, stream, kernels, memory -*- C++ -*-===//
#ifndef DLRT_SRC_CUDA_DEVICE_H
#define DLRT_SRC_CUDA_DEVICE_H

#include "Arena.h"
#include "cuda/Driver.h"

#include <memory>
#include <string>
#include <vector>

namespace dlrt::cuda {

class Blas;
class Dnn;

/// What a `--target cuda` model.so carries for the GPU (its signature and
/// dl_model_gpu_code): PTX per architecture ("sm_80", ...) and the kernel table its host
/// code indexes.
struct GpuCode {
  std::vector<std::string> archs;
  std::vector<std::string> kernels;
  std::vector<int64_t> words; // each kernel's parameter count (as many as kernels)
  const char *(*image)(int32_t index) = nullptr;
};

/// A session's GPU: the device's primary context, a stream every launch and copy of the
/// session goes to in order, and the model's kernels loaded from the newest PTX image the
/// device runs. Work is asynchronous; a copy to the host waits for what came before it.
class Device final : public MemorySource {
public:
  /// Opens device `ordinal` and loads `code`; null with `error` saying why (no driver,
  /// no such device, an architecture the model has no PTX for, a kernel missing).
  static std::unique_ptr<Device> open(int ordinal, const GpuCode &code, std::string &error);
  ~Device() override;

  /// Makes the session's context current on the calling thread (a session may move
  /// between threads, one at a time).
  bool bind(std::string &error);

  void *allocate(size_t bytes) override;
  void release(void *p) override;
  bool toDevice(void *dst, const void *src, size_t bytes, std::string &error);
  /// Waits for the stream, then the copy.
  bool toHost(void *dst, const void *src, size_t bytes, std::string &error);
  /// Launches kernel `kernel` of the table; `words` are its parameters, one 64-bit word
  /// each (see dl-gpu-launches-to-runtime). An empty grid launches nothing.
  bool launch(int64_t kernel, const int64_t grid[3], const int64_t block[3], const int64_t *words, int64_t count,
              std::string &error);
  bool synchronize(std::string &error);

  /// The session's cuBLAS handle, made on first use; null with `error` without cuBLAS.
  Blas *blas(std::string &error);
  /// The session's cuDNN handle, made on first use; null with `error` without cuDNN.
  Dnn *dnn(std::string &error);
  /// Device memory of at least `bytes` that a library call may use while it runs, grown
  /// on demand (calls run one at a time on the stream).
  void *workspace(size_t bytes, std::string &error);
  /// `count` floats equal to 1 (a bias broadcast as a rank-1 product), grown on demand.
  const float *ones(int64_t count, std::string &error);
  CUstream stream() const { return stream_; }

  /// "NVIDIA H200 (sm_90)"
  const std::string &description() const { return description_; }
  /// The image loaded ("sm_90").
  const std::string &arch() const { return arch_; }

private:
  Device() = default;
  const Driver *d = nullptr;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUstream stream_ = nullptr;
  std::unique_ptr<Blas> blas_;
  std::unique_ptr<Dnn> dnn_;
  void *workspace_ = nullptr;
  size_t workspaceBytes = 0;
  void *ones_ = nullptr;
  int64_t onesCount = 0;
  CUmodule module = nullptr;
  std::vector<CUfunction> functions;
  std::vector<std::string> names;
  std::vector<int64_t> paramCounts; // each kernel's, from the signature
  std::vector<void *> params;       // the launch's parameter pointers (cuLaunchKernel's kernelParams)
  std::string description_, arch_;
};

} // namespace dlrt::cuda
#endif
