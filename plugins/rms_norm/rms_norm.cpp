//===- rms_norm.cpp - Llama's RMSNorm as a plugin layer with a run-time kernel ===//
//
//   y = x * rsqrt(mean(x^2, -1) + eps) * weight      weight: [D], ones at first
//
//   h = rms_norm(x)             eps = 1e-6 by default; rms_norm(x, eps=1e-5)
//
// The run-time part: a forward kernel that also saves each row's rsqrt (the gradient
// reads it), and a backward kernel. The compile-time part declares the layer.
//
//===----------------------------------------------------------------------===//
#include <dlc/plugin.h>

#include <cmath>
#include <cstring>

namespace {

struct Rows {
  int64_t rows, d;
};

Rows rowsOf(const dlrt_plugin_view &x) {
  int64_t d = x.rank ? x.dims[x.rank - 1] : 1;
  return {d ? dlrt_plugin_numel(&x) / d : 0, d};
}

// inputs: x, weight. outputs: y, rstd (one per row).
int32_t forward(const dlrt_plugin_call *call) {
  struct Job {
    const float *x, *w;
    float *y, *rstd;
    Rows r;
    double eps;
  } job{static_cast<const float *>(call->inputs[0].data), static_cast<const float *>(call->inputs[1].data),
        static_cast<float *>(call->outputs[0].data), static_cast<float *>(call->outputs[1].data),
        rowsOf(call->inputs[0]), dlrt_plugin_attr_float(call, "eps", 1e-6)};
  call->parallel_for(call, job.r.rows, [](void *arg, int64_t begin, int64_t end) {
    const Job &j = *static_cast<const Job *>(arg);
    for (int64_t i = begin; i < end; ++i) {
      const float *x = j.x + i * j.r.d;
      double ss = 0;
      for (int64_t k = 0; k < j.r.d; ++k) ss += double(x[k]) * x[k];
      float r = float(1.0 / std::sqrt(ss / double(j.r.d) + j.eps));
      j.rstd[i] = r;
      float *y = j.y + i * j.r.d;
      for (int64_t k = 0; k < j.r.d; ++k) y[k] = x[k] * r * j.w[k];
    }
  }, &job);
  return 0;
}

// The weight's gradient sums over rows: each thread sums its rows into its own slice of
// the workspace, which are added after.
int64_t backwardWorkspace(const dlrt_plugin_call *call) {
  return int64_t(call->threads) * rowsOf(call->inputs[0]).d * int64_t(sizeof(double));
}

// inputs: x, weight, y, rstd, dy. outputs: dx, dweight.
int32_t backward(const dlrt_plugin_call *call) {
  Rows r = rowsOf(call->inputs[0]);
  struct Job {
    const float *x, *w, *rstd, *dy;
    float *dx;
    double *partial;
    Rows r;
    int64_t chunks;
  } job{static_cast<const float *>(call->inputs[0].data), static_cast<const float *>(call->inputs[1].data),
        static_cast<const float *>(call->inputs[3].data), static_cast<const float *>(call->inputs[4].data),
        static_cast<float *>(call->outputs[0].data), static_cast<double *>(call->workspace), r,
        std::min<int64_t>(call->threads, r.rows)};
  if (r.d == 0) return 0;
  std::memset(job.partial, 0, size_t(call->threads * r.d) * sizeof(double));
  // One chunk of rows per thread, so that each chunk owns a slice of `partial`.
  call->parallel_for(call, job.chunks, [](void *arg, int64_t begin, int64_t end) {
    const Job &j = *static_cast<const Job *>(arg);
    for (int64_t c = begin; c < end; ++c) {
      double *dw = j.partial + c * j.r.d;
      for (int64_t i = j.r.rows * c / j.chunks; i < j.r.rows * (c + 1) / j.chunks; ++i) {
        const float *x = j.x + i * j.r.d, *dy = j.dy + i * j.r.d;
        float rs = j.rstd[i];
        double dot = 0; // sum(dxhat * xhat)
        for (int64_t k = 0; k < j.r.d; ++k) {
          double xhat = double(x[k]) * rs;
          dot += double(dy[k]) * j.w[k] * xhat;
          dw[k] += double(dy[k]) * xhat;
        }
        double mean = dot / double(j.r.d);
        float *dx = j.dx + i * j.r.d;
        for (int64_t k = 0; k < j.r.d; ++k)
          dx[k] = float(rs * (double(dy[k]) * j.w[k] - double(x[k]) * rs * mean));
      }
    }
  }, &job);
  float *dweight = static_cast<float *>(call->outputs[1].data);
  for (int64_t k = 0; k < r.d; ++k) {
    double s = 0;
    for (int64_t c = 0; c < job.chunks; ++c) s += job.partial[c * r.d + k];
    dweight[k] = float(s);
  }
  return 0;
}

const dlrt_plugin_layer kLayers[] = {{"rms_norm", forward, backward, nullptr, backwardWorkspace}};

} // namespace

DLRT_PLUGIN(rms_norm, 1, 0, kLayers)

#ifdef DLC_PLUGIN_COMPILER
DLC_PLUGIN_LAYERS(registrar) {
  dlc::LayerDef def;
  def.name = "rms_norm";
  def.numInputs = 1;
  def.withParams = true;
  def.attrs = {{"eps", dlc::AttrType::Float, dlc::AttrValue::ofFloat(1e-6)}};
  def.infer = [](dlc::LayerCall &c) {
    const dlc::TensorType &x = c.inputs[0];
    if (x.dtype != dlc::DType::F32) return c.error("rms_norm takes f32, got " + std::string(dlc::dtypeName(x.dtype)));
    if (x.shape.empty()) return c.error("rms_norm needs at least one dim (it normalises the last)");
    auto d = x.shape.back().constant();
    if (!d) return c.error("rms_norm needs a static last dim (the weight's size), got '" + x.shape.back().str() + "'");
    if (!(c.getFloat("eps") > 0)) return c.error("rms_norm: eps must be > 0, got " + std::to_string(c.getFloat("eps")));
    c.result = x;
    c.params = {{"weight", dlc::TensorType{dlc::DType::F32, {dlc::SymExpr(*d)}}, {dlc::ParamInit::Ones}}};
    c.saved = {dlc::TensorType{dlc::DType::F32, {x.shape.begin(), x.shape.end() - 1}}};
    return true;
  };
  def.plugin.kernel = "rms_norm";
  registrar.add(std::move(def));
}
#endif
