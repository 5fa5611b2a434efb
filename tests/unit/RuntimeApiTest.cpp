#include "dlrt/dlrt.hpp"
#include "dlrt/model_abi.h"
#include "io/Safetensors.h"

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cmath>
#include <fstream>
#include <map>
#include <cstring>

static std::string tmp(const std::string &name) { return std::string(DLC_TEST_TMP) + "/" + name; }

static std::string message(dlrt_status st) {
  std::string m = st ? dlrt_status_message(st) : "";
  dlrt_status_free(st);
  return m;
}

TEST_CASE("runtime: load a model and read its signature") {
  dlrt::Model m(DLC_TEST_MODEL);
  CHECK(m.name() == "Mlp");
  REQUIRE(m.numInputs() == 2);
  CHECK(std::string(m.input(0).name) == "x");
  CHECK(std::string(m.input(0).dims[0]) == "B");
  CHECK(m.input(1).train_only == 1);
  REQUIRE(m.numOutputs() == 2);
  CHECK(std::string(m.output(1).name) == "probs");
  CHECK(m.numParams() == 6);
  CHECK(dlrt_model_abi_version(m.get()) == DLRT_MODEL_ABI_VERSION);
  CHECK(std::string(dlrt_model_precision(m.get())) == "fp32"); // compiled without --precision
  CHECK(std::string(dlrt_model_precision(nullptr)) == "fp32");
  dlrt_value_info v;
  CHECK(message(dlrt_model_param(m.get(), 99, &v)).find("out of range") != std::string::npos);
}

TEST_CASE("runtime: bad model files are errors, not crashes") {
  dlrt_model *m = nullptr;
  CHECK(message(dlrt_model_load("/nonexistent/model.so", &m)).find("cannot load model") != std::string::npos);
  CHECK(m == nullptr);
  CHECK(message(dlrt_model_load("libm.so.6", &m)).find("cannot load") != std::string::npos);
  CHECK(message(dlrt_model_load("/lib/x86_64-linux-gnu/libm.so.6", &m)).find("not a model compiled by dlc") !=
        std::string::npos);
  CHECK(message(dlrt_model_load(nullptr, &m)).find("must not be NULL") != std::string::npos);
}

TEST_CASE("runtime: inference, output shapes, and checked inputs") {
  dlrt::Model m(DLC_TEST_MODEL);
  dlrt::Session s(m, 1, 7);
  std::vector<float> x(3 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i));
  int64_t xd[] = {3, 64};
  std::vector<dlrt_tensor> in = {{DLRT_F32, 2, xd, x.data(), DLRT_HOST}};
  auto shapes = s.outputShapes(in);
  REQUIRE(shapes == std::vector<std::vector<int64_t>>{{3, 10}, {3, 10}});
  std::vector<float> logits(30), probs(30);
  int64_t od[] = {3, 10};
  std::vector<dlrt_tensor> out = {{DLRT_F32, 2, od, logits.data(), DLRT_HOST}, {DLRT_F32, 2, od, probs.data(), DLRT_HOST}};
  s.infer(in, out);
  for (int b = 0; b < 3; ++b) {
    double sum = 0;
    for (int c = 0; c < 10; ++c) sum += probs[b * 10 + c];
    CHECK(sum == Approx(1.0).epsilon(1e-5));
  }

  int64_t wrong[] = {3, 63};
  std::vector<dlrt_tensor> bad = {{DLRT_F32, 2, wrong, x.data(), DLRT_HOST}};
  CHECK(message(dlrt_infer(s.get(), bad.data(), 1, out.data(), 2)).find("expected shape [B, 64], got [3, 63]") !=
        std::string::npos);
  bad[0].dtype = DLRT_I64;
  CHECK(message(dlrt_infer(s.get(), bad.data(), 1, out.data(), 2)).find("expected dtype f32") != std::string::npos);
  int64_t od2[] = {2, 10};
  std::vector<dlrt_tensor> badOut = {{DLRT_F32, 2, od2, logits.data(), DLRT_HOST}, out[1]};
  CHECK(message(dlrt_infer(s.get(), in.data(), 1, badOut.data(), 2)).find("expected shape [3, 10]") != std::string::npos);
  CHECK(message(dlrt_infer(s.get(), in.data(), 2, out.data(), 2)).find("takes 1 inputs") != std::string::npos);
  // The session is still usable after failed calls, and results are deterministic.
  std::vector<float> again(30);
  std::vector<dlrt_tensor> out2 = {{DLRT_F32, 2, od, again.data(), DLRT_HOST}, out[1]};
  s.infer(in, out2);
  CHECK(std::memcmp(again.data(), logits.data(), 30 * sizeof(float)) == 0);
  // Intermediates (the hidden layers, 3x128 and 3x64 floats) came from the session's arena.
  size_t peak = dlrt_session_arena_peak(s.get());
  CHECK(peak >= (3 * 128 + 3 * 64) * sizeof(float));
  s.infer(in, out2);
  CHECK(dlrt_session_arena_peak(s.get()) == peak);
}

