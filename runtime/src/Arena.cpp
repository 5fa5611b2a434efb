//===- Arena.cpp - the session's memory for intermediate tensors ----------===//
#include "Arena.h"
#include "onednn/Kernels.h"

#include <algorithm>
#include <cstdlib>

namespace dlrt {

namespace {
constexpr size_t kAlign = 64;
size_t rounded(size_t bytes) { return std::max<size_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign); }
} // namespace

MemorySource &hostMemory() {
  struct Host final : MemorySource {
    void *allocate(size_t bytes) override { return std::aligned_alloc(kAlign, bytes); }
    void release(void *p) override { std::free(p); }
  };
  static Host host;
  return host;
}

Arena::~Arena() {
  for (auto &[p, i] : mallocd) memory->release(p);
  if (slab) memory->release(slab);
}

void Arena::begin(const std::vector<int64_t> &s) {
  shapes = s;
  auto it = plans.find(s);
  replaying = it != plans.end() ? &it->second : nullptr;
  recording = !replaying;
  diverged = false;
  failed = false;
  failMessage.clear();
  cursor = 0;
  trace.clear();
  clock = 0;
  live = 0;
}

void *Arena::allocate(size_t bytes) {
  size_t size = rounded(bytes);
  if (replaying && !diverged) {
    if (cursor < replaying->sizes.size() && replaying->sizes[cursor] == size)
      return slab + replaying->offsets[cursor++];
    diverged = true; // not the recorded sequence: malloc from here on, record next time
  }
  bool overLimit = limit && slabBytes + mallocBytes + size > limit;
  void *p = overLimit ? nullptr : memory->allocate(size);
  if (!p) {
    failMessage = "out of memory: an intermediate tensor of " + std::to_string(size) + " bytes" +
                  (overLimit ? " would take the session's memory past its limit of " + std::to_string(limit) +
                                   " bytes (" + std::to_string(slabBytes + mallocBytes) + " held)"
                             : " could not be allocated");
    failed = true;
    if (failJump && std::this_thread::get_id() == failThread) std::longjmp(*failJump, 1);
    return nullptr;
  }
  mallocd[p] = {trace.size(), size};
  mallocBytes += size;
  if (recording) {
    trace.push_back({size, clock++, SIZE_MAX});
    live += size;
    peak = std::max(peak, live);
  }
  return p;
}

bool Arena::release(void *p) {
  if (slab && static_cast<char *>(p) >= slab && static_cast<char *>(p) < slab + slabBytes) return true;
  auto it = mallocd.find(p);
  if (it == mallocd.end()) return false;
  if (recording) {
    trace[it->second.index].died = clock++;
    live -= trace[it->second.index].size;
  }
  mallocBytes -= it->second.size;
  memory->release(p);
  mallocd.erase(it);
  return true;
}

void Arena::end() {
  // Whatever compiled code left allocated is dead now: outputs live in the caller's buffers.
  for (auto &[p, i] : mallocd) memory->release(p);
  mallocd.clear();
  mallocBytes = 0;
  if (diverged || failed) plans.erase(shapes);
  if (recording && !failed) {
    for (Block &b : trace)
      if (b.died == SIZE_MAX) b.died = clock;
    size_t bytes = 0;
    Plan plan = pack(trace, bytes);
    if (bytes > slabBytes && limit && bytes > limit) {
      // A slab for this plan would pass the limit: such calls keep allocating block by
      // block, within the limit or failing.
    } else if (bytes > slabBytes) {
      if (slab) memory->release(slab);
      slab = static_cast<char *>(memory->allocate(bytes));
      slabBytes = slab ? bytes : 0;
      // Without a slab no plan can be replayed: every call records (on malloc) instead.
      if (!slab) plans.clear();
    }
    if ((slab && bytes <= slabBytes) || bytes == 0) plans[shapes] = std::move(plan);
  }
  replaying = nullptr;
  recording = false;
}

/// Offsets for `blocks` such that two blocks alive at the same time never overlap: the
/// largest first, each at the lowest offset clear of the already placed blocks whose
/// lifetimes meet its own.
Arena::Plan Arena::pack(const std::vector<Block> &blocks, size_t &bytes) {
  std::vector<size_t> order(blocks.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Equal sizes keep their order (what stable_sort would give, whose libstdc++ 12
  // temporary buffer clang warns about as deprecated).
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return blocks[a].size != blocks[b].size ? blocks[a].size > blocks[b].size : a < b;
  });
  Plan plan;
  plan.sizes.resize(blocks.size());
  plan.offsets.resize(blocks.size());
  std::vector<size_t> placed;
  bytes = 0;
  for (size_t i : order) {
    const Block &b = blocks[i];
    std::vector<std::pair<size_t, size_t>> taken; // [offset, end) of overlapping lifetimes
    for (size_t j : placed)
      if (blocks[j].born < b.died && b.born < blocks[j].died)
        taken.push_back({plan.offsets[j], plan.offsets[j] + blocks[j].size});
    std::sort(taken.begin(), taken.end());
    size_t offset = 0;
    for (auto [lo, hi] : taken) {
      if (offset + b.size <= lo) break;
      offset = std::max(offset, hi);
    }
    plan.sizes[i] = b.size;
    plan.offsets[i] = offset;
    bytes = std::max(bytes, offset + b.size);
    placed.push_back(i);
  }
  return plan;
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

extern "C" void *dlrt_k_aligned_alloc(int64_t alignment, int64_t bytes) {
  if (alignment <= int64_t(dlrt::kAlign)) return dlrt_k_alloc(bytes);
  size_t a = size_t(alignment);
  return std::aligned_alloc(a, (size_t(bytes) + a - 1) / a * a);
}

extern "C" void dlrt_k_free(void *p) {
  dlrt::Arena *a = dlrt::currentArena();
  if (!p) return;
  if (!a || !a->release(p)) std::free(p);
}
