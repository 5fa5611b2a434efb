// samples/mlp/main.cpp: embed the dlc runtime in an application.
//
//   dlc samples/mlp/mlp.dl -o mlp.so
//   mlp-demo mlp.so [weights.safetensors]
//
// Loads the compiled model, creates a session (parameters initialised from seed 0 as
// PyTorch would, or loaded from a safetensors file), asks for the output shapes of a
// batch, runs inference and prints the predicted class of each sample.
#include <dlrt/dlrt.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main(int argc, char **argv) {
#ifdef DLC_MODEL_mlp
  // Built with dlc_add_model(mlp mlp.dl) (samples/mlp/CMakeLists.txt): the model it made.
  const char *path = argc > 1 ? argv[1] : DLC_MODEL_mlp;
#else
  const char *path = argc > 1 ? argv[1] : nullptr;
#endif
  if (!path) {
    std::fprintf(stderr, "usage: %s model.so [weights.safetensors]\n", argv[0]);
    return 2;
  }
  try {
    dlrt::Model model(path);
    dlrt::Session session(model, /*threads=*/1, /*seed=*/0);
    if (argc > 2) session.loadWeights(argv[2]);

    // A batch of 4 "images" of 8x8 pixels: smooth patterns, one per row.
    const int64_t batch = 4;
    std::vector<float> x(batch * 64);
    for (int64_t b = 0; b < batch; ++b)
      for (int i = 0; i < 64; ++i) x[b * 64 + i] = std::sin(0.3f * float(i) * float(b + 1));
    std::vector<int64_t> xdims = {batch, 64};

    std::vector<dlrt_tensor> inputs = {{DLRT_F32, 2, xdims.data(), x.data(), DLRT_HOST}};
    std::vector<std::vector<int64_t>> shapes = session.outputShapes(inputs);
    std::vector<std::vector<float>> buffers;
    std::vector<dlrt_tensor> outputs;
    for (auto &s : shapes) {
      int64_t n = 1;
      for (int64_t d : s) n *= d;
      buffers.emplace_back(size_t(n));
    }
    for (size_t i = 0; i < shapes.size(); ++i)
      outputs.push_back({DLRT_F32, int32_t(shapes[i].size()), shapes[i].data(), buffers[i].data(), DLRT_HOST});
    session.infer(inputs, outputs);

    const std::vector<float> &probs = buffers[1]; // outputs: logits, probs
    for (int64_t b = 0; b < batch; ++b) {
      int best = 0;
      for (int c = 1; c < 10; ++c)
        if (probs[b * 10 + c] > probs[b * 10 + best]) best = c;
      std::printf("sample %lld: class %d (p = %.3f)\n", (long long)b, best, probs[b * 10 + best]);
    }
  } catch (const dlrt::Error &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
