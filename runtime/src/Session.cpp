//===- Session.cpp - sessions: parameters, inference, weights -------------===//
#include "Model.h"
#include "Status.h"
#include "cuda/GpuSession.h"
#include "io/Safetensors.h"


#include <algorithm>
#include <cstring>

using namespace dlrt;

namespace {

void initialise(HostTensor &t, const ValueSpec &spec, Generator &gen) {
  int64_t n = t.numel();
  auto fill = [&](auto gen1) {
    if (t.dtype == DLRT_F32) {
      float *p = reinterpret_cast<float *>(t.data());
      for (int64_t i = 0; i < n; ++i) p[i] = float(gen1());
    } else if (t.dtype == DLRT_I64) {
      int64_t *p = reinterpret_cast<int64_t *>(t.data());
      for (int64_t i = 0; i < n; ++i) p[i] = int64_t(gen1());
    }
  };
  if (spec.initKind == "uniform") fill([&] { return gen.uniform(spec.initA, spec.initB); });
  else if (spec.initKind == "normal") fill([&] { return spec.initA + spec.initB * gen.normal(); });
  else if (spec.initKind == "ones") fill([] { return 1.0; });
  else fill([] { return 0.0; });
}

} // namespace

dlrt_status dlrt::bindInputs(const dlrt_model *m, const std::vector<int> &which, const dlrt_tensor *inputs, int32_t n,
                             std::map<std::string, int64_t> &syms, const char *what, bool onDevice) {
  if (n != int32_t(which.size())) {
    std::string names;
    for (int i : which) names += (names.empty() ? "" : ", ") + m->sig.inputs[i].name;
    return fail(std::string(what) + " takes " + std::to_string(which.size()) + " inputs (" + names + "), got " +
                std::to_string(n));
  }
  if (n && !inputs) return fail("inputs must not be NULL");
  for (int32_t k = 0; k < n; ++k) {
    const ValueSpec &spec = m->sig.inputs[which[k]];
    const dlrt_tensor &t = inputs[k];
    std::string where = "input '" + spec.name + "'";
    if (t.dtype != spec.dtype)
      return fail(where + ": expected dtype " + dlrt_dtype_name(spec.dtype) + ", got " + dlrt_dtype_name(t.dtype));
    if (t.memory != DLRT_HOST && !(onDevice && t.memory == DLRT_DEVICE))
      return fail(where + ": device memory needs a session on a GPU device");
    if (t.rank != int32_t(spec.dims.size()))
      return fail(where + ": expected rank " + std::to_string(spec.dims.size()) + ", got " + std::to_string(t.rank) +
                  " (shape " + shapeStr(t.dims, t.rank) + ")");
    if (t.rank && !t.dims) return fail(where + ": dims must not be NULL");
    int64_t numel = 1;
    for (int32_t d = 0; d < t.rank; ++d) {
      const std::string &e = spec.dims[d];
      int64_t got = t.dims[d];
      if (got < 0) return fail(where + ": negative dim " + std::to_string(got));
      numel *= got;
      bool isSymbol = std::find(m->sig.symbols.begin(), m->sig.symbols.end(), e) != m->sig.symbols.end();
      if (isSymbol) {
        auto [it, fresh] = syms.emplace(e, got);
        if (!fresh && it->second != got)
          return fail(where + ": dim " + std::to_string(d) + " is " + e + " = " + std::to_string(got) +
                      ", but another input bound " + e + " = " + std::to_string(it->second));
        continue;
      }
      auto want = evalDim(e, syms);
      if (!want || *want != got) {
        std::string expected;
        for (size_t i = 0; i < spec.dims.size(); ++i) expected += (i ? ", " : "") + spec.dims[i];
        return fail(where + ": expected shape [" + expected + "], got " + shapeStr(t.dims, t.rank));
      }
    }
    if (numel && !t.data) return fail(where + ": data must not be NULL");
  }
  // What the layers need of the sizes these inputs give (the signature's "requires"): a
  // kernel that does not fit its input would size a result negative, or empty.
  for (const SizeNeed &need : m->sig.needs) {
    std::vector<std::string> read;
    auto v = evalDim(need.size, syms, &read);
    if (!v || (*v >= need.atLeast && *v % need.multipleOf == 0)) continue; // unbound: not this call's inputs
    std::sort(read.begin(), read.end()); // as the inputs bound them
    std::string given;
    for (const std::string &symbol : read)
      given += (given.empty() ? "" : ", ") + symbol + " = " + std::to_string(syms.at(symbol));
    std::string bound = *v < need.atLeast ? "at least " + std::to_string(need.atLeast)
                                          : "a multiple of " + std::to_string(need.multipleOf);
    if (!syms.count(need.size)) bound = need.size + " = " + std::to_string(*v) + ", " + bound; // not a symbol alone
    return fail(need.where + ": " + need.why + " for " + given + " (" + bound + ")");
  }
  return nullptr;
}

