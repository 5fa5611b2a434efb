// Sessions on several threads over one model: every inference and every train step of
// each session bit-equal to the same calls made serially on one session. What may be
// shared: a dlrt_model (immutable after loading) by any number of threads and sessions;
// what may not: a session, which one thread uses at a time.
#include "dlrt/dlrt.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct InputSpec {
  dlrt_dtype dtype;
  std::vector<int64_t> dims;
  int64_t bound; // i64 inputs: values in [0, bound)
  bool trainOnly;
};

struct Case {
  const char *path;
  std::vector<InputSpec> inputs;
};

/// Input `k` of call `call`: a deterministic function of both.
std::vector<uint8_t> inputData(const InputSpec &s, int call, int k) {
  int64_t n = 1;
  for (int64_t d : s.dims) n *= d;
  std::vector<uint8_t> out(size_t(n) * (s.dtype == DLRT_I64 ? 8 : 4));
  uint32_t state = uint32_t(call * 7919 + k * 104729 + 1);
  for (int64_t i = 0; i < n; ++i) {
    state = state * 1664525u + 1013904223u;
    if (s.dtype == DLRT_I64) {
      int64_t v = int64_t(state >> 8) % s.bound;
      std::memcpy(out.data() + i * 8, &v, 8);
    } else {
      float v = float(state >> 8) / float(1 << 24) * 2.0f - 1.0f;
      std::memcpy(out.data() + i * 4, &v, 4);
    }
  }
  return out;
}

/// The bytes of everything a sequence of calls produced: `inferences` inferences, then
/// `steps` train steps (each step's loss), then every parameter.
std::vector<std::vector<uint8_t>> run(const dlrt::Model &model, const Case &c, int inferences, int steps,
                                      uint64_t seed = 0) {
  dlrt::Session session(model, /*threads=*/1, seed);
  std::vector<std::vector<uint8_t>> results;
  auto tensors = [&](int call, bool train, std::vector<std::vector<uint8_t>> &held) {
    std::vector<dlrt_tensor> ts;
    held.clear();
    for (size_t k = 0; k < c.inputs.size(); ++k) {
      if (c.inputs[k].trainOnly && !train) continue;
      held.push_back(inputData(c.inputs[k], call, int(k)));
    }
    size_t h = 0;
    for (const InputSpec &s : c.inputs) {
      if (s.trainOnly && !train) continue;
      ts.push_back({s.dtype, int32_t(s.dims.size()), s.dims.data(), held[h++].data(), DLRT_HOST});
    }
    return ts;
  };
  std::vector<std::vector<uint8_t>> held;
  for (int i = 0; i < inferences; ++i) {
    std::vector<dlrt_tensor> in = tensors(i, false, held);
    std::vector<std::vector<int64_t>> shapes = session.outputShapes(in);
    std::vector<std::vector<float>> bufs;
    std::vector<dlrt_tensor> outs;
    for (auto &s : shapes) {
      int64_t n = 1;
      for (int64_t d : s) n *= d;
      bufs.emplace_back(size_t(n));
    }
    for (size_t k = 0; k < shapes.size(); ++k)
      outs.push_back({DLRT_F32, int32_t(shapes[k].size()), shapes[k].data(), bufs[k].data(), DLRT_HOST});
    session.infer(in, outs);
    for (auto &b : bufs) results.emplace_back(reinterpret_cast<uint8_t *>(b.data()),
                                              reinterpret_cast<uint8_t *>(b.data() + b.size()));
  }
  for (int i = 0; i < steps; ++i) {
    std::vector<dlrt_tensor> in = tensors(1000 + i, true, held);
    float loss = 0;
    dlrt_step_results r{&loss, nullptr, nullptr, 0};
    dlrt::check(dlrt_train_step(session.get(), in.data(), int32_t(in.size()), &r));
    results.emplace_back(reinterpret_cast<uint8_t *>(&loss), reinterpret_cast<uint8_t *>(&loss + 1));
  }
  for (int p = 0; p < model.numParams(); ++p) {
    dlrt_value_info v = model.param(p);
    std::vector<int64_t> dims;
    int64_t n = 1;
    for (int d = 0; d < v.rank; ++d) dims.push_back(std::stoll(v.dims[d])), n *= dims.back();
    std::vector<uint8_t> data(size_t(n) * dlrt_dtype_size(v.dtype));
    dlrt_tensor t{v.dtype, v.rank, dims.data(), data.data(), DLRT_HOST};
    session.getParam(v.name, t);
    results.push_back(std::move(data));
  }
  return results;
}

void checkConcurrent(const Case &c, int threads, int inferences, int steps) {
  dlrt::Model model(c.path);
  std::vector<std::vector<uint8_t>> serial = run(model, c, inferences, steps);
  INFO(c.path);
  // The comparison can fail: every call left its bytes, and another seed changes them.
  REQUIRE(serial.size() >= size_t(inferences + steps + model.numParams()));
  CHECK(run(model, c, inferences, steps, /*seed=*/1) != serial);
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      try {
        if (run(model, c, inferences, steps) != serial) ++mismatches;
      } catch (const std::exception &) {
        ++failures;
      }
    });
  for (auto &t : pool) t.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
}

} // namespace

TEST_CASE("runtime: one model, sessions on 4 threads, results bit-equal to a serial run") {
  // CI's size: 4 threads x 50 inferences and 5 train steps per model. By hand, longer:
  // DLC_CONCURRENCY_CALLS=1000 (and a tenth as many train steps).
  const char *env = std::getenv("DLC_CONCURRENCY_CALLS");
  int calls = env ? std::atoi(env) : 50;
  const std::vector<Case> cases = {
      {DLC_TEST_MODEL, {{DLRT_F32, {2, 64}, 0, false}, {DLRT_I64, {2}, 10, true}}},
      {DLC_TEST_CNN, {{DLRT_F32, {2, 1, 28, 28}, 0, false}, {DLRT_I64, {2}, 10, true}}},
      {DLC_TEST_GPT, {{DLRT_I64, {2, 64}, 256, false}, {DLRT_I64, {2, 64}, 256, true}}},
      {DLC_TEST_LSTM, {{DLRT_F32, {2, 8, 32}, 0, false}, {DLRT_I64, {2}, 10, true}}},
  };
  for (const Case &c : cases) checkConcurrent(c, 4, calls, std::max(5, calls / 10));
}