TEST_CASE("runtime: a profile gives time per op of the dl graph, the longest first") {
  dlrt::Model m(DLC_TEST_MODEL);
  dlrt::Session s(m, 1, 7);
  std::vector<float> x(5 * 64, 0.5f), logits(50), probs(50);
  int64_t xd[] = {5, 64}, od[] = {5, 10};
  std::vector<dlrt_tensor> in = {{DLRT_F32, 2, xd, x.data(), DLRT_HOST}};
  std::vector<dlrt_tensor> out = {{DLRT_F32, 2, od, logits.data(), DLRT_HOST}, {DLRT_F32, 2, od, probs.data(), DLRT_HOST}};
  s.infer(in, out);
  CHECK(dlrt_session_profile(s.get(), nullptr, 0) == 0); // off by default
  CHECK(dlrt_session_profile(nullptr, nullptr, 4) == 0);

  CHECK(dlrt_session_set_profiling(s.get(), 1) == nullptr);
  CHECK(dlrt_session_profile(s.get(), nullptr, 0) == 0);
  for (int i = 0; i < 3; ++i) s.infer(in, out);
  int32_t n = dlrt_session_profile(s.get(), nullptr, 0);
  CHECK(dlrt_session_profile(s.get(), nullptr, 8) == n); // no array: counts, writes nothing
  std::vector<dlrt_profile_entry> entries(size_t(n) + 1);
  REQUIRE(dlrt_session_profile(s.get(), entries.data(), n + 1) == n);
  entries.resize(size_t(n));
  // samples/mlp/mlp.dl: three dense layers, two relus and a softmax, each run once per call.
  std::vector<std::string> names;
  for (const dlrt_profile_entry &e : entries) {
    names.push_back(e.op);
    CHECK(e.calls == 3);
    CHECK(e.seconds >= 0);
  }
  for (const char *op : {"dense at ", "relu at ", "softmax at "})
    CHECK(std::count_if(names.begin(), names.end(), [&](const std::string &name) {
            return name.rfind(op, 0) == 0 && name.find("mlp.dl:") != std::string::npos;
          }) == (std::string(op) == "dense at " ? 3 : std::string(op) == "relu at " ? 2 : 1));
  for (size_t i = 1; i < entries.size(); ++i) CHECK(entries[i - 1].seconds >= entries[i].seconds);
  // A smaller capacity gets the longest ones.
  dlrt_profile_entry first;
  CHECK(dlrt_session_profile(s.get(), &first, 1) == n);
  CHECK(std::string(first.op) == names.front());

  // Turning it on again starts afresh; off, nothing is kept.
  CHECK(dlrt_session_set_profiling(s.get(), 1) == nullptr);
  s.infer(in, out);
  dlrt_session_profile(s.get(), entries.data(), n);
  for (const dlrt_profile_entry &e : entries) CHECK(e.calls == 1);
  CHECK(dlrt_session_set_profiling(s.get(), 0) == nullptr);
  s.infer(in, out);
  CHECK(dlrt_session_profile(s.get(), nullptr, 0) == 0);
  CHECK(message(dlrt_session_set_profiling(nullptr, 1)).find("NULL") != std::string::npos);
}

