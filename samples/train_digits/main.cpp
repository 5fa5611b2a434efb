//===- main.cpp - train a model on scikit-learn's digits through the C API -===//
//
//   python3 samples/train_digits/export_digits.py data/      # x_train.npy, y_train.npy, ...
//   dlc samples/mlp/mlp.dl -o mlp.so
//   train-digits mlp.so data/ [--epochs 30] [--batch 32] [--seed 0] [--save w.safetensors]
//
// Shuffles the training set each epoch, runs the compiled train step batch by batch,
// evaluates test accuracy with the eval step after each epoch and saves the weights.
// The model takes `x: f32[B, 64]` and `label: i64[B]` (samples/mlp/mlp.dl does).
//
//===----------------------------------------------------------------------===//
#include "dlrt/dlrt.hpp"
#include "io/Npy.h"

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

dlrt::HostTensor load(const std::string &path) {
  dlrt::HostTensor t;
  std::string err;
  if (!dlrt::readNpy(path, t, err)) throw dlrt::Error(err);
  return t;
}

/// Rows `order[lo, hi)` of a [N, ...] tensor.
dlrt::HostTensor rows(const dlrt::HostTensor &t, const std::vector<size_t> &order, size_t lo, size_t hi) {
  std::vector<int64_t> dims = t.dims;
  dims[0] = int64_t(hi - lo);
  dlrt::HostTensor out(t.dtype, dims);
  size_t row = t.bytes() / size_t(t.dims[0]);
  for (size_t k = lo; k < hi; ++k) std::memcpy(out.data() + (k - lo) * row, t.data() + order[k] * row, row);
  return out;
}

/// Accuracy of the eval step's predictions on (x, y).
double accuracy(dlrt::Session &s, const dlrt::HostTensor &x, const dlrt::HostTensor &y, double &loss) {
  std::vector<size_t> all(size_t(x.dims[0]));
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  dlrt::HostTensor bx = rows(x, all, 0, all.size()), by = rows(y, all, 0, all.size());
  dlrt::HostTensor pred(DLRT_I64, by.dims);
  dlrt_tensor pv = pred.view();
  loss = s.evalStep({bx.view(), by.view()}, &pv);
  int64_t correct = 0;
  for (int64_t i = 0; i < by.numel(); ++i)
    correct += reinterpret_cast<int64_t *>(pred.data())[i] == reinterpret_cast<int64_t *>(by.data())[i];
  return double(correct) / double(by.numel());
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: train-digits model.so DATA_DIR [--epochs E] [--batch N] [--seed S] [--save W]\n");
    return 2;
  }
  std::string model = argv[1], dir = argv[2], save;
  int epochs = 30, batch = 32;
  uint64_t seed = 0;
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--epochs") epochs = std::atoi(argv[i + 1]);
    else if (a == "--batch") batch = std::atoi(argv[i + 1]);
    else if (a == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (a == "--save") save = argv[i + 1];
    else {
      std::fprintf(stderr, "train-digits: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    dlrt::HostTensor xtr = load(dir + "/x_train.npy"), ytr = load(dir + "/y_train.npy");
    dlrt::HostTensor xte = load(dir + "/x_test.npy"), yte = load(dir + "/y_test.npy");
    dlrt::Model m(model);
    dlrt::Session s(m, /*threads=*/0, seed);
    std::mt19937_64 shuffle(seed);
    std::vector<size_t> order(size_t(xtr.dims[0]));
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    double acc = 0, testLoss = 0;
    for (int e = 1; e <= epochs; ++e) {
      for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[shuffle() % (i + 1)]);
      double sum = 0;
      for (size_t lo = 0; lo < order.size(); lo += size_t(batch)) {
        size_t hi = std::min(order.size(), lo + size_t(batch));
        dlrt::HostTensor bx = rows(xtr, order, lo, hi), by = rows(ytr, order, lo, hi);
        sum += double(s.trainStep({bx.view(), by.view()})) * double(hi - lo);
      }
      acc = accuracy(s, xte, yte, testLoss);
      std::printf("epoch %2d  train loss %.4f  test loss %.4f  test accuracy %.4f\n", e, sum / double(order.size()),
                  testLoss, acc);
    }
    std::printf("final test accuracy %.4f (seed %llu)\n", acc, (unsigned long long)seed);
    if (!save.empty()) {
      s.saveWeights(save);
      std::printf("weights saved to %s\n", save.c_str());
    }
  } catch (const dlrt::Error &e) {
    std::fprintf(stderr, "train-digits: %s\n", e.what());
    return 1;
  }
  return 0;
}
