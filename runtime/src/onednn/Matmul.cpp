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
#include <tuple>
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

struct SplitMatmul;

struct MatmulPrimitive {
  dnnl::matmul prim;
  memory::desc bias, dst;
  // The operands as compiled code passes them and as the primitive takes them: bf16 under
  // --precision bf16 (converted per call); `b` unused by inference's dense, whose weight is
  // `packed`.
  Operand a, b;
  PackedWeights packed; // dense: the weight in oneDNN's packed layout
  // nhwc_input: the weight with its columns in the input's order, row-major [n, C*H*W]
  // (what `packed`, or the primitive, then reads).
  std::optional<PackedWeights> nhwc;
  // The product split along its rows, one part per thread (rowsSplit), decided at the
  // first call: null where it runs whole. (The plan is in ctx.primitives too.)
  SplitMatmul *rows = nullptr;
  bool rowsDecided = false;
};

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

namespace dlrt {
namespace {

/// A product cut into parts that run side by side, each on a thread of its own with a
/// primitive made for one thread and its own stream and scratchpad (KernelContext::runOn).
/// Along the sum, part i multiplies columns [k_i, k_i+1) of the lhs by those rows of the
/// rhs; part 0 writes the result, the others partial sums that are then added to it. Along
/// the rows, part i computes rows [m_i, m_i+1) of the result from those of the lhs (bias
/// and activation included), and nothing is added.
struct SplitMatmul {
  enum class Axis { Sum, Rows };
  struct Part {
    dnnl::matmul prim;
    memory::desc a, b, c;
    int64_t aOffset = 0, bOffset = 0, cOffset = 0; // elements
    dnnl::stream stream;
    GrowingBuffer scratchpad;
  };
  Axis axis = Axis::Sum;
  std::vector<Part> parts;
  memory::desc bias;
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

/// Whether a product of `m` rows that oneDNN would run as `whole` on `threads` threads goes
/// faster as one part of the rows per thread. oneDNN's gemm:jit (its fp32 matmul where the
/// CPU has AVX2 but not AVX-512) split the products of a transformer's train step poorly
/// over two threads where the result is narrow (at most 256 columns, or no more columns
/// than terms summed). TinyGpt's at batch 16, m x k x n, operands cold in cache as a train
/// step leaves them, oneDNN's two threads against one part of 512 rows on each (AMD EPYC
/// Zen 5, capped at AVX2): 1024 x 128 x 128 0.261 -> 0.219 ms, 1024 x 384 x 128 0.630 ->
/// 0.560, 1024 x 512 x 128 0.806 -> 0.758, 1024 x 256 x 128 0.443 -> 0.410, and with the
/// weight transposed as a dense layer reads it 0.272 -> 0.237, 0.620 -> 0.550, 0.867 ->
/// 0.802; where the result is wide the halves gained little or lost (1024 x 128 x 384
/// 0.585 -> 0.581, transposed 0.588 -> 0.602). With AVX-512 oneDNN's brgemm kernels split
/// well (the same halves 1.06-1.6x slower), so the rule follows the implementation oneDNN
/// chose, which follows the CPU.
bool splitsRows(int threads, int64_t m, int64_t k, int64_t n, const dnnl::primitive &whole) {
  if (threads <= 1 || m / threads < 256 || !(n <= 256 || k >= n)) return false;
  const char *impl = nullptr;
  dnnl_primitive_desc_query(whole.get_primitive_desc(), dnnl_query_impl_info_str, 0, &impl);
  return impl && std::string(impl).rfind("gemm:jit", 0) == 0;
}

/// `whole` (a plain 2-D desc) cut to `count` of its indices from `from` along `dim`, with
/// its strides: the part's desc and the element offset of its first element.
std::pair<memory::desc, int64_t> slice(const memory::desc &whole, int dim, int64_t from, int64_t count) {
  const auto &blocking = whole.data.format_desc.blocking;
  memory::dims dims = whole.dims(), strides(blocking.strides, blocking.strides + 2);
  dims[size_t(dim)] = count;
  return {memory::desc(dims, whole.data_type(), strides), from * strides[size_t(dim)]};
}

/// Makes the parts of a = [m, k] x b = [k, n] (+ bias, then `activation`) into c for
/// `threads` along `axis` (along the sum: no bias nor activation), or returns null where
/// oneDNN would use its reference code for a part's strided operands.
std::shared_ptr<SplitMatmul> makeSplit(KernelContext &ctx, int threads, SplitMatmul::Axis axis, const memory::desc &a,
                                       const memory::desc &b, const memory::desc &bias, const memory::desc &c,
                                       int64_t activation) {
  bool sum = axis == SplitMatmul::Axis::Sum;
  int64_t extent = sum ? a.dims()[1] : a.dims()[0];
  auto plan = std::make_shared<SplitMatmul>();
  plan->axis = axis;
  plan->bias = bias;
  // Each part's primitive splits its work for one thread, as it will run.
  setOpenMPThreads(1);
  for (int i = 0; i < threads; ++i) {
    int64_t from = extent * i / threads, count = extent * (i + 1) / threads - from;
    SplitMatmul::Part part;
    if (sum) {
      std::tie(part.a, part.aOffset) = slice(a, 1, from, count);
      std::tie(part.b, part.bOffset) = slice(b, 0, from, count);
      part.c = c;
    } else {
      std::tie(part.a, part.aOffset) = slice(a, 0, from, count);
      std::tie(part.c, part.cOffset) = slice(c, 0, from, count);
      part.b = b;
    }
    dnnl::matmul::desc d =
        bias.is_zero() ? dnnl::matmul::desc(part.a, part.b, part.c) : dnnl::matmul::desc(part.a, part.b, bias, part.c);
    dnnl::matmul::primitive_desc pd(d, activationAttr(activation), ctx.engine);
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

/// The split plan cached under `key`, made by `make` on the first call; null where the
/// product is not split (an empty plan in the cache says so, made once).
template <class Make> SplitMatmul *cachedSplit(KernelContext &ctx, const std::vector<int64_t> &key, Make make) {
  auto &slot = ctx.primitives[key];
  if (!slot) {
    std::shared_ptr<SplitMatmul> plan = make();
    slot = plan ? plan : std::make_shared<SplitMatmul>();
  }
  auto *plan = static_cast<SplitMatmul *>(slot.get());
  return plan->parts.empty() ? nullptr : plan;
}

void runSplit(KernelContext &ctx, SplitMatmul &plan, const float *a, const float *b, const float *bias, float *c) {
  int parts = int(plan.parts.size());
  bool sum = plan.axis == SplitMatmul::Axis::Sum;
  size_t cells = sum ? plan.parts[0].c.get_size() / sizeof(float) : 0;
  float *partials = sum ? static_cast<float *>(plan.partials.get(sizeof(float) * cells * size_t(parts - 1))) : nullptr;
  std::vector<std::string> errors(static_cast<size_t>(parts));
  // Each member runs its parts (every part once, whatever team libgomp grants), then, along
  // the sum, adds the partial sums into its share of the result's cells: on the calling
  // thread alone, the other one waiting, the adds of TinyGpt's train step at batch 16 (nine
  // weights' gradients) took about 0.12 ms of its 19-21 on two threads (perf, Zen 5).
  parallelTeam(parts, [&](int member, int members, const std::function<void()> &sync) {
    for (int i = member; i < parts; i += members) {
      auto &part = plan.parts[size_t(i)];
      float *into = sum && i > 0 ? partials + size_t(i - 1) * cells : c + part.cOffset;
      std::unordered_map<int, memory> args = {
          {DNNL_ARG_SRC, memory(part.a, ctx.engine, const_cast<float *>(a + part.aOffset))},
          {DNNL_ARG_WEIGHTS, memory(part.b, ctx.engine, const_cast<float *>(b + part.bOffset))},
          {DNNL_ARG_DST, memory(part.c, ctx.engine, into)}};
      if (bias) args.insert({DNNL_ARG_BIAS, memory(plan.bias, ctx.engine, const_cast<float *>(bias))});
      try {
        ctx.runOn(part.stream, part.scratchpad, part.prim, std::move(args));
      } catch (const std::exception &e) {
        errors[size_t(i)] = e.what();
      }
    }
    if (!sum) return;
    sync();
    size_t begin = cells * size_t(member) / size_t(members), end = cells * size_t(member + 1) / size_t(members);
    for (int i = 1; i < parts; ++i) {
      const float *p = partials + size_t(i - 1) * cells;
      for (size_t j = begin; j < end; ++j) c[j] += p[j];
    }
  });
  for (const std::string &e : errors)
    if (!e.empty()) throw std::runtime_error(e);
}

/// The key of a split plan of kind `kind` for the product cached under `key`.
std::vector<int64_t> planKey(PrimitiveKind kind, const std::vector<int64_t> &key) {
  std::vector<int64_t> k = {kind};
  k.insert(k.end(), key.begin(), key.end());
  return k;
}

/// `p`'s product, [m, k] x [k, n] on `threads` threads, split along its rows where
/// splitsRows says so (the plan made by `make`, cached under `key`, p's own, after
/// kMatmulSplitRows): decided at the first call, null where it runs whole.
template <class Make>
SplitMatmul *rowsSplit(KernelContext &ctx, MatmulPrimitive &p, const std::vector<int64_t> &key, int threads, int64_t m,
                       int64_t k, int64_t n, Make make) {
  if (!p.rowsDecided) {
    p.rows = cachedSplit(ctx, planKey(kMatmulSplitRows, key), [&]() -> std::shared_ptr<SplitMatmul> {
      return splitsRows(threads, m, k, n, p.prim) ? make() : nullptr;
    });
    p.rowsDecided = true;
  }
  return p.rows;
}

} // namespace
} // namespace dlrt

using namespace dlrt;

int64_t dlrt::splitParts(const KernelContext &ctx, PrimitiveKind kind) {
  int64_t parts = 0;
  for (const auto &[key, slot] : ctx.primitives)
    if (!key.empty() && key[0] == kind) parts += int64_t(static_cast<const SplitMatmul *>(slot.get())->parts.size());
  return parts;
}

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
  // A train step's weight, which the optimizer changes at every step, is not worth packing
  // (the reorder is a pass over the weight, cold in cache, for one use): its primitive
  // reads the plain weight and packs the blocks it needs as it goes. Inference keeps the
  // weight packed. The choice follows the entry (KernelContext::trainStep), never the
  // call's history (whether the weight changed since the last call, as it once did): the
  // two primitives round differently (oneDNN's gemm:jit at AVX2), and a run resumed from a
  // checkpoint, a new session's first step, must compute what the uninterrupted run did,
  // bit for bit.
  const bool packed = !ctx.trainStep;
  if (!packed) key.push_back(-1); // (a key of its own: the packed primitive stays for inference)
  MatmulPrimitive *p = getPrimitive(ctx, key, src, wei, b, dst, activation, packed, bf16);
  const void *weight = w;
  if (nhwc) {
    if (!p->nhwc) {
      memory::desc from = blockOrderedWeight(n, nhwc);
      p->nhwc.emplace(ctx, from, memory::desc(from.dims(), memory::data_type::f32, memory::format_tag::abcde));
    }
    weight = p->nhwc->get(ctx, w).get_data_handle();
  }
  if (packed) return run(ctx, *p, x, weight, bias, y, /*packed=*/true);
  if (!bf16)
    if (SplitMatmul *plan = rowsSplit(ctx, *p, key, threads, m, k, n, [&] {
          return makeSplit(ctx, threads, SplitMatmul::Axis::Rows, src, wei, b, dst, activation);
        }))
      return runSplit(ctx, *plan, x, static_cast<const float *>(weight), bias, y);
  run(ctx, *p, x, weight, bias, y);
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
  int threads = ctx.threadsFor(flops);
  std::vector<int64_t> key = {kMatmul, site, threads, transposed};
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
  memory::desc src(ad, memory::data_type::f32, operandStrides(ad, transposed & 1));
  memory::desc wei(bd, memory::data_type::f32, operandStrides(bd, transposed & 2));
  memory::desc dst(cd, memory::data_type::f32, contiguousStrides(cd));
  bool plain2d = ad.size() == 2 && !bf16;
  if (plain2d && splitsSum(ctx.threadCount, ad[0], ad[1], bd[1]))
    if (SplitMatmul *plan = cachedSplit(ctx, planKey(kMatmulSplitSum, key), [&] {
          return makeSplit(ctx, ctx.threadCount, SplitMatmul::Axis::Sum, src, wei, memory::desc(), dst, 0);
        }))
      return runSplit(ctx, *plan, a, b, nullptr, c);
  MatmulPrimitive *p = getPrimitive(ctx, key, src, wei, memory::desc(), dst, 0, false, bf16);
  if (plain2d)
    if (SplitMatmul *plan = rowsSplit(ctx, *p, key, threads, ad[0], ad[1], bd[1], [&] {
          return makeSplit(ctx, threads, SplitMatmul::Axis::Rows, src, wei, memory::desc(), dst, 0);
        }))
      return runSplit(ctx, *plan, a, b, nullptr, c);
  run(ctx, *p, a, b, nullptr, c);
}

extern "C" void dlrt_k_matmul_f32(void *vctx, int64_t site, int64_t rank, const int64_t *dims, const float *a,
                                  const float *b, float *c, int64_t transposed) {
  guarded(vctx, site, [&](KernelContext &ctx) { matmulOnOneDNN(ctx, site, rank, dims, a, b, c, transposed, ctx.bf16); });
}
