#include "io/Npy.h"
#include "io/Safetensors.h"
#include "Signature.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

using namespace dlrt;

static std::string tmp(const std::string &name) { return std::string(DLC_TEST_TMP) + "/" + name; }

static std::vector<uint8_t> fileBytes(const std::string &p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

TEST_CASE("safetensors: round trip and metadata") {
  std::vector<float> w = {1, 2, 3, 4, 5, 6};
  int64_t n = 7;
  std::string err;
  REQUIRE(writeSafetensors(tmp("a.safetensors"), {{"w", DLRT_F32, {2, 3}, w.data()}, {"n", DLRT_I64, {}, &n}},
                           {{"step", "3"}}, err));
  SafetensorsFile f;
  REQUIRE(readSafetensors(tmp("a.safetensors"), f, err));
  REQUIRE(f.entries.size() == 2);
  CHECK(f.entries[0].name == "w");
  CHECK(f.entries[0].shape == std::vector<int64_t>{2, 3});
  CHECK(reinterpret_cast<const float *>(f.data(f.entries[0]))[5] == 6);
  CHECK(f.entries[1].shape.empty());
  CHECK(*reinterpret_cast<const int64_t *>(f.data(f.entries[1])) == 7);
  CHECK(f.metadata["step"] == "3");
}

TEST_CASE("safetensors: every truncation and corruption is rejected") {
  std::vector<float> w(100, 1.0f);
  std::string err;
  REQUIRE(writeSafetensors(tmp("b.safetensors"), {{"w", DLRT_F32, {10, 10}, w.data()}}, {}, err));
  std::vector<uint8_t> good = fileBytes(tmp("b.safetensors"));
  SafetensorsFile f;
  // Every prefix of the file is rejected, never read out of bounds.
  for (size_t len = 0; len < good.size(); len += 7) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + len);
    CHECK_FALSE(parseSafetensors(cut, f, err, "cut"));
  }
  auto corrupt = [&](const std::string &header) {
    std::vector<uint8_t> raw(8);
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) raw[i] = uint8_t(n >> (8 * i));
    raw.insert(raw.end(), header.begin(), header.end());
    raw.resize(raw.size() + 16, 0);
    return parseSafetensors(raw, f, err, "c");
  };
  CHECK_FALSE(corrupt("not json"));
  CHECK_FALSE(corrupt(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})")); // size mismatch
  CHECK_FALSE(corrupt(R"({"w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}})"));   // past the end
  CHECK_FALSE(corrupt(R"({"w": {"dtype": "X9", "shape": [1], "data_offsets": [0, 4]}})"));     // unknown dtype
  CHECK_FALSE(corrupt(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})"));   // bad shape
  CHECK_FALSE(corrupt(R"({"w": {"dtype": "F32"}})"));                                         // fields missing
  CHECK(corrupt(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})"));
  std::vector<uint8_t> huge = good;
  huge[7] = 0x7f; // header length far beyond the file
  CHECK_FALSE(parseSafetensors(huge, f, err, "huge"));
  CHECK(err.find("truncated") != std::string::npos);
}

