//===- dlrun.cpp - run a compiled model from the command line -------------===//
//
// dlrun info  model.so
// dlrun infer model.so --input x=x.npy [--weights w.safetensors] [--out-dir DIR] [--threads N]
// Exit codes: 0 ok, 1 bad input or a failed run, 2 bad usage.
//
//===----------------------------------------------------------------------===//
#include "Common.h"
#include "io/Npy.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

using namespace dlrun;

namespace {

int usage(const std::string &msg) {
  std::fprintf(stderr, "dlrun: %s\n", msg.c_str());
  std::fprintf(stderr,
               "usage: dlrun info  model.so [--batch N]\n"
               "       dlrun infer model.so --input NAME=FILE.npy ... [--weights W.safetensors]\n"
               "                   [--out-dir DIR] [--threads N] [--device cpu|cuda]\n"
               "       dlrun train model.so --input NAME=FILE.npy ... (dlrun train --help)\n"
               "       dlrun bench model.so [--batch N] [--threads N] [--seconds S] [--train] [--profile] [--device cpu|cuda]\n");
  return Usage;
}

std::string dimsStr(const dlrt_value_info &v) {
  std::string s = "[";
  for (int i = 0; i < v.rank; ++i) s += (i ? ", " : "") + std::string(v.dims[i]);
  return s + "]";
}

/// The OpenMP wait of dlrun's threads: spin this many rounds (a few hundred microseconds
/// here) for the next parallel region, then sleep.
///
/// libgomp reads its wait settings when oneDNN loads, before main. Its default spin (about
/// 300000 rounds) stalls 2-thread runs in ~4 ms steps on these VMs (notes/TOOLCHAIN.md).
/// A passive wait (no spin) cures that, but then every kernel of a call wakes the other
/// thread from sleep, up to 0.3 ms each where its vCPU has halted. A short spin covers the
/// gap between consecutive kernels. Measured with 2 threads: CNN at batch 64 0.56 ->
/// 0.48 ms, ResNet-18 at batch 1 11.6 -> 10.0 ms, LSTM at batch 32 1.76 -> 1.68 ms. The
/// cost is where processes oversubscribe the cores: a 2-thread CNN and a 2-thread ResNet-18
/// run side by side on 2 cores took 1.26 and 21 ms with the spin, 0.92-1.05 and 11.8 ms
/// with a passive wait (not the 100x of the default spin). OMP_WAIT_POLICY=passive, set by
/// the user, is respected.
///
/// 10000 rounds rather than 1000 (session 30, same minutes, two threads, 1000 / 10000):
/// a long call's kernels leave gaps that 1000 rounds do not cover (host code between them,
/// a one-thread kernel), and the worker sleeps. TinyGpt's train step at batch 16 13.4-15.4
/// -> 12.7-12.95 ms, the CNN's at batch 64 2.30-2.36 -> 2.19-2.27, LSTM inference at batch
/// 32 1.12-1.21 -> 1.04-1.12, TinyGpt at batch 1 0.47-0.48 -> 0.44-0.46; the others within
/// noise (MLP784 b64, LSTM b1, ResNet-18 b1). No stall. Oversubscribed, the CNN beside a
/// ResNet-18 took 1.23 ms with 10000 and 0.90 with 1000.
constexpr const char *kSpinRounds = "10000";

/// Re-exec once with the short spin unless the user chose a wait policy.
void ensureBoundedOpenMPWait(char **argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv("DLRUN_NO_REEXEC")) return;
  setenv("GOMP_SPINCOUNT", kSpinRounds, 1);
  setenv("DLRUN_NO_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  // If exec fails we carry on with the policy we have.
}

/// A model and one session over it, freed on every return path.
struct Loaded {
  dlrt_model *model = nullptr;
  dlrt_session *session = nullptr;
  /// `device`: 0 the CPU, 1 the first GPU.
  dlrt_status open(const std::string &path, int threads, int device = 0) {
    if (dlrt_status st = dlrt_model_load(path.c_str(), &model)) return st;
    return openSession(threads, device);
  }
  dlrt_status openSession(int threads, int device) {
    dlrt_session_options opts;
    dlrt_session_options_init(&opts);
    opts.num_threads = threads;
    opts.device = device;
    return dlrt_session_create(model, &opts, &session);
  }
  ~Loaded() {
    dlrt_session_free(session);
    dlrt_model_free(model);
  }
};

/// Sizes every output for these inputs and allocates it; `views` point into `outs`.
dlrt_status allocateOutputs(dlrt_model *m, dlrt_session *s, const std::vector<dlrt_tensor> &ins,
                            std::vector<dlrt::HostTensor> &outs, std::vector<dlrt_tensor> &views) {
  int nout = dlrt_model_num_outputs(m);
  size_t totalRank = 0;
  for (int i = 0; i < nout; ++i) {
    dlrt_value_info v;
    dlrt_model_output(m, i, &v);
    totalRank += size_t(v.rank);
  }
  std::vector<int64_t> dims(totalRank + 1);
  if (dlrt_status st = dlrt_output_shapes(s, ins.data(), int32_t(ins.size()), dims.data(), dims.size())) return st;
  size_t k = 0;
  for (int i = 0; i < nout; ++i) {
    dlrt_value_info v;
    dlrt_model_output(m, i, &v);
    outs.emplace_back(v.dtype, std::vector<int64_t>(dims.begin() + k, dims.begin() + k + v.rank));
    k += size_t(v.rank);
  }
  for (auto &o : outs) views.push_back(o.view());
  return nullptr;
}

/// Inputs for timing and planning: every symbolic dim is `batch`, floats are uniform in
/// [-1, 1) from a fixed seed, integers (token ids) are 0. `held` owns the data.
void syntheticInputs(dlrt_model *m, int64_t batch, std::vector<dlrt::HostTensor> &held, std::vector<dlrt_tensor> &ins,
                     bool withTrainOnly = false) {
  held.reserve(dlrt_model_num_inputs(m));
  uint32_t seed = 1;
  for (int i = 0; i < dlrt_model_num_inputs(m); ++i) {
    dlrt_value_info v;
    dlrt_model_input(m, i, &v);
    if (v.train_only && !withTrainOnly) continue;
    std::vector<int64_t> dims;
    for (int d = 0; d < v.rank; ++d) {
      char *end = nullptr;
      long long n = std::strtoll(v.dims[d], &end, 10);
      dims.push_back(*end ? batch : n);
    }
    held.emplace_back(v.dtype, dims);
    if (v.dtype == DLRT_F32) {
      float *p = reinterpret_cast<float *>(held.back().data());
      for (int64_t k = 0; k < held.back().numel(); ++k) {
        seed = seed * 1664525u + 1013904223u;
        p[k] = float(seed >> 8) / float(1 << 24) * 2.0f - 1.0f;
      }
    }
    ins.push_back(held.back().view());
  }
}

std::string bytesStr(size_t bytes) {
  char buf[32];
  if (bytes < (1 << 20)) std::snprintf(buf, sizeof buf, "%.1f KiB", double(bytes) / 1024);
  else std::snprintf(buf, sizeof buf, "%.2f MiB", double(bytes) / (1 << 20));
  return buf;
}

void printArena(dlrt_session *s) {
  std::printf("arena: %s planned by liveness (lower bound: %s alive at once)\n",
              bytesStr(dlrt_session_arena_size(s)).c_str(), bytesStr(dlrt_session_arena_peak(s)).c_str());
}

/// Says so where the last inference ran on slices of the batch side by side.
void printBatchSlices(dlrt_session *s) {
  if (int32_t n = dlrt_session_batch_slices(s); n > 1)
    std::printf("batch: split into %d slices, one per thread (the model keeps samples apart)\n", int(n));
}

int info(const char *path, int64_t batch) {
  Loaded loaded;
  if (dlrt_status st = dlrt_model_load(path, &loaded.model)) return failed(st);
  dlrt_model *m = loaded.model;
  nlohmann::json sig = nlohmann::json::parse(dlrt_model_signature(m), nullptr, false);
  std::string target = sig.is_object() ? sig.value("target", "cpu") : "cpu";
  if (target == "cuda" && sig.contains("gpu")) {
    std::string archs;
    for (const auto &a : sig["gpu"]["archs"]) archs += (archs.empty() ? "" : ", ") + a.get<std::string>();
    target += " (PTX for " + archs + "; " + std::to_string(sig["gpu"]["kernels"].size()) + " kernels)";
  }
  std::printf("model    %s\nfile     %s\ntarget   %s\nabi      %d\n", dlrt_model_name(m), path, target.c_str(),
              dlrt_model_abi_version(m));
  if (dlrt_model_has_weights(m)) std::printf("weights  baked into the model (dlc --weights)\n");
  // Compiled with --precision bf16: whether this machine's CPU runs it so.
  if (sig.is_object() && sig.value("precision", "fp32") == "bf16")
    std::printf("precision bf16 (%s)\n", std::string(dlrt_model_precision(m)) == "bf16"
                                               ? "dense, matmul and convolutions: bf16 operands, fp32 accumulation"
                                               : "this CPU has no bf16 units: runs fp32");
  // The plugins whose run-time parts the model calls (loading it found them).
  if (sig.is_object() && sig.contains("plugins"))
    for (const auto &p : sig["plugins"])
      std::printf("plugin   %s %d.%d (%s, kernel ABI %d)\n", p.value("name", "").c_str(), p.value("major", 0),
                  p.value("minor", 0), p.value("file", "").c_str(), p.value("abi", 0));
  dlrt_value_info v;
  std::printf("inputs\n");
  for (int i = 0; i < dlrt_model_num_inputs(m); ++i) {
    dlrt_model_input(m, i, &v);
    std::printf("  %-20s %-5s %s%s\n", v.name, dlrt_dtype_name(v.dtype), dimsStr(v).c_str(),
                v.train_only ? "  (train only)" : "");
  }
  std::printf("outputs\n");
  for (int i = 0; i < dlrt_model_num_outputs(m); ++i) {
    dlrt_model_output(m, i, &v);
    std::printf("  %-20s %-5s %s\n", v.name, dlrt_dtype_name(v.dtype), dimsStr(v).c_str());
  }
  std::printf("parameters\n");
  int64_t total = 0;
  for (int i = 0; i < dlrt_model_num_params(m); ++i) {
    dlrt_model_param(m, i, &v);
    int64_t n = 1;
    for (int d = 0; d < v.rank; ++d) n *= std::atoll(v.dims[d]);
    total += n;
    std::printf("  %-28s %-5s %s%s\n", v.name, dlrt_dtype_name(v.dtype), dimsStr(v).c_str(), v.buffer ? "  (buffer)" : "");
  }
  std::printf("total parameters: %lld\n", (long long)total);
  // What a call needs of the sizes it is given (the compiler's size checks).
  if (sig.is_object() && sig.contains("requires") && !sig["requires"].empty()) {
    std::printf("requires\n");
    for (const auto &r : sig["requires"]) {
      int64_t atLeast = r.value("at_least", int64_t(0)), multiple = r.value("multiple_of", int64_t(1));
      std::string what = r.value("size", "");
      if (atLeast > 0 || multiple == 1) what += " >= " + std::to_string(atLeast);
      if (multiple > 1) what += std::string(atLeast > 0 ? " and" : "") + " a multiple of " + std::to_string(multiple);
      std::printf("  %-28s %s: %s\n", what.c_str(), r.value("where", "").c_str(), r.value("why", "").c_str());
    }
  }

  // The arena's size depends on the input shapes: plan it with one call at `batch`, on
  // the device the model is for.
  bool cuda = sig.is_object() && sig.value("target", "cpu") == "cuda";
  if (dlrt_status st = loaded.openSession(1, cuda ? 1 : 0)) {
    std::printf("arena: not planned (%s)\n", dlrt_status_message(st));
    dlrt_status_free(st);
    return Ok;
  }
  std::vector<dlrt::HostTensor> held, outs;
  std::vector<dlrt_tensor> ins, views;
  syntheticInputs(m, batch, held, ins);
  // A call the sizes break (a kernel larger than a symbolic image of `batch` rows: the
  // needs listed above) fails as any other does; --batch picks other sizes.
  if (dlrt_status st = allocateOutputs(m, loaded.session, ins, outs, views)) return failed(st);
  if (dlrt_status st = dlrt_infer(loaded.session, ins.data(), int32_t(ins.size()), views.data(), int32_t(views.size())))
    return failed(st);
  std::printf("with every symbolic dim = %lld:\n", (long long)batch);
  printArena(loaded.session);
  return Ok;
}

int infer(int argc, char **argv) {
  std::string modelPath, weights, outDir = ".", device = "cpu";
  std::map<std::string, std::string> inputs;
  int threads = 0;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char *flag) -> const char * {
      if (i + 1 >= argc) return nullptr;
      (void)flag;
      return argv[++i];
    };
    if (a == "--input") {
      const char *v = value("--input");
      if (!v) return usage("--input needs NAME=FILE.npy");
      std::string s = v;
      size_t eq = s.find('=');
      if (eq == std::string::npos || eq == 0) return usage("--input needs NAME=FILE.npy, got '" + s + "'");
      inputs[s.substr(0, eq)] = s.substr(eq + 1);
    } else if (a == "--weights") {
      const char *v = value("--weights");
      if (!v) return usage("--weights needs a file");
      weights = v;
    } else if (a == "--out-dir") {
      const char *v = value("--out-dir");
      if (!v) return usage("--out-dir needs a directory");
      outDir = v;
    } else if (a == "--threads") {
      const char *v = value("--threads");
      char *end = nullptr;
      if (!v || (threads = int(std::strtol(v, &end, 10)), *end) || threads < 1) return usage("--threads needs a positive integer");
    } else if (a == "--device") {
      const char *v = value("--device");
      if (!v) return usage("--device needs cpu or cuda");
      device = v;
      if (device != "cpu" && device != "cuda") return usage("--device takes cpu or cuda");
    } else if (!a.empty() && a[0] == '-') {
      return usage("unknown option '" + a + "'");
    } else if (modelPath.empty()) {
      modelPath = a;
    } else {
      return usage("unexpected argument '" + a + "'");
    }
  }
  if (modelPath.empty()) return usage("infer needs a model.so");

  Loaded loaded;
  if (dlrt_status st = loaded.open(modelPath, threads, device == "cuda" ? 1 : 0)) return failed(st);
  dlrt_model *m = loaded.model;
  dlrt_session *s = loaded.session;
  if (!weights.empty()) {
    char *warn = nullptr;
    if (dlrt_status st = dlrt_load_weights(s, weights.c_str(), &warn)) return failed(st);
    if (warn) {
      std::fprintf(stderr, "dlrun: warning: %s\n", warn);
      dlrt_string_free(warn);
    }
  } else if (!dlrt_model_has_weights(m) && dlrt_model_num_params(m) > 0) {
    // Predictions of untrained weights are rarely what was meant.
    std::fprintf(stderr, "dlrun: warning: no --weights and none baked into the model: running freshly "
                         "initialised weights (seed 0)\n");
  }

  std::vector<dlrt::HostTensor> held;
  std::vector<dlrt_tensor> ins;
  held.reserve(dlrt_model_num_inputs(m));
  for (int i = 0; i < dlrt_model_num_inputs(m); ++i) {
    dlrt_value_info v;
    dlrt_model_input(m, i, &v);
    auto it = inputs.find(v.name);
    if (v.train_only) {
      if (it != inputs.end()) inputs.erase(it); // labels are harmless for inference
      continue;
    }
    if (it == inputs.end()) {
      std::fprintf(stderr, "dlrun: missing --input %s=FILE.npy (%s %s)\n", v.name, dlrt_dtype_name(v.dtype), dimsStr(v).c_str());
      return Failed;
    }
    dlrt::HostTensor t;
    if (!readInput(it->second, t)) return Failed;
    held.push_back(std::move(t));
    ins.push_back(held.back().view());
    inputs.erase(it);
  }
  for (auto &kv : inputs) {
    std::fprintf(stderr, "dlrun: the model has no input '%s'\n", kv.first.c_str());
    return Failed;
  }

  int nout = dlrt_model_num_outputs(m);
  std::vector<dlrt::HostTensor> outs;
  std::vector<dlrt_tensor> outViews;
  if (dlrt_status st = allocateOutputs(m, s, ins, outs, outViews)) return failed(st);
  auto t0 = std::chrono::steady_clock::now();
  if (dlrt_status st = dlrt_infer(s, ins.data(), int32_t(ins.size()), outViews.data(), nout)) return failed(st);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!makeDirs(outDir)) {
    std::fprintf(stderr, "dlrun: cannot create --out-dir '%s': %s\n", outDir.c_str(), std::strerror(errno));
    return Failed;
  }
  for (int i = 0; i < nout; ++i) {
    dlrt_value_info v;
    dlrt_model_output(m, i, &v);
    std::string path = outDir + "/" + v.name + ".npy";
    std::string err;
    if (!dlrt::writeNpy(path, outs[i].dtype, outs[i].dims, outs[i].data(), err)) {
      std::fprintf(stderr, "dlrun: %s\n", err.c_str());
      return Failed;
    }
    std::printf("%-16s %-5s %-16s -> %s\n", v.name, dlrt_dtype_name(v.dtype), outs[i].shapeStr().c_str(), path.c_str());
  }
  std::printf("inference: %.3f ms (first call: primitives are created)\n", ms);
  printBatchSlices(s);
  printArena(s);
  return Ok;
}


