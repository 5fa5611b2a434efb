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
// It also stands in for cuBLAS and cuDNN (DLRT_CUBLAS, DLRT_CUDNN), computing their
// products and convolutions on that memory, so dense, matmul and conv2d are checked by
// their numbers.
// Each call is logged as a line; fake_cuda_log() returns the log, fake_cuda_violations()
// the checks that failed. Kernels are not run: their outputs are whatever memory held
// (zeros: allocations are zeroed).
//
// Environment: FAKE_CUDA_CC (compute capability, default 90), FAKE_CUDA_DEVICES (default
// 1), FAKE_CUDA_FAIL_LAUNCH (the n-th launch, from 1, fails with CUDA_ERROR_LAUNCH_FAILED),
// FAKE_CUDA_VIOLATIONS (a file each violation is appended to).
//
//===----------------------------------------------------------------------===//
#include "cuda/Driver.h" // the driver API's types, exactly as dlrt calls through them

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

using namespace dlrt::cuda;
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
CUresult cuDeviceGet(CUdevice *d, int ordinal) {
  if (ordinal < 0 || ordinal >= envInt("FAKE_CUDA_DEVICES", 1)) return INVALID_DEVICE;
  *d = ordinal;
  return OK;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice) {
  std::snprintf(name, size_t(len), "Fake GPU");
  return OK;
}
CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice) {
  int cc = envInt("FAKE_CUDA_CC", 90);
  if (attr == 75) *v = cc / 10;
  else if (attr == 76) *v = cc % 10;
  else return INVALID_VALUE;
  return OK;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice) {
  static int context;
  *ctx = reinterpret_cast<CUcontext>(&context);
  return OK;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice) { return OK; }
CUresult cuCtxSetCurrent(CUcontext) { return OK; }

CUresult cuModuleLoadData(CUmodule *module, const void *image) {
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
  *module = reinterpret_cast<CUmodule>(m);
  return OK;
}
CUresult cuModuleUnload(CUmodule module) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "unload\n";
  auto *m = reinterpret_cast<Module *>(module);
  auto it = std::find(s.modules.begin(), s.modules.end(), m);
  if (it == s.modules.end()) {
    violation(s, "cuModuleUnload of a module not loaded");
    return INVALID_VALUE;
  }
  s.modules.erase(it);
  delete m;
  return OK;
}
CUresult cuModuleGetFunction(CUfunction *fn, CUmodule module, const char *name) {
  auto *m = reinterpret_cast<Module *>(module);
  for (Kernel &k : m->kernels)
    if (k.name == name) {
      *fn = reinterpret_cast<CUfunction>(&k);
      return OK;
    }
  return NOT_FOUND;
}

