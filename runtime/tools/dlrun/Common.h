//===- Common.h - what dlrun's commands share -------------------*- C++ -*-===//
#ifndef DLRT_TOOLS_DLRUN_COMMON_H
#define DLRT_TOOLS_DLRUN_COMMON_H

#include "dlrt/dlrt.h"
#include "io/Npy.h"

#include <cstdio>
#include <string>

namespace dlrun {

/// dlrun's exit codes (TOOLS.md): 0 ok, 1 bad input or a failed run, 2 bad usage.
enum Exit { Ok = 0, Failed = 1, Usage = 2 };

/// Prints a failed call's message (after `context`), frees the status, returns Failed.
inline int failed(dlrt_status st, const std::string &context = "") {
  std::fprintf(stderr, "dlrun: %s%s\n", context.c_str(), dlrt_status_message(st));
  dlrt_status_free(st);
  return Failed;
}

/// Reads an input .npy; a float64 file is cast to f32 with a warning. False (after
/// printing why) when the file is unreadable or malformed.
inline bool readInput(const std::string &path, dlrt::HostTensor &t) {
  std::string err;
  bool cast = false;
  if (!dlrt::readNpy(path, t, err, &cast)) {
    std::fprintf(stderr, "dlrun: %s\n", err.c_str());
    return false;
  }
  if (cast) std::fprintf(stderr, "dlrun: warning: '%s' is float64; cast to f32\n", path.c_str());
  return true;
}

/// dlrun train (Train.cpp).
int train(int argc, char **argv);

} // namespace dlrun
#endif
