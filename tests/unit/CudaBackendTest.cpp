// The runtime's CUDA backend against a stand-in driver (fake_cuda/FakeCuda.cpp) that
// records every call and checks what a GPU would refuse or be corrupted by: module
// loads, allocations, copies, launches with kernel names, grid sizes and arguments.
// Generated kernels do not run, so their numbers are checked only on a GPU against
// PyTorch (tests/gpu/run.sh); cuBLAS's products and cuDNN's convolutions are computed by
// the stand-in, so dense, matmul and conv2d are checked here by their numbers.
#include "dlrt/dlrt.h"

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

// Before any session: the runtime loads the driver, cuBLAS and cuDNN once per process.
// The stand-in is all three; it computes cuBLAS's products and cuDNN's convolutions on
// its host-backed device memory.
const int driverChosen = setenv("DLRT_CUDA_DRIVER", DLC_FAKE_CUDA, 1) + setenv("DLRT_CUBLAS", DLC_FAKE_CUDA, 1) +
                         setenv("DLRT_CUDNN", DLC_FAKE_CUDA, 1);

struct Fake {
  const char *(*log)();
  const char *(*violations)();
  long (*liveBytes)();
  void (*reset)();
  int (*alloc)(unsigned long long *, size_t); // cuMemAlloc_v2
  int (*free)(unsigned long long);             // cuMemFree_v2
  Fake() {
    void *h = dlopen(DLC_FAKE_CUDA, RTLD_NOW | RTLD_LOCAL);
    REQUIRE(h);
    log = reinterpret_cast<const char *(*)()>(dlsym(h, "fake_cuda_log"));
    violations = reinterpret_cast<const char *(*)()>(dlsym(h, "fake_cuda_violations"));
    liveBytes = reinterpret_cast<long (*)()>(dlsym(h, "fake_cuda_live_bytes"));
    reset = reinterpret_cast<void (*)()>(dlsym(h, "fake_cuda_reset_log"));
    alloc = reinterpret_cast<int (*)(unsigned long long *, size_t)>(dlsym(h, "cuMemAlloc_v2"));
    free = reinterpret_cast<int (*)(unsigned long long)>(dlsym(h, "cuMemFree_v2"));
    REQUIRE((log && violations && liveBytes && reset && alloc && free));
  }
  std::vector<std::string> lines(const std::string &prefix) const {
    std::vector<std::string> out;
    std::istringstream in(log());
    for (std::string l; std::getline(in, l);)
      if (l.rfind(prefix, 0) == 0) out.push_back(l);
    return out;
  }
};

std::string message(dlrt_status st) {
  std::string m = st ? dlrt_status_message(st) : "";
  dlrt_status_free(st);
  return m;
}

struct Loaded {
  dlrt_model *model = nullptr;
  dlrt_session *session = nullptr;
  explicit Loaded(const char *path, int device = 1) {
    REQUIRE(message(dlrt_model_load(path, &model)) == "");
    dlrt_session_options o;
    dlrt_session_options_init(&o);
    o.device = device;
    o.seed = 3;
    std::string err = message(dlrt_session_create(model, &o, &session));
    INFO(err);
    REQUIRE(session);
  }
  ~Loaded() {
    dlrt_session_free(session);
    dlrt_model_free(model);
  }
  std::vector<std::string> kernels() const {
    auto sig = nlohmann::json::parse(dlrt_model_signature(model));
    return sig["gpu"]["kernels"].get<std::vector<std::string>>();
  }
};

/// The MLP (x: [B, 64] -> logits, probs: [B, 10]) at batch `b`.
struct MlpCall {
  int64_t b;
  std::vector<float> x, logits, probs;
  std::vector<int64_t> labels;
  int64_t xd[2], od[2], ld[1];
  std::vector<dlrt_tensor> in, out, trainIn;
  explicit MlpCall(int64_t batch) : b(batch), x(size_t(batch) * 64, 0.5f), logits(size_t(batch) * 10, -1.0f),
                                     probs(size_t(batch) * 10, -1.0f), labels(size_t(batch), 3) {
    xd[0] = b, xd[1] = 64, od[0] = b, od[1] = 10, ld[0] = b;
    in = {{DLRT_F32, 2, xd, x.data(), DLRT_HOST}};
    trainIn = {{DLRT_F32, 2, xd, x.data(), DLRT_HOST}, {DLRT_I64, 1, ld, labels.data(), DLRT_HOST}};
    out = {{DLRT_F32, 2, od, logits.data(), DLRT_HOST}, {DLRT_F32, 2, od, probs.data(), DLRT_HOST}};
  }
};

