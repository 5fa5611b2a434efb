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
//===----------------------------------------------------------------------===//
#include "KernelContext.h"

namespace {
/// Below this much work (about a microsecond's) a nest runs on the calling thread without
/// asking the policy: a parallel region costs more than that even with spinning workers,
/// and the policy's tally is for kernels that matter.
constexpr double kMinParallelWork = 1 << 15;
} // namespace

extern "C" void dlrt_k_parallel_rows(void *vctx, void (*rows)(void *, int64_t, int64_t), void *data, int64_t count,
                                     int64_t workPerRow) {
  auto &ctx = *static_cast<dlrt::KernelContext *>(vctx);
  if (count <= 0) return;
  double work = double(count) * double(workPerRow);
  if (count == 1 || work < kMinParallelWork) return rows(data, 0, count);
  dlrt::parallelRanges(ctx.threadsFor(work), count, [&](int64_t begin, int64_t end) { rows(data, begin, end); });
}
