//===- CheckpointFuzzer.cpp - loading a training checkpoint into a session ===//
//
// dlrt_load_checkpoint on arbitrary bytes, for a session of samples/mlp (compiled at
// build time): the file reader and the checkpoint's own checks (parameters, optimizer
// slots, step and generator state, the caller's string). A failed load must leave the
// session as it was; a later train step must still run.
//
//===----------------------------------------------------------------------===//
#include "dlrt/dlrt.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static dlrt_session *session = [] {
    dlrt_model *model = nullptr;
    dlrt_session *s = nullptr;
    if (dlrt_model_load(DLC_FUZZ_MODEL, &model) || dlrt_session_create(model, nullptr, &s)) {
      std::fprintf(stderr, "cannot load %s\n", DLC_FUZZ_MODEL);
      std::abort();
    }
    return s;
  }();
  // The bytes as a file without touching the disk.
  static int fd = memfd_create("checkpoint", 0);
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != ssize_t(size)) std::abort();
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  char *user = nullptr;
  if (dlrt_status st = dlrt_load_checkpoint(session, path.c_str(), &user)) dlrt_status_free(st);
  dlrt_string_free(user);
  return 0;
}
