//===- Threads.cpp - how many threads a kernel call may use ---------------===//
#include "Threads.h"

#include <algorithm>

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
  auto it = learnedFor.find(s);
  learning = it == learnedFor.end();
  allParallel = !learning && it->second.allParallel;
  total = parallel = lastFlops = 0;
  lastParallel = false;
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
    learnedFor[shapes] = {total > 0 && (parallel >= 0.9 * total || (workersSpin && total >= kAllParallelFlops)), total};
  learning = false;
}

std::optional<double> ThreadPolicy::learnedWork(const std::vector<int64_t> &s) const {
  auto it = learnedFor.find(s);
  if (it == learnedFor.end()) return std::nullopt;
  return it->second.work;
}

bool ThreadPolicy::runsAllParallel(const std::vector<int64_t> &s) const {
  auto it = learnedFor.find(s);
  return threads > 1 && it != learnedFor.end() && it->second.allParallel;
}

int ThreadPolicy::choose(double flops, double regions) {
  int n = threads > 1 && (allParallel || flops / regions >= kParallelFlops) ? threads : 1;
  total += flops;
  if (n > 1) parallel += flops;
  lastFlops = flops;
  lastParallel = n > 1;
  setOpenMPThreads(n);
  return n;
}

void ThreadPolicy::retract() {
  total -= lastFlops;
  if (lastParallel) parallel -= lastFlops;
  lastFlops = 0;
  lastParallel = false;
}

int openMPMaxThreads() {
  using Fn = int (*)();
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  return fn ? fn() : 1;
}

namespace {
/// libgomp's entry points, looked up in the process (libdnnl brings libgomp); null where
/// absent.
struct GompApi {
  using Parallel = void (*)(void (*)(void *), void *, unsigned, unsigned);
  using Query = int (*)();
  using Barrier = void (*)();
  Parallel parallel = reinterpret_cast<Parallel>(dlsym(RTLD_DEFAULT, "GOMP_parallel"));
  Query threadNum = reinterpret_cast<Query>(dlsym(RTLD_DEFAULT, "omp_get_thread_num"));
  Query numThreads = reinterpret_cast<Query>(dlsym(RTLD_DEFAULT, "omp_get_num_threads"));
  Barrier barrier = reinterpret_cast<Barrier>(dlsym(RTLD_DEFAULT, "GOMP_barrier"));
  bool usable() const { return parallel && threadNum && numThreads && barrier; }
};
const GompApi &gomp() {
  static const GompApi api;
  return api;
}
} // namespace

void parallelTeam(int threads, const std::function<void(int, int, const std::function<void()> &)> &body) {
  const GompApi &g = gomp();
  if (threads <= 1 || !g.usable()) {
    body(0, 1, [] {});
    return;
  }
  struct Work {
    const std::function<void(int, int, const std::function<void()> &)> *body;
    const GompApi *gomp;
  } work{&body, &g};
  g.parallel(
      [](void *data) {
        auto &w = *static_cast<Work *>(data);
        std::function<void()> sync = w.gomp->barrier;
        (*w.body)(w.gomp->threadNum(), w.gomp->numThreads(), sync);
      },
      &work, unsigned(threads), 0);
}

void parallelParts(int threads, int parts, const std::function<void(int)> &body) {
  if (parts <= 1) {
    if (parts == 1) body(0);
    return;
  }
  // Each member takes the parts m, m + members, ...: every part runs exactly once
  // whatever team size libgomp grants.
  parallelTeam(threads, [&](int member, int members, const std::function<void()> &) {
    for (int p = member; p < parts; p += members) body(p);
  });
}

void parallelRanges(int threads, int64_t count, const std::function<void(int64_t, int64_t)> &body) {
  if (count <= 0) return;
  int parts = int(std::max<int64_t>(1, std::min<int64_t>(threads, count)));
  if (parts == 1) return body(0, count);
  parallelParts(parts, parts, [&](int part) { body(count * part / parts, count * (part + 1) / parts); });
}

} // namespace dlrt
