//===- Threads.cpp - how many threads a kernel call may use ---------------===//
#include "Threads.h"

#include <dlfcn.h>

namespace dlrt {

void setOpenMPThreads(int n) {
  if (n <= 0) return;
  using Fn = void (*)(int);
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (fn) fn(n);
}

int openMPMaxThreads() {
  using Fn = int (*)();
  static Fn fn = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  return fn ? fn() : 1;
}

} // namespace dlrt
