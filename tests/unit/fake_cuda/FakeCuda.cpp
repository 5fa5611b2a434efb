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
// It also stands in for cuBLAS (DLRT_CUBLAS), computing sgemm on that memory, so the
// row-major to column-major mapping of dense and matmul is checked by its numbers.
// Each call is logged as a line; fake_cuda_log() returns the log, fake_cuda_violations()
// the checks that failed. Kernels are not run: their outputs are whatever memory held
// (zeros: allocations are zeroed).
//
// Environment: FAKE_CUDA_CC (compute capability, default 90), FAKE_CUDA_DEVICES (default
// 1), FAKE_CUDA_FAIL_LAUNCH (the n-th launch, from 1, fails with CUDA_ERROR_LAUNCH_FAILED),
// FAKE_CUDA_VIOLATIONS (a file each violation is appended to).
//
//===----------------------------------------------------------------------===//
#include <algorithm>
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
CUresult cuMemsetD32Async(uint64_t dst, unsigned value, size_t count, void *) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "memset32 " << count << "\n";
  if (!inside(s, uintptr_t(dst), count * 4)) {
    violation(s, "cuMemsetD32 of " + std::to_string(count) + " words outside device memory");
    return INVALID_VALUE;
  }
  for (size_t i = 0; i < count; ++i) std::memcpy(reinterpret_cast<char *>(dst) + 4 * i, &value, 4);
  return OK;
}

// cuBLAS (DLRT_CUBLAS names this library too): handles, and sgemm computed here on the
// "device" memory, column-major as cuBLAS defines it, every operand's extent checked.
int cublasCreate_v2(void **handle) {
  static int h;
  *handle = &h;
  return 0;
}
int cublasDestroy_v2(void *) { return 0; }
int cublasSetStream_v2(void *, void *) { return 0; }
int cublasSetMathMode(void *, int mode) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "blas math " << mode << "\n";
  return 0;
}

namespace {
/// One column-major product C = alpha op(A) op(B) + beta C; false (a violation) where an
/// operand reaches outside device memory.
bool gemm1(State &s, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda, const float *b,
           int ldb, float beta, float *c, int ldc) {
  int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
  auto extent = [](int rows, int cols, int ld) { return cols ? size_t(ld) * size_t(cols - 1) + size_t(rows) : 0; };
  if (lda < std::max(1, ar) || ldb < std::max(1, br) || ldc < std::max(1, m)) {
    violation(s, "gemm: a leading dimension smaller than its matrix");
    return false;
  }
  if ((k && m && !inside(s, uintptr_t(a), 4 * extent(ar, ac, lda))) ||
      (k && n && !inside(s, uintptr_t(b), 4 * extent(br, bc, ldb))) ||
      (m && n && !inside(s, uintptr_t(c), 4 * extent(m, n, ldc)))) {
    violation(s, "gemm: an operand outside device memory");
    return false;
  }
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double acc = 0;
      for (int p = 0; p < k; ++p) {
        float x = ta ? a[p + size_t(i) * lda] : a[i + size_t(p) * lda];
        float y = tb ? b[j + size_t(p) * ldb] : b[p + size_t(j) * ldb];
        acc += double(x) * double(y);
      }
      float &out = c[i + size_t(j) * ldc];
      out = float(alpha * acc + (beta == 0.0f ? 0.0 : double(beta) * out));
    }
  return true;
}
} // namespace

int cublasSgemm_v2(void *, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
                   const float *b, int ldb, const float *beta, float *c, int ldc) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "gemm " << ta << tb << " " << m << "x" << n << "x" << k << " " << uintptr_t(a) << " " << uintptr_t(b) << " "
        << uintptr_t(c) << "\n";
  return gemm1(s, ta, tb, m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc) ? 0 : 7;
}
int cublasSgemmStridedBatched(void *, int ta, int tb, int m, int n, int k, const float *alpha, const float *a,
                              int lda, long long sa, const float *b, int ldb, long long sb, const float *beta, float *c,
                              int ldc, long long sc, int batch) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "gemm " << ta << tb << " " << m << "x" << n << "x" << k << " " << uintptr_t(a) << " " << uintptr_t(b) << " "
        << uintptr_t(c) << " batch " << batch << " strides " << sa << "," << sb << "," << sc << "\n";
  for (int t = 0; t < batch; ++t)
    if (!gemm1(s, ta, tb, m, n, k, *alpha, a + t * sa, lda, b + t * sb, ldb, *beta, c + t * sc, ldc)) return 7;
  return 0;
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
