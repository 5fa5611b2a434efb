//===- Recurrent.cpp - LSTM and GRU kernels on oneDNN ---------------------===//
//
// (An LSTM layer whose hidden size is a multiple of 16 runs its recurrence on
// native/Lstm.cpp instead, after one oneDNN GEMM for its input projection, and its
// backward pass on native/LstmBackward.cpp, between oneDNN GEMMs for the weights' and the
// input's gradients: see usesNativeLstm.)
//
// One oneDNN RNN primitive per layer (layers differ in input width), batch-first (ntc)
// activations as PyTorch has them. PyTorch's weight matrices [gates*H, in] are oneDNN's
// ldgoi layout; they are reordered into the primitive's preferred layout once per
// parameter version (set_param and load_weights bump it). PyTorch's two biases are summed
// (LSTM) or arranged as linear-before-reset GRU expects; GRU gates r, z, n become
// oneDNN's u(z), r, o(n).
//
// The training form (a non-NULL workspace) runs forward_training primitives and keeps in
// the workspace what the backward pass reads: each layer's oneDNN workspace (the gates of
// every step) and each layer's output sequence (the next layer's input, and the last
// layer's full sequence where only its last step is returned).
//
// The backward pass (dlrt_k_rnn_backward_f32) reads the training-form forward's
// workspace and runs each layer's backward primitive from the last layer to the first:
// oneDNN batches the weight gradients of all steps into one GEMM per weight, where the
// unrolled recurrence made one per step. Where compiled code has no training-form
// forward to pair it with, dlrt_k_rnn_grad_f32 reruns the forward from the input first.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "dlrt/model_abi.h"
#include "native/Lstm.h"
#include "onednn/Dense.h"
#include "onednn/Kernels.h"

#include <cstdint>
#include <cstring>

using dnnl::memory;

