//===- Profile.cpp - time per op of the dl graph --------------------------===//
#include "Profile.h"
#include "KernelContext.h"
#include "cuda/Device.h"

namespace dlrt {

void Profile::mark(int64_t unit) {
  auto now = std::chrono::steady_clock::now();
  if (running >= 0 && size_t(running) < seconds.size()) {
    seconds[size_t(running)] += std::chrono::duration<double>(now - since).count();
    ++calls[size_t(running)];
  }
  running = unit;
  since = now;
}

} // namespace dlrt

extern "C" void dlrt_k_profile(void *vctx, int64_t /*site*/, int64_t unit) {
  auto &ctx = *static_cast<dlrt::KernelContext *>(vctx);
  if (!ctx.profile) return;
  // A GPU runs work asynchronously: wait for what the last unit launched, so that its
  // time is its own.
  if (ctx.device) {
    std::string error;
    if (!ctx.device->synchronize(error)) ctx.fail(error);
  }
  ctx.profile->mark(unit);
}
