//===- Kernels.cpp - what a --target cuda model's host code calls ---------===//
//
// A cuda model imports dlrt_gpu_launch for its generated kernels, the dense, matmul and
// convolution kernels a CPU model calls (here on cuBLAS and cuDNN, same signatures), and
// the same checks; a
// check that reads tensor contents (the index check) reads them from device memory here.
// The arena's dlrt_k_alloc/free resolve as for the CPU and allocate device memory in a
// cuda session.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "cuda/Blas.h"
#include "cuda/Device.h"
#include "cuda/Dnn.h"
#include "onednn/Kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

using dlrt::KernelContext;

extern "C" void dlrt_gpu_launch(void *vctx, int64_t kernel, int64_t gx, int64_t gy, int64_t gz, int64_t bx,
                                int64_t by, int64_t bz, const int64_t *words, int64_t count) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (!ctx.error.empty()) return; // the call has failed: nothing more runs
  if (!ctx.device) {
    ctx.fail("a GPU kernel launched in a session without a GPU");
    return;
  }
  const int64_t grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  std::string err;
  if (!ctx.device->launch(kernel, grid, block, words, count, err)) ctx.fail(err);
}

/// dlrt_k_check_ids on ids in device memory: copied to the host (a few words per sample),
/// then the CPU check.
extern "C" void dlrt_cuda_check_ids(void *vctx, int64_t site, const void *ids, int64_t count, int64_t elemBytes,
                                    int64_t limit) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (!ctx.error.empty() || count <= 0) return;
  std::vector<uint8_t> host(size_t(count) * size_t(elemBytes));
  std::string err;
  if (!ctx.device || !ctx.device->toHost(host.data(), ids, host.size(), err)) {
    ctx.fail(ctx.where(site) + ": reading the indices from the GPU: " + err);
    return;
  }
  dlrt_k_check_ids(vctx, site, host.data(), count, elemBytes, limit);
}

namespace {

/// The session's cuBLAS or cuDNN (`get`: Device::blas or Device::dnn), or null with the
/// failure recorded against `site` (a call that has failed already gets null too).
template <typename Library>
Library *libraryOf(KernelContext &ctx, int64_t site, Library *(dlrt::cuda::Device::*get)(std::string &)) {
  if (!ctx.error.empty()) return nullptr;
  std::string err;
  Library *lib = ctx.device ? (ctx.device->*get)(err) : nullptr;
  if (!lib) ctx.fail(ctx.where(site) + ": " + (ctx.device ? err : std::string("no GPU in this session")));
  return lib;
}

dlrt::cuda::Blas *blasOf(KernelContext &ctx, int64_t site) { return libraryOf(ctx, site, &dlrt::cuda::Device::blas); }
dlrt::cuda::Dnn *dnnOf(KernelContext &ctx, int64_t site) { return libraryOf(ctx, site, &dlrt::cuda::Device::dnn); }

} // namespace

/// dlrt_k_dense_f32 on cuBLAS: y = x W^T (+ bias, as the rank-1 product ones bias^T
/// written first and accumulated onto). The GPU target fuses no activation and keeps
/// NCHW, so `activation` is none and `nhwc` null.
extern "C" void dlrt_cuda_dense_f32(void *vctx, int64_t site, int64_t m, int64_t k, int64_t n, const float *x,
                                    const float *w, const float *bias, float *y, int64_t activation,
                                    const int64_t *nhwc) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  dlrt::cuda::Blas *blas = blasOf(ctx, site);
  if (!blas) return;
  if (activation != 0 || nhwc) {
    ctx.fail(ctx.where(site) + ": a fused activation or NHWC input reached the GPU's dense kernel");
    return;
  }
  std::string err;
  float beta = 0.0f;
  if (bias) {
    const float *ones = ctx.device->ones(m, err);
    // y^T[n, m] = bias[n, 1] ones[1, m]: row-major y[m, n] = ones[m, 1] bias[1, n].
    if (!ones || !blas->gemm(false, false, m, n, 1, ones, 0, bias, 0, y, 0, 1, 0.0f, err)) {
      ctx.fail(ctx.where(site) + ": " + err);
      return;
    }
    beta = 1.0f;
  }
  if (!blas->gemm(false, true, m, n, k, x, 0, w, 0, y, 0, 1, beta, err)) ctx.fail(ctx.where(site) + ": " + err);
}

