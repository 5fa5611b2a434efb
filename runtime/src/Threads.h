//===- Threads.h - how many threads a kernel call may use -------*- C++ -*-===//
#ifndef DLRT_SRC_THREADS_H
#define DLRT_SRC_THREADS_H

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

namespace dlrt {

/// Sets the OpenMP thread count of the calling thread (oneDNN's GNU OpenMP reads it per
/// call). libgomp comes with libdnnl; it is looked up, not linked. n <= 0: leave as is.
void setOpenMPThreads(int n);
/// The thread count OpenMP would use now.
int openMPMaxThreads();

/// Runs body(part) once for each part in [0, parts) on `threads` OpenMP threads (libgomp's
/// pool, the one oneDNN's kernels use, looked up like the functions above), or all parts
/// in turn on the calling thread when threads <= 1 or libgomp is absent.
void parallelParts(int threads, int parts, const std::function<void(int)> &body);

/// Runs body(begin, end) over [0, count) cut into min(threads, count) contiguous ranges of
/// nearly equal size, each on one thread as parallelParts runs parts. The ranges depend only
/// on `threads` and `count`.
void parallelRanges(int threads, int64_t count, const std::function<void(int64_t, int64_t)> &body);

/// Runs body(member, members, sync) once on each member of a team of up to `threads`
/// OpenMP threads (libgomp's pool, as above); sync() returns once every member has called
/// it (a barrier), for work in rounds that each need the last one's results, such as the
/// steps of a recurrence. The team is the calling thread alone where threads <= 1 or
/// libgomp is absent; members says how many there are.
void parallelTeam(int threads, const std::function<void(int member, int members, const std::function<void()> &sync)> &body);

/// Below this much work per parallel region a kernel runs on one thread: with the passive
/// wait policy, waking the sleeping worker costs 20-40 us on these VMs, more than two
/// threads save on less (measured: a 784-256-256-10 MLP at batch 1 takes 0.037 ms on one
/// thread and 0.083 ms on two; an LSTM(32->128) over 50 steps at batch 32, one region
/// per step, 1.7 ms on one and 2.7 ms on two; the TinyGpt at batch 1, whose largest
/// kernels do 6-8 MFLOP, 0.75 ms on one, 2.1 ms on two with a 4e6 limit, 0.79 with 1e7).
constexpr double kParallelFlops = 1e7;

/// Above this much kernel work in a call, and while OpenMP's idle workers spin rather than
/// sleep, every kernel runs on all threads however small. Measured on AMD EPYC, two
/// threads, GOMP_SPINCOUNT=1000 (as dlrun set it then): TinyGpt at batch 1 (40 MFLOP in
/// kernels of 0.1-8) 0.675 ms with the per-kernel limit, 0.440 all on two; an LSTM(32->128)
/// at batch 32 3.02 -> 1.88 ms; the 784-256-256-10 MLP at batch 64 (34 MFLOP) 0.168 on
/// one thread, 0.119 on two. Below it the second thread costs more than it brings, since
/// generated loops are split too (session 29, same minutes, one thread / all on two):
/// the CNN at batch 1 (2 MFLOP) 0.018 / 0.040 ms, the LSTM at batch 1 (8 MFLOP) 0.093 /
/// 0.184. With sleeping workers (OMP_WAIT_POLICY=passive) each wake-up costs 20-40 us and
/// the same TinyGpt took 1.45 ms all on two.
constexpr double kAllParallelFlops = 1e7;

/// Whether OpenMP's idle workers spin for a while before they sleep: not when
/// OMP_WAIT_POLICY is passive or GOMP_SPINCOUNT is 0 (libgomp's default spins).
bool openMPWorkersSpin();

/// Chooses the thread count of each kernel of a model call.
///
/// On these VMs a parallel region costs little when the second vCPU ran moments ago and
/// up to 0.3 ms when it has been idle long enough to halt. Alternating one-thread and
/// many-thread kernels keeps halting it: a CNN at batch 64 on two threads took 1.24 ms so,
/// 0.72 ms with every kernel on both threads, 0.93 ms with all on one. With sleeping
/// workers, models made of small kernels (a small transformer, an MLP at batch 1, an
/// LSTM) are fastest with the per-kernel limit above. So the first call with given input
/// shapes runs with the limit and measures the work in kernels; later calls with those
/// shapes run every kernel on all threads when at least 90% of it was in kernels above the
/// limit, or, with spinning workers, when it was at least kAllParallelFlops. The choice
/// depends only on the shapes and the environment, never on a timing, so that a rerun
/// with the same settings computes the same numbers (a kernel's result may depend on its
/// thread count); and where later calls run otherwise, the first runs again as they will
/// (runEntry), so that every call on the same arguments does.
class ThreadPolicy {
public:
  /// The session's thread count (resolved when the session is made).
  int threads = 1;
  /// Whether idle OpenMP workers spin (the environment's; tests set it).
  bool workersSpin = openMPWorkersSpin();

  void beginCall(const std::vector<int64_t> &shapes);
  void endCall();
  /// Sets OpenMP's thread count for a kernel of `flops` work in `regions` parallel
  /// regions (an RNN runs one or more per step) and returns it.
  int choose(double flops, double regions);
  /// Takes the last choose() out of the call's tally, for a kernel that then moves on to
  /// another way of computing its result (Winograd's sums where its operands' scan
  /// rules them out, oneDNN's kernels where the native one declines) and chooses again:
  /// the tally, which decides whether later calls run all kernels in parallel, must count
  /// each kernel's work once, or the choice would depend on the data (a checkpoint resumed
  /// at a step whose operands Winograd declined ran its later steps on other thread
  /// counts than the uninterrupted run, off by an ulp).
  void retract();
  /// The kernel work a call with these shapes did when it was first made; none before.
  std::optional<double> learnedWork(const std::vector<int64_t> &shapes) const;
  /// Whether calls with these shapes after the first run every kernel on all threads: the
  /// first, which learned it, ran the small ones on one, and a kernel's result may depend
  /// on its thread count.
  bool runsAllParallel(const std::vector<int64_t> &shapes) const;

private:
  struct Learned {
    bool allParallel = false;
    double work = 0;
  };
  std::map<std::vector<int64_t>, Learned> learnedFor;
  std::vector<int64_t> shapes;
  bool learning = false, allParallel = false;
  double total = 0, parallel = 0;
  double lastFlops = 0; // the last choose()'s, and whether it went parallel
  bool lastParallel = false;
};

} // namespace dlrt

extern "C" {
/// Runs rows(data, begin, end) over [0, count) on the threads the session's policy gives
/// count * workPerRow operations: generated loop nests (native/ParallelRows.cpp).
void dlrt_k_parallel_rows(void *ctx, void (*rows)(void *, int64_t, int64_t), void *data, int64_t count,
                          int64_t workPerRow);
}
#endif