TEST_CASE("runtime: seeded initialisation follows PyTorch's bounds and is reproducible") {
  dlrt::Model m(DLC_TEST_MODEL);
  dlrt::Session a(m, 1, 42), b(m, 1, 42), c(m, 1, 43);
  std::vector<float> wa(128 * 64), wb(128 * 64), wc(128 * 64);
  int64_t d[] = {128, 64};
  dlrt_tensor ta{DLRT_F32, 2, d, wa.data(), DLRT_HOST}, tb{DLRT_F32, 2, d, wb.data(), DLRT_HOST},
      tc{DLRT_F32, 2, d, wc.data(), DLRT_HOST};
  a.getParam("h1.weight", ta);
  b.getParam("h1.weight", tb);
  c.getParam("h1.weight", tc);
  CHECK(wa == wb);
  CHECK(wa != wc);
  float lo = 1, hi = -1;
  for (float v : wa) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo >= -0.125f);
  CHECK(hi <= 0.125f);
  CHECK(hi - lo > 0.24f); // U(-1/sqrt(64), 1/sqrt(64)) covers its range
}

TEST_CASE("runtime: parameters by name, weights through safetensors") {
  dlrt::Model m(DLC_TEST_MODEL);
  dlrt::Session s(m, 1, 1);
  std::vector<float> bias(10, 0.25f);
  int64_t bd[] = {10};
  dlrt_tensor t{DLRT_F32, 1, bd, bias.data(), DLRT_HOST};
  s.setParam("logits.bias", t);
  s.saveWeights(tmp("w.safetensors"));

  dlrt::Session r(m, 1, 2);
  r.loadWeights(tmp("w.safetensors"));
  std::vector<float> back(10);
  dlrt_tensor tb{DLRT_F32, 1, bd, back.data(), DLRT_HOST};
  r.getParam("logits.bias", tb);
  CHECK(back == bias);

  int64_t wrongd[] = {11};
  dlrt_tensor wrong{DLRT_F32, 1, wrongd, bias.data(), DLRT_HOST};
  CHECK(message(dlrt_set_param(s.get(), "logits.bias", &wrong)).find("f32[10]") != std::string::npos);
  CHECK(message(dlrt_set_param(s.get(), "nope", &t)).find("no parameter named 'nope'") != std::string::npos);

  // A file that lacks a parameter is refused and changes nothing.
  std::vector<float> w(10, 9.0f);
  std::string err;
  REQUIRE(dlrt::writeSafetensors(tmp("partial.safetensors"), {{"logits.bias", DLRT_F32, {10}, w.data()}}, {}, err));
  CHECK(message(dlrt_load_weights(r.get(), tmp("partial.safetensors").c_str(), nullptr)).find("lacks parameters") !=
        std::string::npos);
  r.getParam("logits.bias", tb);
  CHECK(back == bias);

  // Unexpected keys are a warning that names them.
  dlrt::SafetensorsFile f;
  REQUIRE(dlrt::readSafetensors(tmp("w.safetensors"), f, err));
  std::vector<dlrt::NamedTensor> all;
  for (auto &e : f.entries) all.push_back({e.name, e.dtype, e.shape, f.data(e)});
  all.push_back({"extra.thing", DLRT_F32, {10}, w.data()});
  REQUIRE(dlrt::writeSafetensors(tmp("extra.safetensors"), all, {}, err));
  char *warn = nullptr;
  REQUIRE(dlrt_load_weights(r.get(), tmp("extra.safetensors").c_str(), &warn) == nullptr);
  REQUIRE(warn);
  CHECK(std::string(warn).find("extra.thing") != std::string::npos);
  dlrt_string_free(warn);
}

