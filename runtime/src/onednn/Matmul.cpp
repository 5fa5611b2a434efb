//===- Matmul.cpp - dense and matmul kernels on oneDNN --------------------===//
//
// Called from compiled code with shapes and pointers only. A primitive is built the first
// time a call site meets a shape and reused afterwards. Under --precision bf16 the operands
// are converted to bf16 (a dense layer's weight once per parameter version), the bias and
// the result stay f32.
//
//===----------------------------------------------------------------------===//
#include "KernelContext.h"
#include "native/Gemv.h"
#include "native/TransposedLhsMatmul.h"
#include "onednn/Dense.h"
#include "onednn/Kernels.h"
#include "onednn/Operand.h"
#include "onednn/PackedWeights.h"
#include "onednn/Strides.h"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using dnnl::memory;

namespace dlrt {
namespace {

/// Where a dense's input is a flattened tensor in channel blocks (nhwc = [C, H, W, B]; B =
/// C for NHWC), its weight [n, C*H*W] read with the columns in the input's order
/// (C/B, H, W, B): element (o, cb, y, x, l), channel cb*B + l, lies at
/// o*CHW + (cb*B + l)*HW + y*W + x.
memory::desc blockOrderedWeight(int64_t n, const int64_t *chwb) {
  int64_t c = chwb[0], h = chwb[1], w = chwb[2], b = chwb[3];
  return memory::desc({n, c / b, h, w, b}, memory::data_type::f32, memory::dims{c * h * w, b * h * w, w, 1, h * w});
}

struct MatmulPrimitive {
  dnnl::matmul prim;
  memory::desc bias, dst;
  // The operands as compiled code passes them and as the primitive takes them: bf16 under
  // --precision bf16 (converted per call); `b` unused by dense, whose weight is `packed`.
  Operand a, b;
  PackedWeights packed; // dense: the weight in oneDNN's packed layout
  // nhwc_input: the weight with its columns in the input's order, row-major [n, C*H*W]
  // (what `packed` then packs).
  std::optional<PackedWeights> nhwc;
  // dense: a weight that changed at every one of the last calls (a train step's, which the
  // optimizer updates each step) is not worth packing: the reorder is a pass over the
  // weight, cold in cache, for one use, where the primitive reading the plain weight
  // packs the blocks it needs as it goes. `plain` is that primitive.
  ParamStamp seen;
  int changedInARow = 0;
  MatmulPrimitive *plain = nullptr; // (in ctx.primitives too, which is never pruned)
};

/// Calls in a row that found a dense layer's weight changed before it stops packing it.
constexpr int kUnpackedAfterChanges = 2;

MatmulPrimitive *getPrimitive(KernelContext &ctx, std::vector<int64_t> key, const memory::desc &src,
                              const memory::desc &wei, const memory::desc &bias, const memory::desc &dst,
                              int64_t activation = 0, bool packWeights = false, bool bf16 = false) {
  auto &slot = ctx.primitives[key];
  if (!slot) {
    auto p = std::make_shared<MatmulPrimitive>();
    auto make = [&](memory::data_type t) {
      // A dense layer's weight is a parameter: let oneDNN choose its layout and keep it packed.
      memory::desc a = withType(src, t), w = packWeights ? memory::desc(wei.dims(), t, memory::format_tag::any)
                                                         : withType(wei, t);
      dnnl::matmul::desc d = bias.is_zero() ? dnnl::matmul::desc(a, w, dst) : dnnl::matmul::desc(a, w, bias, dst);
      return dnnl::matmul::primitive_desc(d, activationAttr(activation), ctx.engine);
    };
    std::optional<dnnl::matmul::primitive_desc> pd;
    if (bf16) {
      try {
        pd = make(memory::data_type::bf16);
        if (isReferenceImpl(*pd)) pd.reset();
      } catch (const dnnl::error &) {
      }
    }
    if (!pd) pd = make(memory::data_type::f32);
    p->a = Operand(ctx, src, pd->src_desc(), false);
    if (packWeights) p->packed = PackedWeights(ctx, wei, pd->weights_desc());
    else p->b = Operand(ctx, wei, pd->weights_desc(), false);
    p->prim = dnnl::matmul(*pd);
    p->bias = bias;
    p->dst = dst;
    slot = p;
  }
  return static_cast<MatmulPrimitive *>(slot.get());
}

void run(KernelContext &ctx, MatmulPrimitive &p, const void *a, const void *b, const void *bias, void *c,
         bool packed = false) {
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, p.a.input(ctx, ctx.stagedSrc, a)},
      {DNNL_ARG_WEIGHTS, packed ? p.packed.get(ctx, b) : p.b.input(ctx, ctx.stagedWeights, b)},
      {DNNL_ARG_DST, memory(p.dst, ctx.engine, c)}};
  if (bias) args.insert({DNNL_ARG_BIAS, memory(p.bias, ctx.engine, const_cast<void *>(bias))});
  ctx.run(p.prim, std::move(args));
}

} // namespace
} // namespace dlrt

