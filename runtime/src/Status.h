//===- Status.h - building dlrt_status values -------------------*- C++ -*-===//
#ifndef DLRT_SRC_STATUS_H
#define DLRT_SRC_STATUS_H

#include "dlrt/dlrt.h"

#include <string>

struct dlrt_status_s {
  std::string message;
};

namespace dlrt {
/// A failed status carrying `message` (the caller of the C API owns it).
inline dlrt_status fail(std::string message) { return new dlrt_status_s{std::move(message)}; }
} // namespace dlrt

#endif