TEST_CASE("runtime: weights kept in oneDNN's layouts follow loads and sets") {
  // Convolution weights are reordered into blocked layouts and cached; a later load or
  // set must reach the next call.
  dlrt::Model m(DLC_TEST_CNN);
  dlrt::Session a(m, 1, 1), b(m, 1, 2);
  std::vector<float> x(2 * 28 * 28);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.01f * float(i));
  int64_t xd[] = {2, 1, 28, 28}, od[] = {2, 10};
  std::vector<dlrt_tensor> in = {{DLRT_F32, 4, xd, x.data(), DLRT_HOST}};
  auto run = [&](dlrt::Session &s) {
    std::vector<float> y(20);
    std::vector<dlrt_tensor> out = {{DLRT_F32, 2, od, y.data(), DLRT_HOST}};
    s.infer(in, out);
    return y;
  };
  std::vector<float> ya = run(a), yb = run(b);
  REQUIRE(ya != yb);
  b.saveWeights(tmp("cnn_b.safetensors"));
  a.loadWeights(tmp("cnn_b.safetensors"));
  CHECK(run(a) == yb);

  // set_param: zero the first convolution's weight; its output is then its bias alone.
  std::vector<float> zeros(16 * 9, 0.0f);
  int64_t wd[] = {16, 1, 3, 3};
  dlrt_tensor w{DLRT_F32, 4, wd, zeros.data(), DLRT_HOST};
  b.setParam("c1.weight", w);
  a.setParam("c1.weight", w);
  std::vector<float> za = run(a), zb = run(b);
  CHECK(za == zb);
  CHECK(za != yb);

  // The dense layer's packed weight follows a set too: zero weight leaves only the bias.
  std::vector<float> zw(10 * 1568, 0.0f), bias(10);
  int64_t zwd[] = {10, 1568}, bd[] = {10};
  dlrt_tensor zt{DLRT_F32, 2, zwd, zw.data(), DLRT_HOST}, bt{DLRT_F32, 1, bd, bias.data(), DLRT_HOST};
  a.setParam("logits.weight", zt);
  a.getParam("logits.bias", bt);
  std::vector<float> only = run(a);
  for (int i = 0; i < 2; ++i)
    for (int c = 0; c < 10; ++c) CHECK(only[i * 10 + c] == bias[c]);
  // The head reads the last pooling's NHWC output, its weight's columns permuted to match
  // (nhwc_input): a non-zero weight set later is permuted again.
  std::vector<float> headB(10 * 1568);
  dlrt_tensor ht{DLRT_F32, 2, zwd, headB.data(), DLRT_HOST};
  b.getParam("logits.weight", ht);
  a.setParam("logits.weight", ht);
  CHECK(run(a) == run(b));
}