CUresult cuLaunchKernel(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, CUstream stream, void **params, void **extra) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  auto *k = reinterpret_cast<Kernel *>(fn);
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

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  void *mem = std::calloc(1, bytes ? bytes : 1);
  if (!mem) return OUT_OF_MEMORY;
  s.live[uintptr_t(mem)] = bytes;
  s.log << "alloc " << bytes << "\n";
  *p = uintptr_t(mem);
  return OK;
}
CUresult cuMemFree_v2(CUdeviceptr p) {
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
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t bytes, CUstream) {
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
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t bytes, CUstream) {
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
CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count, CUstream) {
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
int cublasSetStream_v2(void *, CUstream) { return 0; }
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

// cuDNN (DLRT_CUDNN names this library too): descriptors and the three convolutions,
// computed here (NCHW, cross-correlation, groups, dilation), operands' extents checked.
namespace {
struct DnnDesc {
  int kind; // 0 tensor, 1 filter, 2 convolution
  int d[4] = {0, 0, 0, 0};
  int pad[2] = {0, 0}, stride[2] = {1, 1}, dil[2] = {1, 1}, groups = 1, math = 0;
};
size_t count(const DnnDesc *t) { return size_t(t->d[0]) * t->d[1] * t->d[2] * t->d[3]; }

/// y[n, o, i, j] (+)= sum x[n, g*cpg + c, i*s - p + kh*dil, ...] w[o, c, kh, kw], or its
/// two gradients: `mode` 0 forward (y written), 1 dx from dy (x written), 2 dw (w written).
bool convolve(State &s, int mode, const DnnDesc *xd, const DnnDesc *wd, const DnnDesc *cd, const DnnDesc *yd,
              float *x, float *w, float *y) {
  int N = xd->d[0], C = xd->d[1], H = xd->d[2], W = xd->d[3], O = wd->d[0], CPG = wd->d[1], KH = wd->d[2],
      KW = wd->d[3], OH = yd->d[2], OW = yd->d[3], G = cd->groups;
  if (yd->d[0] != N || yd->d[1] != O || CPG * G != C || O % G) {
    violation(s, "cudnn convolution: descriptors disagree");
    return false;
  }
  if (!inside(s, uintptr_t(x), 4 * count(xd)) || !inside(s, uintptr_t(w), 4 * count(wd)) ||
      !inside(s, uintptr_t(y), 4 * count(yd))) {
    violation(s, "cudnn convolution: an operand outside device memory");
    return false;
  }
  if (mode == 0) std::fill(y, y + count(yd), 0.0f);
  if (mode == 1) std::fill(x, x + count(xd), 0.0f);
  if (mode == 2) std::fill(w, w + count(wd), 0.0f);
  int OPG = O / G;
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o)
      for (int i = 0; i < OH; ++i)
        for (int j = 0; j < OW; ++j)
          for (int c = 0; c < CPG; ++c)
            for (int kh = 0; kh < KH; ++kh)
              for (int kw = 0; kw < KW; ++kw) {
                int h = i * cd->stride[0] - cd->pad[0] + kh * cd->dil[0];
                int v = j * cd->stride[1] - cd->pad[1] + kw * cd->dil[1];
                if (h < 0 || h >= H || v < 0 || v >= W) continue;
                size_t xi = ((size_t(n) * C + (o / OPG) * CPG + c) * H + h) * W + v;
                size_t wi = ((size_t(o) * CPG + c) * KH + kh) * KW + kw;
                size_t yi = ((size_t(n) * O + o) * OH + i) * OW + j;
                if (mode == 0) y[yi] += x[xi] * w[wi];
                else if (mode == 1) x[xi] += y[yi] * w[wi];
                else w[wi] += x[xi] * y[yi];
              }
  return true;
}
} // namespace

