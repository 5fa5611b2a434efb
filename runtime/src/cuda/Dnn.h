//===- Dnn.h - cuDNN's convolutions, loaded at run time ---------*- C++ -*-===//
//
// conv2d and its gradients in a cuda session run on cuDNN (libcudnn.so.9 by soname,
// DLRT_CUDNN, or PyTorch's pip package), NCHW f32, on the session's stream, with
// cuDNN's FMA math (no TF32) and deterministic algorithms: implicit precomputed GEMM
// forward, algorithm 1 for both gradients (implicit GEMM where a shape has no such
// kernel).
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_CUDA_DNN_H
#define DLRT_SRC_CUDA_DNN_H

#include <cstdint>
#include <memory>
#include <string>

namespace dlrt::cuda {

class Device;

class Dnn {
public:
  /// A cuDNN handle on `device`'s stream; null with `error` when cuDNN is missing.
  static std::unique_ptr<Dnn> open(Device &device, std::string &error);
  ~Dnn();

  /// The convolution geometry of the runtime's kernels (N C H W OC KH KW OH OW SH SW PT
  /// PL PB PR DH DW G ACT LAYOUT), NCHW with symmetric padding and no activation.
  bool forward(const int64_t *geom, const float *x, const float *w, const float *bias, float *y, std::string &error);
  bool backwardData(const int64_t *geom, const float *dy, const float *w, float *dx, std::string &error);
  bool backwardFilter(const int64_t *geom, const float *x, const float *dy, float *dw, std::string &error);

private:
  Dnn(Device &device) : device(device) {}
  Device &device;
  void *handle = nullptr;
};

} // namespace dlrt::cuda
#endif
