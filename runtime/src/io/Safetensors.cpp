//===- Safetensors.cpp - read and write .safetensors files ----------------===//
#include "io/Safetensors.h"
#include "io/AtomicFile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <fstream>

namespace dlrt {

static bool readFile(const std::string &path, std::vector<uint8_t> &out, std::string &error) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::streamsize size = f.tellg();
  f.seekg(0);
  out.resize(size_t(size));
  if (size > 0 && !f.read(reinterpret_cast<char *>(out.data()), size)) {
    error = "cannot read '" + path + "'";
    return false;
  }
  return true;
}

bool parseSafetensors(std::vector<uint8_t> raw, SafetensorsFile &out, std::string &error,
                      const std::string &what) {
  auto bad = [&](const std::string &msg) {
    error = what + ": " + msg;
    return false;
  };
  if (raw.size() < 8) return bad("truncated: " + std::to_string(raw.size()) + " bytes, not even the 8-byte header length");
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | raw[i];
  if (headerLen > raw.size() - 8)
    return bad("truncated or corrupt: the header claims " + std::to_string(headerLen) + " bytes but the file has " +
               std::to_string(raw.size() - 8) + " after the length");
  std::string header(reinterpret_cast<const char *>(raw.data() + 8), size_t(headerLen));
  nlohmann::json j = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("the header is not a JSON object");
  out.dataStart = 8 + size_t(headerLen);
  size_t dataSize = raw.size() - out.dataStart;
  out.entries.clear();
  out.metadata.clear();
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) return bad("__metadata__ is not an object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m)
        if (m.value().is_string()) out.metadata[m.key()] = m.value().get<std::string>();
      continue;
    }
    const nlohmann::json &e = it.value();
    std::string name = it.key();
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets") ||
        !e["dtype"].is_string() || !e["shape"].is_array() || !e["data_offsets"].is_array() ||
        e["data_offsets"].size() != 2)
      return bad("tensor '" + name + "' needs dtype, shape and data_offsets [begin, end]");
    SafetensorsEntry entry;
    entry.name = name;
    std::string dt = e["dtype"].get<std::string>();
    if (!dtypeFromSafetensors(dt, entry.dtype))
      return bad("tensor '" + name + "' has unsupported dtype " + dt);
    uint64_t numel = 1;
    for (const auto &d : e["shape"]) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
        return bad("tensor '" + name + "' has a bad shape");
      entry.shape.push_back(d.get<int64_t>());
      numel *= uint64_t(d.get<int64_t>());
      if (numel > (uint64_t(1) << 48)) return bad("tensor '" + name + "' is implausibly large");
    }
    const auto &offs = e["data_offsets"];
    if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      return bad("tensor '" + name + "' has bad data_offsets");
    uint64_t b = offs[0].get<uint64_t>(), en = offs[1].get<uint64_t>();
    if (b > en || en > dataSize)
      return bad("truncated or corrupt: tensor '" + name + "' spans bytes [" + std::to_string(b) + ", " +
                 std::to_string(en) + ") of a " + std::to_string(dataSize) + "-byte data section");
    if (en - b != numel * dlrt_dtype_size(entry.dtype))
      return bad("tensor '" + name + "' has " + std::to_string(en - b) + " bytes of data but its shape and dtype need " +
                 std::to_string(numel * dlrt_dtype_size(entry.dtype)));
    entry.offset = size_t(b);
    entry.bytes = size_t(en - b);
    out.entries.push_back(std::move(entry));
  }
  // JSON objects have no order: present tensors in file order.
  std::sort(out.entries.begin(), out.entries.end(),
            [](const SafetensorsEntry &a, const SafetensorsEntry &b) { return a.offset < b.offset; });
  out.raw = std::move(raw);
  return true;
}

bool readSafetensors(const std::string &path, SafetensorsFile &out, std::string &error) {
  std::vector<uint8_t> raw;
  if (!readFile(path, raw, error)) return false;
  return parseSafetensors(std::move(raw), out, error, "'" + path + "'");
}

bool writeSafetensors(const std::string &path, const std::vector<NamedTensor> &tensors,
                      const std::map<std::string, std::string> &metadata, std::string &error) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const NamedTensor &t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= uint64_t(d);
    size_t bytes = size_t(numel) * dlrt_dtype_size(t.dtype);
    header[t.name] = {{"dtype", dtypeToSafetensors(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = header.dump();
  while ((h.size() + 8) % 8) h.push_back(' ');
  AtomicFile f;
  if (!f.open(path, error)) return false;
  uint8_t len[8];
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
  f.write(len, 8);
  f.write(h.data(), h.size());
  // Test hook: DLRT_TEST_SAVE_PAUSE=N stops for a minute once N bytes of tensor data are
  // written, so a test can kill the process in the middle of a save, deterministically.
  const char *pause = std::getenv("DLRT_TEST_SAVE_PAUSE");
  uint64_t pauseAt = pause ? std::strtoull(pause, nullptr, 10) : UINT64_MAX, written = 0;
  for (const NamedTensor &t : tensors) {
    uint64_t numel = 1;
    for (int64_t d : t.shape) numel *= uint64_t(d);
    size_t bytes = size_t(numel) * dlrt_dtype_size(t.dtype);
    f.write(t.data, bytes);
    written += bytes;
    if (written >= pauseAt) {
      f.flush();
      pauseAt = UINT64_MAX;
      ::sleep(60);
    }
  }
  return f.commit(error);
}

bool matchTensors(const SafetensorsFile &f, const std::vector<ExpectedTensor> &expected, const std::string &what,
                  std::vector<const SafetensorsEntry *> &found, std::string &unexpected, std::string &error) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < expected.size(); ++i) index[expected[i].name] = i;
  found.assign(expected.size(), nullptr);
  for (const SafetensorsEntry &e : f.entries) {
    auto it = index.find(e.name);
    if (it == index.end()) {
      unexpected += (unexpected.empty() ? "" : ", ") + e.name;
      continue;
    }
    const ExpectedTensor &want = expected[it->second];
    if (e.dtype != want.dtype || e.shape != want.shape) {
      error = what + ": tensor '" + e.name + "' is " + dlrt_dtype_name(e.dtype) +
              shapeStr(e.shape.data(), int(e.shape.size())) + " but the model's parameter is " +
              dlrt_dtype_name(want.dtype) + shapeStr(want.shape.data(), int(want.shape.size()));
      return false;
    }
    found[it->second] = &e;
  }
  std::string missing;
  for (size_t i = 0; i < expected.size(); ++i)
    if (!found[i]) missing += (missing.empty() ? "" : ", ") + expected[i].name;
  if (!missing.empty()) {
    error = what + " lacks parameters: " + missing;
    return false;
  }
  return true;
}

} // namespace dlrt
