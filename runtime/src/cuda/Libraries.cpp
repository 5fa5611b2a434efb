//===- Libraries.cpp - finding NVIDIA's libraries at run time -------------===//
#include "cuda/Libraries.h"

#include <dlfcn.h>
#include <glob.h>

#include <cstdlib>

namespace dlrt::cuda {

void *openLibrary(const char *override, const std::vector<std::string> &sonames, const std::string &package,
                  std::string &error) {
  std::vector<std::string> tried;
  auto attempt = [&](const std::string &path) -> void * {
    void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) tried.push_back(path);
    return h;
  };
  if (const char *file = std::getenv(override); file && *file) {
    if (void *h = attempt(file)) return h;
    const char *e = dlerror();
    error = std::string(override) + "=" + file + " cannot be loaded (" + (e ? e : "unknown error") + ")";
    return nullptr;
  }
  for (const std::string &name : sonames)
    if (void *h = attempt(name)) return h;
  std::vector<std::string> dirs;
  if (const char *path = std::getenv("DLRT_CUDA_LIBRARY_PATH")) {
    std::string p = path;
    for (size_t start = 0; start <= p.size();) {
      size_t end = p.find(':', start);
      if (end == std::string::npos) end = p.size();
      if (end > start) dirs.push_back(p.substr(start, end - start));
      start = end + 1;
    }
  }
  std::string home = std::getenv("HOME") ? std::getenv("HOME") : "";
  for (std::string pattern : {"/usr/lib/python3*/*-packages/nvidia/" + package + "/lib",
                              "/usr/local/lib/python3*/*-packages/nvidia/" + package + "/lib",
                              "/opt/conda/lib/python3*/site-packages/nvidia/" + package + "/lib",
                              home + "/.local/lib/python3*/site-packages/nvidia/" + package + "/lib"}) {
    glob_t g;
    if (glob(pattern.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) dirs.push_back(g.gl_pathv[i]);
    globfree(&g);
  }
  for (const std::string &dir : dirs)
    for (const std::string &name : sonames)
      if (void *h = attempt(dir + "/" + name)) return h;
  error = "cannot find " + sonames.front() + " (tried";
  for (size_t i = 0; i < tried.size() && i < 8; ++i) error += " " + tried[i];
  if (tried.size() > 8) error += " and " + std::to_string(tried.size() - 8) + " more";
  error += "); " + std::string(override) + " or DLRT_CUDA_LIBRARY_PATH can point to it";
  return nullptr;
}

} // namespace dlrt::cuda