int count(const std::vector<std::string> &lines, const std::string &line) {
  return int(std::count(lines.begin(), lines.end(), line));
}

} // namespace

TEST_CASE("cuda: inference loads the PTX, launches the model's kernels on device memory, copies results back") {
  (void)driverChosen;
  Fake fake;
  fake.reset();
  long before = fake.liveBytes();
  {
    Loaded l(DLC_TEST_MLP_CUDA);
    auto modules = fake.lines("module ");
    REQUIRE(modules.size() == 1);
    CHECK(modules[0].rfind("module sm_90 ", 0) == 0); // the newest image the device runs
    MlpCall c(4);
    fake.reset();
    REQUIRE(message(dlrt_infer(l.session, c.in.data(), 1, c.out.data(), 2)) == "");
    CHECK(std::string(fake.violations()) == "");
    auto launches = fake.lines("launch ");
    CHECK(launches.size() >= 5);
    std::set<std::string> names;
    for (const std::string &k : l.kernels()) names.insert(k);
    for (const std::string &line : launches) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      INFO(line);
      CHECK(names.count(name) == 1);
      CHECK(line.find(" block 256,1,1 ") != std::string::npos);
    }
    // The input went up once and, on this first call, every parameter and Adam slot (of
    // 128x64 floats: h1.weight and h2.weight, two slots each); both outputs came down.
    auto up = fake.lines("htod "), down = fake.lines("dtoh ");
    CHECK(count(up, "htod " + std::to_string(4 * 64 * 4)) == 1);
    CHECK(count(up, "htod " + std::to_string(128 * 64 * 4)) == 6);
    CHECK(down == std::vector<std::string>{"dtoh 160", "dtoh 160"});
    // Kernels do not run here: the outputs are the zeroed device memory, not what the
    // caller's buffers held before.
    CHECK(c.logits[0] == 0.0f);

    // A second call: the parameters stay on the device; a batch of 1 launches smaller grids.
    MlpCall c1(1);
    fake.reset();
    REQUIRE(message(dlrt_infer(l.session, c1.in.data(), 1, c1.out.data(), 2)) == "");
    CHECK(std::string(fake.violations()) == "");
    CHECK(fake.lines("htod ") == std::vector<std::string>{"htod 256"});

    // A profile waits for each op's kernels and charges them to it.
    REQUIRE(dlrt_session_set_profiling(l.session, 1) == nullptr);
    REQUIRE(message(dlrt_infer(l.session, c1.in.data(), 1, c1.out.data(), 2)) == "");
    CHECK(std::string(fake.violations()) == "");
    std::vector<dlrt_profile_entry> entries(64);
    int32_t n = dlrt_session_profile(l.session, entries.data(), 64);
    CHECK(n >= 5);
    entries.resize(size_t(std::min(n, 64)));
    CHECK(std::count_if(entries.begin(), entries.end(), [](const dlrt_profile_entry &e) {
            return std::string(e.op).rfind("dense at ", 0) == 0 && e.calls == 1;
          }) == 3);
  }
  // The session gave back every byte of device memory it took.
  CHECK(fake.liveBytes() == before);
}

