//===- FakeCuda.cpp - a stand-in CUDA driver that records and checks ------===//
//
// The runtime's CUDA backend tested without a GPU: this library exports the driver
// entry points dlrt loads (DLRT_CUDA_DRIVER names it), keeps "device memory" on the
// host, and checks what a real driver would refuse or what would corrupt a GPU run:
//   - a module must be PTX with .entry kernels; a launch names a loaded kernel and hands
//     it exactly the parameters its PTX declares;
//   - every pointer parameter (.ptr in the PTX) and every copy lies inside live device
//     memory (no host pointer, nothing freed, nothing past an allocation's end);
//   - frees free live allocations, once.
// Each call is logged as a line; fake_cuda_log() returns the log, fake_cuda_violations()
// the checks that failed. Kernels are not run: their outputs are whatever memory held
// (zeros: allocations are zeroed).
//
// Environment: FAKE_CUDA_CC (compute capability, default 90), FAKE_CUDA_DEVICES (default
// 1), FAKE_CUDA_FAIL_LAUNCH (the n-th launch, from 1, fails with CUDA_ERROR_LAUNCH_FAILED),
// FAKE_CUDA_VIOLATIONS (a file each violation is appended to).
//
//===----------------------------------------------------------------------===//
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace {

using CUresult = int;
constexpr CUresult OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, INVALID_DEVICE = 101, INVALID_IMAGE = 200,
                   NOT_FOUND = 500, LAUNCH_FAILED = 719;

struct Param {
  size_t bytes;
  bool pointer;
};
struct Kernel {
  std::string name;
  std::vector<Param> params;
};
struct Module {
  std::string arch;
  std::vector<Kernel> kernels;
};

struct State {
  std::mutex mu;
  std::ostringstream log;
  std::vector<std::string> violations;
  std::map<uintptr_t, size_t> live; // device allocations: start -> bytes
  std::vector<Module *> modules;
  long launches = 0;
  std::string logCopy, violationsCopy;
};

State &state() {
  static State s;
  return s;
}

int envInt(const char *name, int dflt) {
  const char *v = std::getenv(name);
  return v && *v ? std::atoi(v) : dflt;
}

void violation(State &s, const std::string &what) {
  s.violations.push_back(what);
  s.log << "VIOLATION " << what << "\n";
  // FAKE_CUDA_VIOLATIONS: a file every process appends its violations to (prepare.sh
  // runs whole test suites through dlrun against this driver).
  if (const char *path = std::getenv("FAKE_CUDA_VIOLATIONS"))
    if (FILE *f = std::fopen(path, "a")) {
      std::fprintf(f, "%s\n", what.c_str());
      std::fclose(f);
    }
}

/// Whether [p, p + bytes) lies in one live allocation.
bool inside(State &s, uintptr_t p, size_t bytes) {
  auto it = s.live.upper_bound(p);
  if (it == s.live.begin()) return false;
  --it;
  return p >= it->first && p + bytes <= it->first + it->second;
}

size_t paramBytes(const std::string &type) {
  if (type == ".u64" || type == ".b64" || type == ".s64" || type == ".f64") return 8;
  if (type == ".u32" || type == ".b32" || type == ".s32" || type == ".f32") return 4;
  if (type == ".u16" || type == ".b16" || type == ".s16" || type == ".f16") return 2;
  if (type == ".u8" || type == ".b8" || type == ".s8") return 1;
  return 0;
}

/// The .entry kernels of a PTX text and their parameters.
bool parsePTX(const char *ptx, Module &m) {
  std::string text(ptx);
  size_t t = text.find(".target ");
  if (t == std::string::npos) return false;
  m.arch = text.substr(t + 8, text.find_first_of(" ,\n", t + 8) - (t + 8));
  for (size_t at = text.find(".entry "); at != std::string::npos; at = text.find(".entry ", at + 1)) {
    size_t open = text.find('(', at), close = text.find(')', at);
    if (open == std::string::npos || close == std::string::npos) return false;
    Kernel k;
    k.name = text.substr(at + 7, open - (at + 7));
    while (!k.name.empty() && k.name.back() == ' ') k.name.pop_back();
    std::istringstream params(text.substr(open + 1, close - open - 1));
    std::string line;
    while (std::getline(params, line, ',')) {
      std::istringstream words(line);
      std::string w, type;
      bool ptr = false;
      while (words >> w) {
        if (w == ".ptr") ptr = true;
        else if (paramBytes(w)) type = w;
      }
      if (type.empty()) continue;
      k.params.push_back({paramBytes(type), ptr});
    }
    m.kernels.push_back(std::move(k));
  }
  return !m.kernels.empty();
}

} // namespace

