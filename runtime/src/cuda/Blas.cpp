//===- Blas.cpp - cuBLAS, loaded at run time ------------------------------===//
#include "cuda/Blas.h"
#include "cuda/Device.h"
#include "cuda/Libraries.h"

#include <dlfcn.h>

#include <climits>

namespace dlrt::cuda {

namespace {

constexpr int CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
constexpr int CUBLAS_DEFAULT_MATH = 0;

struct Api {
  int (*create)(void **);
  int (*destroy)(void *);
  int (*setStream)(void *, CUstream);
  int (*setMathMode)(void *, int);
  int (*sgemm)(void *, int, int, int, int, int, const float *, const float *, int, const float *, int, const float *,
               float *, int);
  int (*sgemmStridedBatched)(void *, int, int, int, int, int, const float *, const float *, int, long long,
                             const float *, int, long long, const float *, float *, int, long long, int);
  const char *(*statusString)(int); // optional (cuBLAS 11.4+)
  std::string error;
};

Api load() {
  Api api{};
  void *h = openLibrary("DLRT_CUBLAS", {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"},
                        "cublas", api.error);
  if (!h) return api;
  auto sym = [&](auto &fn, const char *name) { bindSymbol(h, fn, name, "cuBLAS", api.error); };
  sym(api.create, "cublasCreate_v2");
  sym(api.destroy, "cublasDestroy_v2");
  sym(api.setStream, "cublasSetStream_v2");
  sym(api.setMathMode, "cublasSetMathMode");
  sym(api.sgemm, "cublasSgemm_v2");
  sym(api.sgemmStridedBatched, "cublasSgemmStridedBatched");
  api.statusString = reinterpret_cast<const char *(*)(int)>(dlsym(h, "cublasGetStatusString"));
  return api;
}

const Api &api() {
  static const Api loaded = load();
  return loaded;
}

std::string describe(const char *call, int status) {
  const char *s = api().statusString ? api().statusString(status) : nullptr;
  return std::string(call) + ": cuBLAS status " + std::to_string(status) + (s ? std::string(" (") + s + ")" : "");
}

} // namespace

std::unique_ptr<Blas> Blas::open(Device &device, std::string &error) {
  const Api &a = api();
  if (!a.error.empty()) {
    error = "dense and matmul run on cuBLAS: " + a.error;
    return nullptr;
  }
  std::unique_ptr<Blas> blas(new Blas());
  if (int s = a.create(&blas->handle)) {
    error = describe("cublasCreate", s);
    return nullptr;
  }
  if (int s = a.setStream(blas->handle, device.stream())) {
    error = describe("cublasSetStream", s);
    return nullptr;
  }
  if (int s = a.setMathMode(blas->handle, CUBLAS_DEFAULT_MATH)) {
    error = describe("cublasSetMathMode", s);
    return nullptr;
  }
  return blas;
}

Blas::~Blas() {
  if (handle) api().destroy(handle);
}

bool Blas::gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, const float *a, int64_t strideA,
                const float *b, int64_t strideB, float *c, int64_t strideC, int64_t batch, float beta,
                std::string &error) {
  if (m <= 0 || n <= 0 || batch <= 0) return true;
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX || batch > INT_MAX) {
    error = "a matrix product too large for cuBLAS's 32-bit sizes";
    return false;
  }
  // Column-major C^T[N, M] = op(B)^T-as-stored x op(A)^T-as-stored.
  int opB = transB ? CUBLAS_OP_T : CUBLAS_OP_N, opA = transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  int ldb = int(transB ? k : n), lda = int(transA ? m : k);
  const float one = 1.0f;
  int s = batch == 1 ? api().sgemm(handle, opB, opA, int(n), int(m), int(k), &one, b, ldb, a, lda, &beta, c, int(n))
                     : api().sgemmStridedBatched(handle, opB, opA, int(n), int(m), int(k), &one, b, ldb, strideB, a, lda,
                                                 strideA, &beta, c, int(n), strideC, int(batch));
  if (s) error = describe(batch == 1 ? "cublasSgemm" : "cublasSgemmStridedBatched", s);
  return s == 0;
}

} // namespace dlrt::cuda
