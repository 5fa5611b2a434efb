//===- Model.h - a loaded model.so and a session over it --------*- C++ -*-===//
#ifndef DLRT_SRC_MODEL_H
#define DLRT_SRC_MODEL_H

#include "Arena.h"
#include "BatchSplit.h"
#include "cuda/Device.h"
#include "KernelContext.h"
#include "Plugins.h"
#include "Random.h"
#include "Signature.h"
#include "dlrt/model_abi.h"
#include "io/Safetensors.h"
#include "io/Tensor.h"

#include <cstddef>
#include <memory>
#include <string>

struct dlrt_model_s {
  void *handle = nullptr;
  std::string path;
  int32_t abi = 0;
  dlrt::Signature sig;
  dlrt::PluginSet plugins; // the run-time parts of the plugins it calls
  /// Weights baked into model.so (dlc --weights): every session starts from them.
  std::unique_ptr<dlrt::SafetensorsFile> baked;
  dl_entry_fn infer = nullptr;
  dl_entry_fn trainStep = nullptr, evalStep = nullptr; // with a train block
  std::vector<int> inferInputs; // indices into sig.inputs that inference takes
  std::vector<int> allInputs;   // the train and eval steps take every input
  /// --target cuda: the PTX and kernel table (code.image is dl_model_gpu_code).
  bool cuda = false;
  dlrt::cuda::GpuCode code;
};

namespace dlrt {
struct GpuState;
}

struct dlrt_session_s {
  const dlrt_model_s *model = nullptr;
  /// A cuda session's GPU and the device copies of its tensors (null on the CPU).
  /// Declared before the arena, whose memory it may be: destroyed after it.
  std::unique_ptr<dlrt::GpuState> gpu;
  ~dlrt_session_s();
  std::vector<dlrt::HostTensor> params; // in signature order
  dlrt::KernelContext kernels;
  dlrt::Arena arena; // intermediate tensors of compiled code
  /// Inference split across the batch (BatchSplit.h): each slice's context and arena.
  std::vector<std::unique_ptr<dlrt::BatchSlice>> slices;
  int32_t lastSlices = 1; // how many the last inference ran in
  int32_t threads = 0;
  uint64_t seed = 0;

  // Training state. The train step writes new parameters and slots into the `next`
  // buffers; only a step that succeeded with a finite loss swaps them in, so a failed
  // step changes nothing.
  std::vector<dlrt::HostTensor> nextParams;
  std::vector<std::vector<dlrt::HostTensor>> slots, nextSlots; // per parameter (empty for buffers)
  double lr = 0;
  int64_t step = 0; // optimizer steps taken
};