TEST_CASE("cuda: a train step stays on the device, the host copy follows when read, writes go back up") {
  Fake fake;
  Loaded l(DLC_TEST_MLP_CUDA);
  MlpCall c(6);
  float loss = -1;
  dlrt_step_results r{&loss, nullptr, nullptr, 0};
  fake.reset();
  REQUIRE(message(dlrt_train_step(l.session, c.trainIn.data(), 2, &r)) == "");
  CHECK(std::string(fake.violations()) == "");
  // The label check reads the labels back from the device (6 i64); the loss and the
  // predictions (6 i64) come down.
  auto down = fake.lines("dtoh ");
  CHECK(count(down, "dtoh 48") == 2);
  CHECK(count(down, "dtoh 4") == 1);
  CHECK(loss == 0.0f); // the zeroed loss buffer: the fake runs no kernel
  size_t launches = fake.lines("launch ").size();
  CHECK(launches > 20); // forward, backward, Adam

  // Reading a parameter brings the parameters and slots down once (6 parameters, 12
  // slots); a second read copies nothing.
  fake.reset();
  std::vector<float> w(10 * 64);
  int64_t wd[] = {10, 64};
  dlrt_tensor wt{DLRT_F32, 2, wd, w.data(), DLRT_HOST};
  REQUIRE(message(dlrt_get_param(l.session, "logits.weight", &wt)) == "");
  CHECK(fake.lines("dtoh ").size() == 18);
  fake.reset();
  REQUIRE(message(dlrt_get_param(l.session, "logits.weight", &wt)) == "");
  CHECK(fake.lines("dtoh ").empty());

  // A write on the host goes up before the next call.
  REQUIRE(message(dlrt_set_param(l.session, "logits.weight", &wt)) == "");
  fake.reset();
  REQUIRE(message(dlrt_infer(l.session, c.in.data(), 1, c.out.data(), 2)) == "");
  CHECK(count(fake.lines("htod "), "htod " + std::to_string(10 * 64 * 4)) >= 1);
  CHECK(std::string(fake.violations()) == "");
}

TEST_CASE("cuda: device-memory inputs go to the kernels as they are") {
  Fake fake;
  Loaded l(DLC_TEST_MLP_CUDA);
  MlpCall c(2);
  MlpCall warm(2);
  REQUIRE(message(dlrt_infer(l.session, warm.in.data(), 1, warm.out.data(), 2)) == "");
  unsigned long long dev = 0;
  REQUIRE(fake.alloc(&dev, 2 * 64 * 4) == 0);
  c.in[0].data = reinterpret_cast<void *>(dev);
  c.in[0].memory = DLRT_DEVICE;
  fake.reset();
  REQUIRE(message(dlrt_infer(l.session, c.in.data(), 1, c.out.data(), 2)) == "");
  CHECK(fake.lines("htod ").empty());
  // x goes to the first layer's cuBLAS product as it is.
  bool seen = false;
  for (const std::string &line : fake.lines("gemm "))
    if (line.find(" " + std::to_string(dev) + " ") != std::string::npos) seen = true;
  CHECK(seen);
  // An output over that input in device memory: the runtime copies overlapped inputs on
  // the host only, so this is refused rather than computed from a half-overwritten x.
  c.out[0].data = reinterpret_cast<void *>(dev);
  c.out[0].memory = DLRT_DEVICE;
  CHECK(message(dlrt_infer(l.session, c.in.data(), 1, c.out.data(), 2))
            .find("output 'logits' overlaps input 'x' in device memory") != std::string::npos);
  CHECK(std::string(fake.violations()) == "");
  CHECK(fake.free(dev) == 0);
}