using namespace dlrt;

void dlrt::denseOnOneDNN(KernelContext &ctx, std::vector<int64_t> key, int64_t m, int64_t k, int64_t n, const float *x,
                         const float *w, const float *bias, float *y, int64_t activation, const int64_t *nhwc,
                         bool bf16) {
  if (m == 0) return;
  // y[m, n] = x[m, k] . W^T, with W stored [n, k]: W^T is W read with strides (1, k).
  memory::desc src({m, k}, memory::data_type::f32, memory::format_tag::ab);
  memory::desc wei({k, n}, memory::data_type::f32, memory::dims{1, k});
  memory::desc b = bias ? memory::desc({1, n}, memory::data_type::f32, memory::format_tag::ab) : memory::desc();
  memory::desc dst({m, n}, memory::data_type::f32, memory::format_tag::ab);
  int threads = ctx.threadsFor(2.0 * double(m) * double(k) * double(n));
  key.insert(key.end(), {threads, m, k, n, bias != nullptr, activation, nhwc != nullptr});
  if (nhwc) key.insert(key.end(), nhwc, nhwc + 4);
  MatmulPrimitive *p = getPrimitive(ctx, key, src, wei, b, dst, activation, /*packWeights=*/true, bf16);
  p->changedInARow = p->seen.stale(ctx, w) ? p->changedInARow + 1 : 0;
  p->seen.update(ctx, w);
  const void *weight = w;
  if (nhwc) {
    if (!p->nhwc) {
      memory::desc from = blockOrderedWeight(n, nhwc);
      p->nhwc.emplace(ctx, from, memory::desc(from.dims(), memory::data_type::f32, memory::format_tag::abcde));
    }
    weight = p->nhwc->get(ctx, w).get_data_handle();
  }
  if (p->changedInARow >= kUnpackedAfterChanges) {
    if (!p->plain) {
      key.push_back(-1); // (a key of its own: the packed primitive stays for when the weight settles)
      p->plain = getPrimitive(ctx, key, src, wei, b, dst, activation, /*packWeights=*/false, bf16);
    }
    run(ctx, *p->plain, x, weight, bias, y);
    return;
  }
  run(ctx, *p, x, weight, bias, y, /*packed=*/true);
}

namespace {

/// A dense layer's weight packed for native::denseRows, redone when the parameter may
/// have changed.
struct NativeDenseWeight {
  std::vector<float> packed;
  ParamStamp stamp;
};

} // namespace

extern "C" void dlrt_k_dense_f32(void *vctx, int64_t site, int64_t m, int64_t k, int64_t n, const float *x,
                                 const float *w, const float *bias, float *y, int64_t activation,
                                 const int64_t *nhwc) {
  guarded(vctx, site, [&](KernelContext &ctx) {
    // A few rows (batch 1) in fp32: the native kernel, without oneDNN's cost per call.
    // Not under --precision bf16, which promises bf16 dense layers (test_precision checks
    // gradients against exactly that), though at batch 1 this fp32 kernel would be faster
    // (the MLP: 0.014 ms against 0.015). Also more rows into one block of outputs (a
    // classifier's 10 classes), where oneDNN's kernel multiplies whole vectors of columns
    // mostly of padding (the MLP's head at b64 0.0075-0.0155 -> 0.0036-0.0041 ms, the
    // CNN's 0.028-0.029 -> 0.021-0.023, one Zen 5 core). The choice follows the shapes
    // only, never the call's history (whether the weight changed since the last call):
    // a run resumed from a checkpoint must compute what the uninterrupted run computed,
    // bit for bit, and the two kernels round differently. In training the weight is
    // repacked at every step.
    if (!ctx.bf16 && native::denseRowsSupports(m, n, activation)) {
      std::vector<int64_t> key = {kNativeDense, site, k, n, nhwc != nullptr};
      if (nhwc) key.insert(key.end(), nhwc, nhwc + 4);
      auto &slot = ctx.primitives[key];
      if (!slot) slot = std::make_shared<NativeDenseWeight>();
      auto &packed = *static_cast<NativeDenseWeight *>(slot.get());
      if (packed.stamp.stale(ctx, w)) {
        packed.packed.resize(size_t(native::denseRowsPackedSize(n, k)));
        native::packDenseRows(w, n, k, nhwc, packed.packed.data());
        packed.stamp.update(ctx, w);
      }
      int threads = ctx.threadsFor(2.0 * double(m) * double(k) * double(n));
      native::denseRows(threads, m, k, n, x, packed.packed.data(), bias, y, activation);
      return;
    }
    denseOnOneDNN(ctx, {kDense, site}, m, k, n, x, w, bias, y, activation, nhwc, ctx.bf16);
  });
}