dlrt_status dlrt::valueDims(const std::vector<ValueSpec> &specs, const std::map<std::string, int64_t> &syms,
                            std::vector<std::vector<int64_t>> &out, const char *what) {
  out.clear();
  for (const ValueSpec &o : specs) {
    std::vector<int64_t> dims;
    for (const std::string &e : o.dims) {
      auto v = evalDim(e, syms);
      if (!v || *v < 0)
        return fail(std::string("cannot size ") + what + " '" + o.name + "': dim " + e + " is not determined by the inputs");
      dims.push_back(*v);
    }
    out.push_back(std::move(dims));
  }
  return nullptr;
}

dlrt_status dlrt::checkOutputs(const std::vector<ValueSpec> &specs, const std::vector<std::vector<int64_t>> &odims,
                               const dlrt_tensor *outputs, int32_t nout, bool onDevice) {
  if (nout != int32_t(specs.size()))
    return fail("the model has " + std::to_string(specs.size()) + " outputs, got " + std::to_string(nout));
  if (nout && !outputs) return fail("outputs must not be NULL");
  for (int32_t k = 0; k < nout; ++k) {
    const ValueSpec &spec = specs[k];
    const dlrt_tensor &t = outputs[k];
    std::string where = "output '" + spec.name + "'";
    if (t.dtype != spec.dtype)
      return fail(where + ": expected dtype " + dlrt_dtype_name(spec.dtype) + ", got " + dlrt_dtype_name(t.dtype));
    if (t.memory != DLRT_HOST && !(onDevice && t.memory == DLRT_DEVICE))
      return fail(where + ": device memory needs a session on a GPU device");
    if (t.rank != int32_t(odims[k].size()) || (t.rank && (!t.dims || !std::equal(odims[k].begin(), odims[k].end(), t.dims))))
      return fail(where + ": expected shape " + shapeStr(odims[k].data(), int(odims[k].size())) + ", got " +
                  (t.dims || !t.rank ? shapeStr(t.dims, t.rank) : "no dims"));
    int64_t numel = 1;
    for (int64_t d : odims[k]) numel *= d;
    if (numel && !t.data) return fail(where + ": data must not be NULL");
  }
  return nullptr;
}

void dlrt::EntryArgs::add(Kind kind, const dlrt_tensor &t, std::vector<int64_t> dims, Label label) {
  int64_t numel = 1;
  for (int64_t d : dims) numel *= d;
  args.push_back({kind, t.data, std::move(dims), size_t(numel) * dlrt_dtype_size(t.dtype), t.memory, label});
}

std::string dlrt::EntryArgs::Label::str() const {
  if (!role) return "a buffer of the runtime's";
  return name ? std::string(role) + " '" + *name + "'" : std::string(role);
}

dlrt_status dlrt::EntryArgs::separateOverlaps(Copies &copies) {
  auto overlap = [](const Arg &a, const Arg &b) {
    if (!a.bytes || !b.bytes || a.memory != b.memory) return false;
    auto lo = [](const Arg &x) { return reinterpret_cast<uintptr_t>(x.data); };
    return lo(a) < lo(b) + b.bytes && lo(b) < lo(a) + a.bytes;
  };
  // A few inputs and outputs beside every parameter and slot a train step passes.
  std::vector<Arg *> ins, outs;
  for (Arg &a : args)
    if (a.kind != Kind::Session) (a.kind == Kind::In ? ins : outs).push_back(&a);
  for (size_t i = 0; i < outs.size(); ++i)
    for (size_t j = i + 1; j < outs.size(); ++j)
      if (overlap(*outs[i], *outs[j]))
        return fail(outs[i]->label.str() + " and " + outs[j]->label.str() +
                    " share memory: each output needs a buffer of its own");
  for (Arg *in : ins) {
    auto written = std::find_if(outs.begin(), outs.end(), [&](const Arg *out) { return overlap(*in, *out); });
    if (written == outs.end()) continue;
    if (in->memory != DLRT_HOST)
      return fail((*written)->label.str() + " overlaps " + in->label.str() +
                  " in device memory: computing in place needs host memory");
    copies.push_back(std::make_unique<std::byte[]>(in->bytes));
    std::memcpy(copies.back().get(), in->data, in->bytes);
    in->data = copies.back().get();
  }
  return nullptr;
}

