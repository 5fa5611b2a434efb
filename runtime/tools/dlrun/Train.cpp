//===- Train.cpp - dlrun train: the training loop around the compiled step --===//
//
// The data (every input holds all samples along axis 0), the split, the shuffled order,
// batches, validation, early stopping, metrics, logs and checkpoints, as TOOLS.md's
// training rules say; the step itself (forward, loss, backward, update) is model.so's.
// Every random choice comes from the seed: the validation split from (seed, "split"),
// each epoch's order from (seed, "shuffle", epoch), so a resumed run recomputes them.
//
//===----------------------------------------------------------------------===//
#include "Common.h"
#include "Report.h"
#include "io/Npy.h"

#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace dlrun {

namespace {

int usage(const std::string &msg) {
  std::fprintf(stderr, "dlrun: %s\n", msg.c_str());
  std::fprintf(stderr,
               "usage: dlrun train model.so --input NAME=FILE.npy ... [--weights W.safetensors]\n"
               "         [--epochs E | --steps S] [--batch N] [--shuffle | --no-shuffle] [--seed S]\n"
               "         [--val-split F [--stratify NAME]] [--early-stop PATIENCE] [--lr LR]\n"
               "         [--save W.safetensors] [--checkpoint C.safetensors] [--checkpoint-every STEPS]\n"
               "         [--resume C.safetensors] [--log train.csv] [--report report.html] [--threads N]\n"
               "         [--device cpu|cuda]\n");
  return Usage;
}

/// A permutation of 0..n-1 from (seed, purpose, counter): Fisher-Yates on a 64-bit
/// Mersenne Twister seeded by their mix (fully specified, so the same on every machine).
std::vector<int64_t> permutation(int64_t n, uint64_t seed, uint64_t purpose, uint64_t counter) {
  std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(purpose), uint32_t(counter), uint32_t(counter >> 32)};
  std::mt19937_64 g(seq);
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(g() % uint64_t(i + 1))]);
  return p;
}
constexpr uint64_t kSplit = 1, kShuffle = 2;

struct Dataset {
  std::vector<std::string> names;
  std::vector<dlrt::HostTensor> tensors; // model input order
  int64_t n = 0;
  /// The rows `idx` of every input, as one batch.
  void gather(const std::vector<int64_t> &idx, size_t lo, size_t hi, std::vector<dlrt::HostTensor> &out,
              std::vector<dlrt_tensor> &views) const {
    out.clear();
    views.clear();
    out.reserve(tensors.size());
    for (const dlrt::HostTensor &t : tensors) {
      std::vector<int64_t> dims = t.dims;
      dims[0] = int64_t(hi - lo);
      out.emplace_back(t.dtype, dims);
      size_t row = t.bytes() / size_t(t.dims[0]);
      for (size_t k = lo; k < hi; ++k)
        std::memcpy(out.back().data() + (k - lo) * row, t.data() + size_t(idx[k]) * row, row);
      views.push_back(out.back().view());
    }
  }
};

/// Integer labels of one input, as int64.
std::vector<int64_t> labelsOf(const dlrt::HostTensor &t) {
  std::vector<int64_t> v(size_t(t.numel()));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = t.dtype == DLRT_I64 ? reinterpret_cast<const int64_t *>(t.data())[i]
                               : int64_t(reinterpret_cast<const int32_t *>(t.data())[i]);
  return v;
}

struct Metrics {
  double lossSum = 0, count = 0; // loss weighted by positions
  int64_t correct = 0, positions = 0;
  double loss() const { return count ? lossSum / count : NAN; }
  double acc() const { return positions ? double(correct) / double(positions) : NAN; }
};

struct Options {
  std::string model;
  std::map<std::string, std::string> inputs;
  std::string weights, save, checkpoint, resume, log, stratify, report;
  int64_t epochs = 1, steps = -1, batch = 32, checkpointEvery = 0, earlyStop = -1;
  bool shuffle = true, haveEpochs = false;
  int device = 0; // 0 the CPU, 1 the first GPU
  uint64_t seed = 0;
  double valSplit = 0, lr = -1;
  int threads = 0;
};

