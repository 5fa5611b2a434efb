//===- KernelContext.cpp - what compiled code's kernel calls reach --------===//
#include "KernelContext.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

namespace dlrt {

void *GrowingBuffer::get(size_t bytes) {
  if (bytes > size || !data) {
    constexpr size_t kPage = 4096;
    size_t rounded = std::max<size_t>(kPage, (bytes + kPage - 1) / kPage * kPage);
    data.reset(static_cast<char *>(std::aligned_alloc(kPage, rounded)));
    size = data ? rounded : 0;
    if (!data) throw std::bad_alloc();
  }
  return data.get();
}

namespace {
/// Bytes after a primitive's scratchpad filled with kGuardByte before it runs and checked
/// after, and more left as slack: a kernel that writes past the scratchpad it asked for
/// fails its call with an error naming it, rather than going unnoticed or corrupting what
/// follows (the heap, past the buffer's last page). oneDNN's 1x1 weight-gradient kernels
/// for few channels did (ConvolutionBackward.cpp's overrunsStridedCopy), from byte 1, 17
/// or 65 past the end to byte 256-3712 capped at AVX2, from byte 1 or 16257 to 8064-24448
/// with AVX-512: a guard catches those that start inside it. 256 bytes written and
/// compared cost tens of nanoseconds a primitive.
constexpr size_t kGuardBytes = 256, kGuardSlack = 4096;
constexpr unsigned char kGuardByte = 0xA5;
const std::array<unsigned char, kGuardBytes> kGuard = [] {
  std::array<unsigned char, kGuardBytes> a{};
  a.fill(kGuardByte);
  return a;
}();
} // namespace

void KernelContext::runOn(dnnl::stream &on, GrowingBuffer &scratch, const dnnl::primitive &prim,
                          std::unordered_map<int, dnnl::memory> args) {
  // Zero-sized where the primitive needs none, or was made in library mode (reorders).
  const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  unsigned char *guard = nullptr;
  if (md) {
    dnnl::memory::desc desc(*md);
    if (size_t bytes = desc.get_size(); bytes > 0) {
      auto *pad = static_cast<unsigned char *>(scratch.get(bytes + kGuardBytes + kGuardSlack));
      guard = pad + bytes;
      std::memcpy(guard, kGuard.data(), kGuardBytes);
      args.insert({DNNL_ARG_SCRATCHPAD, dnnl::memory(desc, engine, pad)});
    }
  }
  prim.execute(on, args);
  on.wait();
  if (guard && std::memcmp(guard, kGuard.data(), kGuardBytes) != 0) {
    const char *impl = nullptr;
    dnnl_primitive_desc_query(prim.get_primitive_desc(), dnnl_query_impl_info_str, 0, &impl);
    throw std::runtime_error(std::string("its kernel ") + (impl ? impl : "?") +
                             " wrote past the scratchpad it asked for (a defect of oneDNN's); the call's results are "
                             "not used");
  }
}

void KernelContext::runReorder(const dnnl::primitive &prim, std::unordered_map<int, dnnl::memory> args, size_t bytes) {
  constexpr size_t kSmall = 512 * 1024;
  if (bytes >= kSmall || threadCount <= 1) return run(prim, std::move(args));
  setOpenMPThreads(1);
  run(prim, std::move(args));
  setOpenMPThreads(threadCount);
}

} // namespace dlrt