std::vector<int64_t> dlrt::callShapes(dl_entry_fn fn, const std::map<std::string, int64_t> &syms) {
  std::vector<int64_t> shapes{int64_t(reinterpret_cast<intptr_t>(fn))};
  for (auto &[name, v] : syms) shapes.push_back(v);
  return shapes;
}

void dlrt::runCall(KernelContext &ctx, Arena &arena, dl_entry_fn fn, void **descriptors,
                   const std::vector<int64_t> &shapes) {
  ctx.error.clear();
  struct CallScope {
    CallScope(KernelContext &ctx, Arena &arena, const std::vector<int64_t> &shapes) : ctx(ctx), arena(arena) {
      arena.begin(shapes);
      ctx.threading.beginCall(shapes);
      currentArena() = &arena;
    }
    ~CallScope() {
      currentArena() = nullptr;
      ctx.threading.endCall();
      arena.end();
    }
    KernelContext &ctx;
    Arena &arena;
  } scope(ctx, arena, shapes);
  // An allocation the arena cannot make returns here (Arena::setFailureJump); between
  // this frame and the arena lie only compiled code and dlrt_k_alloc, nothing to unwind.
  std::jmp_buf outOfMemory;
  arena.setFailureJump(&outOfMemory);
  if (ctx.profile) ctx.profile->beginRun();
  if (setjmp(outOfMemory) == 0) fn(&ctx, descriptors);
  else ctx.fail(arena.failure());
  arena.setFailureJump(nullptr);
}

bool dlrt::learnsFrom(const dlrt_session *s, const std::vector<int64_t> &shapes) {
  return !s->gpu && s->kernels.threading.threads > 1 && !s->kernels.threading.learnedWork(shapes);
}

dlrt_status dlrt::runEntry(dlrt_session *s, dl_entry_fn fn, EntryArgs &args, const std::vector<int64_t> &shapes,
                           const char *what, bool asLater) {
  std::vector<std::vector<int64_t>> descs;
  if (s->gpu) {
    if (dlrt_status st = gpuBeginCall(s, args, descs)) return st;
  } else {
    for (EntryArgs::Arg &a : args.args) descs.push_back(descriptor(a.data, a.dims));
  }
  std::vector<void *> ptrs;
  for (auto &d : descs) ptrs.push_back(d.data());
  bool learns = learnsFrom(s, shapes);
  runCall(s->kernels, s->arena, fn, ptrs.data(), shapes);
  // The first call with these shapes runs small kernels on one thread and learns from it
  // how to run the later ones; where they run every kernel on all threads, the kernels
  // whose sums the threads share (oneDNN's weight gradients) round otherwise, and the
  // first call's results would differ from theirs in the last bits: a train step resumed
  // from a checkpoint (a new session's first step) would not retrace the uninterrupted
  // run, nor a first inference the second on the same inputs. So the first call runs
  // again as the later ones will. An entry reads its arguments and writes its results
  // and the arena only (a train step writes the next parameters and slots beside the
  // current ones, and dropout's masks follow from the seed and step it is given), so the
  // second run computes the same call.
  if (asLater && learns && s->kernels.error.empty() && s->kernels.threading.runsAllParallel(shapes))
    runCall(s->kernels, s->arena, fn, ptrs.data(), shapes);
  if (s->gpu) {
    if (dlrt_status st = gpuEndCall(s, args, s->kernels.error.empty())) {
      std::string message = std::string(what) + " failed: " + dlrt_status_message(st);
      dlrt_status_free(st);
      return fail(message);
    }
  }
  if (!s->kernels.error.empty()) return fail(std::string(what) + " failed: " + s->kernels.error);
  return nullptr;
}

