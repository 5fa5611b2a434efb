//===- Common.h - what dlrun's commands share -------------------*- C++ -*-===//
#ifndef DLRT_TOOLS_DLRUN_COMMON_H
#define DLRT_TOOLS_DLRUN_COMMON_H

#include "dlrt/dlrt.h"

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

/// dlrun train (Train.cpp).
int train(int argc, char **argv);

} // namespace dlrun
#endif