namespace {

/// A product split along its sum: part i multiplies columns [k_i, k_i+1) of the lhs by
/// those rows of the rhs on a thread of its own, with a primitive made for one thread, its
/// own stream and scratchpad (KernelContext::runOn); part 0 writes the result, the others partial sums that are
/// then added to it.
struct SplitSumMatmul {
  struct Part {
    dnnl::matmul prim;
    memory::desc a, b;
    int64_t aOffset = 0, bOffset = 0; // elements
    dnnl::stream stream;
    GrowingBuffer scratchpad;
  };
  std::vector<Part> parts;
  memory::desc c;
  GrowingBuffer partials;
};

/// Thread count and sizes for which a [m, k] x [k, n] product goes faster split along k:
/// a weight's gradient dY^T X has rows and columns of a layer's width (128-512) and sums
/// over every position of the batch (TinyGpt at batch 16: 1024). oneDNN splits a product's
/// rows and columns over the threads, and gained 1.15-1.5x from a second thread on those;
/// split along k (each thread a whole product of half the positions, then one add of the
/// small results) 128x1024x512 took 0.41-0.45 ms on two threads instead of 0.60 (0.80 on
/// one; AMD EPYC, Zen 4).
bool splitsSum(int threads, int64_t m, int64_t k, int64_t n) {
  return threads > 1 && k >= 2 * std::max(m, n) && k / threads >= 256 && m * n <= 512 * 512;
}

/// Makes the parts of [m, k] x [k, n] for `threads`, or returns null where oneDNN would use
/// its reference code for a part's strided operands.
std::shared_ptr<SplitSumMatmul> makeSplitSum(KernelContext &ctx, int threads, int64_t m, int64_t k, int64_t n,
                                             int64_t transposed) {
  auto plan = std::make_shared<SplitSumMatmul>();
  plan->c = memory::desc({m, n}, memory::data_type::f32, memory::format_tag::ab);
  // Each part's primitive splits its work for one thread, as it will run.
  setOpenMPThreads(1);
  for (int i = 0; i < threads; ++i) {
    int64_t k0 = k * i / threads, k1 = k * (i + 1) / threads, kp = k1 - k0;
    SplitSumMatmul::Part part;
    // The lhs is stored [m, k], or [k, m] where transposed; the rhs [k, n], or [n, k].
    bool ta = transposed & 1, tb = transposed & 2;
    part.a = memory::desc({m, kp}, memory::data_type::f32, ta ? memory::dims{1, m} : memory::dims{k, 1});
    part.b = memory::desc({kp, n}, memory::data_type::f32, tb ? memory::dims{1, k} : memory::dims{n, 1});
    part.aOffset = ta ? k0 * m : k0;
    part.bOffset = tb ? k0 : k0 * n;
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(part.a, part.b, plan->c), kernelAttr(), ctx.engine);
    if (isReferenceImpl(pd)) {
      setOpenMPThreads(ctx.threadCount);
      return nullptr;
    }
    part.prim = dnnl::matmul(pd);
    part.stream = dnnl::stream(ctx.engine);
    plan->parts.push_back(std::move(part));
  }
  setOpenMPThreads(ctx.threadCount);
  return plan;
}

void runSplitSum(KernelContext &ctx, SplitSumMatmul &plan, const float *a, const float *b, float *c) {
  int parts = int(plan.parts.size());
  size_t cells = plan.c.get_size() / sizeof(float);
  float *partials = static_cast<float *>(plan.partials.get(sizeof(float) * cells * size_t(parts - 1)));
  std::vector<std::string> errors(static_cast<size_t>(parts));
  parallelParts(parts, parts, [&](int i) {
    auto &part = plan.parts[size_t(i)];
    try {
      ctx.runOn(part.stream, part.scratchpad, part.prim,
                {{DNNL_ARG_SRC, memory(part.a, ctx.engine, const_cast<float *>(a + part.aOffset))},
                 {DNNL_ARG_WEIGHTS, memory(part.b, ctx.engine, const_cast<float *>(b + part.bOffset))},
                 {DNNL_ARG_DST, memory(plan.c, ctx.engine, i == 0 ? c : partials + size_t(i - 1) * cells)}});
    } catch (const std::exception &e) {
      errors[size_t(i)] = e.what();
    }
  });
  for (const std::string &e : errors)
    if (!e.empty()) throw std::runtime_error(e);
  for (int i = 1; i < parts; ++i) {
    const float *p = partials + size_t(i - 1) * cells;
    for (size_t j = 0; j < cells; ++j) c[j] += p[j];
  }
}

} // namespace

