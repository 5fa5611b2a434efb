//===- Threads.h - how many threads a kernel call may use -------*- C++ -*-===//
#ifndef DLRT_SRC_THREADS_H
#define DLRT_SRC_THREADS_H

#include <cstdint>
#include <map>
#include <vector>

namespace dlrt {

/// Sets the OpenMP thread count of the calling thread (oneDNN's GNU OpenMP reads it per
/// call). libgomp comes with libdnnl; it is looked up, not linked. n <= 0: leave as is.
void setOpenMPThreads(int n);
/// The thread count OpenMP would use now.
int openMPMaxThreads();

/// Below this much work per parallel region a kernel runs on one thread: with the passive
/// wait policy, waking the sleeping worker costs 20-40 us on these VMs, more than two
/// threads save on less (measured: a 784-256-256-10 MLP at batch 1 takes 0.037 ms on one
/// thread and 0.083 ms on two; an LSTM(32->128) over 50 steps at batch 32, one region
/// per step, 1.7 ms on one and 2.7 ms on two; the TinyGpt at batch 1, whose largest
/// kernels do 6-8 MFLOP, 0.75 ms on one, 2.1 ms on two with a 4e6 limit, 0.79 with 1e7).
constexpr double kParallelFlops = 1e7;

/// Chooses the thread count of each kernel of a model call.
///
/// On these VMs a parallel region costs little when the second vCPU ran moments ago and
/// up to 0.3 ms when it has been idle long enough to halt. Alternating one-thread and
/// many-thread kernels keeps halting it: a CNN at batch 64 on two threads took 1.24 ms so,
/// 0.72 ms with every kernel on both threads, 0.93 ms with all on one. Models made of
/// small kernels (a small transformer, an MLP at batch 1, an LSTM) are fastest with the
/// per-kernel limit above. So the first call with given input shapes runs with the limit
/// and measures how much of the work was in kernels above it; when that is at least 90%,
/// later calls with those shapes run every kernel on all threads.
class ThreadPolicy {
public:
  /// The session's thread count (resolved when the session is made).
  int threads = 1;

  void beginCall(const std::vector<int64_t> &shapes);
  void endCall();
  /// Sets OpenMP's thread count for a kernel of `flops` work in `regions` parallel
  /// regions (an RNN runs one or more per step) and returns it.
  int choose(double flops, double regions);

private:
  std::map<std::vector<int64_t>, bool> allParallelFor;
  std::vector<int64_t> shapes;
  bool learning = false, allParallel = false;
  double total = 0, parallel = 0;
};

} // namespace dlrt
#endif
