//===- Linker.cpp - links objects into model.so --------------------------===//
//
// model.so is linked by lld inside dlc where dlc is built with lld's libraries (Debian's
// liblld-22-dev): TinyGpt's three objects in 0.012-0.015 s, where the link phase took
// 0.034 s running GNU ld (a process to start, 1,150 page faults of its own, libc's symbol
// table read anew). Otherwise, or if that link fails, a linker runs directly: through a C
// compiler driver it took 0.15 s, half of it the driver itself, for a 0.6 s compile of a
// small model. libm and libc are named by the paths of the ones dlc itself runs with (the
// driver's knowledge that dlc needs is where they are). GNU ld comes first there: it
// starts in a millisecond, where ld.lld, linked against libLLVM.so, spends 0.06 s
// resolving that library's symbols before it reads an object; it links a small model in
// 0.02-0.03 s against lld's 0.07-0.08, and TinyGpt-64's 0.8 MB of objects in 0.03-0.04 s
// against 0.08-0.10. ld.lld is next. Generated code may also need a compiler builtin that
// only the driver's runtime library (libgcc) has; if no direct link succeeds, for that or
// for any other reason, the driver links instead, and its error is the one reported.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/Linker.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <link.h>

#ifdef DLC_HAVE_LLD
#include "lld/Common/Driver.h"
LLD_HAS_DRIVER(elf)
#endif

namespace dlc {

namespace {

/// Paths of the shared libc and libm loaded into this process, if both are.
bool loadedCLibraries(std::string &libc, std::string &libm) {
  struct Found {
    std::string libc, libm;
  } found;
  dl_iterate_phdr(
      [](dl_phdr_info *info, size_t, void *data) {
        auto *f = static_cast<Found *>(data);
        llvm::StringRef path(info->dlpi_name ? info->dlpi_name : "");
        llvm::StringRef name = llvm::sys::path::filename(path);
        if (!llvm::sys::path::is_absolute(path)) return 0;
        if (name.starts_with("libc.so.")) f->libc = path.str();
        if (name.starts_with("libm.so.")) f->libm = path.str();
        return 0;
      },
      &found);
  libc = found.libc;
  libm = found.libm;
  return !libc.empty() && !libm.empty();
}

/// Runs `args`, with stdout and stderr in `output`; the exit status.
int run(llvm::StringRef program, llvm::ArrayRef<llvm::StringRef> args, std::string &output) {
  llvm::SmallString<128> logPath;
  if (llvm::sys::fs::createTemporaryFile("dlc-link", "txt", logPath)) {
    output = "cannot create a temporary file";
    return -1;
  }
  auto removeLog = llvm::scope_exit([&] { llvm::sys::fs::remove(logPath); });
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(logPath), llvm::StringRef(logPath)};
  std::string error;
  int rc = llvm::sys::ExecuteAndWait(program, args, std::nullopt, redirects, 0, 0, &error);
  auto log = llvm::MemoryBuffer::getFile(logPath);
  output = log ? (*log)->getBuffer().str() : std::string();
  if (rc < 0) output += error;
  return rc;
}

/// Links with lld inside this process, if dlc has it; its messages in `output`.
bool linkInProcess(llvm::ArrayRef<llvm::StringRef> args, std::string &output) {
#ifdef DLC_HAVE_LLD
  std::vector<std::string> owned(args.begin(), args.end());
  std::vector<const char *> argv;
  for (const std::string &a : owned) argv.push_back(a.c_str());
  llvm::raw_string_ostream os(output);
  lld::Result r = lld::lldMain(argv, os, os, {{lld::Gnu, &lld::elf::link}});
  return r.retCode == 0;
#else
  (void)args;
  (void)output;
  return false;
#endif
}

std::string findProgram(llvm::ArrayRef<const char *> names) {
  for (const char *name : names)
    if (auto p = llvm::sys::findProgramByName(name)) return *p;
  return {};
}

} // namespace

bool linkSharedLibrary(const std::vector<std::string> &objects, const std::string &output,
                       std::string &error) {
  std::vector<llvm::SmallString<128>> objPaths;
  auto removeObjects = llvm::scope_exit([&] {
    for (auto &p : objPaths) llvm::sys::fs::remove(p);
  });
  for (const std::string &object : objects) {
    llvm::SmallString<128> objPath;
    int fd;
    if (llvm::sys::fs::createTemporaryFile("dlc-model", "o", fd, objPath)) {
      error = "cannot create a temporary object file";
      return false;
    }
    objPaths.push_back(objPath);
    bool written;
    {
      llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
      os << object;
      os.close();
      written = !os.has_error();
      os.clear_error(); // (a stream destroyed with its error set aborts the process)
    }
    if (!written) {
      error = "cannot write the temporary object file '" + objPath.str().str() + "'";
      return false;
    }
  }

  std::string libc, libm, log;
  if (loadedCLibraries(libc, libm)) {
    auto linkArgs = [&](llvm::StringRef ld, llvm::ArrayRef<llvm::StringRef> flags) {
      std::vector<llvm::StringRef> args = {ld, "-shared", "--hash-style=gnu", "--build-id", "--eh-frame-hdr", "-z", "defs",
                                           "-o", output};
      args.insert(args.end(), flags.begin(), flags.end());
      args.insert(args.end(), objPaths.begin(), objPaths.end());
      args.insert(args.end(), {"--as-needed", libm, libc});
      return args;
    };
    if (linkInProcess(linkArgs("ld.lld", {}), log)) return true;
    // GNU ld's default puts code in a segment of its own, page-aligned: 10 KB more for a
    // small model. lld's default does not; model.so is the same either way.
    struct Linker {
      std::vector<const char *> names;
      std::vector<llvm::StringRef> flags; // beyond those every linker gets
    };
    const Linker linkers[] = {{{"ld.bfd"}, {"-z", "noseparate-code"}}, {{"ld.lld-22", "ld.lld"}, {}}};
    for (const Linker &linker : linkers) {
      std::string ld = findProgram(linker.names);
      if (ld.empty()) continue;
      if (run(ld, linkArgs(ld, linker.flags), log) == 0) return true;
    }
  }

  std::string driver = findProgram({"clang-22", "clang", "cc"});
  if (driver.empty()) {
    error = "no C compiler driver (clang-22, clang or cc) found to link model.so" +
            (log.empty() ? std::string() : "; the linker said:\n" + log);
    return false;
  }
  std::vector<llvm::StringRef> args = {driver, "-shared", "-nostartfiles", "-o", output};
  args.insert(args.end(), objPaths.begin(), objPaths.end());
  args.insert(args.end(), {"-Wl,-z,defs", "-Wl,--as-needed", "-lm"});
  if (driver.find("clang") != std::string::npos) args.push_back("-fuse-ld=lld");
  if (run(driver, args, log) != 0) {
    error = "linking model.so failed:\n" + log;
    return false;
  }
  return true;
}

} // namespace dlc