namespace dlrt {
/// Binds the symbolic dims from `inputs`, the model's inputs `which` (indices into the
/// signature's inputs) in order, checking dtype, rank and every dim; device memory only
/// where `onDevice` (a GPU session).
dlrt_status bindInputs(const dlrt_model *m, const std::vector<int> &which, const dlrt_tensor *inputs, int32_t n,
                       std::map<std::string, int64_t> &syms, const char *what, bool onDevice);
/// Checks caller-owned result buffers against `specs` with the dims `dims`.
dlrt_status checkOutputs(const std::vector<ValueSpec> &specs, const std::vector<std::vector<int64_t>> &dims,
                         const dlrt_tensor *outputs, int32_t n, bool onDevice);
/// The dims of `specs` under the bound symbols.
dlrt_status valueDims(const std::vector<ValueSpec> &specs, const std::map<std::string, int64_t> &syms,
                      std::vector<std::vector<int64_t>> &out, const char *what);
/// Whether a CPU session of `m` computes in bf16: it was compiled with --precision bf16 and
/// oneDNN finds bf16 units on this CPU (AVX512-BF16 or AMX). Elsewhere it runs fp32.
bool computesBf16(const dlrt_model &m);
/// An MLIR memref descriptor {alloc, aligned, offset, sizes[], strides[]} as i64 words.
std::vector<int64_t> descriptor(void *data, const std::vector<int64_t> &dims);

/// The buffers an entry point takes, in order, and what each one is. On the CPU every
/// pointer goes to the compiled code as it is; a GPU session passes its own tensors'
/// device copies, the caller's device buffers as they are, and stages the caller's host
/// buffers in device memory around the call (copied in before, out after).
struct EntryArgs {
  enum class Kind { Session, In, Out };
  /// What a caller's tensor is, for messages: built only when one is needed, so that a
  /// call pays nothing for it ("input 'x'", "output 'logits'", "the predictions").
  struct Label {
    const char *role = nullptr;       // null for the runtime's own buffers
    const std::string *name = nullptr; // the signature's name, if the role has one
    std::string str() const;
  };
  struct Arg {
    Kind kind;
    void *data;
    std::vector<int64_t> dims;
    size_t bytes;
    dlrt_memory_kind memory;
    Label label;
  };
  std::vector<Arg> args;
  /// A tensor the session owns (a parameter, an optimizer slot).
  void session(HostTensor &t) { args.push_back({Kind::Session, t.data(), t.dims, t.bytes(), DLRT_HOST, {}}); }
  /// A caller's tensor the call reads (the input `name`), or writes (with the dims the
  /// model gives it).
  void in(const dlrt_tensor &t, const std::string &name) {
    add(Kind::In, t, std::vector<int64_t>(t.dims, t.dims + t.rank), {"input", &name});
  }
  void out(dlrt_tensor &t, const std::vector<int64_t> &dims, Label label) { add(Kind::Out, t, dims, label); }
  /// Host memory of the runtime's the call reads (a step count), or writes (the loss).
  void in(void *data, const std::vector<int64_t> &dims, size_t bytes) {
    args.push_back({Kind::In, data, dims, bytes, DLRT_HOST, {}});
  }
  void out(void *data, const std::vector<int64_t> &dims, size_t bytes) {
    args.push_back({Kind::Out, data, dims, bytes, DLRT_HOST, {}});
  }

  /// Host copies of inputs, kept for the call (separateOverlaps).
  using Copies = std::vector<std::unique_ptr<std::byte[]>>;
  /// An application may compute in place: an output's buffer may overlap an input's. The
  /// compiled code reads inputs after it has written outputs (a train step's backward
  /// pass reads what its forward read; a first call that learns its thread policy runs
  /// twice; one slice of a batch writes its results before the next reads its inputs),
  /// so each such input is read from a copy taken here, which `copies` keeps for the
  /// call. In device memory, where no copy is taken, that overlap is an error, and so is
  /// one between two outputs anywhere (the memory could hold only one of them).
  dlrt_status separateOverlaps(Copies &copies);

private:
  void add(Kind kind, const dlrt_tensor &t, std::vector<int64_t> dims, Label label);
};

/// What identifies a call's plans (the arena's, the threading policy's): the entry point
/// and the symbols' values, which fix every intermediate shape.
std::vector<int64_t> callShapes(dl_entry_fn fn, const std::map<std::string, int64_t> &syms);
/// Runs entry `fn` on CPU memref descriptors under `ctx` and `arena` for a call of
/// `shapes`; a failure is left in ctx.error.
void runCall(KernelContext &ctx, Arena &arena, dl_entry_fn fn, void **descriptors, const std::vector<int64_t> &shapes);
/// Runs entry `fn` on `args` under the session's arena and threading, for a call of
/// `shapes` (callShapes: the symbols' values fix every intermediate shape, and so the
/// arena's plan and the threading policy; each entry point has its own plans); the
/// kernels' error, if any, as a status. The first call with these shapes on a CPU
/// session of several threads (learnsFrom) runs twice where the thread policy it learned
/// runs later calls otherwise, so that it computes what they would, unless `asLater` is
/// false (its caller decides).
dlrt_status runEntry(dlrt_session *s, dl_entry_fn fn, EntryArgs &args, const std::vector<int64_t> &shapes,
                     const char *what, bool asLater = true);
/// Whether a call with `shapes` would be the first, from which the session's thread
/// policy learns how to run the later ones (CPU sessions of several threads only).
bool learnsFrom(const dlrt_session *s, const std::vector<int64_t> &shapes);
int paramIndex(const dlrt_session *s, const char *name);
/// Copies a weights file's tensors into the session's parameters: every parameter must be
/// there with its dtype and shape (`what` names the file in errors); unknown names are
/// collected in `unexpected`.
dlrt_status applyWeights(dlrt_session *s, const SafetensorsFile &f, const std::string &what,
                         std::string &unexpected);
} // namespace dlrt

#endif