TEST_CASE("runtime: an output may overlap an input (computing in place), not another output") {
  // The CNN at batch 64 on two threads: the first call runs whole, learns, and runs again
  // as two slices of the batch, each writing its logits before the other reads its images;
  // the train step's backward pass reads the images after the forward wrote the logits.
  // With the logits written over the images (at their start or their end), every result
  // must be what separate buffers give, bit for bit.
  dlrt::Model m(DLC_TEST_CNN);
  const int64_t n = 64;
  std::vector<float> x(size_t(n) * 28 * 28), y(size_t(n) * 10);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.002f * float(i)) + 0.1f * std::cos(0.37f * float(i));
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[size_t(i)] = (i * 7) % 10;
  int64_t xd[] = {n, 1, 28, 28}, od[] = {n, 10}, ld[] = {n};
  for (size_t at : {size_t(0), x.size() - y.size()}) {
    CAPTURE(at);
    dlrt::Session apart(m, 2, 3), inPlace(m, 2, 3);
    std::vector<float> xs = x;
    std::vector<dlrt_tensor> in = {{DLRT_F32, 4, xd, xs.data(), DLRT_HOST}};
    std::vector<dlrt_tensor> out = {{DLRT_F32, 2, od, y.data(), DLRT_HOST}};
    apart.infer(in, out);
    std::vector<float> xo = x;
    std::vector<dlrt_tensor> inO = {{DLRT_F32, 4, xd, xo.data(), DLRT_HOST}};
    std::vector<dlrt_tensor> outO = {{DLRT_F32, 2, od, xo.data() + at, DLRT_HOST}};
    inPlace.infer(inO, outO);
    CHECK(dlrt_session_batch_slices(inPlace.get()) == dlrt_session_batch_slices(apart.get()));
    CHECK(std::memcmp(xo.data() + at, y.data(), y.size() * sizeof(float)) == 0);

    // A train step, its logits written over its images.
    std::vector<dlrt_tensor> step = {{DLRT_F32, 4, xd, xs.data(), DLRT_HOST}, {DLRT_I64, 1, ld, labels.data(), DLRT_HOST}};
    float lossA = 0, lossB = 0;
    dlrt_step_results ra{&lossA, nullptr, out.data(), 1};
    REQUIRE(message(dlrt_train_step(apart.get(), step.data(), 2, &ra)).empty());
    xo = x;
    std::vector<dlrt_tensor> stepO = {{DLRT_F32, 4, xd, xo.data(), DLRT_HOST},
                                      {DLRT_I64, 1, ld, labels.data(), DLRT_HOST}};
    dlrt_step_results rb{&lossB, nullptr, outO.data(), 1};
    REQUIRE(message(dlrt_train_step(inPlace.get(), stepO.data(), 2, &rb)).empty());
    CHECK(lossA == lossB);
    CHECK(std::memcmp(xo.data() + at, y.data(), y.size() * sizeof(float)) == 0);
    std::vector<float> wa(16 * 9), wb(16 * 9);
    int64_t wd[] = {16, 1, 3, 3};
    dlrt_tensor ta{DLRT_F32, 4, wd, wa.data(), DLRT_HOST}, tb{DLRT_F32, 4, wd, wb.data(), DLRT_HOST};
    apart.getParam("c1.weight", ta);
    inPlace.getParam("c1.weight", tb);
    CHECK(wa == wb);
  }

  // Two outputs in one buffer: an error naming both, and the session stays usable.
  dlrt::Model mlp(DLC_TEST_MODEL);
  dlrt::Session s(mlp, 1, 7);
  std::vector<float> v(3 * 64, 0.5f), both(35), other(30);
  int64_t vd[] = {3, 64}, pd[] = {3, 10};
  std::vector<dlrt_tensor> in = {{DLRT_F32, 2, vd, v.data(), DLRT_HOST}};
  std::vector<dlrt_tensor> shared = {{DLRT_F32, 2, pd, both.data(), DLRT_HOST},
                                     {DLRT_F32, 2, pd, both.data() + 5, DLRT_HOST}};
  std::string msg = message(dlrt_infer(s.get(), in.data(), 1, shared.data(), 2));
  CHECK(msg.find("output 'logits' and output 'probs' share memory") != std::string::npos);
  shared[1].data = other.data();
  CHECK(message(dlrt_infer(s.get(), in.data(), 1, shared.data(), 2)).empty());
}

