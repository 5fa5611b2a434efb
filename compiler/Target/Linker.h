//===- Linker.h - links objects into model.so ------------------*- C++ -*-===//
#ifndef DLC_TARGET_LINKER_H
#define DLC_TARGET_LINKER_H

#include <string>
#include <vector>

namespace dlc {

/// Links `objects` (bytes of ELF objects) into the shared library `output`, refusing
/// undefined symbols other than libc's and libm's: model.so may only call what every
/// deployment has, plus the runtime kernels it reaches through its import slots.
bool linkSharedLibrary(const std::vector<std::string> &objects, const std::string &output,
                       std::string &error);

} // namespace dlc
#endif
