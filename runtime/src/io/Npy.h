//===- Npy.h - read and write NumPy .npy files ------------------*- C++ -*-===//
#ifndef DLRT_SRC_IO_NPY_H
#define DLRT_SRC_IO_NPY_H

#include "io/Tensor.h"

#include <string>

namespace dlrt {

/// Reads a .npy file (format 1.0 to 3.0, little-endian, C order) of f32, f64 (cast to
/// f32, `castFromF64` set), f16, i64, i32 or bool. Every malformed or truncated file is
/// rejected with a message; nothing is read out of bounds.
bool readNpy(const std::string &path, HostTensor &out, std::string &error, bool *castFromF64 = nullptr);
bool parseNpy(const std::string &bytes, HostTensor &out, std::string &error, const std::string &what,
              bool *castFromF64 = nullptr);
/// Writes format 1.0.
bool writeNpy(const std::string &path, dlrt_dtype dtype, const std::vector<int64_t> &dims,
              const void *data, std::string &error);

} // namespace dlrt
#endif