TEST_CASE("runtime: the arena is planned by liveness per input shape and replayed exactly") {
  dlrt::Model m(DLC_TEST_CNN);
  auto run = [&](dlrt::Session &s, int64_t n) {
    std::vector<float> x(size_t(n) * 28 * 28), y(size_t(n) * 10);
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.003f * float(i));
    int64_t xd[] = {n, 1, 28, 28}, od[] = {n, 10};
    std::vector<dlrt_tensor> in = {{DLRT_F32, 4, xd, x.data(), DLRT_HOST}};
    std::vector<dlrt_tensor> out = {{DLRT_F32, 2, od, y.data(), DLRT_HOST}};
    s.infer(in, out);
    return y;
  };
  // Each batch size planned on its first call, then replayed while the sizes alternate:
  // the results equal those of a session that saw only that size.
  dlrt::Session s(m, 1, 5);
  std::map<int64_t, std::vector<float>> first;
  for (int64_t n : {2, 5, 2, 5, 3, 2, 3}) {
    std::vector<float> y = run(s, n);
    if (!first.count(n)) {
      dlrt::Session alone(m, 1, 5);
      first[n] = run(alone, n);
    }
    CHECK(y == first[n]);
  }
  // The plan for the largest batch: conv2's output (5x32x14x14 floats) alone is 125 KiB
  // (conv1's never exists: it is pooled as it is computed); packing by liveness stays
  // within 10% of the most bytes alive at once.
  size_t planned = dlrt_session_arena_size(s.get()), bound = dlrt_session_arena_peak(s.get());
  CHECK(bound >= size_t(5 * 32 * 14 * 14) * sizeof(float));
  CHECK(planned >= bound);
  CHECK(double(planned) <= 1.1 * double(bound));
}

TEST_CASE("runtime: two threads compute what one does, while the thread policy learns and after") {
  // Batch 64 puts nearly all of the CNN's work in parallel-sized kernels: the first call
  // runs with the per-kernel limit and learns that later ones run as two slices of the
  // batch side by side (the compiler marks the CNN separable), each on one thread; so it
  // runs again as they will, and every call returns the same bits.
  dlrt::Model m(DLC_TEST_CNN);
  dlrt::Session one(m, 1, 9), two(m, 2, 9);
  std::vector<float> x(64 * 28 * 28), y1(640), y2(640);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.002f * float(i));
  int64_t xd[] = {64, 1, 28, 28}, od[] = {64, 10};
  std::vector<dlrt_tensor> in = {{DLRT_F32, 4, xd, x.data(), DLRT_HOST}};
  std::vector<dlrt_tensor> out1 = {{DLRT_F32, 2, od, y1.data(), DLRT_HOST}};
  std::vector<dlrt_tensor> out2 = {{DLRT_F32, 2, od, y2.data(), DLRT_HOST}};
  one.infer(in, out1);
  CHECK(dlrt_session_batch_slices(one.get()) == 1);
  std::vector<float> firstCall;
  for (int call = 0; call < 3; ++call) {
    std::fill(y2.begin(), y2.end(), 0.0f);
    two.infer(in, out2);
    CHECK(dlrt_session_batch_slices(two.get()) == 2);
    for (size_t i = 0; i < y1.size(); ++i) REQUIRE(y2[i] == Approx(y1[i]).margin(1e-6).epsilon(1e-5));
    if (call == 0) firstCall = y2;
    CHECK(y2 == firstCall);
  }
  // Under a memory limit the session keeps to one arena: whole calls again, same numbers.
  REQUIRE(message(dlrt_session_set_memory_limit(two.get(), 64u << 20)).empty());
  std::fill(y2.begin(), y2.end(), 0.0f);
  two.infer(in, out2);
  CHECK(dlrt_session_batch_slices(two.get()) == 1);
  for (size_t i = 0; i < y1.size(); ++i) REQUIRE(y2[i] == Approx(y1[i]).margin(1e-6).epsilon(1e-5));
}

