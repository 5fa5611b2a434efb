//===- BatchSplit.cpp - inference on slices of the batch, side by side ----===//
//
// Where the compiler proved that no op of the inference entry lets one sample reach
// another (dl-mark-batch-split), a call on two threads runs the entry twice at once, each
// on one thread over half the batch's rows, into its half of the outputs. Against every
// kernel split over both threads this saves a parallel region per kernel and keeps each
// core on data it wrote itself: the CNN at batch 64 (AMD EPYC, two threads) took 0.69-0.82
// ms with its kernels split, its conv, pooling and ReLU each slower on two threads than
// on one, reading what the other core wrote.
//
// A slice runs under a kernel context and an arena of its own, so nothing a kernel keeps
// between calls (primitives, packed weights, scratch) is shared; the model's code is
// reentrant (sessions may share a model across threads). The slice contexts follow the
// session's: parameter version, precision, profile (the first slice's time is the call's).
//
//===----------------------------------------------------------------------===//
#include "BatchSplit.h"
#include "Model.h"
#include "Status.h"

#include <algorithm>
#include <cstdlib>

namespace dlrt {

BatchSlice::BatchSlice(const dlrt_session_s &s) {
  kernels.sites = s.kernels.sites;
  kernels.pluginSites = s.kernels.pluginSites;
  kernels.bf16 = s.kernels.bf16;
  kernels.threading.threads = 1;
}

namespace {

/// DLRT_BATCH_SPLIT: "off" runs every call whole; "always" splits every call the model and
/// session allow, from the first and however little its work (for tests, which compare
/// the split with the whole call on small models); anything else, or unset, chooses.
enum class SplitMode { Auto, Off, Always };
SplitMode splitMode() {
  static const SplitMode mode = [] {
    const char *v = std::getenv("DLRT_BATCH_SPLIT");
    std::string s = v ? v : "";
    return s == "off" ? SplitMode::Off : s == "always" ? SplitMode::Always : SplitMode::Auto;
  }();
  return mode;
}

/// Whether a value of the signature holds the batch in its dim 0: the compiler's rule.
bool batched(const ValueSpec &spec, const std::string &symbol) {
  return !spec.dims.empty() && spec.dims[0] == symbol;
}

} // namespace

int inferenceSlices(const dlrt_session_s &s, const std::map<std::string, int64_t> &syms) {
  const dlrt_model_s &m = *s.model;
  const std::string &symbol = m.sig.batchSplit;
  int threads = s.kernels.threading.threads;
  // A memory limit holds the session to one arena; a GPU's kernels span the batch already.
  if (symbol.empty() || threads <= 1 || s.gpu || s.arena.limit || splitMode() == SplitMode::Off) return 1;
  auto rows = syms.find(symbol);
  if (rows == syms.end() || rows->second < 2) return 1;
  for (const ValueSpec &o : m.sig.outputs)
    if (!batched(o, symbol)) return 1;
  if (splitMode() != SplitMode::Always) {
    std::optional<double> work = s.kernels.threading.learnedWork(callShapes(m.infer, syms));
    if (!work || *work < kAllParallelFlops) return 1;
  }
  return int(std::min<int64_t>(threads, rows->second));
}

dlrt_status inferInSlices(dlrt_session_s &s, int parts, const EntryArgs &args,
                          const std::map<std::string, int64_t> &syms) {
  const dlrt_model_s &m = *s.model;
  const std::string &symbol = m.sig.batchSplit;
  const int64_t rows = syms.at(symbol);
  while (s.slices.size() < size_t(parts)) s.slices.push_back(std::make_unique<BatchSlice>(s));

  // Which of the entry's arguments hold the batch: inputs whose dim 0 is its symbol (the
  // compiler's rule), and every output (inferenceSlices checked them).
  std::vector<bool> split;
  size_t input = 0;
  for (const EntryArgs::Arg &a : args.args) {
    if (a.kind == EntryArgs::Kind::In) split.push_back(batched(m.sig.inputs[size_t(m.inferInputs[input++])], symbol));
    else split.push_back(a.kind == EntryArgs::Kind::Out);
  }

  struct Call {
    std::vector<std::vector<int64_t>> descs;
    std::vector<void *> ptrs;
    std::vector<int64_t> shapes;
  };
  std::vector<Call> calls(static_cast<size_t>(parts));
  for (int p = 0; p < parts; ++p) {
    Call &c = calls[size_t(p)];
    int64_t begin = rows * p / parts, end = rows * (p + 1) / parts;
    for (size_t k = 0; k < args.args.size(); ++k) {
      const EntryArgs::Arg &a = args.args[k];
      if (!split[k]) {
        c.descs.push_back(descriptor(a.data, a.dims));
        continue;
      }
      // Rows [begin, end): contiguous, dim 0 outermost.
      std::vector<int64_t> dims = a.dims;
      dims[0] = end - begin;
      c.descs.push_back(descriptor(static_cast<char *>(a.data) + size_t(begin) * (a.bytes / size_t(rows)), dims));
    }
    for (auto &d : c.descs) c.ptrs.push_back(d.data());
    std::map<std::string, int64_t> sliceSyms = syms;
    sliceSyms[symbol] = end - begin;
    c.shapes = callShapes(m.infer, sliceSyms);
    s.slices[size_t(p)]->kernels.paramVersion = s.kernels.paramVersion;
  }

  KernelContext &first = s.slices[0]->kernels;
  std::swap(first.profile, s.kernels.profile);
  parallelParts(parts, parts, [&](int p) {
    BatchSlice &slice = *s.slices[size_t(p)];
    runCall(slice.kernels, slice.arena, m.infer, calls[size_t(p)].ptrs.data(), calls[size_t(p)].shapes);
  });
  std::swap(first.profile, s.kernels.profile);

  for (int p = 0; p < parts; ++p)
    if (const std::string &error = s.slices[size_t(p)]->kernels.error; !error.empty())
      return fail("inference failed: " + error);
  return nullptr;
}

} // namespace dlrt
