//===- KernelContext.h - what compiled code's kernel calls reach -*- C++ -*-===//
#ifndef DLRT_SRC_KERNELCONTEXT_H
#define DLRT_SRC_KERNELCONTEXT_H

#include "Profile.h"
#include "Threads.h"

#include <dnnl.hpp>

#include <chrono>
#include <deque>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace dlrt {

struct PluginSite;
namespace cuda {
class Device;
}

/// Memory grown to the largest size asked of it and kept, for what kernels need only while
/// they run. Kernels run one at a time per session, so one such buffer serves them all.
class GrowingBuffer {
public:
  /// At least `bytes`, page-aligned; throws std::bad_alloc.
  void *get(size_t bytes);

private:
  std::unique_ptr<char, decltype(&std::free)> data{nullptr, &std::free};
  size_t size = 0;
};

struct KernelContext;

/// What a kernel keeps derived from a parameter (packed, folded, summed) was derived from:
/// which buffer, at which parameter version. Redo the derivation when stale(), then
/// update().
struct ParamStamp {
  const void *from = nullptr;
  uint64_t version = ~uint64_t(0);
  bool stale(const KernelContext &ctx, const void *data) const;
  void update(const KernelContext &ctx, const void *data);
};

/// The `ctx` that compiled code passes to every kernel: one per session. Kernels never
/// throw or abort across the generated code; the first failure of a call is recorded here
/// and turned into the status of the API call that ran the model.
struct KernelContext {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  /// oneDNN primitives, created once per call site and shape (a oneDNN 2.6 primitive is
  /// fixed to its shapes) and reused on every later call.
  std::map<std::vector<int64_t>, std::shared_ptr<void>> primitives;
  std::string error;
  /// A cuda session's GPU, where dlrt_gpu_launch sends kernels (null on the CPU).
  cuda::Device *device = nullptr;
  /// "embedding at model.dl:5:7" for each call site, from the model's signature.
  const std::vector<std::string> *sites = nullptr;
  /// The model's plugin kernel calls by call site.
  const std::unordered_map<int64_t, PluginSite> *pluginSites = nullptr;

  /// Time per op of the dl graph while the session profiles (dlrt_session_set_profiling);
  /// null otherwise, and then the marks compiled code makes cost a call and a branch.
  std::unique_ptr<Profile> profile;

  /// Bumped whenever parameters may have changed (set_param, load_weights): kernels that
  /// keep weights in another layout redo it then.
  uint64_t paramVersion = 0;
  /// The running call is a train step, whose parameters the optimizer changes at every
  /// call: a kernel that would keep a weight in another layout for later calls (dense's
  /// packed weight) reads it as it is instead. Set for the call by the train step.
  bool trainStep = false;
  /// Each kernel's thread count.
  ThreadPolicy threading;
  /// The model was compiled with --precision bf16 and this CPU has bf16 units (AVX512-BF16
  /// or AMX): dense, matmul and convolution primitives take bf16 operands (converted from
  /// compiled code's f32 on the way in, weights once per parameter version) and accumulate
  /// and write f32. Fixed for the session's life, so primitive cache keys leave it out.
  bool bf16 = false;

  /// Sets the kernel's thread count (see ThreadPolicy) and returns it. Call it before
  /// creating a primitive and key the cache on the count:
  /// oneDNN splits a primitive's work for the thread count current at its creation, and a
  /// primitive made for one thread runs on one thread however many it is given later.
  /// `regions`: how many parallel regions the kernel runs (an RNN: one or more per step).
  int threadsFor(double flops, double regions = 1) { return threadCount = threading.choose(flops, regions); }
  /// Before a kernel moves on to another way of computing its result, which calls
  /// threadsFor again: its work is then counted once (ThreadPolicy::retract).
  void retractThreads() { threading.retract(); }
  /// The count the last threadsFor chose: the current kernel's.
  int threadCount = 1;
  /// Until when generated loop nests run on the calling thread alone, because a recent
  /// split one waited long for a descheduled thread (native/ParallelRows.cpp).
  std::chrono::steady_clock::time_point rowsSerialUntil{};

  /// Every primitive's scratch memory, allocated once. oneDNN's own (library) mode, in
  /// this build made for concurrent execution, allocates a primitive's scratchpad on every
  /// execution and frees it after.
  GrowingBuffer scratchpad;
  /// Activations in a primitive's own layout or type where it differs from compiled code's
  /// (a convolution's blocked input and output, a bf16 operand): reordered in and out
  /// around the call.
  GrowingBuffer stagedSrc, stagedDst;
  /// A weight gradient in a primitive's own layout, reordered out after the call; a
  /// matmul's second operand converted to bf16.
  GrowingBuffer stagedWeights;
  /// What a backward kernel recomputes from the forward's input rather than keeping it:
  /// max pooling's output and workspace.
  GrowingBuffer recomputed, recomputedWorkspace;
  /// A transposed convolution's output less the rows and columns no window reaches
  /// (deconvolve in onednn/Convolution.cpp), before they are added with the bias.
  GrowingBuffer reachedOutput;
  /// A plugin kernel's workspace.
  GrowingBuffer pluginWorkspace;
  /// The native LSTM's input projections and state; a layer's output sequence, and the
  /// one before it, between layers.
  GrowingBuffer recurrentProjection, recurrentState, recurrentSequence[2];
  /// A convolution's weight gradient by Winograd: each thread's transforms of a chunk of
  /// tiles (and its own products, where the threads split the tiles), and the products
  /// (onednn/Convolution.cpp).
  GrowingBuffer winogradScratch, winogradProducts;
  /// A first convolution's weight gradient (native/ConvWeightGradient.h): its groups' sums
  /// and each thread's padded input rows.
  GrowingBuffer weightGradientScratch;