/// Runs `run` `warmup` times untimed, then times it until `seconds` have passed (at least
/// 20 and at most 2000 runs), into `times` in ms, sorted. Returns the first failure.
dlrt_status timeRuns(const std::function<dlrt_status()> &run, int warmup, double seconds, std::vector<double> &times) {
  times.clear();
  for (int it = 0; it < warmup; ++it)
    if (dlrt_status st = run()) return st;
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    if (dlrt_status st = run()) return st;
    auto t1 = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    if (times.size() >= 2000 || (times.size() >= 20 && std::chrono::duration<double>(t1 - start).count() > seconds)) break;
  }
  std::sort(times.begin(), times.end());
  return nullptr;
}

/// bench --profile: runs as many more times with profiling on and prints the time per op
/// of the dl graph, the op with the most time first.
int printProfile(dlrt_session *s, const std::function<dlrt_status()> &run, size_t runs, double p50) {
  if (dlrt_status st = dlrt_session_set_profiling(s, 1)) return failed(st);
  for (size_t it = 0; it < runs; ++it)
    if (dlrt_status st = run()) return failed(st);
  int32_t n = dlrt_session_profile(s, nullptr, 0);
  std::vector<dlrt_profile_entry> entries(size_t(std::max(n, 0)));
  dlrt_session_profile(s, entries.data(), n);
  dlrt_session_set_profiling(s, 0);
  double total = 0;
  for (const dlrt_profile_entry &e : entries) total += e.seconds;
  double perRun = total * 1e3 / double(runs);
  std::printf("profile: %zu runs; %.4f ms per run in %d ops of the dl graph (p50 without profiling: %.4f ms)\n", runs,
              perRun, n, p50);
  std::printf("%10s %7s %9s  %s\n", "ms/run", "share", "calls/run", "op");
  for (const dlrt_profile_entry &e : entries)
    std::printf("%10.4f %6.1f%% %9.3g  %s\n", e.seconds * 1e3 / double(runs), total > 0 ? 100.0 * e.seconds / total : 0.0,
                double(e.calls) / double(runs), e.op);
  return Ok;
}