std::vector<int64_t> dlrt::descriptor(void *data, const std::vector<int64_t> &dims) {
  std::vector<int64_t> d(3 + 2 * dims.size());
  int64_t p = int64_t(reinterpret_cast<intptr_t>(data));
  d[0] = p;
  d[1] = p;
  d[2] = 0;
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    d[3 + i] = dims[i];
    d[3 + dims.size() + i] = stride;
    stride *= dims[i];
  }
  return d;
}

int dlrt::paramIndex(const dlrt_session *s, const char *name) {
  if (!name) return -1;
  const auto &ps = s->model->sig.params;
  for (size_t i = 0; i < ps.size(); ++i)
    if (ps[i].name == name) return int(i);
  return -1;
}

dlrt_status dlrt::applyWeights(dlrt_session *s, const SafetensorsFile &f, const std::string &what,
                               std::string &unexpected) {
  const auto &specs = s->model->sig.params;
  std::vector<ExpectedTensor> expected;
  for (size_t i = 0; i < specs.size(); ++i) expected.push_back({specs[i].name, s->params[i].dtype, s->params[i].dims});
  std::vector<const SafetensorsEntry *> found;
  std::string err;
  if (!matchTensors(f, expected, what, found, unexpected, err)) return fail(err);
  if (dlrt_status st = syncHostTensors(s)) return st;
  for (size_t i = 0; i < specs.size(); ++i) std::memcpy(s->params[i].data(), f.data(*found[i]), found[i]->bytes);
  hostTensorsWritten(s);
  ++s->kernels.paramVersion;
  return nullptr;
}

dlrt_session_s::~dlrt_session_s() = default;

