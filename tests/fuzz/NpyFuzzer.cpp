//===- NpyFuzzer.cpp - the .npy reader ------------------------------------===//
#include "io/Npy.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dlrt::HostTensor t;
  std::string error;
  bool castFromF64 = false;
  if (!dlrt::parseNpy(std::string(reinterpret_cast<const char *>(data), size), t, error, "fuzz", &castFromF64))
    return 0;
  volatile uint8_t sink = 0;
  const uint8_t *p = static_cast<const uint8_t *>(t.data());
  for (size_t k = 0; k < t.bytes(); ++k) sink = sink ^ p[k];
  return 0;
}
