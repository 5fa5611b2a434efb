//===- KernelContext.cpp - what compiled code's kernel calls reach --------===//
#include "KernelContext.h"

#include <algorithm>
#include <new>

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

void KernelContext::runOn(dnnl::stream &on, GrowingBuffer &scratch, const dnnl::primitive &prim,
                          std::unordered_map<int, dnnl::memory> args) {
  // Zero-sized where the primitive needs none, or was made in library mode (reorders).
  const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(prim.get_primitive_desc(), dnnl_query_scratchpad_md, 0);
  if (md) {
    dnnl::memory::desc desc(*md);
    if (desc.get_size() > 0) args.insert({DNNL_ARG_SCRATCHPAD, staged(scratch, desc)});
  }
  prim.execute(on, args);
  on.wait();
}

void KernelContext::runReorder(const dnnl::primitive &prim, std::unordered_map<int, dnnl::memory> args, size_t bytes) {
  constexpr size_t kSmall = 512 * 1024;
  if (bytes >= kSmall || threadCount <= 1) return run(prim, std::move(args));
  setOpenMPThreads(1);
  run(prim, std::move(args));
  setOpenMPThreads(threadCount);
}

} // namespace dlrt
