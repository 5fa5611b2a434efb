//===- Linker.cpp - links an object into model.so -------------------------===//
#include "compiler/Target/Linker.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

namespace dlc {

bool linkSharedLibrary(const std::string &object, const std::string &output, std::string &error) {
  llvm::SmallString<128> objPath;
  int fd;
  if (llvm::sys::fs::createTemporaryFile("dlc-model", "o", fd, objPath)) {
    error = "cannot create a temporary object file";
    return false;
  }
  {
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << object;
  }
  // The C compiler driver knows where libc and libm live; lld links fastest.
  std::string driver;
  for (const char *candidate : {"clang-22", "clang", "cc"}) {
    if (auto p = llvm::sys::findProgramByName(candidate)) {
      driver = *p;
      break;
    }
  }
  if (driver.empty()) {
    llvm::sys::fs::remove(objPath);
    error = "no C compiler driver (clang-22, clang or cc) found to link model.so";
    return false;
  }
  llvm::SmallString<128> errPath;
  llvm::sys::fs::createTemporaryFile("dlc-link", "txt", errPath);
  std::vector<llvm::StringRef> args = {driver, "-shared", "-nostartfiles", "-o", output, objPath,
                                       "-Wl,-z,defs", "-Wl,--as-needed", "-lm"};
  std::string ld = driver.find("clang") != std::string::npos ? "-fuse-ld=lld" : "";
  if (!ld.empty()) args.push_back(ld);
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(errPath), llvm::StringRef(errPath)};
  int rc = llvm::sys::ExecuteAndWait(driver, args, std::nullopt, redirects, 0, 0, &error);
  llvm::sys::fs::remove(objPath);
  if (rc != 0) {
    auto buf = llvm::MemoryBuffer::getFile(errPath);
    error = "linking model.so failed" + (buf ? ":\n" + (*buf)->getBuffer().str() : std::string(": ") + error);
    llvm::sys::fs::remove(errPath);
    return false;
  }
  llvm::sys::fs::remove(errPath);
  return true;
}

} // namespace dlc