TEST_CASE("npy: round trip, f64 cast, malformed and truncated files") {
  std::vector<float> v = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  std::string err;
  REQUIRE(writeNpy(tmp("a.npy"), DLRT_F32, {2, 3}, v.data(), err));
  HostTensor t;
  REQUIRE(readNpy(tmp("a.npy"), t, err));
  CHECK(t.dims == std::vector<int64_t>{2, 3});
  CHECK(reinterpret_cast<float *>(t.data())[2] == 3.25f);

  std::string bytes;
  {
    std::ifstream f(tmp("a.npy"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  for (size_t len = 0; len < bytes.size(); len += 5) CHECK_FALSE(parseNpy(bytes.substr(0, len), t, err, "cut"));
  std::string fortran = bytes;
  fortran.replace(fortran.find("False"), 5, "True ");
  CHECK_FALSE(parseNpy(fortran, t, err, "fortran"));
  CHECK(err.find("Fortran") != std::string::npos);
  std::string bigEndian = bytes;
  bigEndian[bigEndian.find("<f4")] = '>';
  CHECK_FALSE(parseNpy(bigEndian, t, err, "be"));
  CHECK_FALSE(parseNpy("garbage that is long enough", t, err, "g"));

  // float64 becomes f32 and says so.
  std::string h = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  while ((10 + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::string f64 = std::string("\x93NUMPY\x01\x00", 8) + char(h.size()) + char(0) + h;
  double d[2] = {0.5, -1.25};
  f64.append(reinterpret_cast<const char *>(d), 16);
  bool cast = false;
  REQUIRE(parseNpy(f64, t, err, "f64", &cast));
  CHECK(cast);
  CHECK(t.dtype == DLRT_F32);
  CHECK(reinterpret_cast<float *>(t.data())[1] == -1.25f);
}

TEST_CASE("npy: malformed headers the fuzzer found are errors, not exceptions") {
  auto file = [](const std::string &dict) {
    std::string h = dict;
    while ((10 + h.size() + 1) % 64) h.push_back(' ');
    h.push_back('\n');
    return std::string("\x93NUMPY\x01\x00", 8) + char(h.size()) + char(0) + h + std::string(64, '\0');
  };
  HostTensor t;
  std::string err;
  // A shape that is no tuple (it threw std::out_of_range from substr).
  CHECK_FALSE(parseNpy(file("{'descr': '<f4', 'fortran_order': False, 'shape': }"), t, err, "empty"));
  CHECK(err.find("bad shape") != std::string::npos);
  CHECK_FALSE(parseNpy(file("{'descr': '<f4', 'fortran_order': False, 'shape': 5, }"), t, err, "bare"));
  // "L" alone was read as a dim of 0; signs and overflowing dims are not dims either.
  CHECK_FALSE(parseNpy(file("{'descr': '<f4', 'fortran_order': False, 'shape': (L,), }"), t, err, "L"));
  CHECK_FALSE(parseNpy(file("{'descr': '<f4', 'fortran_order': False, 'shape': (+2,), }"), t, err, "sign"));
  CHECK_FALSE(parseNpy(file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"), t, err,
                       "huge"));
  // A product that would wrap around 2^64 before the size check.
  CHECK_FALSE(
      parseNpy(file("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }"), t, err, "wrap"));
  CHECK(err.find("implausibly large") != std::string::npos);
  CHECK_FALSE(parseNpy(file("{'descr': <f4, 'fortran_order': False, 'shape': (2,), }"), t, err, "unquoted"));
  REQUIRE(parseNpy(file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3L), }"), t, err, "ok"));
  CHECK(t.dims == std::vector<int64_t>{2, 3});
}

TEST_CASE("signature: dim expressions evaluate, and hostile ones are invalid, not undefined") {
  std::map<std::string, int64_t> syms = {{"B", 4}, {"T", 3}};
  CHECK(dlrt::evalDim("((B*T)/2)", syms) == 6);
  CHECK(dlrt::evalDim("(B-7)/2", syms) == -2); // floor division, as SymExpr
  CHECK(dlrt::evalDim("-3", syms) == -3);
  std::vector<std::string> read; // the symbols an expression reads, each once, for messages
  CHECK(dlrt::evalDim("((T*B)+(T+-2))", syms, &read) == 13);
  CHECK(read == std::vector<std::string>{"T", "B"});
  // Found by fuzzing: a 40-digit size threw std::out_of_range out of the parser.
  CHECK_FALSE(dlrt::evalDim("1044444444444444444444444444444444444444", syms));
  CHECK_FALSE(dlrt::evalDim("-", syms));
  CHECK_FALSE(dlrt::evalDim("4611686018427387904*4", syms));
  CHECK_FALSE(dlrt::evalDim("9223372036854775807+B", syms));
  CHECK_FALSE(dlrt::evalDim("B/0", syms));
  CHECK_FALSE(dlrt::evalDim(std::string(100, '(') + "B" + std::string(100, ')'), syms));
  CHECK_FALSE(dlrt::evalDim("Q", syms));
}
