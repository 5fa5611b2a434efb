//===- SignatureFuzzer.cpp - the model.so signature reader ----------------===//
//
// A model's signature is JSON in model.so; the runtime parses it before trusting
// anything in it, and evaluates its dim expressions.
//
//===----------------------------------------------------------------------===//
#include "Signature.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dlrt::Signature sig;
  std::string error;
  if (!dlrt::parseSignature(std::string(reinterpret_cast<const char *>(data), size), sig, error)) return 0;
  std::map<std::string, int64_t> symbols;
  for (const std::string &s : sig.symbols) symbols[s] = 3;
  for (const auto *list : {&sig.inputs, &sig.outputs, &sig.params})
    for (const dlrt::ValueSpec &v : *list)
      for (const std::string &d : v.dims) (void)dlrt::evalDim(d, symbols);
  return 0;
}
