//===- Common.h - what dlrun's commands share -------------------*- C++ -*-===//
#ifndef DLRT_TOOLS_DLRUN_COMMON_H
#define DLRT_TOOLS_DLRUN_COMMON_H

#include "dlrt/dlrt.h"
#include "io/Npy.h"

#include <sys/stat.h>

#include <cerrno>
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

/// Creates a folder and the folders above it (mkdir -p); true if they exist afterwards.
inline bool makeDirs(const std::string &dir) {
  for (size_t i = 1; i <= dir.size(); ++i)
    if (i == dir.size() || dir[i] == '/') {
      std::string part = dir.substr(0, i);
      if (mkdir(part.c_str(), 0777) != 0 && errno != EEXIST) return false;
    }
  return true;
}

/// Creates the folders above `path` (mkdir -p of its directory).
inline bool makeParentDirs(const std::string &path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos || slash == 0 || makeDirs(path.substr(0, slash));
}

/// dlrun train (Train.cpp).
int train(int argc, char **argv);

} // namespace dlrun
#endif
