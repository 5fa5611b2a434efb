//===- Kernels.cpp - what a --target cuda model's host code calls ---------===//
//
// A cuda model imports dlrt_gpu_launch for its generated kernels and the same checks as
// a CPU model; a check that reads tensor contents (the index check) reads them from
// device memory here. Every other import resolves as for the CPU (the arena's
// dlrt_k_alloc/free, which allocate device memory in a cuda session).
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "cuda/Device.h"
#include "onednn/Kernels.h"

#include <cstring>

using dlrt::KernelContext;

extern "C" void dlrt_gpu_launch(void *vctx, int64_t kernel, int64_t gx, int64_t gy, int64_t gz, int64_t bx,
                                int64_t by, int64_t bz, const int64_t *words, int64_t count) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (!ctx.error.empty()) return; // the call has failed: nothing more runs
  if (!ctx.device) {
    ctx.fail("a GPU kernel launched in a session without a GPU");
    return;
  }
  const int64_t grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  std::string err;
  if (!ctx.device->launch(kernel, grid, block, words, count, err)) ctx.fail(err);
}

/// dlrt_k_check_ids on ids in device memory: copied to the host (a few words per sample),
/// then the CPU check.
extern "C" void dlrt_cuda_check_ids(void *vctx, int64_t site, const void *ids, int64_t count, int64_t elemBytes,
                                    int64_t limit) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (!ctx.error.empty() || count <= 0) return;
  std::vector<uint8_t> host(size_t(count) * size_t(elemBytes));
  std::string err;
  if (!ctx.device || !ctx.device->toHost(host.data(), ids, host.size(), err)) {
    ctx.fail(ctx.where(site) + ": reading the indices from the GPU: " + err);
    return;
  }
  dlrt_k_check_ids(vctx, site, host.data(), count, elemBytes, limit);
}

namespace dlrt {

void *resolveCudaKernel(const char *name, void *user) {
  if (std::strcmp(name, "dlrt_gpu_launch") == 0) return reinterpret_cast<void *>(&dlrt_gpu_launch);
  if (std::strcmp(name, "dlrt_k_check_ids") == 0) return reinterpret_cast<void *>(&dlrt_cuda_check_ids);
  // oneDNN's kernels take host memory: a cuda model that imported one would be a
  // compiler bug, refused here rather than run on device pointers.
  if (std::strncmp(name, "dlrt_k_", 7) == 0 && std::strcmp(name, "dlrt_k_alloc") != 0 &&
      std::strcmp(name, "dlrt_k_free") != 0 && std::strncmp(name, "dlrt_k_check_", 13) != 0)
    return nullptr;
  return resolveKernel(name, user);
}

} // namespace dlrt
