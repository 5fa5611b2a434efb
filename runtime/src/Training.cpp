//===- Training.cpp - train and eval steps, learning rate, checkpoints ----===//
#include "Model.h"
#include "Status.h"
#include "cuda/GpuSession.h"
#include "io/Safetensors.h"

#include <cmath>
#include <cstring>

using namespace dlrt;

namespace {

bool sameShape(const dlrt_tensor &t, const std::vector<int64_t> &dims) {
  return t.rank == int32_t(dims.size()) && (!t.rank || (t.dims && std::equal(dims.begin(), dims.end(), t.dims)));
}

dlrt_status runStep(dlrt_session *s, bool train, const dlrt_tensor *inputs, int32_t n, dlrt_step_results *r) {
  if (!s) return fail("session must not be NULL");
  const dlrt_model *m = s->model;
  const TrainSignature &ts = m->sig.train;
  const char *what = train ? "train step" : "eval step";
  if (!ts.present) return fail(std::string("the model has no train block, so no ") + what);
  dl_entry_fn fn = train ? m->trainStep : m->evalStep;
  if (!fn) return fail(std::string("model.so has no ") + what + (ts.unavailable.empty() ? "" : ": " + ts.unavailable));
  std::map<std::string, int64_t> syms;
  if (dlrt_status st = bindInputs(m, m->allInputs, inputs, n, syms, what, s->gpu != nullptr)) return st;
  std::vector<std::vector<int64_t>> odims;
  if (dlrt_status st = valueDims(m->sig.outputs, syms, odims, "output")) return st;
  std::vector<int64_t> pdims;
  for (const std::string &e : ts.predictionDims) {
    auto v = evalDim(e, syms);
    if (!v) return fail("cannot size the predictions: dim " + e + " is not determined by the inputs");
    pdims.push_back(*v);
  }
  dlrt_step_results none{nullptr, nullptr, nullptr, 0};
  if (!r) r = &none;
  if (r->outputs || r->num_outputs)
    if (dlrt_status st = checkOutputs(m->sig.outputs, odims, r->outputs, r->num_outputs, s->gpu != nullptr)) return st;
  if (r->predictions) {
    if (!ts.predictions)
      return fail("there are no predictions: the loss is not cross_entropy or nll, nor a sum with one such term");
    if (r->predictions->dtype != DLRT_I64 || !sameShape(*r->predictions, pdims))
      return fail("predictions: expected i64" + shapeStr(pdims.data(), int(pdims.size())));
  }

  // Results the caller does not want go to scratch buffers.
  float loss = NAN;
  std::vector<HostTensor> scratch;
  scratch.reserve(m->sig.outputs.size() + 1);
  EntryArgs args;
  auto out = [&](dlrt_tensor *given, dlrt_dtype dt, const std::vector<int64_t> &dims, EntryArgs::Label label) {
    if (given) return args.out(*given, dims, label);
    scratch.emplace_back(dt, dims);
    args.out(scratch.back().data(), dims, scratch.back().bytes());
  };

  for (int32_t k = 0; k < n; ++k) args.in(inputs[k], m->sig.inputs[size_t(m->allInputs[size_t(k)])].name);
  for (HostTensor &p : s->params) args.session(p);
  int64_t seed = int64_t(s->seed), step = s->step + 1;
  double lr = s->lr;
  if (train) {
    for (auto &ps : s->slots)
      for (HostTensor &t : ps) args.session(t);
    args.in(&seed, {}, sizeof seed);
    args.in(&step, {}, sizeof step);
    args.in(&lr, {}, sizeof lr);
  }
  args.out(&loss, {}, sizeof loss);
  if (ts.predictions) out(r->predictions, DLRT_I64, pdims, {"the predictions"});
  for (size_t k = 0; k < odims.size(); ++k)
    out(r->outputs ? &r->outputs[k] : nullptr, m->sig.outputs[k].dtype, odims[k], {"output", &m->sig.outputs[k].name});
  if (train) {
    for (HostTensor &p : s->nextParams) args.session(p);
    for (auto &ps : s->nextSlots)
      for (HostTensor &t : ps) args.session(t);
  }
  EntryArgs::Copies copies;
  if (dlrt_status st = args.separateOverlaps(copies)) return st;

  std::string where = train ? "step " + std::to_string(step) : std::string("eval step");
  s->kernels.trainStep = train;
  dlrt_status st = runEntry(s, fn, args, callShapes(fn, syms), where.c_str());
  s->kernels.trainStep = false;
  if (st) return st;
  if (train && !std::isfinite(loss))
    return fail(where + ": the loss is " + std::string(std::isnan(loss) ? "nan" : "infinite") +
                "; no parameter was updated");
  if (train) {
    std::swap(s->params, s->nextParams);
    std::swap(s->slots, s->nextSlots);
    deviceTensorsWritten(s);
    s->step = step;
    ++s->kernels.paramVersion;
  }
  if (r->loss) *r->loss = loss;
  return nullptr;
}

std::string formatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

} // namespace

