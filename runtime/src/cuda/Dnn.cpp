//===- Dnn.cpp - cuDNN's convolutions, loaded at run time -----------------===//
#include "cuda/Dnn.h"
#include "cuda/Device.h"
#include "cuda/Libraries.h"

#include <dlfcn.h>

#include <climits>

namespace dlrt::cuda {

namespace {

constexpr int CUDNN_TENSOR_NCHW = 0, CUDNN_DATA_FLOAT = 0, CUDNN_CROSS_CORRELATION = 1, CUDNN_FMA_MATH = 3;
// Algorithm 1 of each direction: deterministic; 0 where a shape has no algorithm-1 kernel.
constexpr int kAlgorithms[] = {1, 0};

using Desc = void *;

struct Api {
  int (*create)(void **);
  int (*destroy)(void *);
  int (*setStream)(void *, CUstream);
  const char *(*errorString)(int);
  int (*createTensor)(Desc *);
  int (*setTensor4d)(Desc, int, int, int, int, int, int);
  int (*destroyTensor)(Desc);
  int (*createFilter)(Desc *);
  int (*setFilter4d)(Desc, int, int, int, int, int, int);
  int (*destroyFilter)(Desc);
  int (*createConv)(Desc *);
  int (*setConv2d)(Desc, int, int, int, int, int, int, int, int);
  int (*setGroups)(Desc, int);
  int (*setMathType)(Desc, int);
  int (*destroyConv)(Desc);
  int (*fwdWorkspace)(void *, Desc, Desc, Desc, Desc, int, size_t *);
  int (*fwd)(void *, const void *, Desc, const void *, Desc, const void *, Desc, int, void *, size_t, const void *, Desc,
             void *);
  int (*addTensor)(void *, const void *, Desc, const void *, const void *, Desc, void *);
  int (*bwdDataWorkspace)(void *, Desc, Desc, Desc, Desc, int, size_t *);
  int (*bwdData)(void *, const void *, Desc, const void *, Desc, const void *, Desc, int, void *, size_t, const void *,
                 Desc, void *);
  int (*bwdFilterWorkspace)(void *, Desc, Desc, Desc, Desc, int, size_t *);
  int (*bwdFilter)(void *, const void *, Desc, const void *, Desc, const void *, Desc, int, void *, size_t,
                   const void *, Desc, void *);
  std::string error;
};

Api load() {
  Api api{};
  void *h = openLibrary("DLRT_CUDNN", {"libcudnn.so.9", "libcudnn.so"}, "cudnn", api.error);
  if (!h) return api;
  auto sym = [&](auto &fn, const char *name) { bindSymbol(h, fn, name, "cuDNN", api.error); };
  sym(api.create, "cudnnCreate");
  sym(api.destroy, "cudnnDestroy");
  sym(api.setStream, "cudnnSetStream");
  sym(api.errorString, "cudnnGetErrorString");
  sym(api.createTensor, "cudnnCreateTensorDescriptor");
  sym(api.setTensor4d, "cudnnSetTensor4dDescriptor");
  sym(api.destroyTensor, "cudnnDestroyTensorDescriptor");
  sym(api.createFilter, "cudnnCreateFilterDescriptor");
  sym(api.setFilter4d, "cudnnSetFilter4dDescriptor");
  sym(api.destroyFilter, "cudnnDestroyFilterDescriptor");
  sym(api.createConv, "cudnnCreateConvolutionDescriptor");
  sym(api.setConv2d, "cudnnSetConvolution2dDescriptor");
  sym(api.setGroups, "cudnnSetConvolutionGroupCount");
  sym(api.setMathType, "cudnnSetConvolutionMathType");
  sym(api.destroyConv, "cudnnDestroyConvolutionDescriptor");
  sym(api.fwdWorkspace, "cudnnGetConvolutionForwardWorkspaceSize");
  sym(api.fwd, "cudnnConvolutionForward");
  sym(api.addTensor, "cudnnAddTensor");
  sym(api.bwdDataWorkspace, "cudnnGetConvolutionBackwardDataWorkspaceSize");
  sym(api.bwdData, "cudnnConvolutionBackwardData");
  sym(api.bwdFilterWorkspace, "cudnnGetConvolutionBackwardFilterWorkspaceSize");
  sym(api.bwdFilter, "cudnnConvolutionBackwardFilter");
  return api;
}

const Api &api() {
  static const Api loaded = load();
  return loaded;
}

std::string describe(const char *call, int status) {
  const char *s = api().errorString ? api().errorString(status) : nullptr;
  return std::string(call) + ": cuDNN status " + std::to_string(status) + (s ? std::string(" (") + s + ")" : "");
}

/// The descriptors of one convolution, destroyed with it.
struct Problem {
  Desc x = nullptr, y = nullptr, w = nullptr, conv = nullptr, bias = nullptr;
  std::string error;
  explicit Problem(const int64_t *g) {
    const Api &a = api();
    int64_t n = g[0], c = g[1], h = g[2], wd = g[3], oc = g[4], kh = g[5], kw = g[6], oh = g[7], ow = g[8];
    int64_t groups = g[17];
    for (int i = 0; i < 19; ++i)
      if (g[i] > INT_MAX) {
        error = "a convolution too large for cuDNN's 32-bit sizes";
        return;
      }
    if (g[11] != g[13] || g[12] != g[14] || g[18] != 0 || g[19] != 0) {
      error = "cuDNN's convolution takes NCHW, symmetric padding and no fused activation";
      return;
    }
    int s;
    if ((s = a.createTensor(&x)) || (s = a.setTensor4d(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(n), int(c), int(h), int(wd))) ||
        (s = a.createTensor(&y)) ||
        (s = a.setTensor4d(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(n), int(oc), int(oh), int(ow))) ||
        (s = a.createTensor(&bias)) ||
        (s = a.setTensor4d(bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, int(oc), 1, 1)) ||
        (s = a.createFilter(&w)) ||
        (s = a.setFilter4d(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(oc), int(c / groups), int(kh), int(kw))) ||
        (s = a.createConv(&conv)) ||
        (s = a.setConv2d(conv, int(g[11]), int(g[12]), int(g[9]), int(g[10]), int(g[15]), int(g[16]),
                         CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT)) ||
        (s = a.setGroups(conv, int(groups))) || (s = a.setMathType(conv, CUDNN_FMA_MATH)))
      error = describe("describing a convolution", s);
  }
  ~Problem() {
    const Api &a = api();
    if (x) a.destroyTensor(x);
    if (y) a.destroyTensor(y);
    if (bias) a.destroyTensor(bias);
    if (w) a.destroyFilter(w);
    if (conv) a.destroyConv(conv);
  }
};

/// Runs `call(algorithm, workspace, bytes)` with the first algorithm whose workspace
/// `size(algorithm, &bytes)` can tell (a shape an algorithm has no kernel for fails there).
template <typename Size, typename Call>
bool withAlgorithm(Device &device, const char *what, Size size, Call call, std::string &error) {
  int status = 0;
  for (int algo : kAlgorithms) {
    size_t bytes = 0;
    if ((status = size(algo, &bytes))) continue;
    void *ws = bytes ? device.workspace(bytes, error) : nullptr;
    if (bytes && !ws) return false;
    if ((status = call(algo, ws, bytes)) == 0) return true;
  }
  error = describe(what, status);
  return false;
}

} // namespace

std::unique_ptr<Dnn> Dnn::open(Device &device, std::string &error) {
  const Api &a = api();
  if (!a.error.empty()) {
    error = "convolutions run on cuDNN: " + a.error;
    return nullptr;
  }
  std::unique_ptr<Dnn> dnn(new Dnn(device));
  if (int s = a.create(&dnn->handle)) {
    error = describe("cudnnCreate", s);
    return nullptr;
  }
  if (int s = a.setStream(dnn->handle, device.stream())) {
    error = describe("cudnnSetStream", s);
    return nullptr;
  }
  return dnn;
}

Dnn::~Dnn() {
  if (handle) api().destroy(handle);
}

bool Dnn::forward(const int64_t *g, const float *x, const float *w, const float *bias, float *y, std::string &error) {
  Problem p(g);
  if (!p.error.empty()) return (error = p.error), false;
  const Api &a = api();
  const float one = 1.0f, zero = 0.0f;
  if (!withAlgorithm(
          device, "cudnnConvolutionForward",
          [&](int algo, size_t *bytes) { return a.fwdWorkspace(handle, p.x, p.w, p.conv, p.y, algo, bytes); },
          [&](int algo, void *ws, size_t bytes) {
            return a.fwd(handle, &one, p.x, x, p.w, w, p.conv, algo, ws, bytes, &zero, p.y, y);
          },
          error))
    return false;
  if (bias)
    if (int s = a.addTensor(handle, &one, p.bias, bias, &one, p.y, y)) return (error = describe("cudnnAddTensor", s)), false;
  return true;
}

bool Dnn::backwardData(const int64_t *g, const float *dy, const float *w, float *dx, std::string &error) {
  Problem p(g);
  if (!p.error.empty()) return (error = p.error), false;
  const Api &a = api();
  const float one = 1.0f, zero = 0.0f;
  return withAlgorithm(
      device, "cudnnConvolutionBackwardData",
      [&](int algo, size_t *bytes) { return a.bwdDataWorkspace(handle, p.w, p.y, p.conv, p.x, algo, bytes); },
      [&](int algo, void *ws, size_t bytes) {
        return a.bwdData(handle, &one, p.w, w, p.y, dy, p.conv, algo, ws, bytes, &zero, p.x, dx);
      },
      error);
}

bool Dnn::backwardFilter(const int64_t *g, const float *x, const float *dy, float *dw, std::string &error) {
  Problem p(g);
  if (!p.error.empty()) return (error = p.error), false;
  const Api &a = api();
  const float one = 1.0f, zero = 0.0f;
  return withAlgorithm(
      device, "cudnnConvolutionBackwardFilter",
      [&](int algo, size_t *bytes) { return a.bwdFilterWorkspace(handle, p.x, p.y, p.conv, p.w, algo, bytes); },
      [&](int algo, void *ws, size_t bytes) {
        return a.bwdFilter(handle, &one, p.x, x, p.y, dy, p.conv, algo, ws, bytes, &zero, p.w, dw);
      },
      error);
}

} // namespace dlrt::cuda