namespace dlrt {
namespace {

struct RnnLayer {
  dnnl::primitive prim;
  memory::desc src, wl, wi, biasDesc, dst;   // the primitive's
  memory::desc userWl, userWi;               // PyTorch's layouts (ldgoi)
  memory::desc workspace;                    // empty for inference
  memory::desc diffWl, diffWi;               // the backward's weight gradients (ldigo)
  // The layer's weights in the primitive's layouts and its bias, as of `packedStamp`.
  memory packedWl, packedWi;
  std::vector<float> bias;
  ParamStamp packedStamp;
};

/// A layer's activations (batch-first), PyTorch's weight layouts and the bias, for a
/// forward or backward primitive to be made from.
std::shared_ptr<RnnLayer> newLayer(int64_t b, int64_t t, int64_t in, int64_t h, bool gru) {
  auto p = std::make_shared<RnnLayer>();
  // Linear-before-reset GRU keeps a fourth bias (the n gate's hidden part) besides its 3 gates.
  int64_t g = gru ? 3 : 4, biasGates = 4;
  auto f32 = memory::data_type::f32;
  p->src = memory::desc({t, b, in}, f32, memory::format_tag::ntc);
  p->dst = memory::desc({t, b, h}, f32, memory::format_tag::ntc);
  p->userWl = memory::desc({1, 1, in, g, h}, f32, memory::format_tag::ldgoi);
  p->userWi = memory::desc({1, 1, h, g, h}, f32, memory::format_tag::ldgoi);
  p->biasDesc = memory::desc({1, 1, biasGates, h}, f32, memory::format_tag::ldgo);
  return p;
}

/// `user`'s dims in the layout the primitive prefers.
memory::desc anyLayout(const memory::desc &user) {
  return memory::desc(user.dims(), memory::data_type::f32, memory::format_tag::any);
}

RnnLayer &layerPrimitive(KernelContext &ctx, int64_t site, int threads, int64_t layer, int64_t b, int64_t t,
                         int64_t in, int64_t h, bool gru, bool training) {
  std::vector<int64_t> key = {kRecurrent, site, threads, training, layer, b, t, in, h, gru};
  auto &slot = ctx.primitives[key];
  if (!slot) {
    auto p = newLayer(b, t, in, h, gru);
    memory::desc wlAny = anyLayout(p->userWl), wiAny = anyLayout(p->userWi);
    auto dir = dnnl::rnn_direction::unidirectional_left2right;
    auto inf = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    if (gru) {
      dnnl::lbr_gru_forward::desc d(inf, dir, p->src, memory::desc(), wlAny, wiAny, p->biasDesc, p->dst, memory::desc());
      dnnl::lbr_gru_forward::primitive_desc pd(d, kernelAttr(), ctx.engine);
      p->wl = pd.weights_layer_desc();
      p->wi = pd.weights_iter_desc();
      p->workspace = pd.workspace_desc();
      p->prim = dnnl::lbr_gru_forward(pd);
    } else {
      dnnl::lstm_forward::desc d(inf, dir, p->src, memory::desc(), memory::desc(), wlAny, wiAny, p->biasDesc, p->dst,
                                 memory::desc(), memory::desc());
      dnnl::lstm_forward::primitive_desc pd(d, kernelAttr(), ctx.engine);
      p->wl = pd.weights_layer_desc();
      p->wi = pd.weights_iter_desc();
      p->workspace = pd.workspace_desc();
      p->prim = dnnl::lstm_forward(pd);
    }
    slot = p;
  }
  return *static_cast<RnnLayer *>(slot.get());
}

/// A layer's backward primitive. Its weights have layouts of their own (packed as the
/// forward's are), and its weight gradients are ldigo, which it accumulates into.
RnnLayer &layerBackward(KernelContext &ctx, int64_t site, int threads, int64_t layer, int64_t b, int64_t t,
                        int64_t in, int64_t h, bool gru) {
  std::vector<int64_t> key = {kRecurrentBackward, site, threads, layer, b, t, in, h, gru};
  auto &slot = ctx.primitives[key];
  if (!slot) {
    auto p = newLayer(b, t, in, h, gru);
    memory::desc wlAny = anyLayout(p->userWl), wiAny = anyLayout(p->userWi);
    p->diffWl = memory::desc(p->userWl.dims(), memory::data_type::f32, memory::format_tag::ldigo);
    p->diffWi = memory::desc(p->userWi.dims(), memory::data_type::f32, memory::format_tag::ldigo);
    auto dir = dnnl::rnn_direction::unidirectional_left2right;
    auto train = dnnl::prop_kind::forward_training;
    memory::desc none;
    if (gru) {
      dnnl::lbr_gru_forward::primitive_desc hint(
          dnnl::lbr_gru_forward::desc(train, dir, p->src, none, wlAny, wiAny, p->biasDesc, p->dst, none), kernelAttr(),
          ctx.engine);
      dnnl::lbr_gru_backward::desc d(dnnl::prop_kind::backward, dir, p->src, none, wlAny, wiAny, p->biasDesc, p->dst,
                                     none, p->src, none, p->diffWl, p->diffWi, p->biasDesc, p->dst, none);
      dnnl::lbr_gru_backward::primitive_desc pd(d, kernelAttr(), ctx.engine, hint);
      p->wl = pd.weights_layer_desc();
      p->wi = pd.weights_iter_desc();
      p->workspace = pd.workspace_desc();
      p->prim = dnnl::lbr_gru_backward(pd);
    } else {
      dnnl::lstm_forward::primitive_desc hint(dnnl::lstm_forward::desc(train, dir, p->src, none, none, wlAny, wiAny,
                                                                        p->biasDesc, p->dst, none, none),
                                              kernelAttr(), ctx.engine);
      dnnl::lstm_backward::desc d(dnnl::prop_kind::backward, dir, p->src, none, none, wlAny, wiAny, p->biasDesc,
                                  p->dst, none, none, p->src, none, none, p->diffWl, p->diffWi, p->biasDesc, p->dst,
                                  none, none);
      dnnl::lstm_backward::primitive_desc pd(d, kernelAttr(), ctx.engine, hint);
      p->wl = pd.weights_layer_desc();
      p->wi = pd.weights_iter_desc();
      p->workspace = pd.workspace_desc();
      p->prim = dnnl::lstm_backward(pd);
    }
    slot = p;
  }
  return *static_cast<RnnLayer *>(slot.get());
}

/// GRU: PyTorch's gate blocks (r, z, n) in oneDNN's order (z, r, n).
void gruGates(const float *src, float *dst, int64_t h, int64_t width) {
  size_t block = size_t(h * width);
  std::memcpy(dst, src + block, block * sizeof(float));
  std::memcpy(dst + block, src, block * sizeof(float));
  std::memcpy(dst + 2 * block, src + 2 * block, block * sizeof(float));
}

/// Where each layer's pieces of the training-form workspace start: per layer the oneDNN
/// workspace (the native LSTM's trace: its gates, c and hPrev), then its output sequence
/// unless that is y itself or, for a native last layer returning its last step, not
/// needed; 64-byte aligned.
struct WorkspaceLayout {
  std::vector<size_t> gates, outputs;
  size_t bytes = 0;
};

size_t aligned(size_t n) { return (n + 63) / 64 * 64; }

/// An LSTM layer runs on the native recurrence (native/Lstm.h) where its hidden size is
/// whole blocks of 16: at every batch size measured it was faster than oneDNN's primitive
/// (the LSTM sample, LSTM(32 -> 128) over 50 steps, whole model, Zen 4: batch 1 0.197 ->
/// 0.155 ms on one thread, 0.163 -> 0.098 on two; batch 32 3.02 -> 2.74 and 1.88 -> 1.43),
/// and so is its train step (forward and backward, batch 32, one Zen 5 core capped at
/// AVX2: see the commit). GRUs stay on oneDNN.
bool usesNativeLstm(bool gru, int64_t h) { return !gru && native::lstmRecurrenceSupports(h); }

/// A native LSTM layer's trace in the training-form workspace: the gates [b, t, 4H] (the
/// input projection, activated by the recurrence), then c and hPrev [b, t, H] each
/// (native::LstmTrace).
struct NativeTrace {
  float *gates;
  native::LstmTrace kept;
  static int64_t floats(int64_t b, int64_t t, int64_t h) { return b * t * 6 * h; }
  NativeTrace(void *at, int64_t b, int64_t t, int64_t h)
      : gates(static_cast<float *>(at)), kept{gates + b * t * 4 * h, gates + b * t * 5 * h} {}
};

int rnnThreads(KernelContext &ctx, int64_t b, int64_t t, int64_t width, int64_t h, bool gru, bool backward = false) {
  // oneDNN projects the inputs of all steps at once, then runs two regions per step (the
  // recurrent GEMM, the gates). The backward pass does twice the work (data and weight
  // gradients) in as many regions.
  return ctx.threadsFor((backward ? 4.0 : 2.0) * double(b * t) * double((gru ? 3 : 4) * h) * double(width + h),
                        /*regions=*/double(2 * t + 1));
}

WorkspaceLayout workspaceLayout(KernelContext &ctx, int64_t site, const int64_t *g) {
  int64_t b = g[0], t = g[1], in = g[2], h = g[3], layers = g[4];
  bool gru = g[5] != 0, sequences = g[6] != 0;
  WorkspaceLayout w;
  const bool native = usesNativeLstm(gru, h);
  for (int64_t l = 0; l < layers; ++l) {
    int64_t width = l == 0 ? in : h;
    w.gates.push_back(w.bytes);
    if (native) {
      w.bytes += aligned(size_t(NativeTrace::floats(b, t, h)) * sizeof(float));
    } else {
      RnnLayer &p = layerPrimitive(ctx, site, rnnThreads(ctx, b, t, width, h, gru), l, b, t, width, h, gru, true);
      w.bytes += aligned(p.workspace.get_size());
    }
  }
  for (int64_t l = 0; l < layers; ++l) {
    bool last = l + 1 == layers, unstored = last && (sequences || native);
    w.outputs.push_back(unstored ? SIZE_MAX : w.bytes);
    if (!unstored) w.bytes += aligned(size_t(b * t * h) * sizeof(float));
  }
  return w;
}

/// Brings a layer's packed weights and bias up to date with PyTorch's four tensors
/// (w_ih, w_hh, b_ih, b_hh): redone only when the parameters may have changed.
void pack(KernelContext &ctx, RnnLayer &p, const float *const w[4], int64_t width, int64_t h, bool gru) {
  if (!p.packedStamp.stale(ctx, w[0])) return;
  const float *wih = w[0], *whh = w[1], *bih = w[2], *bhh = w[3];
  std::vector<float> scratchWl, scratchWi;
  p.bias.resize(size_t(4 * h));
  if (gru) {
    scratchWl.resize(size_t(3 * h * width));
    scratchWi.resize(size_t(3 * h * h));
    gruGates(wih, scratchWl.data(), h, width);
    gruGates(whh, scratchWi.data(), h, h);
    wih = scratchWl.data();
    whh = scratchWi.data();
    for (int64_t k = 0; k < h; ++k) {
      p.bias[k] = bih[h + k] + bhh[h + k];         // u: z gate
      p.bias[h + k] = bih[k] + bhh[k];             // r
      p.bias[2 * h + k] = bih[2 * h + k];          // o: n's input part
      p.bias[3 * h + k] = bhh[2 * h + k];          // n's hidden part, inside r * (...)
    }
  } else {
    for (int64_t k = 0; k < 4 * h; ++k) p.bias[k] = bih[k] + bhh[k];
  }
  if (!p.packedWl) {
    p.packedWl = memory(p.wl, ctx.engine);
    p.packedWi = memory(p.wi, ctx.engine);
  }
  for (auto [user, data, packed] : {std::tuple{p.userWl, wih, p.packedWl}, std::tuple{p.userWi, whh, p.packedWi}}) {
    memory src(user, ctx.engine, const_cast<float *>(data));
    dnnl::reorder(src, packed).execute(ctx.stream, src, packed);
  }
  ctx.stream.wait();
  p.packedStamp.update(ctx, w[0]);
}

/// A layer's weights for the native recurrence: W_hh packed, the two biases summed (the
/// input projection adds them), as of `stamp`; W_ih packed, where the recurrence projects
/// the input itself, as of `inputStamp`.
struct NativeLstmWeights {
  std::vector<float> packed, packedInput, bias;
  ParamStamp stamp, inputStamp;
};

/// The native recurrence's weights for a layer, brought up to date with its parameters
/// (W_ih's packed form too `withInput`).
NativeLstmWeights &nativeLstmWeights(KernelContext &ctx, int64_t site, int64_t layer, int64_t width, int64_t h,
                                     const float *const w[4], bool withInput) {
  auto &slot = ctx.primitives[{kNativeLstm, site, layer, width, h}];
  if (!slot) slot = std::make_shared<NativeLstmWeights>();
  auto &weights = *static_cast<NativeLstmWeights *>(slot.get());
  if (weights.stamp.stale(ctx, w[1])) {
    weights.packed.resize(size_t(native::lstmPackedWeightSize(h, h)));
    native::packLstmWeight(w[1], h, h, weights.packed.data());
    weights.bias.resize(size_t(4 * h));
    for (int64_t k = 0; k < 4 * h; ++k) weights.bias[k] = w[2][k] + w[3][k];
    weights.stamp.update(ctx, w[1]);
  }
  if (withInput && weights.inputStamp.stale(ctx, w[0])) {
    weights.packedInput.resize(size_t(native::lstmPackedWeightSize(h, width)));
    native::packLstmWeight(w[0], h, width, weights.packedInput.data());
    weights.inputStamp.update(ctx, w[0]);
  }
  return weights;
}

/// A layer on the native recurrence. `trace` (the training form's workspace for the layer,
/// NativeTrace::floats long) or null: where the projection goes and the recurrence keeps
/// what the backward pass reads.
void nativeLstmLayer(KernelContext &ctx, int64_t site, int64_t layer, int64_t b, int64_t t, int64_t width,
                     int64_t h, const float *const w[4], const float *x, float *y, bool sequence, void *trace) {
  const int threads = ctx.threadsFor(2.0 * double(b * t) * double(4 * h) * double(h), /*regions=*/double(t));
  const bool projecting = native::lstmProjectsInSteps(b, threads);
  NativeLstmWeights &weights = nativeLstmWeights(ctx, site, layer, width, h, w, projecting);
  float *proj = nullptr;
  native::LstmTrace kept; // none for inference
  if (trace) {
    NativeTrace at(trace, b, t, h);
    proj = at.gates;
    kept = at.kept;
  }
  // The input projected in the steps where that is faster (native::lstmProjectsInSteps).
  native::LstmInput input;
  if (projecting) {
    input = {x, width, weights.packedInput.data(), weights.bias.data()};
  } else {
    // Every step's input projection at once: [b * t, width] x W_ih^T + both biases (fp32
    // under --precision bf16 too, as the recurrence is), into the trace's gates.
    if (!proj) proj = static_cast<float *>(ctx.recurrentProjection.get(size_t(b * t * 4 * h) * sizeof(float)));
    denseOnOneDNN(ctx, {kRecurrentProjection, site, layer}, b * t, width, 4 * h, x, w[0], weights.bias.data(), proj,
                  DLRT_ACTIVATION_NONE, nullptr, /*bf16=*/false);
  }
  auto *state = static_cast<float *>(
      ctx.recurrentState.get(size_t(native::lstmStateSize(b, h, input.x ? width : 0, threads)) * sizeof(float)));
  native::lstmRecurrence(threads, b, t, h, proj, weights.packed.data(), y, sequence, state, kept,
                         native::widestVectorIsa(), input);
}

/// The backward pass of a native layer from its trace: the recurrence backwards gives the
/// gates' gradients da [b, t, 4H] and the biases'; then the weights' gradients
/// da^T x and da^T hPrev, and the input's, da W_ih, as oneDNN products over all steps.
/// dy: the output's gradient ([b, t, H] where `sequence`, else [b, H]); grads: PyTorch's
/// four tensors' gradients, contiguous; dx may be null (not wanted).
void nativeLstmBackward(KernelContext &ctx, int64_t site, int64_t b, int64_t t, int64_t width, int64_t h,
                        const float *const w[4], const float *x, const void *trace, const float *dy, bool sequence,
                        float *dx, float *grads) {
  const NativeTrace at(const_cast<void *>(trace), b, t, h);
  const float *gates = at.gates, *c = at.kept.c, *hPrev = at.kept.hPrev;
  float *dwih = grads, *dwhh = dwih + 4 * h * width, *dbih = dwhh + 4 * h * h, *dbhh = dbih + 4 * h;
  auto *da = static_cast<float *>(ctx.recurrentProjection.get(size_t(b * t * 4 * h) * sizeof(float)));
  auto *state =
      static_cast<float *>(ctx.recurrentState.get(size_t(native::lstmBackwardStateSize(b, h)) * sizeof(float)));
  int threads = ctx.threadsFor(2.0 * double(b * t) * double(4 * h) * double(h), /*regions=*/double(t));
  native::lstmBackward(threads, b, t, h, gates, c, w[1], dy, sequence, da, dbih, state);
  std::memcpy(dbhh, dbih, size_t(4 * h) * sizeof(float));
  const int64_t rows = b * t, gateRows = 4 * h;
  // [4H, rows] (da stored [rows, 4H]: transposed) x [rows, width or H].
  const int64_t dimsIh[4] = {gateRows, rows, rows, width}, dimsHh[4] = {gateRows, rows, rows, h};
  matmulOnOneDNN(ctx, site, 2, dimsIh, da, x, dwih, /*transposed=*/1, /*bf16=*/false);
  matmulOnOneDNN(ctx, site, 2, dimsHh, da, hPrev, dwhh, 1, false);
  if (dx) {
    const int64_t dimsX[4] = {rows, gateRows, gateRows, width};
    matmulOnOneDNN(ctx, site, 2, dimsX, da, w[0], dx, 0, false);
  }
}

} // namespace
} // namespace dlrt

