//===- Threads.h - how many threads a kernel call may use -------*- C++ -*-===//
#ifndef DLRT_SRC_THREADS_H
#define DLRT_SRC_THREADS_H

#include <cstdint>

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

} // namespace dlrt
#endif
