//===- ParallelRows.cpp - a generated loop nest over the session's threads ===//
//
// dl-outline-kernels makes a loop nest whose outermost loop is parallel (every write lands
// on a row of its own) into a function of a row range, and compiled code calls it through
// dlrt_k_parallel_rows with the row count and the work of a row. The rows are cut into
// one contiguous part per thread, so each row is computed by the same code, in the same
// order, whatever the split; the thread count comes from the session's policy like every
// other kernel's, so that generated code keeps the second thread busy (and awake) between
// oneDNN's kernels instead of leaving it to sleep through them.
//
// Only where OpenMP's idle workers spin: a nest split with sleeping workers (OMP_WAIT_POLICY
// =passive, the setting for cores shared with other processes) pays a wake-up of 20-40 us,
// more than most nests take, and with cores shared the other thread may be descheduled
// for milliseconds (two test processes of two threads on two cores ran the generated-code
// tests 2.4x slower split). There nests run whole on the calling thread and leave the
// policy's tally alone, as with dlc --parallel-loops=false.
//
// With spinning workers a split is a few microseconds, unless another process holds the
// core: a nest that ends long after its longest part (kLateStart) waited for a thread the
// system had descheduled, and then the session's nests stay on the calling thread for a
// while (kSerialFor) before they try the threads again. The split cannot change a result,
// so this decision may depend on timing, where a kernel's thread count may not.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "dlrt/model_abi.h"

#include <algorithm>
#include <chrono>
#include <vector>

namespace {
/// Below this much work a nest runs on the calling thread without asking the policy (a
/// parallel region costs more than that even with spinning workers, and the policy's tally
/// is for kernels that matter).
constexpr double kMinParallelWork = DLRT_MIN_PARALLEL_ROWS_WORK;

using Clock = std::chrono::steady_clock;

/// A split that ends this much later than its longest part, and later than twice that
/// part, waited for a thread that was not running: a spinning worker joins within
/// microseconds, one asleep on a halted vCPU within 0.3 ms, a descheduled one after a
/// scheduler slice (milliseconds).
constexpr auto kLateStart = std::chrono::milliseconds(1);
/// How long nests then stay on the calling thread. Each retry after it can wait once more:
/// with 250 ms, under 2% of the time where the cores stay shared.
constexpr auto kSerialFor = std::chrono::milliseconds(250);
} // namespace

extern "C" void dlrt_k_parallel_rows(void *vctx, void (*rows)(void *, int64_t, int64_t), void *data, int64_t count,
                                     int64_t workPerRow) {
  auto &ctx = *static_cast<dlrt::KernelContext *>(vctx);
  if (count <= 0) return;
  double work = double(count) * double(workPerRow);
  if (count == 1 || work < kMinParallelWork || !ctx.threading.workersSpin) return rows(data, 0, count);
  // The policy is asked even when the nest then runs alone: its tally of the call's work
  // (which decides oneDNN's thread counts) must not depend on timing.
  int threads = ctx.threadsFor(work);
  Clock::time_point start = Clock::now();
  if (threads <= 1 || start < ctx.rowsSerialUntil) return rows(data, 0, count);
  int parts = int(std::min<int64_t>(threads, count));
  std::vector<Clock::duration> took(size_t(parts), Clock::duration::zero());
  dlrt::parallelParts(parts, parts, [&](int part) {
    Clock::time_point begin = Clock::now();
    rows(data, count * part / parts, count * (part + 1) / parts);
    took[size_t(part)] = Clock::now() - begin;
  });
  Clock::time_point end = Clock::now();
  Clock::duration longest = *std::max_element(took.begin(), took.end());
  if (end - start > 2 * longest + kLateStart) ctx.rowsSerialUntil = end + kSerialFor;
}