  /// Parameters reordered into a primitive's layout for every site that reads them so
  /// (PackedWeights' Sharing::kByParameter): the layout of the parameter as compiled code
  /// passes it, the copy, which buffer at which version it holds.
  struct SharedPacked {
    dnnl::memory::desc user;
    dnnl::memory buf;
    ParamStamp stamp;
  };
  std::deque<SharedPacked> sharedPacked;

  /// Runs a primitive made with kernelAttr() and waits for it, handing it the scratchpad.
  /// `args` is taken by value to add the scratchpad: callers move theirs in.
  void run(const dnnl::primitive &prim, std::unordered_map<int, dnnl::memory> args) {
    runOn(stream, scratchpad, prim, std::move(args));
  }
  /// run() on another stream and scratchpad: for primitives run side by side on threads
  /// of their own (a stream and a scratchpad serve one execution at a time).
  void runOn(dnnl::stream &on, GrowingBuffer &scratch, const dnnl::primitive &prim,
             std::unordered_map<int, dnnl::memory> args);
  /// run() for a reorder of `bytes` of source: on one thread where that is little, then
  /// back to the kernel's count. oneDNN's reorders read the thread count when they run,
  /// and split even a small one across the team: converting an MLP's 64 x 784 input to
  /// bf16 took 0.016 ms on two threads and 0.004 on one (AMD EPYC).
  void runReorder(const dnnl::primitive &prim, std::unordered_map<int, dnnl::memory> args, size_t bytes);
  /// `desc`-shaped memory in a staging buffer.
  dnnl::memory staged(GrowingBuffer &buffer, const dnnl::memory::desc &desc) {
    return dnnl::memory(desc, engine, buffer.get(desc.get_size()));
  }

  void fail(const std::string &msg) {
    if (error.empty()) error = msg;
  }
  /// The source location of a call site, for error messages.
  std::string where(int64_t site) const {
    if (sites && site >= 0 && size_t(site) < sites->size()) return (*sites)[site];
    return "call site " + std::to_string(site);
  }
};

inline bool ParamStamp::stale(const KernelContext &ctx, const void *data) const {
  return from != data || version != ctx.paramVersion;
}
inline void ParamStamp::update(const KernelContext &ctx, const void *data) {
  from = data;
  version = ctx.paramVersion;
}

/// The first word of every primitive cache key: which kernel made the primitive.
enum PrimitiveKind : int64_t {
  kDense = 0,
  kMatmul = 1,
  kConvolution = 2,
  kPooling = 3,
  kRecurrent = 4,
  kDeconvolution = 5,
  kTranspose = 6,
  kBatchNorm = 8,
  // 9 and 17 were oneDNN's softmax and its gradient, retired for native/Softmax.
  kPoolingBackward = 10,
  kBlockChannels = 11,
  kConvolutionBackwardData = 12,
  kConvolutionBackwardWeights = 13,
  kBatchNormBackward = 14,
  kRecurrentBackward = 15,
  kLayerNormBackward = 16, // the native layer norm gradient's scratch (7, the forward's, is retired)
  kRecurrentProjection = 18, // an LSTM layer's input projection, before the native recurrence
  kNativeLstm = 19,          // an LSTM layer's packed weight for the native recurrence
  kNativeDense = 20,         // a dense layer's packed weight for native/Gemv
  kMatmulSplitSum = 21,      // a matmul split along its sum over the threads (onednn/Matmul.cpp)
  kConvMaxPool = 22,         // a fused convolution and max pooling's packed weights (native/ConvPool)
  kWinograd = 23,            // a convolution's transformed weights for F(2x2, 3x3) (native/Winograd)
  kWinograd4x4 = 24,         // the same for F(4x4, 3x3): a site may run either, by batch
  kWinogradData = 25,        // a convolution's data gradient by F(2x2, 3x3): its filters flipped and transformed
  kWinogradData4x4 = 26,     // the same for F(4x4, 3x3)
  kMatmulSplitRows = 27,     // a product split along its rows over the threads (onednn/Matmul.cpp)
};

/// Runs a kernel body for compiled code: nothing once the call has failed, and a oneDNN
/// exception becomes the call's error, naming the site, instead of unwinding through
/// generated code.
template <typename Body> void guarded(void *vctx, int64_t site, Body &&body) {
  auto &ctx = *static_cast<KernelContext *>(vctx);
  if (!ctx.error.empty()) return;
  try {
    body(ctx);
  } catch (const std::exception &e) {
    ctx.fail(ctx.where(site) + ": oneDNN failed: " + e.what());
  }
}

/// Appends the eltwise post-op of a dlrt_activation code (none: nothing). Throws on an
/// unknown code, which the kernel's guard turns into the call's error.
void appendActivation(dnnl::post_ops &ops, int64_t activation);

/// The attributes every kernel's primitive starts from: the scratchpad is the session's
/// (KernelContext::run hands it over).
inline dnnl::primitive_attr kernelAttr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

/// kernelAttr() with the post-op of `activation` (PyTorch's function after the op).
inline dnnl::primitive_attr activationAttr(int64_t activation) {
  dnnl::primitive_attr attr = kernelAttr();
  dnnl::post_ops ops;
  appendActivation(ops, activation);
  attr.set_post_ops(ops);
  return attr;
}

/// Resolves kernel names for dl_model_bind; NULL for unknown names.
void *resolveKernel(const char *name, void *user);
/// The imports of a --target cuda model (cuda/Kernels.cpp): GPU launches, checks that read
/// device memory, the arena; no oneDNN kernel.
void *resolveCudaKernel(const char *name, void *user);

} // namespace dlrt
#endif
