//===- Npy.cpp - read and write NumPy .npy files --------------------------===//
#include "io/Npy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace dlrt {

namespace {

/// Finds `'key': value` in the header dict and returns the value's text.
bool dictValue(const std::string &h, const std::string &key, std::string &out) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) return false;
  size_t colon = h.find(':', k);
  if (colon == std::string::npos) return false;
  size_t start = colon + 1;
  while (start < h.size() && h[start] == ' ') ++start;
  size_t end = start;
  if (start < h.size() && h[start] == '(') {
    end = h.find(')', start);
    if (end == std::string::npos) return false;
    ++end;
  } else if (start < h.size() && (h[start] == '\'' || h[start] == '"')) {
    end = h.find(h[start], start + 1);
    if (end == std::string::npos) return false;
    ++end;
  } else {
    while (end < h.size() && h[end] != ',' && h[end] != '}') ++end;
  }
  out = h.substr(start, end - start);
  return true;
}

} // namespace

bool parseNpy(const std::string &b, HostTensor &out, std::string &error, const std::string &what, bool *castFromF64) {
  auto bad = [&](const std::string &msg) {
    error = what + ": " + msg;
    return false;
  };
  if (b.size() < 10 || std::memcmp(b.data(), "\x93NUMPY", 6) != 0) return bad("not a .npy file (bad magic)");
  unsigned major = uint8_t(b[6]);
  size_t headerLen, pos;
  if (major == 1) {
    headerLen = uint8_t(b[8]) | (size_t(uint8_t(b[9])) << 8);
    pos = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) return bad("truncated header");
    headerLen = uint8_t(b[8]) | (size_t(uint8_t(b[9])) << 8) | (size_t(uint8_t(b[10])) << 16) |
                (size_t(uint8_t(b[11])) << 24);
    pos = 12;
  } else {
    return bad("unsupported .npy version " + std::to_string(major));
  }
  if (headerLen > b.size() - pos) return bad("truncated header");
  std::string h = b.substr(pos, headerLen);
  pos += headerLen;
  std::string descr, fortran, shape;
  if (!dictValue(h, "descr", descr) || !dictValue(h, "fortran_order", fortran) || !dictValue(h, "shape", shape))
    return bad("header lacks descr, fortran_order or shape");
  if (fortran.find("True") != std::string::npos) return bad("Fortran-order arrays are not supported; save C order");
  if (descr.size() < 3 || (descr.front() != '\'' && descr.front() != '"') || descr.back() != descr.front())
    return bad("bad descr " + descr);
  std::string d = descr.substr(1, descr.size() - 2);
  if (d[0] == '>' ) return bad("big-endian data is not supported");
  std::string code = d.substr(1);
  dlrt_dtype dt;
  bool f64 = false;
  if (code == "f4") dt = DLRT_F32;
  else if (code == "f8") { dt = DLRT_F32; f64 = true; }
  else if (code == "f2") dt = DLRT_F16;
  else if (code == "i8") dt = DLRT_I64;
  else if (code == "i4") dt = DLRT_I32;
  else if (code == "b1") dt = DLRT_BOOL;
  else return bad("unsupported dtype " + descr);
  std::vector<int64_t> dims;
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') return bad("bad shape " + shape);
  std::string inner = shape.substr(1, shape.size() - 2);
  std::stringstream ss(inner);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t a = item.find_first_not_of(" "), e = item.find_last_not_of(" L");
    if (a == std::string::npos) continue;
    if (e == std::string::npos || e < a) return bad("bad shape " + shape);
    std::string num = item.substr(a, e - a + 1);
    // Digits only: strtoll alone would take "+5", " 5" or an overflowing number.
    if (num.empty() || num.size() > 15 || num.find_first_not_of("0123456789") != std::string::npos)
      return bad("bad shape " + shape);
    dims.push_back(std::stoll(num));
  }
  // At most 2^40 elements, checked before each product so that it cannot wrap.
  const uint64_t limit = uint64_t(1) << 40;
  uint64_t numel = 1;
  for (int64_t x : dims) {
    if (x != 0 && numel > limit / uint64_t(x)) return bad("implausibly large shape " + shape);
    numel *= uint64_t(x);
  }
  size_t srcSize = f64 ? 8 : dlrt_dtype_size(dt);
  if (b.size() - pos < numel * srcSize)
    return bad("truncated data: " + std::to_string(b.size() - pos) + " bytes for " + std::to_string(numel) +
               " elements of " + std::to_string(srcSize) + " bytes");
  out = HostTensor(dt, dims);
  if (f64) {
    const char *src = b.data() + pos;
    float *dst = reinterpret_cast<float *>(out.data());
    for (uint64_t i = 0; i < numel; ++i) {
      double v;
      std::memcpy(&v, src + 8 * i, 8);
      dst[i] = float(v);
    }
  } else if (numel) {
    std::memcpy(out.data(), b.data() + pos, numel * srcSize);
  }
  if (castFromF64) *castFromF64 = f64;
  return true;
}

bool readNpy(const std::string &path, HostTensor &out, std::string &error, bool *castFromF64) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    error = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return parseNpy(ss.str(), out, error, "'" + path + "'", castFromF64);
}

bool writeNpy(const std::string &path, dlrt_dtype dtype, const std::vector<int64_t> &dims, const void *data,
              std::string &error) {
  const char *descr = dtype == DLRT_F32 ? "<f4" : dtype == DLRT_I64 ? "<i8" : dtype == DLRT_I32 ? "<i4"
                      : dtype == DLRT_F16 ? "<f2" : dtype == DLRT_BOOL ? "|b1" : nullptr;
  if (!descr) {
    error = std::string("cannot write ") + dlrt_dtype_name(dtype) + " to .npy";
    return false;
  }
  std::string shape = "(";
  for (size_t i = 0; i < dims.size(); ++i) shape += std::to_string(dims[i]) + (dims.size() == 1 || i + 1 < dims.size() ? "," : "");
  shape += ")";
  std::string h = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) {
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, uint8_t(h.size() & 0xff), uint8_t(h.size() >> 8)};
  size_t numel = 1;
  for (int64_t d : dims) numel *= size_t(d);
  size_t bytes = numel * dlrt_dtype_size(dtype);
  bool ok = std::fwrite(pre, 1, 10, f) == 10 && std::fwrite(h.data(), 1, h.size(), f) == h.size() &&
            (bytes == 0 || std::fwrite(data, 1, bytes, f) == bytes);
  ok = std::fclose(f) == 0 && ok;
  if (!ok) error = "cannot write '" + path + "'";
  return ok;
}

} // namespace dlrt