TEST_CASE("cuda: failures are errors naming what failed, and the session stays usable") {
  Fake fake;
  {
    Loaded l(DLC_TEST_MLP_CUDA);
    MlpCall c(3);
    fake.reset();
    setenv("FAKE_CUDA_FAIL_LAUNCH", "2", 1);
    std::string err = message(dlrt_infer(l.session, c.in.data(), 1, c.out.data(), 2));
    unsetenv("FAKE_CUDA_FAIL_LAUNCH");
    INFO(err);
    CHECK(err.find("inference failed") != std::string::npos);
    CHECK(err.find("CUDA_ERROR_LAUNCH_FAILED") != std::string::npos);
    CHECK(err.find("infer_kernel") != std::string::npos);
    CHECK(fake.lines("launch ").size() == 2); // nothing launched after the failure
    fake.reset();
    CHECK(message(dlrt_infer(l.session, c.in.data(), 1, c.out.data(), 2)) == "");
  }
  dlrt_model *m = nullptr;
  REQUIRE(message(dlrt_model_load(DLC_TEST_MLP_CUDA, &m)) == "");
  dlrt_session_options o;
  dlrt_session_options_init(&o);
  dlrt_session *s = nullptr;
  CHECK(message(dlrt_session_create(m, &o, &s)).find("compiled with --target cuda") != std::string::npos);
  o.device = 2;
  CHECK(message(dlrt_session_create(m, &o, &s)).find("there is no CUDA device 1") != std::string::npos);
  o.device = 1;
  setenv("FAKE_CUDA_CC", "75", 1);
  CHECK(message(dlrt_session_create(m, &o, &s)).find("older than every architecture the model carries PTX for (sm_80, sm_90)") !=
        std::string::npos);
  setenv("FAKE_CUDA_CC", "80", 1);
  REQUIRE(message(dlrt_session_create(m, &o, &s)) == "");
  unsetenv("FAKE_CUDA_CC");
  CHECK(fake.lines("module ").back().rfind("module sm_80 ", 0) == 0);
  dlrt_session_free(s);
  dlrt_model_free(m);

  // A model.so whose PTX and host code disagree on a kernel's parameters (here its
  // signature's count, patched) is refused before anything runs.
  {
    std::ifstream in(DLC_TEST_MLP_CUDA, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t at = bytes.find("\"words\":[");
    REQUIRE(at != std::string::npos);
    char &digit = bytes[at + 9];
    digit = digit == '9' ? '8' : char(digit + 1);
    std::string patched = std::string(DLC_TEST_TMP) + "/mlp_cuda_patched.so";
    std::ofstream(patched, std::ios::binary) << bytes;
    dlrt_model *pm = nullptr;
    REQUIRE(message(dlrt_model_load(patched.c_str(), &pm)) == "");
    std::string err = message(dlrt_session_create(pm, &o, &s));
    INFO(err);
    CHECK(err.find("parameters for kernel 'infer_kernel'") != std::string::npos);
    CHECK(err.find("a damaged or mismatched model.so") != std::string::npos);
    dlrt_model_free(pm);
  }

  // A CPU model is not run on a GPU.
  REQUIRE(message(dlrt_model_load(DLC_TEST_MLP_CPU, &m)) == "");
  CHECK(message(dlrt_session_create(m, &o, &s)).find("compiled for the CPU") != std::string::npos);
  dlrt_model_free(m);
  CHECK(std::string(fake.violations()) == "");
}

namespace {
/// dlrun's output and exit status, in a process of its own (the runtime loads the driver
/// and cuBLAS once per process).
std::pair<std::string, int> run(const std::string &cmd) {
  FILE *p = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  return {out, pclose(p)};
}
} // namespace

TEST_CASE("cuda: without a driver or cuBLAS, a cuda session says which library is missing") {
  auto [out, status] = run(std::string("DLRT_CUDA_DRIVER=/nonexistent/libcuda.so.1 ") + DLC_DLRUN + " info " +
                           DLC_TEST_MLP_CUDA);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("target   cuda (PTX for sm_80, sm_90;") != std::string::npos);
  CHECK(out.find("cannot load the CUDA driver library /nonexistent/libcuda.so.1") != std::string::npos);
  auto [out2, status2] = run(std::string("DLRT_CUDA_DRIVER=") + DLC_FAKE_CUDA + " DLRT_CUBLAS=/nonexistent/libcublas.so " +
                             DLC_DLRUN + " info " + DLC_TEST_MLP_CUDA);
  INFO(out2);
  // The session opens; its first call fails at the first dense layer, naming it.
  CHECK(status2 != 0);
  CHECK(out2.find("inference failed: dense at ") != std::string::npos);
  CHECK(out2.find("dense and matmul run on cuBLAS: DLRT_CUBLAS=/nonexistent/libcublas.so cannot be loaded") !=
        std::string::npos);
}