using namespace dlrt;

extern "C" void dlrt_k_rnn_workspace_bytes(void *vctx, int64_t site, const int64_t *g, int64_t *bytes) {
  *bytes = 1;
  guarded(vctx, site, [&](KernelContext &ctx) {
    if (g[0] != 0 && g[1] != 0) *bytes = int64_t(workspaceLayout(ctx, site, g).bytes);
  });
}

extern "C" void dlrt_k_rnn_f32(void *vctx, int64_t site, const int64_t *g, const int64_t *weights, const float *x,
                               float *y, void *workspace) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    int64_t b = g[0], t = g[1], in = g[2], h = g[3], layers = g[4];
    bool gru = g[5] != 0, sequences = g[6] != 0;
    if (b == 0) return;
    if (t == 0) {
      ctx.fail(ctx.where(site) + ": a sequence of length 0 has no last step");
      return;
    }
    auto ptr = [&](int64_t i) { return reinterpret_cast<const float *>(static_cast<intptr_t>(weights[i])); };
    bool training = workspace != nullptr;
    WorkspaceLayout ws;
    if (training) ws = workspaceLayout(ctx, site, g);
    auto *wsBytes = static_cast<char *>(workspace);
    const bool native = usesNativeLstm(gru, h);
    const float *cur = x;
    for (int64_t l = 0; l < layers; ++l) {
      int64_t width = l == 0 ? in : h;
      const float *const params[4] = {ptr(4 * l), ptr(4 * l + 1), ptr(4 * l + 2), ptr(4 * l + 3)};
      bool last = l + 1 == layers;
      // Where this layer's output sequence goes: y itself, the training-form workspace
      // (the backward reads it), or one of two buffers that alternate between layers.
      // The last layer without `sequences`: the native recurrence writes y's last step
      // itself; oneDNN's writes the whole sequence, whose last step is copied to y.
      float *out;
      if (last && (sequences || native)) out = y;
      else if (training) out = reinterpret_cast<float *>(wsBytes + ws.outputs[l]);
      else out = static_cast<float *>(ctx.recurrentSequence[l % 2].get(size_t(b * t * h) * sizeof(float)));
      if (native) {
        nativeLstmLayer(ctx, site, l, b, t, width, h, params, cur, out, !last || sequences,
                        training ? wsBytes + ws.gates[l] : nullptr);
      } else {
        RnnLayer &p = layerPrimitive(ctx, site, rnnThreads(ctx, b, t, width, h, gru), l, b, t, width, h, gru, training);
        pack(ctx, p, params, width, h, gru);
        std::unordered_map<int, memory> args = {
            {DNNL_ARG_SRC_LAYER, memory(p.src, ctx.engine, const_cast<float *>(cur))},
            {DNNL_ARG_WEIGHTS_LAYER, p.packedWl},
            {DNNL_ARG_WEIGHTS_ITER, p.packedWi},
            {DNNL_ARG_BIAS, memory(p.biasDesc, ctx.engine, p.bias.data())},
            {DNNL_ARG_DST_LAYER, memory(p.dst, ctx.engine, out)}};
        if (training) args.insert({DNNL_ARG_WORKSPACE, memory(p.workspace, ctx.engine, wsBytes + ws.gates[l])});
        ctx.run(p.prim, std::move(args));
        if (last && !sequences)
          for (int64_t i = 0; i < b; ++i)
            std::memcpy(y + i * h, out + (i * t + (t - 1)) * h, size_t(h) * sizeof(float));
      }
      cur = out;
    }
  });
}

