//===- swiglu.cpp - a custom layer: the SwiGLU gate of Llama-style MLPs ---===//
//
//   swiglu(x) = silu(x[..., :H]) * x[..., H:]      x: [..., 2H]  ->  [..., H]
//
// One file, built twice by dlc_add_plugin(): the kernels below (plain C++ over dense
// row-major tensors, the run-time part, libswiglu_rt.so) and, under
// DLC_PLUGIN_COMPILER, the layer's declaration for dlc (libswiglu.so).
//
//===----------------------------------------------------------------------===//
#include <dlc/plugin.h>

#include <cmath>

namespace {

struct Halves {
  int64_t rows, h;
};

Halves halvesOf(const dlrt_plugin_view &x) {
  int64_t h = x.dims[x.rank - 1] / 2;
  return {h ? dlrt_plugin_numel(&x) / (2 * h) : 0, h};
}

float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// inputs: x. outputs: y.
int32_t forward(const dlrt_plugin_call *call) {
  struct Job {
    const float *x;
    float *y;
    Halves s;
  } job{static_cast<const float *>(call->inputs[0].data), static_cast<float *>(call->outputs[0].data),
        halvesOf(call->inputs[0])};
  call->parallel_for(call, job.s.rows, [](void *arg, int64_t begin, int64_t end) {
    const Job &j = *static_cast<const Job *>(arg);
    for (int64_t r = begin; r < end; ++r) {
      const float *a = j.x + r * 2 * j.s.h, *g = a + j.s.h;
      float *y = j.y + r * j.s.h;
      for (int64_t k = 0; k < j.s.h; ++k) y[k] = a[k] * sigmoid(a[k]) * g[k];
    }
  }, &job);
  return 0;
}

// inputs: x, y, dy. outputs: dx.
int32_t backward(const dlrt_plugin_call *call) {
  struct Job {
    const float *x, *dy;
    float *dx;
    Halves s;
  } job{static_cast<const float *>(call->inputs[0].data), static_cast<const float *>(call->inputs[2].data),
        static_cast<float *>(call->outputs[0].data), halvesOf(call->inputs[0])};
  call->parallel_for(call, job.s.rows, [](void *arg, int64_t begin, int64_t end) {
    const Job &j = *static_cast<const Job *>(arg);
    for (int64_t r = begin; r < end; ++r) {
      const float *a = j.x + r * 2 * j.s.h, *g = a + j.s.h, *dy = j.dy + r * j.s.h;
      float *da = j.dx + r * 2 * j.s.h, *dg = da + j.s.h;
      for (int64_t k = 0; k < j.s.h; ++k) {
        float s = sigmoid(a[k]);
        dg[k] = dy[k] * a[k] * s;
        da[k] = dy[k] * g[k] * s * (1.0f + a[k] * (1.0f - s));
      }
    }
  }, &job);
  return 0;
}

const dlrt_plugin_layer kLayers[] = {{"swiglu", forward, backward, nullptr, nullptr}};

} // namespace

DLRT_PLUGIN(swiglu, 1, 0, kLayers)

#ifdef DLC_PLUGIN_COMPILER
DLC_PLUGIN_LAYERS(registrar) {
  dlc::LayerDef def;
  def.name = "swiglu";
  def.infer = [](dlc::LayerCall &c) {
    const dlc::TensorType &x = c.inputs[0];
    if (x.dtype != dlc::DType::F32) return c.error("swiglu takes f32, got " + std::string(dlc::dtypeName(x.dtype)));
    auto last = x.shape.empty() ? std::nullopt : x.shape.back().constant();
    if (!last || *last % 2)
      return c.error("swiglu splits its last dim in two halves: it must be static and even, got " + x.str());
    c.result = x;
    c.result.shape.back() = dlc::SymExpr(*last / 2);
    return true;
  };
  def.plugin.kernel = "swiglu";
  registrar.add(std::move(def));
}
#endif