TEST_CASE("cuda: dense and matmul on cuBLAS give torch.matmul's numbers (plain, broadcast, transposed, with bias)") {
  Fake fake;
  Loaded l(DLC_TEST_GPU_MATMUL);
  const int64_t B = 2;
  std::vector<float> a(B * 3 * 4), b(B * 4 * 5), w(4 * 5), x(B * 7), c(2 * 4 * 5);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(std::sin(0.7 * double(i)));
  for (size_t i = 0; i < b.size(); ++i) b[i] = float(std::cos(0.3 * double(i)));
  for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 7) - 3.0f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.25f * float(i) - 1.0f;
  for (size_t i = 0; i < c.size(); ++i) c[i] = float(std::sin(1.3 * double(i)));
  int64_t ad[] = {B, 3, 4}, bd[] = {B, 4, 5}, wd[] = {4, 5}, xd[] = {B, 7}, cd[] = {2, 4, 5};
  std::vector<dlrt_tensor> in = {{DLRT_F32, 3, ad, a.data(), DLRT_HOST}, {DLRT_F32, 3, bd, b.data(), DLRT_HOST},
                                 {DLRT_F32, 2, wd, w.data(), DLRT_HOST}, {DLRT_F32, 2, xd, x.data(), DLRT_HOST},
                                 {DLRT_F32, 3, cd, c.data(), DLRT_HOST}};
  std::vector<float> p(B * 15, -7), q(B * 15, -7), r(B * 20, -7), d(B * 6, -7), sv(B * 2 * 15, -7);
  int64_t pd[] = {B, 3, 5}, rd[] = {B, 5, 3}, dd[] = {B, 6}, sd[] = {B, 2, 3, 5};
  std::vector<dlrt_tensor> out = {{DLRT_F32, 3, pd, p.data(), DLRT_HOST}, {DLRT_F32, 3, pd, q.data(), DLRT_HOST},
                                  {DLRT_F32, 3, rd, r.data(), DLRT_HOST}, {DLRT_F32, 2, dd, d.data(), DLRT_HOST},
                                  {DLRT_F32, 4, sd, sv.data(), DLRT_HOST}};
  fake.reset();
  REQUIRE(message(dlrt_infer(l.session, in.data(), 5, out.data(), 5)) == "");
  CHECK(std::string(fake.violations()) == "");
  // Three strided-batched matmuls, the dense's bias and product, and the 2 x 2 products
  // of the doubly broadcast one.
  CHECK(fake.lines("gemm ").size() == 5 + B * 2);
  std::vector<float> dw(6 * 7), db(6);
  int64_t dwd[] = {6, 7}, dbd[] = {6};
  dlrt_tensor dwt{DLRT_F32, 2, dwd, dw.data(), DLRT_HOST}, dbt{DLRT_F32, 1, dbd, db.data(), DLRT_HOST};
  REQUIRE(message(dlrt_get_param(l.session, "d.weight", &dwt)) == "");
  REQUIRE(message(dlrt_get_param(l.session, "d.bias", &dbt)) == "");
  double worst = 0;
  for (int64_t t = 0; t < B; ++t)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j) {
        double pp = 0, qq = 0;
        for (int k = 0; k < 4; ++k) {
          pp += double(a[t * 12 + i * 4 + k]) * b[t * 20 + k * 5 + j];
          qq += double(a[t * 12 + i * 4 + k]) * w[k * 5 + j];
        }
        // r = b^T a^T = (a b)^T
        worst = std::max({worst, std::abs(p[t * 15 + i * 5 + j] - pp), std::abs(q[t * 15 + i * 5 + j] - qq),
                          std::abs(r[t * 15 + j * 3 + i] - pp)});
      }
  for (int64_t t = 0; t < B; ++t)
    for (int o = 0; o < 6; ++o) {
      double dd2 = db[o];
      for (int k = 0; k < 7; ++k) dd2 += double(x[t * 7 + k]) * dw[o * 7 + k];
      worst = std::max(worst, std::abs(d[t * 6 + o] - dd2));
    }
  for (int64_t t = 0; t < B; ++t)
    for (int h = 0; h < 2; ++h)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 5; ++j) {
          double ss = 0;
          for (int k = 0; k < 4; ++k) ss += double(a[t * 12 + i * 4 + k]) * c[h * 20 + k * 5 + j];
          worst = std::max(worst, std::abs(sv[((t * 2 + h) * 3 + i) * 5 + j] - ss));
        }
  CHECK(worst < 1e-5);
}