namespace {

/// The gradients of one layer's weights and biases, from the backward primitive's (ldigo
/// weights, oneDNN's gate order, one bias per gate) into PyTorch's four tensors at `out`:
/// weight_ih, weight_hh, bias_ih, bias_hh, contiguous.
void unpackGradients(KernelContext &ctx, const RnnLayer &p, memory &dWl, memory &dWi, const float *dBias, float *out,
                     int64_t width, int64_t h, bool gru) {
  int64_t g = gru ? 3 : 4;
  float *wih = out, *whh = wih + g * h * width, *bih = whh + g * h * h, *bhh = bih + g * h;
  std::vector<float> scratch;
  for (auto [diff, user, dst, cols] : {std::tuple{&dWl, p.userWl, wih, width}, std::tuple{&dWi, p.userWi, whh, h}}) {
    float *into = dst;
    if (gru) {
      scratch.resize(size_t(g * h * cols));
      into = scratch.data();
    }
    memory u(user, ctx.engine, into);
    dnnl::reorder(*diff, u).execute(ctx.stream, *diff, u);
    ctx.stream.wait();
    if (gru) gruGates(scratch.data(), dst, h, cols); // its own inverse: swaps the first two blocks
  }
  if (gru) {
    // oneDNN's biases u (z), r, o (n's input part), u' (n's hidden part); see pack().
    for (int64_t k = 0; k < h; ++k) {
      bih[k] = bhh[k] = dBias[h + k];
      bih[h + k] = bhh[h + k] = dBias[k];
      bih[2 * h + k] = dBias[2 * h + k];
      bhh[2 * h + k] = dBias[3 * h + k];
    }
  } else {
    // Both biases were summed into one: each gets its gradient.
    std::memcpy(bih, dBias, size_t(4 * h) * sizeof(float));
    std::memcpy(bhh, dBias, size_t(4 * h) * sizeof(float));
  }
}

/// How many floats each layer's four gradients take in the kernel's `dweights`.
int64_t layerGradientFloats(int64_t width, int64_t h, bool gru) {
  int64_t g = gru ? 3 : 4;
  return g * h * (width + h) + 2 * g * h;
}

} // namespace

