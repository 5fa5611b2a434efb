//===- Linker.h - links an object into model.so -----------------*- C++ -*-===//
#ifndef DLC_TARGET_LINKER_H
#define DLC_TARGET_LINKER_H

#include <string>

namespace dlc {

/// Links `object` (bytes of an ELF object) into the shared library `output`, refusing
/// undefined symbols other than libc's and libm's: model.so may only call what every
/// deployment has, plus the runtime kernels it reaches through its import slots.
bool linkSharedLibrary(const std::string &object, const std::string &output, std::string &error);

} // namespace dlc
#endif
