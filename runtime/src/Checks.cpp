//===- Checks.cpp - run-time checks that compiled code asks for -----------===//
//
// An index out of range is an error status naming the op's source location, never a
// crash: compiled code calls these before it gathers.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "onednn/Kernels.h"

#include <cstring>

using namespace dlrt;

extern "C" void dlrt_k_check_ids(void *vctx, int64_t site, const void *ids, int64_t count, int64_t elemBytes,
                                 int64_t limit) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  const uint8_t *p = static_cast<const uint8_t *>(ids);
  for (int64_t i = 0; i < count; ++i) {
    int64_t v;
    if (elemBytes == 8) {
      std::memcpy(&v, p + 8 * i, 8);
    } else {
      int32_t w;
      std::memcpy(&w, p + 4 * i, 4);
      v = w;
    }
    if (v < 0 || v >= limit) {
      ctx.fail(ctx.where(site) + ": index " + std::to_string(v) + " at position " + std::to_string(i) +
               " is out of range [0, " + std::to_string(limit) + ")");
      return;
    }
  }
}

extern "C" void dlrt_k_check_size(void *vctx, int64_t site, int64_t size, int64_t limit) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (size > limit)
    ctx.fail(ctx.where(site) + ": length " + std::to_string(size) + " exceeds the maximum " + std::to_string(limit));
}

extern "C" void dlrt_k_check_count(void *vctx, int64_t site, int64_t count, int64_t min) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (count < min)
    ctx.fail(ctx.where(site) + ": expected at least " + std::to_string(min) + " values per channel in training, got " +
             std::to_string(count));
}
