//===- Libraries.h - finding NVIDIA's libraries at run time -----*- C++ -*-===//
#ifndef DLRT_SRC_CUDA_LIBRARIES_H
#define DLRT_SRC_CUDA_LIBRARIES_H

#include <dlfcn.h>

#include <string>
#include <vector>

namespace dlrt::cuda {

/// dlopen's one of NVIDIA's libraries (cuBLAS, ...), trying in order: the file the
/// environment variable `override` names; each of `sonames` on the loader's path; the
/// same names in each folder of DLRT_CUDA_LIBRARY_PATH (colon-separated); and the
/// folders where pip installs them for PyTorch (site-packages/nvidia/<package>/lib, for
/// every python3 under /usr, /usr/local, /opt/conda and the user's ~/.local). Null with
/// `error` listing what was tried.
void *openLibrary(const char *override, const std::vector<std::string> &sonames, const std::string &package,
                  std::string &error);

/// Binds `fn` to the symbol `name` of the library `handle`; the first one missing sets
/// `error` to "<library> has no <name>".
template <typename Fn>
void bindSymbol(void *handle, Fn &fn, const char *name, const std::string &library, std::string &error) {
  fn = reinterpret_cast<Fn>(dlsym(handle, name));
  if (!fn && error.empty()) error = library + " has no " + name;
}

} // namespace dlrt::cuda
#endif