TEST_CASE("runtime: plugin run-time parts, and a plugin kernel's error") {
  // The model's folder lacks libchecks_rt.so and DLRT_PLUGIN_PATH is not set here: the
  // load fails, naming the plugin and where it looked.
  unsetenv("DLRT_PLUGIN_PATH");
  dlrt_model *m = nullptr;
  std::string err = message(dlrt_model_load(DLC_TEST_PLUGIN_MODEL, &m));
  CHECK(err.find("needs plugin 'checks' 1.0") != std::string::npos);
  CHECK(err.find("libchecks_rt.so") != std::string::npos);
  CHECK(m == nullptr);
  CHECK(message(dlrt_add_plugin_dir(nullptr)).find("must be a folder") != std::string::npos);
  dlrt::addPluginDir(DLC_TEST_PLUGIN_DIR);

  dlrt::Model model(DLC_TEST_PLUGIN_MODEL);
  dlrt::Session session(model, 2, 0);
  std::vector<int64_t> dims = {3, 4};
  std::vector<float> good(12), out(12);
  for (int i = 0; i < 12; ++i) good[i] = float(i + 1);
  std::vector<float> bad = good;
  bad[6] = -5;
  auto run = [&](std::vector<float> &x) {
    std::vector<dlrt_tensor> in = {{DLRT_F32, 2, dims.data(), x.data(), DLRT_HOST}};
    std::vector<dlrt_tensor> outs = {{DLRT_F32, 2, dims.data(), out.data(), DLRT_HOST}};
    return message(dlrt_infer(session.get(), in.data(), 1, outs.data(), 1));
  };
  // The kernel's message, after the layer's source location; then the session runs on.
  err = run(bad);
  CHECK(err.find("assert_positive at ") != std::string::npos);
  CHECK(err.find("checked.dl:4:7") != std::string::npos);
  CHECK(err.find("element 6 is -5, not > 0") != std::string::npos);
  CHECK(run(good).empty());
  CHECK(out == good);
}

namespace {
/// cnn's logits for a batch of `n` images, or the call's error message.
std::string cnnInfer(dlrt_session *s, int64_t n, std::vector<float> &logits) {
  std::vector<float> x(size_t(n * 28 * 28));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 17) / 17.0f;
  std::vector<int64_t> xd = {n, 1, 28, 28}, ld = {n, 10};
  logits.assign(size_t(n * 10), 0.0f);
  dlrt_tensor in{DLRT_F32, 4, xd.data(), x.data(), DLRT_HOST};
  dlrt_tensor out{DLRT_F32, 2, ld.data(), logits.data(), DLRT_HOST};
  return message(dlrt_infer(s, &in, 1, &out, 1));
}
} // namespace

TEST_CASE("runtime: an allocation past the memory limit fails the call, and the session goes on") {
  dlrt::Model model(DLC_TEST_CNN);
  std::vector<float> want1, want64, got;
  size_t small = 0;
  {
    dlrt::Session ref(model, 1, 0);
    REQUIRE(cnnInfer(ref.get(), 1, want1).empty());
    small = dlrt_session_arena_size(ref.get());
    REQUIRE(cnnInfer(ref.get(), 64, want64).empty());
    REQUIRE(dlrt_session_arena_size(ref.get()) > 4 * small);
  }
  dlrt::Session s(model, 1, 0);
  REQUIRE(message(dlrt_session_set_memory_limit(s.get(), 2 * small)).empty());
  // A batch of 64 needs more: the call fails with a message instead of writing through a
  // null pointer; twice, so that the failed call left no broken plan behind.
  for (int round = 0; round < 2; ++round) {
    std::string err = cnnInfer(s.get(), 64, got);
    CHECK(err.find("out of memory") != std::string::npos);
    CHECK(err.find("limit") != std::string::npos);
  }
  // A batch of 1 fits, with the results a session without a limit gives.
  CHECK(cnnInfer(s.get(), 1, got).empty());
  CHECK(got == want1);
  CHECK(cnnInfer(s.get(), 1, got).empty());
  CHECK(got == want1);
  // Without the limit, the big batch runs again.
  REQUIRE(message(dlrt_session_set_memory_limit(s.get(), 0)).empty());
  CHECK(cnnInfer(s.get(), 64, got).empty());
  CHECK(got == want64);
}