TEST_CASE("cuda: conv2d on cuDNN gives PyTorch's convolution (stride, padding, dilation, groups, bias), and its gradients run there") {
  Fake fake;
  Loaded l(DLC_TEST_GPU_CONV);
  const int N = 2, C = 4, H = 9, W = 9;
  std::vector<float> x(N * C * H * W);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(std::sin(0.37 * double(i)));
  int64_t xd[] = {N, C, H, W};
  std::vector<dlrt_tensor> in = {{DLRT_F32, 4, xd, x.data(), DLRT_HOST}};
  // y: 6 filters 3x3, stride 2, padding 1, dilation 2, groups 2 -> 4x4; z: 3 filters 2x3,
  // padding (0, 1) -> 8x9.
  std::vector<float> y(N * 6 * 4 * 4, -7), z(N * 3 * 8 * 9, -7);
  int64_t yd[] = {N, 6, 4, 4}, zd[] = {N, 3, 8, 9};
  std::vector<dlrt_tensor> out = {{DLRT_F32, 4, yd, y.data(), DLRT_HOST}, {DLRT_F32, 4, zd, z.data(), DLRT_HOST}};
  fake.reset();
  REQUIRE(message(dlrt_infer(l.session, in.data(), 1, out.data(), 2)) == "");
  CHECK(std::string(fake.violations()) == "");
  CHECK(fake.lines("conv forward algo 1").size() == 2);
  CHECK(fake.lines("dnn math 3").size() == 2); // FMA math: no TF32
  auto param = [&](const char *name, std::vector<float> &v, std::vector<int64_t> dims) {
    dlrt_tensor t{DLRT_F32, int32_t(dims.size()), dims.data(), v.data(), DLRT_HOST};
    REQUIRE(message(dlrt_get_param(l.session, name, &t)) == "");
  };
  std::vector<float> yw(6 * 2 * 9), yb(6), zw(3 * 4 * 6);
  param("y.weight", yw, {6, 2, 3, 3});
  param("y.bias", yb, {6});
  param("z.weight", zw, {3, 4, 2, 3});
  double worst = 0;
  auto at = [&](int n, int c, int h, int w) { return h < 0 || h >= H || w < 0 || w >= W ? 0.0 : double(x[((n * C + c) * H + h) * W + w]); };
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < 6; ++o)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          double acc = yb[o];
          for (int c = 0; c < 2; ++c)
            for (int a = 0; a < 3; ++a)
              for (int b = 0; b < 3; ++b)
                acc += at(n, (o / 3) * 2 + c, 2 * i - 1 + 2 * a, 2 * j - 1 + 2 * b) * yw[((o * 2 + c) * 3 + a) * 3 + b];
          worst = std::max(worst, std::abs(y[((n * 6 + o) * 4 + i) * 4 + j] - acc));
        }
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < 3; ++o)
      for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 9; ++j) {
          double acc = 0;
          for (int c = 0; c < 4; ++c)
            for (int a = 0; a < 2; ++a)
              for (int b = 0; b < 3; ++b) acc += at(n, c, i + a, j - 1 + b) * zw[((o * 4 + c) * 2 + a) * 3 + b];
          worst = std::max(worst, std::abs(z[((n * 3 + o) * 8 + i) * 9 + j] - acc));
        }
  CHECK(worst < 1e-5);

  // A train step: every weight's gradient on cuDNN, and h's input gradient for v's.
  fake.reset();
  float loss = 0;
  dlrt_step_results r{&loss, nullptr, nullptr, 0};
  REQUIRE(message(dlrt_train_step(l.session, in.data(), 1, &r)) == "");
  CHECK(std::string(fake.violations()) == "");
  CHECK(fake.lines("conv backward filter algo 1").size() == 4);
  CHECK(fake.lines("conv backward data algo 1").size() == 1);
}