int parse(int argc, char **argv, Options &o) {
  auto number = [&](int &i, const std::string &a, double &out) {
    if (i + 1 >= argc) return false;
    char *end = nullptr;
    out = std::strtod(argv[++i], &end);
    return !*end && std::isfinite(out);
  };
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    double v = 0;
    auto needInt = [&](int64_t &dst, int64_t min) {
      if (!number(i, a, v) || v != std::floor(v) || v < double(min)) return false;
      dst = int64_t(v);
      return true;
    };
    if (a == "--input" && i + 1 < argc) {
      std::string kv = argv[++i];
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return usage("--input needs NAME=FILE.npy, got '" + kv + "'");
      o.inputs[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else if (a == "--epochs") {
      if (!needInt(o.epochs, 1)) return usage("--epochs needs a positive integer");
      o.haveEpochs = true;
    } else if (a == "--steps") {
      if (!needInt(o.steps, 1)) return usage("--steps needs a positive integer");
    } else if (a == "--batch") {
      if (!needInt(o.batch, 1)) return usage("--batch needs a positive integer");
    } else if (a == "--checkpoint-every") {
      if (!needInt(o.checkpointEvery, 1)) return usage("--checkpoint-every needs a positive integer");
    } else if (a == "--early-stop") {
      if (!needInt(o.earlyStop, 1)) return usage("--early-stop needs a positive integer");
    } else if (a == "--threads") {
      int64_t t;
      if (!needInt(t, 1)) return usage("--threads needs a positive integer");
      o.threads = int(t);
    } else if (a == "--seed") {
      int64_t s;
      if (!needInt(s, 0)) return usage("--seed needs a non-negative integer");
      o.seed = uint64_t(s);
    } else if (a == "--val-split") {
      if (!number(i, a, o.valSplit) || !(o.valSplit > 0 && o.valSplit < 1)) return usage("--val-split needs a fraction in (0, 1)");
    } else if (a == "--lr") {
      if (!number(i, a, o.lr) || o.lr < 0) return usage("--lr needs a number >= 0");
    } else if (a == "--shuffle") {
      o.shuffle = true;
    } else if (a == "--no-shuffle") {
      o.shuffle = false;
    } else if ((a == "--weights" || a == "--save" || a == "--checkpoint" || a == "--resume" || a == "--log" ||
                a == "--stratify" || a == "--report" || a == "--device") &&
               i + 1 < argc) {
      std::string val = argv[++i];
      if (a == "--weights") o.weights = val;
      else if (a == "--save") o.save = val;
      else if (a == "--checkpoint") o.checkpoint = val;
      else if (a == "--resume") o.resume = val;
      else if (a == "--log") o.log = val;
      else if (a == "--stratify") o.stratify = val;
      else if (a == "--report") o.report = val;
      else if (val == "cpu" || val == "cuda") o.device = val == "cuda" ? 1 : 0;
      else return usage("--device takes cpu or cuda");
    } else if (!a.empty() && a[0] != '-' && o.model.empty()) {
      o.model = a;
    } else {
      return usage("train: unexpected argument '" + a + "'");
    }
  }
  if (o.model.empty()) return usage("train needs a model.so");
  if (o.haveEpochs && o.steps > 0) return usage("give --epochs or --steps, not both");
  if (o.earlyStop > 0 && o.valSplit <= 0) return usage("--early-stop needs a validation split (--val-split)");
  if (!o.stratify.empty() && o.valSplit <= 0) return usage("--stratify needs --val-split");
  return Ok;
}

/// The loop state a checkpoint carries in its user string, to resume exactly.
struct LoopState {
  int64_t epoch = 0, batchInEpoch = 0; // the next batch to run
  double bestLoss = INFINITY;
  int64_t badValidations = 0;
  Metrics running; // the current epoch's train metrics so far
  std::vector<EpochRecord> history; // every epoch line so far, for --report after a resume too
  nlohmann::json config;
  static nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
  static double number(const nlohmann::json &v) { return v.is_number() ? v.get<double>() : NAN; }
  std::string dump() const {
    nlohmann::json j = {{"epoch", epoch},       {"batch", batchInEpoch},       {"best_loss", bestLoss},
                        {"bad", badValidations}, {"loss_sum", running.lossSum}, {"count", running.count},
                        {"correct", running.correct}, {"positions", running.positions}, {"config", config}};
    if (!std::isfinite(bestLoss)) j["best_loss"] = nullptr;
    nlohmann::json h = nlohmann::json::array();
    for (const EpochRecord &e : history)
      h.push_back({e.epoch, e.step, number(e.trainLoss), number(e.trainAcc), number(e.valLoss), number(e.valAcc),
                   number(e.lr), number(e.seconds)});
    j["history"] = h;
    return j.dump();
  }
  void restoreHistory(const nlohmann::json &h) {
    if (!h.is_array()) return;
    for (const nlohmann::json &r : h) {
      if (!r.is_array() || r.size() != 8) continue;
      EpochRecord e;
      e.epoch = r[0].is_number_integer() ? r[0].get<int64_t>() : 0;
      e.step = r[1].is_number_integer() ? r[1].get<int64_t>() : 0;
      e.trainLoss = number(r[2]), e.trainAcc = number(r[3]), e.valLoss = number(r[4]), e.valAcc = number(r[5]);
      e.lr = number(r[6]), e.seconds = number(r[7]);
      history.push_back(e);
    }
  }
};

} // namespace