TEST_CASE("runtime: weights that cannot be written whole leave the previous file intact") {
  // A file-size limit makes every write past it fail (EFBIG, with SIGXFSZ ignored): the
  // save must fail with a message and the old file stay as it was (written to a temporary
  // file, renamed over the old one only once complete).
  dlrt::Model model(DLC_TEST_MODEL);
  dlrt::Session s(model, 1, 0);
  std::string path = tmp("limited.safetensors");
  REQUIRE(message(dlrt_save_weights(s.get(), path.c_str())).empty());
  std::ifstream before(path, std::ios::binary);
  std::string old((std::istreambuf_iterator<char>(before)), {});
  REQUIRE(old.size() > 4096);

  struct rlimit saved;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto oldHandler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit tight = saved;
  tight.rlim_cur = 4096;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &tight) == 0);
  std::string err = message(dlrt_save_weights(s.get(), path.c_str()));
  std::string ckErr = message(dlrt_save_checkpoint(s.get(), path.c_str(), "state"));
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, oldHandler);

  CHECK(!err.empty());
  CHECK(!ckErr.empty());
  std::ifstream after(path, std::ios::binary);
  std::string now((std::istreambuf_iterator<char>(after)), {});
  CHECK(now == old);
  // With room again, the save goes through.
  CHECK(message(dlrt_save_weights(s.get(), path.c_str())).empty());
}

TEST_CASE("runtime: a step's predictions are torch.argmax's: the first maximum, the first NaN") {
  // Scores reach the loss unchanged (tests/unit/models/scores.dl: x + dense(z), z and the
  // layer zero), 37 classes: a vector of 16 or 8 lanes, then a remainder.
  dlrt::Model m(DLC_TEST_SCORES);
  dlrt::Session s(m, 1, 1);
  const int64_t C = 37;
  std::vector<float> zeroW(C), zeroB(C);
  int64_t wd[] = {C, 1}, bd[] = {C};
  dlrt_tensor wt{DLRT_F32, 2, wd, zeroW.data(), DLRT_HOST}, bt{DLRT_F32, 1, bd, zeroB.data(), DLRT_HOST};
  s.setParam("dense.weight", wt);
  s.setParam("dense.bias", bt);

  const float nan = std::nanf(""), inf = INFINITY;
  struct Row {
    std::vector<std::pair<int64_t, float>> set; // on a row of -1s
    int64_t want;
  };
  const std::vector<Row> rows = {
      {{}, 0},                                        // all equal: the first
      {{{36, 2.f}}, 36},                              // the last, in the remainder
      {{{5, 3.f}, {20, 3.f}, {33, 3.f}}, 5},          // ties: the first
      {{{20, 3.f}, {33, 3.f}}, 20},                   // ties across the vector and the remainder
      {{{3, 9.f}, {17, nan}, {30, nan}}, 17},         // a NaN beats every number: the first NaN
      {{{34, nan}}, 34},                              // a NaN in the remainder
      {{{9, inf}, {11, inf}}, 9},                     // infinities tie too
      {{{0, -inf}, {1, 0.5f}}, 1},                    //
      {{{16, 1e-30f}, {15, 0.f}}, 16},                // tiny differences count
  };
  const int64_t B = int64_t(rows.size());
  std::vector<float> x(size_t(B * C), -1.f), z(size_t(B), 0.f);
  for (int64_t r = 0; r < B; ++r)
    for (auto [c, v] : rows[size_t(r)].set) x[size_t(r * C + c)] = v;
  std::vector<int64_t> labels(size_t(B), 0), got(size_t(B), -7);
  int64_t xd[] = {B, C}, zd[] = {B, 1}, ld[] = {B};
  std::vector<dlrt_tensor> in{{DLRT_F32, 2, xd, x.data(), DLRT_HOST},
                              {DLRT_F32, 2, zd, z.data(), DLRT_HOST},
                              {DLRT_I64, 1, ld, labels.data(), DLRT_HOST}};
  dlrt_tensor pt{DLRT_I64, 1, ld, got.data(), DLRT_HOST};
  s.evalStep(in, &pt);
  for (int64_t r = 0; r < B; ++r) {
    INFO("row " << r);
    CHECK(got[size_t(r)] == rows[size_t(r)].want);
  }
}