extern "C" {

__attribute__((visibility("default"))) const char *fake_cuda_log() {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.logCopy = s.log.str();
  return s.logCopy.c_str();
}
__attribute__((visibility("default"))) const char *fake_cuda_violations() {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.violationsCopy.clear();
  for (const std::string &v : s.violations) s.violationsCopy += v + "\n";
  return s.violationsCopy.c_str();
}
__attribute__((visibility("default"))) long fake_cuda_live_bytes() {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  long n = 0;
  for (auto &[p, b] : s.live) n += long(b);
  return n;
}
__attribute__((visibility("default"))) void fake_cuda_reset_log() {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log.str("");
  s.violations.clear();
  s.launches = 0;
}

CUresult cuInit(unsigned) { return OK; }
CUresult cuDriverGetVersion(int *v) {
  *v = 13000;
  return OK;
}
CUresult cuDeviceGetCount(int *n) {
  *n = envInt("FAKE_CUDA_DEVICES", 1);
  return OK;
}
CUresult cuDeviceGet(int *d, int ordinal) {
  if (ordinal < 0 || ordinal >= envInt("FAKE_CUDA_DEVICES", 1)) return INVALID_DEVICE;
  *d = ordinal;
  return OK;
}
CUresult cuDeviceGetName(char *name, int len, int) {
  std::snprintf(name, size_t(len), "Fake GPU");
  return OK;
}
CUresult cuDeviceGetAttribute(int *v, int attr, int) {
  int cc = envInt("FAKE_CUDA_CC", 90);
  if (attr == 75) *v = cc / 10;
  else if (attr == 76) *v = cc % 10;
  else return INVALID_VALUE;
  return OK;
}
CUresult cuDevicePrimaryCtxRetain(void **ctx, int) {
  static int context;
  *ctx = &context;
  return OK;
}
CUresult cuDevicePrimaryCtxRelease_v2(int) { return OK; }
CUresult cuCtxSetCurrent(void *) { return OK; }

CUresult cuModuleLoadData(void **module, const void *image) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  auto *m = new Module();
  if (!image || !parsePTX(static_cast<const char *>(image), *m)) {
    delete m;
    violation(s, "cuModuleLoadData: not PTX with .entry kernels");
    return INVALID_IMAGE;
  }
  s.modules.push_back(m);
  s.log << "module " << m->arch << " " << m->kernels.size() << " kernels\n";
  *module = m;
  return OK;
}
CUresult cuModuleUnload(void *module) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "unload\n";
  (void)module; // kept: function handles of it may still be printed in the log
  return OK;
}
CUresult cuModuleGetFunction(void **fn, void *module, const char *name) {
  auto *m = static_cast<Module *>(module);
  for (Kernel &k : m->kernels)
    if (k.name == name) {
      *fn = &k;
      return OK;
    }
  return NOT_FOUND;
}

CUresult cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void *stream, void **params, void **extra) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  auto *k = static_cast<Kernel *>(fn);
  ++s.launches;
  s.log << "launch " << k->name << " grid " << gx << "," << gy << "," << gz << " block " << bx << "," << by << ","
        << bz << " args";
  if (!gx || !gy || !gz || !bx || !by || !bz || bx * by * bz > 1024) violation(s, k->name + ": bad launch dimensions");
  if (extra || !params) violation(s, k->name + ": parameters not passed as kernelParams");
  for (size_t i = 0; params && i < k->params.size(); ++i) {
    uint64_t v = 0;
    std::memcpy(&v, params[i], k->params[i].bytes);
    s.log << " " << v;
    if (k->params[i].pointer && !inside(s, uintptr_t(v), 1))
      violation(s, k->name + ": pointer parameter " + std::to_string(i) + " (" + std::to_string(v) +
                       ") is not in live device memory");
  }
  s.log << "\n";
  if (s.launches == envInt("FAKE_CUDA_FAIL_LAUNCH", 0)) return LAUNCH_FAILED;
  return OK;
}

CUresult cuMemAlloc_v2(uint64_t *p, size_t bytes) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  void *mem = std::calloc(1, bytes ? bytes : 1);
  if (!mem) return OUT_OF_MEMORY;
  s.live[uintptr_t(mem)] = bytes;
  s.log << "alloc " << bytes << "\n";
  *p = uintptr_t(mem);
  return OK;
}
CUresult cuMemFree_v2(uint64_t p) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  auto it = s.live.find(uintptr_t(p));
  if (it == s.live.end()) {
    violation(s, "cuMemFree of " + std::to_string(p) + ", which is not a live allocation");
    return INVALID_VALUE;
  }
  s.log << "free " << it->second << "\n";
  s.live.erase(it);
  std::free(reinterpret_cast<void *>(p));
  return OK;
}
CUresult cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t bytes, void *) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "htod " << bytes << "\n";
  if (!inside(s, uintptr_t(dst), bytes)) {
    violation(s, "cuMemcpyHtoD of " + std::to_string(bytes) + " bytes to memory that is not device memory");
    return INVALID_VALUE;
  }
  std::memcpy(reinterpret_cast<void *>(dst), src, bytes);
  return OK;
}
CUresult cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, void *) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "dtoh " << bytes << "\n";
  if (!inside(s, uintptr_t(src), bytes)) {
    violation(s, "cuMemcpyDtoH of " + std::to_string(bytes) + " bytes from memory that is not device memory");
    return INVALID_VALUE;
  }
  std::memcpy(dst, reinterpret_cast<void *>(src), bytes);
  return OK;
}
CUresult cuStreamCreate(void **stream, unsigned) {
  static int streamObject;
  *stream = &streamObject;
  return OK;
}
CUresult cuStreamDestroy_v2(void *) { return OK; }
CUresult cuStreamSynchronize(void *) { return OK; }
CUresult cuGetErrorName(CUresult r, const char **name) {
  switch (r) {
  case OK: *name = "CUDA_SUCCESS"; break;
  case INVALID_VALUE: *name = "CUDA_ERROR_INVALID_VALUE"; break;
  case OUT_OF_MEMORY: *name = "CUDA_ERROR_OUT_OF_MEMORY"; break;
  case INVALID_IMAGE: *name = "CUDA_ERROR_INVALID_IMAGE"; break;
  case NOT_FOUND: *name = "CUDA_ERROR_NOT_FOUND"; break;
  case LAUNCH_FAILED: *name = "CUDA_ERROR_LAUNCH_FAILED"; break;
  default: *name = "CUDA_ERROR_UNKNOWN";
  }
  return OK;
}
CUresult cuGetErrorString(CUresult r, const char **text) {
  *text = r == LAUNCH_FAILED ? "unspecified launch failure" : "see the error name";
  return OK;
}

} // extern "C"