int train(int argc, char **argv) {
  Options o;
  if (int rc = parse(argc, argv, o)) return rc;

  dlrt_model *model = nullptr;
  dlrt_session *session = nullptr;
  struct Free {
    dlrt_model *&m;
    dlrt_session *&s;
    ~Free() {
      dlrt_session_free(s);
      dlrt_model_free(m);
    }
  } freeAtEnd{model, session};
  if (dlrt_status st = dlrt_model_load(o.model.c_str(), &model)) return failed(st);
  const char *why = nullptr;
  if (!dlrt_model_trainable(model, &why)) {
    std::fprintf(stderr, "dlrun: '%s' cannot be trained: %s\n", o.model.c_str(), why);
    return Failed;
  }
  dlrt_session_options so;
  dlrt_session_options_init(&so);
  so.num_threads = o.threads;
  so.seed = o.seed;
  so.device = o.device;
  if (dlrt_status st = dlrt_session_create(model, &so, &session)) return failed(st);
  if (!o.weights.empty()) {
    char *warn = nullptr;
    if (dlrt_status st = dlrt_load_weights(session, o.weights.c_str(), &warn)) return failed(st);
    if (warn) std::fprintf(stderr, "dlrun: warning: %s\n", warn);
    dlrt_string_free(warn);
  }
  if (o.lr >= 0)
    if (dlrt_status st = dlrt_set_lr(session, o.lr)) return failed(st);

  // The data.
  Dataset data;
  int labelInput = dlrt_model_label_input(model); // accuracy and the confusion matrix need labels
  for (int i = 0; i < dlrt_model_num_inputs(model); ++i) {
    dlrt_value_info v;
    dlrt_model_input(model, i, &v);
    auto it = o.inputs.find(v.name);
    if (it == o.inputs.end()) {
      std::fprintf(stderr, "dlrun: missing --input %s=FILE.npy\n", v.name);
      return Failed;
    }
    dlrt::HostTensor t;
    if (!readInput(it->second, t)) return Failed;
    if (t.dims.empty()) {
      std::fprintf(stderr, "dlrun: input '%s' holds samples along axis 0; '%s' is a scalar\n", v.name, it->second.c_str());
      return Failed;
    }
    if (data.n && t.dims[0] != data.n) {
      std::fprintf(stderr, "dlrun: input '%s' has %lld samples, '%s' has %lld\n", v.name, (long long)t.dims[0],
                   data.names[0].c_str(), (long long)data.n);
      return Failed;
    }
    data.n = t.dims[0];
    data.names.push_back(v.name);
    data.tensors.push_back(std::move(t));
    o.inputs.erase(it);
  }
  for (auto &kv : o.inputs) {
    std::fprintf(stderr, "dlrun: the model has no input '%s'\n", kv.first.c_str());
    return Failed;
  }
  if (data.n == 0) {
    std::fprintf(stderr, "dlrun: no samples\n");
    return Failed;
  }

  // The validation split.
  std::vector<int64_t> trainIdx, valIdx;
  if (o.valSplit > 0) {
    std::vector<bool> inVal(size_t(data.n), false);
    if (!o.stratify.empty()) {
      auto it = std::find(data.names.begin(), data.names.end(), o.stratify);
      if (it == data.names.end()) return usage("--stratify: the model has no input '" + o.stratify + "'");
      const dlrt::HostTensor &t = data.tensors[size_t(it - data.names.begin())];
      if (t.dims.size() != 1 || (t.dtype != DLRT_I64 && t.dtype != DLRT_I32))
        return usage("--stratify needs a 1-D integer input; '" + o.stratify + "' is " + dlrt_dtype_name(t.dtype) + t.shapeStr());
      std::vector<int64_t> labels = labelsOf(t);
      std::map<int64_t, std::vector<int64_t>> byClass;
      for (int64_t i = 0; i < data.n; ++i) byClass[labels[size_t(i)]].push_back(i);
      for (auto &[c, members] : byClass) {
        std::vector<int64_t> p = permutation(int64_t(members.size()), o.seed, kSplit, uint64_t(c));
        int64_t take = int64_t(std::llrint(o.valSplit * double(members.size()))); // Python's round: half to even
        for (int64_t k = 0; k < take; ++k) inVal[size_t(members[size_t(p[size_t(k)])])] = true;
      }
    } else {
      std::vector<int64_t> p = permutation(data.n, o.seed, kSplit, 0);
      int64_t take = int64_t(std::ceil(o.valSplit * double(data.n)));
      for (int64_t k = 0; k < take; ++k) inVal[size_t(p[size_t(k)])] = true;
    }
    for (int64_t i = 0; i < data.n; ++i) (inVal[size_t(i)] ? valIdx : trainIdx).push_back(i);
    if (trainIdx.empty()) return usage("--val-split leaves no training samples");
  } else {
    for (int64_t i = 0; i < data.n; ++i) trainIdx.push_back(i);
  }
  int64_t batchesPerEpoch = (int64_t(trainIdx.size()) + o.batch - 1) / o.batch;
  int64_t totalSteps = o.steps > 0 ? o.steps : o.epochs * batchesPerEpoch;

  LoopState state;
  state.config = {{"batch", o.batch},       {"seed", o.seed},         {"val_split", o.valSplit},
                  {"stratify", o.stratify}, {"samples", data.n},      {"shuffle", o.shuffle}};
  if (!o.resume.empty()) {
    char *user = nullptr;
    if (dlrt_status st = dlrt_load_checkpoint(session, o.resume.c_str(), &user)) return failed(st, "--resume: ");
    nlohmann::json j = nlohmann::json::parse(user ? user : "", nullptr, false);
    dlrt_string_free(user);
    if (j.is_discarded() || !j.is_object() || !j.contains("config")) {
      std::fprintf(stderr, "dlrun: --resume: '%s' was not written by dlrun train (no loop state)\n", o.resume.c_str());
      return Failed;
    }
    for (auto &[k, v] : state.config.items())
      if (j["config"].value(k, nlohmann::json()) != v) {
        std::fprintf(stderr, "dlrun: --resume: the checkpoint was made with %s = %s, this run has %s = %s\n", k.c_str(),
                     j["config"].value(k, nlohmann::json()).dump().c_str(), k.c_str(), v.dump().c_str());
        return Failed;
      }
    state.epoch = j.value("epoch", int64_t(0));
    state.batchInEpoch = j.value("batch", int64_t(0));
    state.bestLoss = j["best_loss"].is_number() ? j["best_loss"].get<double>() : INFINITY;
    state.badValidations = j.value("bad", int64_t(0));
    state.running.lossSum = j.value("loss_sum", 0.0);
    state.running.count = j.value("count", 0.0);
    state.running.correct = j.value("correct", int64_t(0));
    state.running.positions = j.value("positions", int64_t(0));
    state.restoreHistory(j.value("history", nlohmann::json()));
    if (o.lr >= 0) dlrt_set_lr(session, o.lr);
  }

  // Writers.
  for (const std::string *p : {&o.save, &o.checkpoint, &o.log, &o.report})
    if (!p->empty() && !makeParentDirs(*p)) {
      std::fprintf(stderr, "dlrun: cannot create the folder of '%s': %s\n", p->c_str(), std::strerror(errno));
      return Failed;
    }
  std::FILE *logFile = nullptr;
  if (!o.log.empty()) {
    bool append = !o.resume.empty() && access(o.log.c_str(), F_OK) == 0;
    logFile = std::fopen(o.log.c_str(), append ? "a" : "w");
    if (!logFile) {
      std::fprintf(stderr, "dlrun: cannot write '%s': %s\n", o.log.c_str(), std::strerror(errno));
      return Failed;
    }
    if (!append) std::fprintf(logFile, "epoch,step,train_loss,train_acc,val_loss,val_acc,lr,seconds\n");
  }
  struct CloseLog {
    std::FILE *&f;
    ~CloseLog() {
      if (f) std::fclose(f);
    }
  } closeLog{logFile};
  auto saveCheckpoint = [&]() -> bool {
    if (o.checkpoint.empty()) return true;
    if (dlrt_status st = dlrt_save_checkpoint(session, o.checkpoint.c_str(), state.dump().c_str())) {
      failed(st, "checkpoint: ");
      return false;
    }
    return true;
  };

  bool classification = labelInput >= 0;
  std::vector<int64_t> labelsAll = classification ? labelsOf(data.tensors[size_t(labelInput)]) : std::vector<int64_t>{};
  int64_t positionsPerSample = classification ? data.tensors[size_t(labelInput)].numel() / data.n : 1;

  // One train or eval step on the samples order[lo, hi): its loss and, for a
  // classification loss, correct predictions into `m`, the predictions into `preds`.
  std::vector<dlrt::HostTensor> batchHeld;
  std::vector<dlrt_tensor> batchViews;
  auto runBatch = [&](bool train, const std::vector<int64_t> &order, size_t lo, size_t hi, Metrics &m,
                      std::vector<int64_t> *preds) -> dlrt_status {
    data.gather(order, lo, hi, batchHeld, batchViews);
    float loss = 0;
    dlrt::HostTensor p;
    dlrt_tensor pv;
    dlrt_step_results r{&loss, nullptr, nullptr, 0};
    if (classification) {
      p = dlrt::HostTensor(DLRT_I64, batchHeld[size_t(labelInput)].dims);
      pv = p.view();
      r.predictions = &pv;
    }
    auto stepFn = train ? dlrt_train_step : dlrt_eval_step;
    if (dlrt_status st = stepFn(session, batchViews.data(), int32_t(batchViews.size()), &r)) return st;
    int64_t pos = int64_t(hi - lo) * positionsPerSample;
    m.lossSum += double(loss) * double(pos);
    m.count += double(pos);
    if (classification) {
      std::vector<int64_t> lab = labelsOf(batchHeld[size_t(labelInput)]);
      const int64_t *pp = reinterpret_cast<const int64_t *>(p.data());
      for (int64_t k = 0; k < pos; ++k) {
        m.correct += pp[k] == lab[size_t(k)];
        if (preds) preds->push_back(pp[k]);
      }
      m.positions += pos;
    }
    return nullptr;
  };
  // The eval step over `idx` in batches.
  auto evaluate = [&](const std::vector<int64_t> &idx, Metrics &m, std::vector<int64_t> *preds) -> dlrt_status {
    for (size_t lo = 0; lo < idx.size(); lo += size_t(o.batch))
      if (dlrt_status st = runBatch(false, idx, lo, std::min(idx.size(), lo + size_t(o.batch)), m, preds)) return st;
    return nullptr;
  };

  bool tty = isatty(fileno(stderr));
  auto runStart = std::chrono::steady_clock::now();
  int64_t step = dlrt_session_steps(session);
  // A checkpoint already as far as the run goes trains nothing more: said, so that a
  // run that asked for fewer epochs than the checkpoint holds does not pass silently
  // for one that stopped there.
  if (!o.resume.empty() && step >= totalSteps)
    std::fprintf(stderr,
                 "dlrun: --resume: the checkpoint has taken %lld steps, this run goes to step %lld: no step to take\n",
                 (long long)step, (long long)totalSteps);
  // Best weights for early stopping, kept in memory: each parameter's dims and bytes.
  struct Saved {
    dlrt_value_info info;
    std::vector<int64_t> dims;
    std::vector<uint8_t> bytes;
    dlrt_tensor view() { return dlrt_tensor{info.dtype, info.rank, dims.data(), bytes.data(), DLRT_HOST}; }
  };
  std::vector<Saved> best;
  auto snapshot = [&]() {
    if (best.empty())
      for (int i = 0; i < dlrt_model_num_params(model); ++i) {
        Saved p;
        dlrt_model_param(model, i, &p.info);
        size_t numel = 1;
        for (int d = 0; d < p.info.rank; ++d) {
          p.dims.push_back(std::strtoll(p.info.dims[d], nullptr, 10)); // parameter dims are constants
          numel *= size_t(p.dims.back());
        }
        p.bytes.resize(numel * dlrt_dtype_size(p.info.dtype));
        best.push_back(std::move(p));
      }
    for (Saved &p : best) {
      dlrt_tensor t = p.view();
      dlrt_get_param(session, p.info.name, &t);
    }
  };
  auto restoreBest = [&]() {
    for (Saved &p : best) {
      dlrt_tensor t = p.view();
      dlrt_set_param(session, p.info.name, &t);
    }
  };

  bool stopEarly = false;
  while (step < totalSteps && !stopEarly) {
    std::vector<int64_t> order = trainIdx;
    if (o.shuffle) {
      std::vector<int64_t> p = permutation(int64_t(trainIdx.size()), o.seed, kShuffle, uint64_t(state.epoch));
      for (size_t k = 0; k < p.size(); ++k) order[k] = trainIdx[size_t(p[k])];
    }
    auto epochStart = std::chrono::steady_clock::now();
    for (; state.batchInEpoch < batchesPerEpoch && step < totalSteps; ++state.batchInEpoch) {
      size_t lo = size_t(state.batchInEpoch * o.batch), hi = std::min(order.size(), lo + size_t(o.batch));
      if (dlrt_status st = runBatch(true, order, lo, hi, state.running, nullptr)) {
        if (tty) std::fprintf(stderr, "\n");
        return failed(st, "epoch " + std::to_string(state.epoch + 1) + ", ");
      }
      ++step;
      if (tty) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - epochStart).count();
        double done = double(state.batchInEpoch + 1) / double(batchesPerEpoch);
        int width = 24, filled = int(done * width);
        std::fprintf(stderr, "\repoch %lld [%s%s] %lld/%lld  loss %.4f  %.0f samples/s  ETA %.1fs   ",
                     (long long)state.epoch + 1, std::string(size_t(filled), '#').c_str(),
                     std::string(size_t(width - filled), '.').c_str(), (long long)state.batchInEpoch + 1,
                     (long long)batchesPerEpoch, state.running.loss(),
                     secs > 0 ? double(hi) / secs : 0.0, secs / done - secs);
      }
      if (o.checkpointEvery > 0 && step % o.checkpointEvery == 0 && step < totalSteps) {
        ++state.batchInEpoch; // the checkpoint resumes after this batch
        bool ok = saveCheckpoint();
        --state.batchInEpoch;
        if (!ok) return Failed;
      }
    }
    bool epochDone = state.batchInEpoch >= batchesPerEpoch;
    Metrics val;
    if (!valIdx.empty())
      if (dlrt_status st = evaluate(valIdx, val, nullptr)) return failed(st, "validation: ");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - epochStart).count();
    if (tty) std::fprintf(stderr, "\r%*s\r", 110, "");
    std::string line = "epoch " + std::to_string(state.epoch + 1) + "  step " + std::to_string(step);
    char buf[256];
    std::snprintf(buf, sizeof buf, "  train loss %.4f", state.running.loss());
    line += buf;
    if (classification) std::snprintf(buf, sizeof buf, " acc %.4f", state.running.acc()), line += buf;
    if (!valIdx.empty()) {
      std::snprintf(buf, sizeof buf, "  val loss %.4f", val.loss());
      line += buf;
      if (classification) std::snprintf(buf, sizeof buf, " acc %.4f", val.acc()), line += buf;
    }
    std::snprintf(buf, sizeof buf, "  lr %g  %.1fs", dlrt_get_lr(session), secs);
    line += buf;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    state.history.push_back(EpochRecord{state.epoch + 1, step, state.running.loss(), state.running.acc(), val.loss(),
                                        val.acc(), dlrt_get_lr(session), secs});
    if (logFile) {
      auto num = [](double v) { return std::isfinite(v) ? std::to_string(v) : std::string(); };
      std::fprintf(logFile, "%lld,%lld,%s,%s,%s,%s,%g,%.3f\n", (long long)state.epoch + 1, (long long)step,
                   num(state.running.loss()).c_str(), num(state.running.acc()).c_str(), num(val.loss()).c_str(),
                   num(val.acc()).c_str(), dlrt_get_lr(session), secs);
      std::fflush(logFile);
    }
    if (!valIdx.empty() && o.earlyStop > 0) {
      if (val.loss() < state.bestLoss) {
        state.bestLoss = val.loss();
        state.badValidations = 0;
        snapshot();
      } else if (++state.badValidations >= o.earlyStop) {
        std::printf("early stop: no lower validation loss in %lld validations; best %.4f restored\n",
                    (long long)o.earlyStop, state.bestLoss);
        restoreBest();
        stopEarly = true;
      }
    }
    if (epochDone) {
      ++state.epoch;
      state.batchInEpoch = 0;
      state.running = Metrics();
    }
    if (!saveCheckpoint()) return Failed;
  }
  double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - runStart).count();
  std::printf("trained %lld steps in %.1fs\n", (long long)step, total);

  ReportData report;
  if (classification) {
    // Per-class figures on the validation data if any, else on the training data.
    const std::vector<int64_t> &idx = valIdx.empty() ? trainIdx : valIdx;
    Metrics m;
    std::vector<int64_t> preds;
    if (dlrt_status st = evaluate(idx, m, &preds)) return failed(st, "evaluation: ");
    std::vector<int64_t> truth;
    for (int64_t i : idx)
      for (int64_t k = 0; k < positionsPerSample; ++k) truth.push_back(labelsAll[size_t(i * positionsPerSample + k)]);
    int64_t classes = 0;
    for (size_t k = 0; k < truth.size(); ++k) classes = std::max({classes, truth[k] + 1, preds[k] + 1});
    std::printf("%s: loss %.4f  accuracy %.4f (%lld positions)\n", valIdx.empty() ? "training data" : "validation data",
                m.loss(), m.acc(), (long long)m.positions);
    report.scores = ClassScores(truth, preds, classes);
    const ClassScores &scores = report.scores;
    std::printf("class  precision  recall     f1  support\n");
    for (int64_t c = 0; c < classes; ++c)
      std::printf("%5lld  %9.4f  %6.4f  %6.4f  %7lld\n", (long long)c, scores.precision[size_t(c)],
                  scores.recall[size_t(c)], scores.f1[size_t(c)], (long long)scores.support[size_t(c)]);
    std::printf("macro  %9.4f  %6.4f  %6.4f\n", ClassScores::macro(scores.precision), ClassScores::macro(scores.recall),
                ClassScores::macro(scores.f1));
    if (classes <= kConfusionClasses) report.confusion = confusionMatrix(truth, preds, classes);
    report.evaluatedOn = valIdx.empty() ? "training data" : "validation data";
    report.finalLoss = m.loss();
    report.finalAcc = m.acc();
    if (classes <= 20) {
      std::printf("confusion matrix (rows: true class, columns: predicted)\n");
      for (int64_t c = 0; c < classes; ++c) {
        for (int64_t k = 0; k < classes; ++k) std::printf("%6lld", (long long)report.confusion[size_t(c)][size_t(k)]);
        std::printf("\n");
      }
    }
  }
  if (!o.report.empty()) {
    report.model = dlrt_model_name(model);
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s; batch %lld, %s, seed %llu%s, final lr %g, %lld steps in %.1f s", o.model.c_str(),
                  (long long)o.batch, o.shuffle ? "shuffled" : "in order", (unsigned long long)o.seed,
                  o.valSplit > 0 ? (", validation split " + std::to_string(o.valSplit)).c_str() : "",
                  dlrt_get_lr(session), (long long)step, total);
    report.settings = buf;
    report.epochs = state.history;
    std::string err;
    if (!writeReport(o.report, report, err)) {
      std::fprintf(stderr, "dlrun: --report: %s\n", err.c_str());
      return Failed;
    }
    std::printf("report written to %s\n", o.report.c_str());
  }
  if (!o.save.empty()) {
    if (dlrt_status st = dlrt_save_weights(session, o.save.c_str())) return failed(st, "--save: ");
    std::printf("weights saved to %s\n", o.save.c_str());
  }
  return Ok;
}

} // namespace dlrun