/// The strides of an operand of logical dims `d` that, with `swapped`, is stored with its
/// last two dims exchanged (the buffer of its transpose, contiguous).
static memory::dims operandStrides(const memory::dims &d, bool swapped) {
  if (!swapped) return contiguousStrides(d);
  memory::dims stored(d);
  size_t r = d.size();
  std::swap(stored[r - 1], stored[r - 2]);
  memory::dims s = contiguousStrides(stored);
  std::swap(s[r - 1], s[r - 2]);
  return s;
}

void dlrt::matmulOnOneDNN(KernelContext &ctx, int64_t site, int64_t rank, const int64_t *dims, const float *a,
                          const float *b, float *c, int64_t transposed, bool bf16) {
  memory::dims ad(dims, dims + rank), bd(dims + rank, dims + 2 * rank), cd(rank);
  for (int64_t i = 0; i + 2 < rank; ++i) cd[i] = std::max(ad[i], bd[i]);
  cd[rank - 2] = ad[rank - 2];
  cd[rank - 1] = bd[rank - 1];
  for (int64_t d : cd)
    if (d == 0) return;
  double flops = 2.0 * double(ad[rank - 1]);
  for (int64_t d : cd) flops *= double(d);
  std::vector<int64_t> key = {kMatmul, site, ctx.threadsFor(flops), transposed};
  key.insert(key.end(), ad.begin(), ad.end());
  key.insert(key.end(), bd.begin(), bd.end());
  // Batches of products whose left operand is stored transposed (attention's gradients),
  // batch dims alike: native/TransposedLhsMatmul (TinyGpt's train step b16, one Zen 5
  // core: their 0.84 ms a step on oneDNN -> see the commit).
  if ((transposed & 3) == 1 && !bf16 && rank >= 3 &&
      native::transposedLhsMatmulSupports(ad[rank - 2], ad[rank - 1], bd[rank - 1])) {
    bool alike = true;
    int64_t batch = 1;
    for (int64_t i = 0; i + 2 < rank; ++i) {
      alike = alike && ad[i] == bd[i];
      batch *= ad[i];
    }
    if (alike && batch > 1)
      return native::transposedLhsMatmul(ctx.threadCount, batch, ad[rank - 2], ad[rank - 1], bd[rank - 1], a, b, c);
  }
  // A shared rhs matrix (every batch dim 1: a weight, or a dense's gradient dY W) under a
  // contiguous lhs: one [batch * m, k] x [k, n] product over the same buffers. oneDNN
  // splits its rows over the threads; the batched form scaled 1.15x on two threads where
  // this one scales 1.85x (TinyGpt's dX products, 1024 rows).
  bool sharedRhs = rank > 2 && !(transposed & 1);
  for (int64_t i = 0; sharedRhs && i + 2 < rank; ++i) sharedRhs = bd[i] == 1;
  if (sharedRhs) {
    int64_t rows = 1;
    for (int64_t i = 0; i + 1 < rank; ++i) rows *= ad[i];
    ad = {rows, ad[rank - 1]};
    bd = {bd[rank - 2], bd[rank - 1]};
    cd = {rows, cd[rank - 1]};
  }
  if (ad.size() == 2 && !bf16 && splitsSum(ctx.threadCount, ad[0], ad[1], bd[1])) {
    std::vector<int64_t> splitKey = key;
    splitKey[0] = kMatmulSplitSum;
    auto &slot = ctx.primitives[splitKey];
    if (!slot) {
      std::shared_ptr<SplitSumMatmul> plan = makeSplitSum(ctx, ctx.threadCount, ad[0], ad[1], bd[1], transposed);
      // A null slot would be made again at every call: an empty plan says "not split".
      slot = plan ? plan : std::make_shared<SplitSumMatmul>();
    }
    auto &plan = *static_cast<SplitSumMatmul *>(slot.get());
    if (!plan.parts.empty()) return runSplitSum(ctx, plan, a, b, c);
  }
  memory::desc src(ad, memory::data_type::f32, operandStrides(ad, transposed & 1));
  memory::desc wei(bd, memory::data_type::f32, operandStrides(bd, transposed & 2));
  memory::desc dst(cd, memory::data_type::f32, contiguousStrides(cd));
  MatmulPrimitive *p = getPrimitive(ctx, key, src, wei, memory::desc(), dst, 0, false, bf16);
  run(ctx, *p, a, b, nullptr, c);
}

extern "C" void dlrt_k_matmul_f32(void *vctx, int64_t site, int64_t rank, const int64_t *dims, const float *a,
                                  const float *b, float *c, int64_t transposed) {
  guarded(vctx, site, [&](KernelContext &ctx) { matmulOnOneDNN(ctx, site, rank, dims, a, b, c, transposed, ctx.bf16); });
}