extern "C" {

int32_t dlrt_model_trainable(const dlrt_model *m, const char **why) {
  if (why) *why = "";
  if (!m) return 0;
  if (!m->sig.train.present) {
    if (why) *why = "the model has no train block";
    return 0;
  }
  if (!m->trainStep) {
    if (why) *why = m->sig.train.unavailable.empty() ? "model.so has no train step" : m->sig.train.unavailable.c_str();
    return 0;
  }
  return 1;
}

int32_t dlrt_model_label_input(const dlrt_model *m) {
  if (!m || !m->sig.train.predictions || m->sig.train.labels.empty()) return -1;
  for (size_t i = 0; i < m->sig.inputs.size(); ++i)
    if (m->sig.inputs[i].name == m->sig.train.labels) return int32_t(i);
  return -1;
}

dlrt_status dlrt_train_step(dlrt_session *s, const dlrt_tensor *inputs, int32_t n, dlrt_step_results *r) {
  try {
    return runStep(s, true, inputs, n, r);
  } catch (const std::exception &e) {
    return fail(std::string("train step: ") + e.what());
  }
}

dlrt_status dlrt_eval_step(dlrt_session *s, const dlrt_tensor *inputs, int32_t n, dlrt_step_results *r) {
  try {
    return runStep(s, false, inputs, n, r);
  } catch (const std::exception &e) {
    return fail(std::string("eval step: ") + e.what());
  }
}

dlrt_status dlrt_set_lr(dlrt_session *s, double lr) {
  if (!s) return fail("session must not be NULL");
  if (!(lr >= 0) || !std::isfinite(lr)) return fail("the learning rate must be a finite number >= 0, got " + formatDouble(lr));
  s->lr = lr;
  return nullptr;
}
double dlrt_get_lr(const dlrt_session *s) { return s ? s->lr : 0; }
int64_t dlrt_session_steps(const dlrt_session *s) { return s ? s->step : 0; }

dlrt_status dlrt_save_checkpoint(dlrt_session *s, const char *path, const char *user) {
  if (!s || !path) return fail("session and path must not be NULL");
  const dlrt_model *m = s->model;
  if (!m->sig.train.present) return fail("the model has no train block: save weights instead");
  if (dlrt_status st = syncHostTensors(s)) return st;
  std::vector<NamedTensor> ts;
  for (size_t i = 0; i < s->params.size(); ++i)
    ts.push_back({m->sig.params[i].name, s->params[i].dtype, s->params[i].dims, s->params[i].data()});
  for (size_t i = 0; i < s->params.size(); ++i)
    for (size_t k = 0; k < s->slots[i].size(); ++k)
      ts.push_back({"optim." + m->sig.params[i].name + "." + m->sig.train.slots[k], s->slots[i][k].dtype,
                    s->slots[i][k].dims, s->slots[i][k].data()});
  std::map<std::string, std::string> meta{{"format", "pt"},
                                          {"model", m->sig.model},
                                          {"optimizer", m->sig.train.optimizer},
                                          {"step", std::to_string(s->step)},
                                          {"lr", formatDouble(s->lr)},
                                          {"seed", std::to_string(s->seed)}};
  if (user) meta["user_state"] = user;
  std::string err;
  if (!writeSafetensors(path, ts, meta, err)) return fail(err);
  return nullptr;
}

dlrt_status dlrt_load_checkpoint(dlrt_session *s, const char *path, char **user) {
  if (!s || !path) return fail("session and path must not be NULL");
  if (user) *user = nullptr;
  const dlrt_model *m = s->model;
  if (!m->sig.train.present) return fail("the model has no train block: load weights instead");
  SafetensorsFile f;
  std::string err;
  if (!readSafetensors(path, f, err)) return fail(err);
  std::string file = std::string("'") + path + "'";
  auto opt = f.metadata.find("optimizer");
  if (opt == f.metadata.end() || !f.metadata.count("step"))
    return fail(file + " is not a training checkpoint (no optimizer state in its metadata)");
  if (opt->second != m->sig.train.optimizer)
    return fail(file + " holds " + opt->second + " state, but the model trains with " + m->sig.train.optimizer);
  std::map<std::string, const SafetensorsEntry *> byName;
  for (const SafetensorsEntry &e : f.entries) byName[e.name] = &e;
  auto find = [&](const std::string &name, const HostTensor &like, const SafetensorsEntry *&out) -> dlrt_status {
    auto it = byName.find(name);
    if (it == byName.end()) return fail(file + " lacks '" + name + "': a checkpoint of another model?");
    const SafetensorsEntry &e = *it->second;
    if (e.dtype != like.dtype || e.shape != like.dims)
      return fail(file + ": '" + name + "' is " + dtypeToSafetensors(e.dtype) + shapeStr(e.shape.data(), int(e.shape.size())) +
                  " but the model's is " + dtypeToSafetensors(like.dtype) + like.shapeStr());
    out = &e;
    return nullptr;
  };
  // Check everything first; copy only when all of it fits.
  std::vector<std::pair<HostTensor *, const SafetensorsEntry *>> copies;
  for (size_t i = 0; i < s->params.size(); ++i) {
    const SafetensorsEntry *e;
    if (dlrt_status st = find(m->sig.params[i].name, s->params[i], e)) return st;
    copies.push_back({&s->params[i], e});
    for (size_t k = 0; k < s->slots[i].size(); ++k) {
      if (dlrt_status st = find("optim." + m->sig.params[i].name + "." + m->sig.train.slots[k], s->slots[i][k], e))
        return st;
      copies.push_back({&s->slots[i][k], e});
    }
  }
  char *end = nullptr;
  const std::string &stepText = f.metadata["step"];
  long long step = std::strtoll(stepText.c_str(), &end, 10);
  if (stepText.empty() || *end || step < 0) return fail(file + ": bad step count '" + stepText + "' in its metadata");
  double lr = s->lr;
  if (f.metadata.count("lr")) lr = std::strtod(f.metadata["lr"].c_str(), nullptr);
  uint64_t seed = s->seed;
  if (f.metadata.count("seed")) seed = std::strtoull(f.metadata["seed"].c_str(), nullptr, 10);
  if (dlrt_status st = syncHostTensors(s)) return st;
  for (auto &[t, e] : copies) std::memcpy(t->data(), f.data(*e), e->bytes);
  hostTensorsWritten(s);
  s->step = step;
  s->lr = lr;
  s->seed = seed;
  ++s->kernels.paramVersion;
  if (user && f.metadata.count("user_state")) *user = strdup(f.metadata["user_state"].c_str());
  return nullptr;
}

} // extern "C"
