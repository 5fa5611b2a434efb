//===- Tensor.h - a host tensor the runtime owns ----------------*- C++ -*-===//
#ifndef DLRT_SRC_IO_TENSOR_H
#define DLRT_SRC_IO_TENSOR_H

#include "dlrt/dlrt.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace dlrt {

struct FreeDeleter {
  void operator()(void *p) const { std::free(p); }
};

/// A dense, row-major host tensor in 64-byte aligned storage (oneDNN's preference, and
/// what makes results independent of where a buffer happens to start).
struct HostTensor {
  dlrt_dtype dtype = DLRT_F32;
  std::vector<int64_t> dims;
  std::unique_ptr<uint8_t, FreeDeleter> storage;

  HostTensor() = default;
  HostTensor(dlrt_dtype dt, std::vector<int64_t> d);
  int64_t numel() const;
  size_t bytes() const { return size_t(numel()) * dlrt_dtype_size(dtype); }
  uint8_t *data() { return storage.get(); }
  const uint8_t *data() const { return storage.get(); }
  dlrt_tensor view();
  std::string shapeStr() const;
};

std::string shapeStr(const int64_t *dims, int rank);
/// Parses f32 / F32 / float32 style names as used by safetensors and .npy.
/// A dtype by the name dlc and signatures use ("f32", "i64", ...).
bool parseDtype(const std::string &s, dlrt_dtype &out);
bool dtypeFromSafetensors(const std::string &s, dlrt_dtype &out);
const char *dtypeToSafetensors(dlrt_dtype d);

} // namespace dlrt
#endif
