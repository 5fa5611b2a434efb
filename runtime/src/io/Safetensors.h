//===- Safetensors.h - read and write .safetensors files --------*- C++ -*-===//
#ifndef DLRT_SRC_IO_SAFETENSORS_H
#define DLRT_SRC_IO_SAFETENSORS_H

#include "io/Tensor.h"

#include <map>
#include <string>
#include <vector>

namespace dlrt {

struct SafetensorsEntry {
  std::string name;
  dlrt_dtype dtype;
  std::vector<int64_t> shape;
  size_t offset = 0; // into the data section
  size_t bytes = 0;
};

struct SafetensorsFile {
  std::vector<uint8_t> raw; // the whole file
  size_t dataStart = 0;
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
  const uint8_t *data(const SafetensorsEntry &e) const { return raw.data() + dataStart + e.offset; }
};

/// Reads and validates a file: header length within the file, valid JSON, known dtypes,
/// offsets inside the data section and consistent with dtype and shape. Never reads out
/// of bounds; on failure `error` says what is wrong and where.
bool readSafetensors(const std::string &path, SafetensorsFile &out, std::string &error);
/// Parses an in-memory file (what readSafetensors does after reading it).
bool parseSafetensors(std::vector<uint8_t> raw, SafetensorsFile &out, std::string &error,
                      const std::string &what);

/// A tensor a model expects in a weights file.
struct ExpectedTensor {
  std::string name;
  dlrt_dtype dtype;
  std::vector<int64_t> shape;
};

/// Finds each of `expected` in `f`, with its dtype and shape: what loading weights into a
/// session and baking them into a model (dlc --weights) both require. `found[i]` is the
/// entry of expected[i]; `unexpected` lists the file's other tensors (comma-separated).
/// False with `error` (prefixed with `what`, the file) at the first tensor of another
/// dtype or shape, or naming every missing one.
bool matchTensors(const SafetensorsFile &f, const std::vector<ExpectedTensor> &expected, const std::string &what,
                  std::vector<const SafetensorsEntry *> &found, std::string &unexpected, std::string &error);

struct NamedTensor {
  std::string name;
  dlrt_dtype dtype;
  std::vector<int64_t> shape;
  const void *data;
};

/// Writes tensors in the given order, atomically (a temporary file renamed into place, so
/// a failed write never destroys an existing checkpoint).
bool writeSafetensors(const std::string &path, const std::vector<NamedTensor> &tensors,
                      const std::map<std::string, std::string> &metadata, std::string &error);

} // namespace dlrt
#endif
