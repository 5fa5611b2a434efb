// samples/custom_layer/main.cpp: an application that runs a model with a custom layer.
//
//   custom-layer-demo data DIR                      writes DIR/x.npy, DIR/label.npy
//   dlrun train spirals.so --input x=DIR/x.npy --input label=DIR/label.npy ... --save w.safetensors
//   custom-layer-demo predict spirals.so w.safetensors DIR
//
// The runtime finds the plugin's run-time part (libswiglu_rt.so) beside the model.
#include <dlrt/dlrt.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr int64_t kPoints = 1500, kClasses = 3;

// Three spirals of 500 noisy points each, the same for every run.
void makeData(std::vector<float> &x, std::vector<int64_t> &label) {
  std::mt19937 gen(7);
  std::normal_distribution<float> noise(0.0f, 0.15f);
  for (int64_t i = 0; i < kPoints; ++i) {
    int64_t c = i % kClasses;
    float t = float(i / kClasses) / float(kPoints / kClasses) * 3.5f + 0.2f;
    float angle = t + 2.0944f * float(c);
    x.push_back(t * std::cos(angle) + noise(gen));
    x.push_back(t * std::sin(angle) + noise(gen));
    label.push_back(c);
  }
}

// A NumPy .npy file (version 1.0, little-endian, C order).
void writeNpy(const std::string &path, const char *descr, const std::vector<int64_t> &shape, const void *data,
              size_t bytes) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ", ";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::ofstream f(path, std::ios::binary);
  uint16_t len = uint16_t(header.size());
  f.write("\x93NUMPY\x01\x00", 8);
  f.write(reinterpret_cast<const char *>(&len), 2);
  f << header;
  f.write(static_cast<const char *>(data), std::streamsize(bytes));
  if (!f) throw std::runtime_error("cannot write " + path);
}

} // namespace

int main(int argc, char **argv) {
  if (argc == 3 && std::strcmp(argv[1], "data") == 0) {
    std::vector<float> x;
    std::vector<int64_t> label;
    makeData(x, label);
    writeNpy(std::string(argv[2]) + "/x.npy", "<f4", {kPoints, 2}, x.data(), x.size() * sizeof(float));
    writeNpy(std::string(argv[2]) + "/label.npy", "<i8", {kPoints}, label.data(), label.size() * sizeof(int64_t));
    return 0;
  }
  if (argc != 4 || std::strcmp(argv[1], "predict") != 0) {
    std::fprintf(stderr, "usage: %s data DIR | predict model.so weights.safetensors\n", argv[0]);
    return 2;
  }
  try {
    dlrt::Model model(argv[2]);
    dlrt::Session session(model, /*threads=*/1, /*seed=*/0);
    session.loadWeights(argv[3]);
    std::vector<float> x;
    std::vector<int64_t> label;
    makeData(x, label);
    std::vector<int64_t> xdims = {kPoints, 2}, ldims = {kPoints, kClasses};
    std::vector<float> logits(size_t(kPoints * kClasses));
    std::vector<dlrt_tensor> inputs = {{DLRT_F32, 2, xdims.data(), x.data(), DLRT_HOST}};
    std::vector<dlrt_tensor> outputs = {{DLRT_F32, 2, ldims.data(), logits.data(), DLRT_HOST}};
    session.infer(inputs, outputs);
    int64_t right = 0;
    for (int64_t i = 0; i < kPoints; ++i) {
      int64_t best = 0;
      for (int64_t c = 1; c < kClasses; ++c)
        if (logits[size_t(i * kClasses + c)] > logits[size_t(i * kClasses + best)]) best = c;
      right += best == label[size_t(i)];
    }
    std::printf("accuracy %.4f (%lld of %lld points)\n", double(right) / double(kPoints), (long long)right,
                (long long)kPoints);
  } catch (const dlrt::Error &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