extern "C" {

void dlrt_session_options_init(dlrt_session_options *o) {
  if (o) *o = dlrt_session_options{0, 0, 0};
}

dlrt_status dlrt_session_create(const dlrt_model *m, const dlrt_session_options *opts, dlrt_session **out) {
  if (!m || !out) return fail("dlrt_session_create: model and out_session must not be NULL");
  *out = nullptr;
  dlrt_session_options o;
  dlrt_session_options_init(&o);
  if (opts) o = *opts;
  if (o.device < 0) return fail("device must be 0 (the CPU) or N >= 1 (CUDA device N-1)");
  std::string file = m->path;
  if (m->cuda && o.device == 0)
    return fail("'" + file + "' was compiled with --target cuda: its sessions run on a GPU (device 1 for the first; "
                "dlrun --device cuda)");
  if (!m->cuda && o.device != 0)
    return fail("'" + file + "' was compiled for the CPU: a GPU session needs a model compiled with --target cuda");
  if (o.num_threads < 0) return fail("num_threads must be >= 0");
  try {
    auto s = std::make_unique<dlrt_session>();
    s->model = m;
    s->threads = o.num_threads;
    s->kernels.sites = &m->sig.sites;
    s->kernels.pluginSites = &m->plugins.sites;
    s->kernels.threading.threads = o.num_threads > 0 ? o.num_threads : openMPMaxThreads();
    s->kernels.bf16 = computesBf16(*m);
    s->seed = o.seed;
    Generator gen(o.seed);
    for (const ValueSpec &p : m->sig.params) {
      std::vector<int64_t> dims;
      for (const std::string &e : p.dims) {
        auto v = evalDim(e, {});
        if (!v) return fail("parameter '" + p.name + "' has a non-constant dim " + e);
        dims.push_back(*v);
      }
      HostTensor t(p.dtype, dims);
      if (!t.data()) return fail("out of memory allocating parameter '" + p.name + "'");
      initialise(t, p, gen);
      s->params.push_back(std::move(t));
    }
    // Weights baked into the model replace the seeded initialisation.
    if (m->baked) {
      std::string unexpected;
      if (dlrt_status st = applyWeights(s.get(), *m->baked, "the model's baked weights", unexpected)) return st;
    }
    const TrainSignature &ts = m->sig.train;
    if (ts.present) {
      s->lr = ts.lr;
      for (size_t i = 0; i < m->sig.params.size(); ++i) {
        const HostTensor &p = s->params[i];
        s->nextParams.emplace_back(p.dtype, p.dims);
        s->slots.emplace_back();
        s->nextSlots.emplace_back();
        if (m->sig.params[i].buffer) continue;
        for (size_t k = 0; k < ts.slots.size(); ++k) {
          s->slots.back().emplace_back(p.dtype, p.dims);
          s->nextSlots.back().emplace_back(p.dtype, p.dims);
          if (!s->slots.back().back().data() || !s->nextSlots.back().back().data())
            return fail("out of memory allocating the optimizer state of '" + m->sig.params[i].name + "'");
        }
      }
    }
    if (o.device)
      if (dlrt_status st = openGpu(s.get(), o.device - 1)) return st;
    *out = s.release();
    return nullptr;
  } catch (const std::exception &e) {
    return fail(std::string("cannot create a session: ") + e.what());
  }
}

void dlrt_session_free(dlrt_session *s) { delete s; }

dlrt_status dlrt_output_shapes(dlrt_session *s, const dlrt_tensor *inputs, int32_t n, int64_t *out, size_t cap) {
  if (!s) return fail("session must not be NULL");
  std::map<std::string, int64_t> syms;
  if (dlrt_status st = bindInputs(s->model, s->model->inferInputs, inputs, n, syms, "inference", s->gpu != nullptr)) return st;
  std::vector<std::vector<int64_t>> dims;
  if (dlrt_status st = valueDims(s->model->sig.outputs, syms, dims, "output")) return st;
  size_t k = 0;
  for (auto &d : dims)
    for (int64_t v : d) {
      if (k >= cap || !out) return fail("out_dims has room for " + std::to_string(cap) + " dims; more are needed");
      out[k++] = v;
    }
  return nullptr;
}

dlrt_status dlrt_infer(dlrt_session *s, const dlrt_tensor *inputs, int32_t n, dlrt_tensor *outputs, int32_t nout) {
  if (!s) return fail("session must not be NULL");
  const dlrt_model *m = s->model;
  std::map<std::string, int64_t> syms;
  if (dlrt_status st = bindInputs(m, m->inferInputs, inputs, n, syms, "inference", s->gpu != nullptr)) return st;
  std::vector<std::vector<int64_t>> odims;
  if (dlrt_status st = valueDims(m->sig.outputs, syms, odims, "output")) return st;
  if (dlrt_status st = checkOutputs(m->sig.outputs, odims, outputs, nout, s->gpu != nullptr)) return st;
  EntryArgs args;
  for (int32_t k = 0; k < n; ++k) args.in(inputs[k], m->sig.inputs[size_t(m->inferInputs[size_t(k)])].name);
  for (HostTensor &p : s->params) args.session(p);
  for (int32_t k = 0; k < nout; ++k) args.out(outputs[k], odims[size_t(k)], {"output", &m->sig.outputs[size_t(k)].name});
  EntryArgs::Copies copies;
  if (dlrt_status st = args.separateOverlaps(copies)) return st;
  std::vector<int64_t> shapes = callShapes(m->infer, syms);
  bool learns = learnsFrom(s, shapes);
  s->lastSlices = inferenceSlices(*s, syms);
  if (s->lastSlices > 1) return inferInSlices(*s, s->lastSlices, args, syms);
  if (dlrt_status st = runEntry(s, m->infer, args, shapes, "inference", false); st || !learns) return st;
  // The first call ran whole and learned the kernels' work: where later calls with these
  // inputs run in slices of the batch, or every kernel on all threads, it runs again as
  // they will (runEntry says why), once.
  s->lastSlices = inferenceSlices(*s, syms);
  if (s->lastSlices > 1) return inferInSlices(*s, s->lastSlices, args, syms);
  if (s->kernels.threading.runsAllParallel(shapes)) return runEntry(s, m->infer, args, shapes, "inference");
  return nullptr;
}

// With inference split across the batch, the slices' arenas are alive at once beside
// the session's (which the calls not split use).
size_t dlrt_session_arena_peak(const dlrt_session *s) {
  if (!s) return 0;
  size_t slices = 0;
  for (auto &slice : s->slices) slices += slice->arena.peakBytes();
  return std::max(s->arena.peakBytes(), slices);
}
size_t dlrt_session_arena_size(const dlrt_session *s) {
  if (!s) return 0;
  size_t bytes = s->arena.plannedBytes();
  for (auto &slice : s->slices) bytes += slice->arena.plannedBytes();
  return bytes;
}
int32_t dlrt_session_batch_slices(const dlrt_session *s) { return s ? s->lastSlices : 0; }

dlrt_status dlrt_session_set_profiling(dlrt_session *s, int32_t on) {
  if (!s) return fail("session must not be NULL");
  if (!on) s->kernels.profile.reset();
  else s->kernels.profile = std::make_unique<dlrt::Profile>(s->model->sig.profileUnits.size());
  return nullptr;
}

int32_t dlrt_session_profile(const dlrt_session *s, dlrt_profile_entry *entries, int32_t capacity) {
  if (!s || !s->kernels.profile) return 0;
  const dlrt::Profile &p = *s->kernels.profile;
  std::vector<dlrt_profile_entry> ran;
  for (size_t u = 0; u < p.calls.size(); ++u)
    if (p.calls[u] > 0) ran.push_back({s->model->sig.profileUnits[u].c_str(), p.seconds[u], p.calls[u]});
  std::sort(ran.begin(), ran.end(), [](const dlrt_profile_entry &a, const dlrt_profile_entry &b) {
    return a.seconds != b.seconds ? a.seconds > b.seconds : std::strcmp(a.op, b.op) < 0;
  });
  for (int32_t i = 0; entries && i < capacity && size_t(i) < ran.size(); ++i) entries[i] = ran[size_t(i)];
  return int32_t(ran.size());
}

dlrt_status dlrt_get_param(dlrt_session *s, const char *name, dlrt_tensor *out) {
  if (!s || !out) return fail("session and out must not be NULL");
  int i = paramIndex(s, name);
  if (i < 0) return fail(std::string("no parameter named '") + (name ? name : "(null)") + "'");
  if (dlrt_status st = syncHostTensors(s)) return st;
  const HostTensor &p = s->params[i];
  if (out->dtype != p.dtype || out->rank != int32_t(p.dims.size()) ||
      (out->rank && (!out->dims || !std::equal(p.dims.begin(), p.dims.end(), out->dims))))
    return fail("parameter '" + std::string(name) + "' is " + dlrt_dtype_name(p.dtype) + p.shapeStr() +
                "; the destination does not match");
  if (p.bytes() && !out->data) return fail("out->data must not be NULL");
  std::memcpy(out->data, p.data(), p.bytes());
  return nullptr;
}

dlrt_status dlrt_set_param(dlrt_session *s, const char *name, const dlrt_tensor *v) {
  if (!s || !v) return fail("session and value must not be NULL");
  int i = paramIndex(s, name);
  if (i < 0) return fail(std::string("no parameter named '") + (name ? name : "(null)") + "'");
  HostTensor &p = s->params[i];
  if (v->dtype != p.dtype || v->rank != int32_t(p.dims.size()) ||
      (v->rank && (!v->dims || !std::equal(p.dims.begin(), p.dims.end(), v->dims))))
    return fail("parameter '" + std::string(name) + "' is " + dlrt_dtype_name(p.dtype) + p.shapeStr() + ", got " +
                dlrt_dtype_name(v->dtype) + shapeStr(v->dims, v->rank));
  if (p.bytes() && !v->data) return fail("value->data must not be NULL");
  if (dlrt_status st = syncHostTensors(s)) return st;
  std::memcpy(p.data(), v->data, p.bytes());
  hostTensorsWritten(s);
  ++s->kernels.paramVersion;
  return nullptr;
}

dlrt_status dlrt_session_set_memory_limit(dlrt_session *s, uint64_t bytes) {
  if (!s) return fail("session must not be NULL");
  s->arena.limit = size_t(bytes);
  return nullptr;
}

dlrt_status dlrt_load_weights(dlrt_session *s, const char *path, char **warnings) {
  if (!s || !path) return fail("session and path must not be NULL");
  if (warnings) *warnings = nullptr;
  SafetensorsFile f;
  std::string err, unexpected;
  if (!readSafetensors(path, f, err)) return fail(err);
  if (dlrt_status st = applyWeights(s, f, std::string("'") + path + "'", unexpected)) return st;
  if (!unexpected.empty() && warnings) *warnings = strdup(("unexpected keys ignored: " + unexpected).c_str());
  return nullptr;
}

dlrt_status dlrt_save_weights(dlrt_session *s, const char *path) {
  if (!s || !path) return fail("session and path must not be NULL");
  if (dlrt_status st = syncHostTensors(s)) return st;
  std::vector<NamedTensor> ts;
  for (size_t i = 0; i < s->params.size(); ++i)
    ts.push_back({s->model->sig.params[i].name, s->params[i].dtype, s->params[i].dims, s->params[i].data()});
  std::string err;
  if (!writeSafetensors(path, ts, {{"format", "pt"}}, err)) return fail(err);
  return nullptr;
}

} // extern "C"