/// dlrun bench: latency percentiles and throughput of inference (or train steps) on
/// random inputs. Every symbolic dim is set to --batch.
int bench(int argc, char **argv) {
  std::string modelPath;
  int64_t batch = 32;
  int threads = 1;
  double seconds = 2.0;
  bool trainMode = false, profile = false;
  int device = 0;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--device" && i + 1 < argc) {
      std::string v = argv[++i];
      if (v != "cpu" && v != "cuda") return usage("--device takes cpu or cuda");
      device = v == "cuda" ? 1 : 0;
    } else if (a == "--seconds" && i + 1 < argc) {
      char *end = nullptr;
      seconds = std::strtod(argv[++i], &end);
      if (*end || !(seconds > 0)) return usage("--seconds needs a positive number");
    } else if ((a == "--batch" || a == "--threads") && i + 1 < argc) {
      char *end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end || v < 1) return usage(a + " needs a positive integer");
      if (a == "--batch") batch = v;
      else threads = int(v);
    } else if (a == "--train") {
      trainMode = true;
    } else if (a == "--profile") {
      profile = true;
    } else if (!a.empty() && a[0] != '-' && modelPath.empty()) {
      modelPath = a;
    } else {
      return usage("bench: unexpected argument '" + a + "'");
    }
  }
  if (modelPath.empty()) return usage("bench needs a model.so");
  Loaded loaded;
  if (dlrt_status st = loaded.open(modelPath, threads, device)) return failed(st);
  dlrt_model *m = loaded.model;
  dlrt_session *s = loaded.session;
  std::vector<dlrt::HostTensor> held;
  std::vector<dlrt_tensor> ins;
  std::vector<dlrt::HostTensor> outs;
  std::vector<dlrt_tensor> views;
  std::function<dlrt_status()> run;
  if (trainMode) {
    // Train steps on synthetic data (labels 0, valid for any class count): the learning
    // rate is set to 0 so that the weights, and so the work, stay the same throughout.
    const char *why = nullptr;
    if (!dlrt_model_trainable(m, &why)) {
      std::fprintf(stderr, "dlrun: bench --train: %s\n", why);
      return Failed;
    }
    syntheticInputs(m, batch, held, ins, /*withTrainOnly=*/true);
    dlrt_set_lr(s, 0.0);
    run = [&] { return dlrt_train_step(s, ins.data(), int32_t(ins.size()), nullptr); };
  } else {
    syntheticInputs(m, batch, held, ins);
    if (dlrt_status st = allocateOutputs(m, s, ins, outs, views)) return failed(st);
    run = [&] { return dlrt_infer(s, ins.data(), int32_t(ins.size()), views.data(), int32_t(views.size())); };
  }
  std::vector<double> times;
  if (dlrt_status st = timeRuns(run, trainMode ? 5 : 10, seconds, times)) return failed(st);
  auto pct = [&](double q) { return times[std::min(times.size() - 1, size_t(q * double(times.size())))]; };
  std::printf("model %s  %sbatch %lld  threads %d  runs %zu\n", dlrt_model_name(m), trainMode ? "train step  " : "",
              (long long)batch, threads, times.size());
  std::printf("latency ms: p50 %.4f  p90 %.4f  p99 %.4f  min %.4f\n", pct(0.5), pct(0.9), pct(0.99), times.front());
  std::printf("throughput: %.1f samples/s\n", double(batch) * 1000.0 / pct(0.5));
  if (!trainMode) printBatchSlices(s);
  printArena(s);
  if (profile) return printProfile(s, run, times.size(), pct(0.5));
  return Ok;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) return usage("missing command");
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h") {
    usage("run, inspect and (later) train compiled models");
    return Ok;
  }
  if (cmd == "info") {
    int64_t batch = 1;
    if (argc == 5 && std::string(argv[3]) == "--batch") {
      char *end = nullptr;
      batch = std::strtoll(argv[4], &end, 10);
      if (*end || batch < 1) return usage("--batch needs a positive integer");
    } else if (argc != 3) {
      return usage("info takes one model.so and optionally --batch N");
    }
    ensureBoundedOpenMPWait(argv);
    return info(argv[2], batch);
  }
  if (cmd == "infer") {
    ensureBoundedOpenMPWait(argv);
    return infer(argc - 2, argv + 2);
  }
  if (cmd == "bench") {
    ensureBoundedOpenMPWait(argv);
    return bench(argc - 2, argv + 2);
  }
  if (cmd == "train") {
    ensureBoundedOpenMPWait(argv);
    return dlrun::train(argc - 2, argv + 2);
  }
  return usage("unknown command '" + cmd + "'");
}
