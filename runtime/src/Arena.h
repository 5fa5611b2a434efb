//===- Arena.h - the session's memory for intermediate tensors --*- C++ -*-===//
#ifndef DLRT_SRC_ARENA_H
#define DLRT_SRC_ARENA_H

#include <cstddef>
#include <map>
#include <unordered_map>
#include <vector>

namespace dlrt {

/// Where compiled code's intermediate buffers come from (its malloc/free are routed here
/// through the import table). Freed blocks are kept by size and handed out again, so a
/// steady stream of calls of one shape touches no new pages (fresh malloc'ed pages cost a
/// page fault each: 9 ms of a 60 ms ResNet-18 call) and gets the same addresses on every
/// call, in the same order: results are deterministic. Blocks are 64-byte aligned.
class Arena {
public:
  Arena() = default;
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;
  ~Arena();

  void *allocate(size_t bytes);
  /// False if `p` did not come from this arena.
  bool release(void *p);

  size_t liveBytes() const { return live; }
  size_t peakBytes() const { return peak; }
  size_t reservedBytes() const { return reserved; }

private:
  std::unordered_map<void *, size_t> sizeOf;
  std::map<size_t, std::vector<void *>> freeBlocks;
  size_t live = 0, peak = 0, reserved = 0;
};

/// The arena of the session running on this thread, set for the duration of a call.
Arena *&currentArena();

} // namespace dlrt
#endif
