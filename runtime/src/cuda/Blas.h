//===- Blas.h - cuBLAS, loaded at run time ----------------------*- C++ -*-===//
//
// dense and matmul in a cuda session run on cuBLAS (found by Libraries.h: libcublas by
// soname, DLRT_CUBLAS, or PyTorch's pip package), on the session's stream, in full f32
// (cuBLAS's default math: no TF32 unless NVIDIA_TF32_OVERRIDE asks for it).
// The kernels speak row-major like the rest of dlc; cuBLAS is column-major, so each
// product is computed as its transpose: C^T = B^T A^T.
//
//===----------------------------------------------------------------------===//
#ifndef DLRT_SRC_CUDA_BLAS_H
#define DLRT_SRC_CUDA_BLAS_H

#include <cstdint>
#include <memory>
#include <string>

namespace dlrt::cuda {

class Device;

class Blas {
public:
  /// A cuBLAS handle on `device`'s stream; null with `error` when cuBLAS is missing.
  static std::unique_ptr<Blas> open(Device &device, std::string &error);
  ~Blas();

  /// Row-major C[M, N] = op(A) op(B) for `batch` products, operand k of product t at
  /// `base + t * stride` (stride 0: shared). `transA`: A's buffer holds A^T ([K, M]);
  /// `transB`: B's holds B^T ([N, K]).
  bool gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k, const float *a, int64_t strideA,
            const float *b, int64_t strideB, float *c, int64_t strideC, int64_t batch, float beta,
            std::string &error);

private:
  Blas() = default;
  void *handle = nullptr;
};

} // namespace dlrt::cuda
#endif
