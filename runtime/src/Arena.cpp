//===- Arena.cpp - the session's memory for intermediate tensors ----------===//
#include "Arena.h"
#include "onednn/Kernels.h"

#include <cstdlib>

namespace dlrt {

Arena::~Arena() {
  for (auto &[p, size] : sizeOf) std::free(p);
}

void *Arena::allocate(size_t bytes) {
  size_t size = (bytes + 4095) / 4096 * 4096;
  if (size == 0) size = 4096;
  void *p = nullptr;
  auto it = freeBlocks.find(size);
  if (it != freeBlocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
  } else {
    p = std::aligned_alloc(64, size);
    if (!p) return nullptr;
    sizeOf[p] = size;
    reserved += size;
  }
  live += size;
  if (live > peak) peak = live;
  return p;
}

bool Arena::release(void *p) {
  auto it = sizeOf.find(p);
  if (it == sizeOf.end()) return false;
  live -= it->second;
  freeBlocks[it->second].push_back(p);
  return true;
}

Arena *&currentArena() {
  thread_local Arena *arena = nullptr;
  return arena;
}

} // namespace dlrt

extern "C" void *dlrt_k_alloc(int64_t bytes) {
  dlrt::Arena *a = dlrt::currentArena();
  return a ? a->allocate(size_t(bytes)) : std::malloc(size_t(bytes));
}

extern "C" void dlrt_k_free(void *p) {
  dlrt::Arena *a = dlrt::currentArena();
  if (!p) return;
  if (!a || !a->release(p)) std::free(p);
}