extern "C" void dlrt_k_rnn_backward_f32(void *vctx, int64_t site, int64_t forwardSite, const int64_t *g,
                                        const int64_t *weights, const float *x, const float *y, const void *workspace,
                                        const float *dy, float *dx, float *dweights) {
  int64_t b = g[0], t = g[1], in = g[2], h = g[3], layers = g[4];
  bool gru = g[5] != 0, sequences = g[6] != 0;
  guarded(vctx, site, [&](KernelContext &ctx) {
    // Where each layer's gradients start in dweights; the last entry is their end.
    std::vector<int64_t> offsets = {0};
    for (int64_t l = 0; l < layers; ++l) offsets.push_back(offsets.back() + layerGradientFloats(l == 0 ? in : h, h, gru));
    if (b == 0) { // no samples: zero gradients
      std::memset(dweights, 0, size_t(offsets.back()) * sizeof(float));
      return;
    }
    if (t == 0) {
      ctx.fail(ctx.where(site) + ": a sequence of length 0 has no last step");
      return;
    }
    // Laid out by the forward's site, whose primitives wrote it.
    WorkspaceLayout ws = workspaceLayout(ctx, forwardSite, g);
    auto *wsBytes = static_cast<char *>(const_cast<void *>(workspace));
    auto ptr = [&](int64_t i) { return reinterpret_cast<const float *>(static_cast<intptr_t>(weights[i])); };
    const bool native = usesNativeLstm(gru, h);
    // The gradient of the last layer's output sequence: dy itself, or zero but at the
    // last step when only that step is returned (the native backward reads dy as it is).
    std::vector<float> lastStep, bufA, bufB;
    const float *diffDst = dy;
    if (!sequences && !native) {
      lastStep.assign(size_t(b * t * h), 0.0f);
      for (int64_t i = 0; i < b; ++i)
        std::memcpy(lastStep.data() + (i * t + t - 1) * h, dy + i * h, size_t(h) * sizeof(float));
      diffDst = lastStep.data();
    }
    for (int64_t l = layers - 1; l >= 0; --l) {
      int64_t width = l == 0 ? in : h;
      const float *src = l == 0 ? x : reinterpret_cast<const float *>(wsBytes + ws.outputs[l - 1]);
      float *diffSrc = dx;
      if (l > 0) {
        std::vector<float> &buf = (l % 2 == 0) ? bufA : bufB;
        buf.resize(size_t(b * t * h));
        diffSrc = buf.data();
      }
      const float *const params[4] = {ptr(4 * l), ptr(4 * l + 1), ptr(4 * l + 2), ptr(4 * l + 3)};
      if (native) {
        nativeLstmBackward(ctx, site, b, t, width, h, params, src, wsBytes + ws.gates[l], diffDst,
                           sequences || l + 1 < layers, l > 0 || g[7] != 0 ? diffSrc : nullptr,
                           dweights + offsets[l]);
        diffDst = diffSrc;
        continue;
      }
      RnnLayer &p = layerBackward(ctx, site, rnnThreads(ctx, b, t, width, h, gru, true), l, b, t, width, h, gru);
      pack(ctx, p, params, width, h, gru);
      const float *dst =
          l + 1 == layers && sequences ? y : reinterpret_cast<const float *>(wsBytes + ws.outputs[l]);
      // The weight gradients in the primitive's layouts, staged for unpackGradients; the
      // primitive adds into them, so they start at zero.
      size_t wlBytes = aligned(p.diffWl.get_size()), wiBytes = aligned(p.diffWi.get_size());
      size_t stagedBytes = wlBytes + wiBytes + p.biasDesc.get_size();
      auto *staged = static_cast<char *>(ctx.stagedWeights.get(stagedBytes));
      std::memset(staged, 0, stagedBytes);
      memory dWl(p.diffWl, ctx.engine, staged), dWi(p.diffWi, ctx.engine, staged + wlBytes),
          dBias(p.biasDesc, ctx.engine, staged + wlBytes + wiBytes);
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC_LAYER, memory(p.src, ctx.engine, const_cast<float *>(src))},
          {DNNL_ARG_WEIGHTS_LAYER, p.packedWl},
          {DNNL_ARG_WEIGHTS_ITER, p.packedWi},
          {DNNL_ARG_BIAS, memory(p.biasDesc, ctx.engine, p.bias.data())},
          {DNNL_ARG_DST_LAYER, memory(p.dst, ctx.engine, const_cast<float *>(dst))},
          {DNNL_ARG_WORKSPACE, memory(p.workspace, ctx.engine, wsBytes + ws.gates[l])},
          {DNNL_ARG_DIFF_SRC_LAYER, memory(p.src, ctx.engine, diffSrc)},
          {DNNL_ARG_DIFF_WEIGHTS_LAYER, dWl},
          {DNNL_ARG_DIFF_WEIGHTS_ITER, dWi},
          {DNNL_ARG_DIFF_BIAS, dBias},
          {DNNL_ARG_DIFF_DST_LAYER, memory(p.dst, ctx.engine, const_cast<float *>(diffDst))}};
      ctx.run(p.prim, std::move(args));
      unpackGradients(ctx, p, dWl, dWi, static_cast<const float *>(dBias.get_data_handle()), dweights + offsets[l],
                      width, h, gru);
      diffDst = diffSrc;
    }
  });
}

extern "C" void dlrt_k_rnn_grad_f32(void *vctx, int64_t site, const int64_t *g, const int64_t *weights,
                                    const float *x, const float *dy, float *dx, float *dweights) {
  int64_t b = g[0], t = g[1], h = g[3];
  bool sequences = g[6] != 0;
  void *workspace = nullptr;
  float *y = nullptr;
  if (b != 0 && t != 0)
    guarded(vctx, site, [&](KernelContext &ctx) {
      workspace = ctx.recomputedWorkspace.get(workspaceLayout(ctx, site, g).bytes);
      y = static_cast<float *>(ctx.recomputed.get(size_t(b * (sequences ? t : 1) * h) * sizeof(float)));
    });
  if (workspace) dlrt_k_rnn_f32(vctx, site, g, weights, x, y, workspace);
  // No samples: zero gradients; a length of 0, or a failed forward: the call's error.
  dlrt_k_rnn_backward_f32(vctx, site, site, g, weights, x, y, workspace, dy, dx, dweights);
}
