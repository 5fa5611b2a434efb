//===- SafetensorsFuzzer.cpp - the weights and checkpoint file reader -----===//
#include "io/Safetensors.h"

#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dlrt::SafetensorsFile file;
  std::string error;
  if (!dlrt::parseSafetensors(std::vector<uint8_t>(data, data + size), file, error, "fuzz")) return 0;
  // Every entry the reader accepted lies inside the data: touch each byte.
  volatile uint8_t sink = 0;
  for (const dlrt::SafetensorsEntry &e : file.entries)
    for (size_t k = 0; k < e.bytes; ++k) sink = sink ^ file.data(e)[k];
  return 0;
}