int cudnnCreate(void **handle) {
  static int h;
  *handle = &h;
  return 0;
}
int cudnnDestroy(void *) { return 0; }
int cudnnSetStream(void *, CUstream) { return 0; }
const char *cudnnGetErrorString(int) { return "fake cuDNN error"; }
int cudnnCreateTensorDescriptor(void **d) { return (*d = new DnnDesc{0}), 0; }
int cudnnCreateFilterDescriptor(void **d) { return (*d = new DnnDesc{1}), 0; }
int cudnnCreateConvolutionDescriptor(void **d) { return (*d = new DnnDesc{2}), 0; }
int cudnnDestroyTensorDescriptor(void *d) { return delete static_cast<DnnDesc *>(d), 0; }
int cudnnDestroyFilterDescriptor(void *d) { return delete static_cast<DnnDesc *>(d), 0; }
int cudnnDestroyConvolutionDescriptor(void *d) { return delete static_cast<DnnDesc *>(d), 0; }
int cudnnSetTensor4dDescriptor(void *d, int format, int type, int n, int c, int h, int w) {
  auto *t = static_cast<DnnDesc *>(d);
  t->d[0] = n, t->d[1] = c, t->d[2] = h, t->d[3] = w;
  return format == 0 && type == 0 ? 0 : 3;
}
int cudnnSetFilter4dDescriptor(void *d, int type, int format, int k, int c, int h, int w) {
  return cudnnSetTensor4dDescriptor(d, format, type, k, c, h, w);
}
int cudnnSetConvolution2dDescriptor(void *d, int ph, int pw, int sh, int sw, int dh, int dw, int mode, int type) {
  auto *c = static_cast<DnnDesc *>(d);
  c->pad[0] = ph, c->pad[1] = pw, c->stride[0] = sh, c->stride[1] = sw, c->dil[0] = dh, c->dil[1] = dw;
  return mode == 1 && type == 0 ? 0 : 3;
}
int cudnnSetConvolutionGroupCount(void *d, int g) { return static_cast<DnnDesc *>(d)->groups = g, 0; }
int cudnnSetConvolutionMathType(void *d, int m) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "dnn math " << m << "\n";
  return static_cast<DnnDesc *>(d)->math = m, 0;
}
static int workspaceSize(size_t *bytes) { return *bytes = 1024, 0; }
int cudnnGetConvolutionForwardWorkspaceSize(void *, void *, void *, void *, void *, int, size_t *b) { return workspaceSize(b); }
int cudnnGetConvolutionBackwardDataWorkspaceSize(void *, void *, void *, void *, void *, int, size_t *b) { return workspaceSize(b); }
int cudnnGetConvolutionBackwardFilterWorkspaceSize(void *, void *, void *, void *, void *, int, size_t *b) { return workspaceSize(b); }
static bool workspaceOk(State &s, void *ws, size_t bytes) {
  if (bytes && !inside(s, uintptr_t(ws), bytes)) {
    violation(s, "cudnn: the workspace is not device memory of its size");
    return false;
  }
  return true;
}
int cudnnConvolutionForward(void *, const void *, void *xd, const void *x, void *wd, const void *w, void *cd, int algo,
                            void *ws, size_t bytes, const void *beta, void *yd, void *y) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "conv forward algo " << algo << "\n";
  if (*static_cast<const float *>(beta) != 0.0f || !workspaceOk(s, ws, bytes)) return 3;
  return convolve(s, 0, static_cast<DnnDesc *>(xd), static_cast<DnnDesc *>(wd), static_cast<DnnDesc *>(cd),
                  static_cast<DnnDesc *>(yd), const_cast<float *>(static_cast<const float *>(x)),
                  const_cast<float *>(static_cast<const float *>(w)), static_cast<float *>(y))
             ? 0
             : 3;
}
int cudnnConvolutionBackwardData(void *, const void *, void *wd, const void *w, void *dyd, const void *dy, void *cd,
                                 int algo, void *ws, size_t bytes, const void *, void *dxd, void *dx) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "conv backward data algo " << algo << "\n";
  if (!workspaceOk(s, ws, bytes)) return 3;
  return convolve(s, 1, static_cast<DnnDesc *>(dxd), static_cast<DnnDesc *>(wd), static_cast<DnnDesc *>(cd),
                  static_cast<DnnDesc *>(dyd), static_cast<float *>(dx), const_cast<float *>(static_cast<const float *>(w)),
                  const_cast<float *>(static_cast<const float *>(dy)))
             ? 0
             : 3;
}
int cudnnConvolutionBackwardFilter(void *, const void *, void *xd, const void *x, void *dyd, const void *dy, void *cd,
                                   int algo, void *ws, size_t bytes, const void *, void *dwd, void *dw) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  s.log << "conv backward filter algo " << algo << "\n";
  if (!workspaceOk(s, ws, bytes)) return 3;
  return convolve(s, 2, static_cast<DnnDesc *>(xd), static_cast<DnnDesc *>(dwd), static_cast<DnnDesc *>(cd),
                  static_cast<DnnDesc *>(dyd), const_cast<float *>(static_cast<const float *>(x)), static_cast<float *>(dw),
                  const_cast<float *>(static_cast<const float *>(dy)))
             ? 0
             : 3;
}
int cudnnAddTensor(void *, const void *, void *ad, const void *a, const void *, void *cd, void *c) {
  State &s = state();
  std::lock_guard<std::mutex> g(s.mu);
  auto *bd = static_cast<DnnDesc *>(ad), *yd = static_cast<DnnDesc *>(cd);
  s.log << "add tensor\n";
  if (!inside(s, uintptr_t(a), 4 * count(bd)) || !inside(s, uintptr_t(c), 4 * count(yd))) {
    violation(s, "cudnnAddTensor: an operand outside device memory");
    return 3;
  }
  auto *y = static_cast<float *>(c);
  const auto *b = static_cast<const float *>(a);
  size_t plane = size_t(yd->d[2]) * yd->d[3];
  for (size_t i = 0; i < count(yd); ++i) y[i] += b[(i / plane) % yd->d[1]];
  return 0;
}

CUresult cuStreamCreate(CUstream *stream, unsigned) {
  static int streamObject;
  *stream = reinterpret_cast<CUstream>(&streamObject);
  return OK;
}
CUresult cuStreamDestroy_v2(CUstream) { return OK; }
CUresult cuStreamSynchronize(CUstream) { return OK; }
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