/// dlrt_k_matmul_f32 on cuBLAS: one strided-batched product where each operand's batch
/// is either the result's or broadcast whole; one product per batch element otherwise.
extern "C" void dlrt_cuda_matmul_f32(void *vctx, int64_t site, int64_t rank, const int64_t *dims, const float *a,
                                     const float *b, float *c, int64_t transposed) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  dlrt::cuda::Blas *blas = blasOf(ctx, site);
  if (!blas) return;
  const int64_t *ad = dims, *bd = dims + rank;
  int64_t m = ad[rank - 2], k = ad[rank - 1], n = bd[rank - 1];
  // The result's batch dims and each operand's element strides over them (0: broadcast).
  std::vector<int64_t> batch, sa, sb;
  int64_t total = 1, ra = m * k, rb = k * n;
  for (int64_t i = rank - 3; i >= 0; --i) {
    int64_t d = std::max(ad[i], bd[i]);
    batch.insert(batch.begin(), d);
    sa.insert(sa.begin(), ad[i] == 1 ? 0 : ra);
    sb.insert(sb.begin(), bd[i] == 1 ? 0 : rb);
    ra *= ad[i];
    rb *= bd[i];
    total *= d;
  }
  auto offset = [&](const std::vector<int64_t> &strides, int64_t t) {
    int64_t off = 0;
    for (size_t i = batch.size(); i-- > 0;) {
      off += (t % batch[i]) * strides[i];
      t /= batch[i];
    }
    return off;
  };
  // One call where every operand's offsets are t * stride.
  auto uniform = [&](const std::vector<int64_t> &strides, int64_t &stride) {
    stride = total > 1 ? offset(strides, 1) : 0;
    for (int64_t t = 0; t < total; ++t)
      if (offset(strides, t) != t * stride) return false;
    return true;
  };
  std::string err;
  bool ta = transposed & 1, tb = transposed & 2;
  int64_t strideA, strideB;
  if (uniform(sa, strideA) && uniform(sb, strideB)) {
    if (!blas->gemm(ta, tb, m, n, k, a, strideA, b, strideB, c, m * n, total, 0.0f, err))
      ctx.fail(ctx.where(site) + ": " + err);
    return;
  }
  for (int64_t t = 0; t < total; ++t)
    if (!blas->gemm(ta, tb, m, n, k, a + offset(sa, t), 0, b + offset(sb, t), 0, c + t * m * n, 0, 1, 0.0f, err)) {
      ctx.fail(ctx.where(site) + ": " + err);
      return;
    }
}

/// The convolution kernels of the CPU's signatures on cuDNN. The GPU target sends them
/// only NCHW, symmetrically padded convolutions without fused batch norm, residual or
/// activation; anything else is refused, not run wrongly.
extern "C" void dlrt_cuda_conv2d_f32(void *vctx, int64_t site, const int64_t *geom, const float *x, const float *w,
                                     const float *bias, float *y, const int64_t *bn, double, int64_t accumulate) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  dlrt::cuda::Dnn *dnn = dnnOf(ctx, site);
  if (!dnn) return;
  std::string err;
  if (bn || accumulate) err = "a fused batch norm or residual reached the GPU's convolution";
  else dnn->forward(geom, x, w, bias, y, err);
  if (!err.empty()) ctx.fail(ctx.where(site) + ": " + err);
}

extern "C" void dlrt_cuda_conv2d_backward_data_f32(void *vctx, int64_t site, const int64_t *geom, const float *dy,
                                                   const float *w, float *dx) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  dlrt::cuda::Dnn *dnn = dnnOf(ctx, site);
  std::string err;
  if (dnn && !dnn->backwardData(geom, dy, w, dx, err)) ctx.fail(ctx.where(site) + ": " + err);
}

extern "C" void dlrt_cuda_conv2d_backward_weights_f32(void *vctx, int64_t site, const int64_t *geom, const float *x,
                                                      const float *dy, float *dw) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  dlrt::cuda::Dnn *dnn = dnnOf(ctx, site);
  std::string err;
  if (dnn && !dnn->backwardFilter(geom, x, dy, dw, err)) ctx.fail(ctx.where(site) + ": " + err);
}

namespace dlrt {

void *resolveCudaKernel(const char *name, void *user) {
  if (std::strcmp(name, "dlrt_gpu_launch") == 0) return reinterpret_cast<void *>(&dlrt_gpu_launch);
  if (std::strcmp(name, "dlrt_k_check_ids") == 0) return reinterpret_cast<void *>(&dlrt_cuda_check_ids);
  if (std::strcmp(name, "dlrt_k_dense_f32") == 0) return reinterpret_cast<void *>(&dlrt_cuda_dense_f32);
  if (std::strcmp(name, "dlrt_k_matmul_f32") == 0) return reinterpret_cast<void *>(&dlrt_cuda_matmul_f32);
  if (std::strcmp(name, "dlrt_k_conv2d_f32") == 0) return reinterpret_cast<void *>(&dlrt_cuda_conv2d_f32);
  if (std::strcmp(name, "dlrt_k_conv2d_backward_data_f32") == 0)
    return reinterpret_cast<void *>(&dlrt_cuda_conv2d_backward_data_f32);
  if (std::strcmp(name, "dlrt_k_conv2d_backward_weights_f32") == 0)
    return reinterpret_cast<void *>(&dlrt_cuda_conv2d_backward_weights_f32);
  // oneDNN's kernels take host memory: a cuda model that imported one would be a
  // compiler bug, refused here rather than run on device pointers. Allocation, checks of
  // sizes and the profile's marks touch no tensor data.
  if (std::strncmp(name, "dlrt_k_", 7) == 0 && std::strcmp(name, "dlrt_k_alloc") != 0 &&
      std::strcmp(name, "dlrt_k_aligned_alloc") != 0 &&
      std::strcmp(name, "dlrt_k_free") != 0 && std::strcmp(name, "dlrt_k_profile") != 0 &&
      std::strncmp(name, "dlrt_k_check_", 13) != 0)
    return nullptr;
  return resolveKernel(name, user);
}

} // namespace dlrt
