//===- Tensor.cpp - a host tensor the runtime owns ------------------------===//
#include "io/Tensor.h"

#include <cstring>

// Part of the C API, defined with the file formats that need them, so that tools reading
// these formats (dlc --weights) link the formats without the runtime.
extern "C" __attribute__((visibility("default"))) const char *dlrt_dtype_name(dlrt_dtype d) {
  switch (d) {
  case DLRT_F32: return "f32";
  case DLRT_I64: return "i64";
  case DLRT_I32: return "i32";
  case DLRT_BF16: return "bf16";
  case DLRT_F16: return "f16";
  case DLRT_BOOL: return "bool";
  }
  return "?";
}

extern "C" __attribute__((visibility("default"))) size_t dlrt_dtype_size(dlrt_dtype d) {
  switch (d) {
  case DLRT_F32: case DLRT_I32: return 4;
  case DLRT_I64: return 8;
  case DLRT_BF16: case DLRT_F16: return 2;
  case DLRT_BOOL: return 1;
  }
  return 0;
}

namespace dlrt {

HostTensor::HostTensor(dlrt_dtype dt, std::vector<int64_t> d) : dtype(dt), dims(std::move(d)) {
  size_t n = bytes();
  size_t rounded = (n + 63) / 64 * 64;
  void *p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (p) std::memset(p, 0, rounded ? rounded : 64);
  storage.reset(static_cast<uint8_t *>(p));
}

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

dlrt_tensor HostTensor::view() {
  return dlrt_tensor{dtype, int32_t(dims.size()), dims.data(), storage.get(), DLRT_HOST};
}

std::string shapeStr(const int64_t *dims, int rank) {
  std::string s = "[";
  for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string HostTensor::shapeStr() const { return dlrt::shapeStr(dims.data(), int(dims.size())); }

bool parseDtype(const std::string &s, dlrt_dtype &out) {
  if (s == "f32") out = DLRT_F32;
  else if (s == "i64") out = DLRT_I64;
  else if (s == "i32") out = DLRT_I32;
  else if (s == "bf16") out = DLRT_BF16;
  else if (s == "f16") out = DLRT_F16;
  else if (s == "bool") out = DLRT_BOOL;
  else return false;
  return true;
}

bool dtypeFromSafetensors(const std::string &s, dlrt_dtype &out) {
  if (s == "F32") out = DLRT_F32;
  else if (s == "I64") out = DLRT_I64;
  else if (s == "I32") out = DLRT_I32;
  else if (s == "BF16") out = DLRT_BF16;
  else if (s == "F16") out = DLRT_F16;
  else if (s == "BOOL") out = DLRT_BOOL;
  else return false;
  return true;
}

const char *dtypeToSafetensors(dlrt_dtype d) {
  switch (d) {
  case DLRT_F32: return "F32";
  case DLRT_I64: return "I64";
  case DLRT_I32: return "I32";
  case DLRT_BF16: return "BF16";
  case DLRT_F16: return "F16";
  case DLRT_BOOL: return "BOOL";
  }
  return "?";
}

} // namespace dlrt
