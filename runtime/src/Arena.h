//===- Arena.h - the session's memory for intermediate tensors --*- C++ -*-===//
#ifndef DLRT_SRC_ARENA_H
#define DLRT_SRC_ARENA_H

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace dlrt {

/// Where compiled code's intermediate buffers come from (its malloc/free are routed here
/// through the import table), planned by liveness.
///
/// A model's sequence of allocations and frees depends only on its input shapes. The
/// first call with new shapes records that sequence (on malloc); afterwards the arena
/// packs the buffers into one slab, giving each an offset such that buffers alive at the
/// same time never overlap (largest first, each at the lowest offset that fits). Later
/// calls with those shapes replay the plan: every allocation is a pointer bump into the
/// slab, no page is touched for the first time (a fresh page costs a fault: 9 ms of a
/// 60 ms ResNet-18 call), and the addresses are the same on every call, so results are
/// deterministic. One slab serves all shapes seen, sized for the largest plan. Should a
/// call ever allocate differently from its plan, the rest of it falls back to malloc and
/// the next call records anew.
/// Where an arena's memory comes from: the host's heap, or a GPU's memory for a cuda
/// session (whose compiled code hands every buffer to kernels, never touching it).
class MemorySource {
public:
  virtual ~MemorySource() = default;
  /// `bytes` aligned to at least 64; null when there is no memory for it.
  virtual void *allocate(size_t bytes) = 0;
  virtual void release(void *p) = 0;
};

/// The host's heap (aligned_alloc and free).
MemorySource &hostMemory();

class Arena {
public:
  Arena() = default;
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;
  ~Arena();

  /// Brackets one call; `shapes` identifies its input shapes (the symbols' values).
  void begin(const std::vector<int64_t> &shapes);
  void end();

  void *allocate(size_t bytes);
  /// False if `p` did not come from this arena.
  bool release(void *p);

  /// Set before the first call: where the slab and the blocks come from.
  MemorySource *memory = &hostMemory();

  /// The most bytes the arena may hold (its slab and the blocks it malloc'ed); 0: no limit.
  size_t limit = 0;
  /// Compiled code does not check its allocations: one the arena cannot make jumps to
  /// `jump` (set by the thread that runs the call, cleared after it), with failure()
  /// saying why, instead of handing it a null pointer.
  void setFailureJump(std::jmp_buf *jump) {
    failJump = jump;
    failThread = std::this_thread::get_id();
  }
  const std::string &failure() const { return failMessage; }

  /// The liveness lower bound: the most bytes alive at once in any call so far.
  size_t peakBytes() const { return peak; }
  /// The slab: what the plans need (the largest of them).
  size_t plannedBytes() const { return slabBytes; }

private:
  struct Block {
    size_t size, born, died;
  };
  struct Plan {
    std::vector<size_t> sizes, offsets;
  };
  static Plan pack(const std::vector<Block> &blocks, size_t &bytes);

  std::map<std::vector<int64_t>, Plan> plans;
  std::vector<int64_t> shapes;
  Plan *replaying = nullptr;
  size_t cursor = 0;
  bool recording = false, diverged = false;
  std::vector<Block> trace;
  struct Mallocd {
    size_t index, size; // in trace, and its bytes
  };
  std::unordered_map<void *, Mallocd> mallocd;
  size_t mallocBytes = 0;
  bool failed = false; // this call could not allocate: its trace is no plan
  std::jmp_buf *failJump = nullptr;
  std::thread::id failThread;
  std::string failMessage;
  size_t clock = 0, live = 0, peak = 0;
  char *slab = nullptr;
  size_t slabBytes = 0;
};

/// The arena of the session running on this thread, set for the duration of a call.
Arena *&currentArena();

} // namespace dlrt
#endif
