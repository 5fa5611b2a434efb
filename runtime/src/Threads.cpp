//===- Threads.cpp - how many threads a kernel call may use ---------------===//
#include "Threads.h"

#include <dlfcn.h>
#include <strings.h>

#include <cstdlib>

namespace dlrt {

void setOpenMPThreads(int n) {
  if (n <= 0) return;
  using Fn = void (*)(int);
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (fn) fn(n);
}

void ThreadPolicy::beginCall(const std::vector<int64_t> &s) {
  shapes = s;
  auto it = allParallelFor.find(s);
  learning = it == allParallelFor.end();
  allParallel = !learning && it->second;
  total = parallel = 0;
}

bool openMPWorkersSpin() {
  static const bool spin = [] {
    const char *policy = std::getenv("OMP_WAIT_POLICY");
    if (policy && strcasecmp(policy, "passive") == 0) return false;
    // A spin count of 0 sleeps at once ("infinite" and other words are not 0).
    const char *count = std::getenv("GOMP_SPINCOUNT");
    return !(count && count[0] == '0' && std::strtoll(count, nullptr, 10) == 0);
  }();
  return spin;
}

void ThreadPolicy::endCall() {
  if (learning)
    allParallelFor[shapes] =
        total > 0 && (parallel >= 0.9 * total || (workersSpin && total >= kAllParallelFlops));
  learning = false;
}

int ThreadPolicy::choose(double flops, double regions) {
  int n = threads > 1 && (allParallel || flops / regions >= kParallelFlops) ? threads : 1;
  total += flops;
  if (n > 1) parallel += flops;
  setOpenMPThreads(n);
  return n;
}

int openMPMaxThreads() {
  using Fn = int (*)();
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  return fn ? fn() : 1;
}

void parallelParts(int threads, int parts, const std::function<void(int)> &body) {
  using Parallel = void (*)(void (*)(void *), void *, unsigned, unsigned);
  using Query = int (*)();
  static Parallel parallel = reinterpret_cast<Parallel>(dlsym(RTLD_DEFAULT, "GOMP_parallel"));
  static Query threadNum = reinterpret_cast<Query>(dlsym(RTLD_DEFAULT, "omp_get_thread_num"));
  static Query numThreads = reinterpret_cast<Query>(dlsym(RTLD_DEFAULT, "omp_get_num_threads"));
  if (threads <= 1 || parts <= 1 || !parallel || !threadNum || !numThreads) {
    for (int p = 0; p < parts; ++p) body(p);
    return;
  }
  struct Work {
    const std::function<void(int)> *body;
    int parts;
    Query threadNum, numThreads;
  } work{&body, parts, threadNum, numThreads};
  // Each team thread takes the parts t, t + team, ...: every part runs exactly once
  // whatever team size libgomp grants.
  parallel(
      [](void *data) {
        auto &w = *static_cast<Work *>(data);
        int team = w.numThreads(), t = w.threadNum();
        for (int p = t; p < w.parts; p += team) (*w.body)(p);
      },
      &work, unsigned(threads), 0);
}

} // namespace dlrt

