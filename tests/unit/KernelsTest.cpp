// The runtime's kernels called directly, as compiled code calls them: the training forms
// of pooling, normalisation and the RNN against naive references, and pooling's backward
// reading its forward's workspace; a convolution with a skip tensor, by Winograd and
// direct, in place and not, on NHWC and 16-channel blocks; the blocking kernel.
#include "KernelContext.h"
#include "native/Activation.h"
#include "native/BatchNorm.h"
#include "native/ConvPool.h"
#include "native/ConvWeightGradient.h"
#include "native/FilterBlocks.h"
#include "native/Gemv.h"
#include "native/LayerNorm.h"
#include "native/Lstm.h"
#include "native/MaxPool.h"
#include "native/SelfAttention.h"
#include "native/Softmax.h"
#include "native/TransposedLhsMatmul.h"
#include "native/Winograd.h"
#include "onednn/Dense.h"
#include "onednn/Kernels.h"
#include "dlrt/model_abi.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <limits>
#include <memory>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

using dlrt::KernelContext;

namespace {

std::vector<float> randomVector(size_t n, unsigned seed, float lo = -1, float hi = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float &x : v) x = dist(gen);
  return v;
}

void requireClose(const std::vector<float> &got, const std::vector<double> &want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    REQUIRE(std::abs(double(got[i]) - want[i]) <= tol * (1 + std::abs(want[i])));
  }
}

std::vector<double> widen(const std::vector<float> &v) { return {v.begin(), v.end()}; }

struct Pool {
  int64_t n = 2, c = 3, h = 7, w = 6, kh = 3, kw = 2, sh = 2, sw = 2, pt = 1, pl = 0, pb = 1, pr = 1;
  int64_t oh = (h + pt + pb - kh) / sh + 1, ow = (w + pl + pr - kw) / sw + 1;
  bool max, nhwc;
  int64_t activation = DLRT_ACTIVATION_NONE;
  std::vector<int64_t> geom() const {
    return {n, c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr, max, nhwc, activation};
  }
  size_t at(int64_t i, int64_t ch, int64_t y, int64_t x, int64_t height, int64_t width) const {
    return size_t(nhwc ? ((i * height + y) * width + x) * c + ch : ((i * c + ch) * height + y) * width + x);
  }
};

} // namespace

TEST_CASE("pooling's training form keeps what its backward reads", "[kernels]") {
  for (bool max : {true, false})
    for (bool nhwc : {false, true}) {
      Pool p;
      p.max = max;
      p.nhwc = nhwc;
      INFO((max ? "max" : "avg") << (nhwc ? " nhwc" : " nchw"));
      KernelContext ctx;
      auto g = p.geom();
      size_t inSize = size_t(p.n * p.c * p.h * p.w), outSize = size_t(p.n * p.c * p.oh * p.ow);
      // Distinct values, so that every window has one maximum.
      std::vector<float> x(inSize);
      std::iota(x.begin(), x.end(), 0.0f);
      std::shuffle(x.begin(), x.end(), std::mt19937(7));
      std::vector<float> yInfer(outSize), yTrain(outSize), dy = randomVector(outSize, 3), dx(inSize, 99.0f);
      dlrt_k_pool2d_f32(&ctx, 0, g.data(), x.data(), yInfer.data(), nullptr);
      int64_t bytes = 0;
      dlrt_k_pool2d_workspace_bytes(&ctx, 0, g.data(), &bytes);
      REQUIRE(bytes >= 1);
      std::vector<char> ws(static_cast<size_t>(bytes));
      dlrt_k_pool2d_f32(&ctx, 0, g.data(), x.data(), yTrain.data(), ws.data());
      // The backward is its own site (1) and reads the workspace of the forward's (0).
      dlrt_k_pool2d_backward_f32(&ctx, 1, 0, g.data(), dy.data(), ws.data(), dx.data());
      REQUIRE(ctx.error.empty());
      REQUIRE(yTrain == yInfer);

      // The reference: each output's gradient to its window's maximum, or spread evenly
      // over the window (padding counted in the divisor, as the forward counts it).
      std::vector<double> wantY(outSize), wantDx(inSize, 0.0);
      for (int64_t i = 0; i < p.n; ++i)
        for (int64_t ch = 0; ch < p.c; ++ch)
          for (int64_t oy = 0; oy < p.oh; ++oy)
            for (int64_t ox = 0; ox < p.ow; ++ox) {
              size_t o = p.at(i, ch, oy, ox, p.oh, p.ow);
              double best = -INFINITY, sum = 0;
              size_t arg = 0;
              for (int64_t ky = 0; ky < p.kh; ++ky)
                for (int64_t kx = 0; kx < p.kw; ++kx) {
                  int64_t yy = oy * p.sh - p.pt + ky, xx = ox * p.sw - p.pl + kx;
                  if (yy < 0 || yy >= p.h || xx < 0 || xx >= p.w) continue;
                  size_t in = p.at(i, ch, yy, xx, p.h, p.w);
                  sum += x[in];
                  if (x[in] > best) best = x[in], arg = in;
                  if (!max) wantDx[in] += double(dy[o]) / double(p.kh * p.kw);
                }
              wantY[o] = max ? best : sum / double(p.kh * p.kw);
              if (max) wantDx[arg] += dy[o];
            }
      requireClose(yTrain, wantY, 1e-6);
      requireClose(dx, wantDx, 1e-6);
    }
}

TEST_CASE("max pooling gives NaN where its window holds one, and -inf where it holds only -inf, as torch does, on "
          "one thread and on two, with a fused relu too",
          "[kernels]") {
  for (bool nhwc : {false, true})
    for (int threads : {1, 2})
      for (int form = 0; form < 3; ++form) {
        bool training = form == 1, relu = form == 2; // relu: inference form only
        Pool p;
        p.max = true;
        p.nhwc = nhwc;
        p.activation = relu ? DLRT_ACTIVATION_RELU : DLRT_ACTIVATION_NONE;
        INFO((nhwc ? "nhwc" : "nchw") << ", " << threads << " threads" << (training ? ", training form" : "")
                                      << (relu ? ", relu" : ""));
        KernelContext ctx;
        ctx.threading.threads = threads;
        ctx.threading.workersSpin = true;
        // A first call with enough work decides that later ones run every kernel on all threads.
        ctx.threading.beginCall({1});
        ctx.threading.choose(2e6, 1);
        ctx.threading.endCall();
        ctx.threading.beginCall({1});
        auto g = p.geom();
        std::vector<float> x = randomVector(size_t(p.n * p.c * p.h * p.w), 11);
        size_t nanAt = p.at(1, 2, 4, 3, p.h, p.w); // the second image, last channel
        x[nanAt] = NAN;
        // The first image's first channel all -inf: -inf out (oneDNN's pooling gave -3.4e38).
        for (int64_t yy = 0; yy < p.h; ++yy)
          for (int64_t xx = 0; xx < p.w; ++xx) x[p.at(0, 0, yy, xx, p.h, p.w)] = -INFINITY;
        std::vector<float> y(size_t(p.n * p.c * p.oh * p.ow));
        std::vector<char> ws;
        if (training) {
          int64_t bytes = 0;
          dlrt_k_pool2d_workspace_bytes(&ctx, 0, g.data(), &bytes);
          ws.resize(size_t(bytes));
        }
        dlrt_k_pool2d_f32(&ctx, 0, g.data(), x.data(), y.data(), training ? ws.data() : nullptr);
        ctx.threading.endCall();
        REQUIRE(ctx.error.empty());
        for (int64_t i = 0; i < p.n; ++i)
          for (int64_t ch = 0; ch < p.c; ++ch)
            for (int64_t oy = 0; oy < p.oh; ++oy)
              for (int64_t ox = 0; ox < p.ow; ++ox) {
                bool holds = false;
                float best = -INFINITY;
                for (int64_t ky = 0; ky < p.kh; ++ky)
                  for (int64_t kx = 0; kx < p.kw; ++kx) {
                    int64_t yy = oy * p.sh - p.pt + ky, xx = ox * p.sw - p.pl + kx;
                    if (yy < 0 || yy >= p.h || xx < 0 || xx >= p.w) continue;
                    size_t in = p.at(i, ch, yy, xx, p.h, p.w);
                    holds |= in == nanAt;
                    if (in != nanAt) best = std::max(best, x[in]);
                  }
                float got = y[p.at(i, ch, oy, ox, p.oh, p.ow)];
                INFO("output " << i << "," << ch << "," << oy << "," << ox);
                if (holds) REQUIRE(std::isnan(got));
                else REQUIRE(got == (relu && !(best > 0.0f) ? 0.0f : best));
              }
      }
}

TEST_CASE("pooling's backward without its forward's workspace is an error, not a crash", "[kernels]") {
  Pool p;
  p.max = true;
  p.nhwc = false;
  KernelContext ctx;
  auto g = p.geom();
  std::vector<float> dy(static_cast<size_t>(p.n * p.c * p.oh * p.ow)), dx(static_cast<size_t>(p.n * p.c * p.h * p.w));
  std::vector<std::string> sites = {"max_pool2d at model.dl:3:5"};
  ctx.sites = &sites;
  dlrt_k_pool2d_backward_f32(&ctx, 0, 0, g.data(), dy.data(), nullptr, dx.data());
  REQUIRE(ctx.error.find("max_pool2d at model.dl:3:5") != std::string::npos);
  REQUIRE(ctx.error.find("workspace") != std::string::npos);
}

TEST_CASE("layer_norm's training form returns each row's mean and biased variance", "[kernels]") {
  for (int64_t cols : {7, 128}) {
    int64_t rows = 5;
    KernelContext ctx;
    auto x = randomVector(static_cast<size_t>(rows * cols), 1, -2, 3), gamma = randomVector(static_cast<size_t>(cols), 2, 0.5, 1.5),
         beta = randomVector(static_cast<size_t>(cols), 3);
    std::vector<float> yInfer(x.size()), yTrain(x.size()), mean(static_cast<size_t>(rows)), var(static_cast<size_t>(rows));
    dlrt_k_layer_norm_f32(&ctx, 0, rows, cols, x.data(), gamma.data(), beta.data(), yInfer.data(), 1e-5, nullptr,
                          nullptr);
    dlrt_k_layer_norm_f32(&ctx, 0, rows, cols, x.data(), gamma.data(), beta.data(), yTrain.data(), 1e-5,
                          mean.data(), var.data());
    REQUIRE(ctx.error.empty());
    std::vector<double> wantMean(static_cast<size_t>(rows)), wantVar(static_cast<size_t>(rows)), wantY(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0, ss = 0;
      for (int64_t j = 0; j < cols; ++j) s += x[size_t(r * cols + j)];
      double m = s / double(cols);
      for (int64_t j = 0; j < cols; ++j) ss += std::pow(x[size_t(r * cols + j)] - m, 2);
      wantMean[size_t(r)] = m;
      wantVar[size_t(r)] = ss / double(cols);
      for (int64_t j = 0; j < cols; ++j)
        wantY[size_t(r * cols + j)] =
            (x[size_t(r * cols + j)] - m) / std::sqrt(wantVar[size_t(r)] + 1e-5) * gamma[size_t(j)] + beta[size_t(j)];
    }
    requireClose(mean, wantMean, 1e-6);
    requireClose(var, wantVar, 1e-5);
    requireClose(yTrain, wantY, 1e-5);
    requireClose(yInfer, widen(yTrain), 1e-6);
  }
}

/// Every build of the native kernels this CPU can run, the baseline's first.
static std::vector<dlrt::native::VectorIsa> runnableIsas() {
  using dlrt::native::VectorIsa;
  std::vector<VectorIsa> isas = {VectorIsa::Generic};
  if (dlrt::native::widestVectorIsa() != VectorIsa::Generic) isas.push_back(VectorIsa::Avx2);
  if (dlrt::native::widestVectorIsa() == VectorIsa::Avx512) isas.push_back(VectorIsa::Avx512);
  return isas;
}

TEST_CASE("native max pooling's training form and backward: every ISA build, NHWC and 16- and 8-channel blocks, "
          "windows apart and overlapping, padding, ties to the first maximum, NaN to the last, -inf windows, team size; "
          "against torch's rule",
          "[kernels]") {
  struct Window {
    int64_t kh, kw, sh, sw, pt, pl, pb, pr;
  };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (Window k : {Window{2, 2, 2, 2, 0, 0, 0, 0}, Window{3, 3, 2, 2, 1, 1, 1, 1}, Window{3, 2, 1, 1, 1, 0, 1, 1}})
    for (int64_t layout : {DLRT_LAYOUT_NHWC, DLRT_LAYOUT_NCHW16C, DLRT_LAYOUT_NCHW8C}) {
      const int64_t n = 3, c = layout == DLRT_LAYOUT_NCHW8C ? 24 : 32, h = 9, w = 8;
      const int64_t oh = (h + k.pt + k.pb - k.kh) / k.sh + 1, ow = (w + k.pl + k.pr - k.kw) / k.sw + 1;
      const std::vector<int64_t> g = {n, c, h, w, oh, ow, k.kh, k.kw, k.sh, k.sw, k.pt, k.pl, k.pb, k.pr,
                                      1, layout, DLRT_ACTIVATION_NONE};
      REQUIRE(dlrt::native::maxPoolTrainingSupports(g.data()));
      const int64_t block = dlrt_layout_block(layout);
      auto at = [&](int64_t b, int64_t ch, int64_t r, int64_t q, int64_t rows, int64_t cols) {
        if (!block) return size_t(((b * rows + r) * cols + q) * c + ch);
        return size_t((((b * (c / block) + ch / block) * rows + r) * cols + q) * block + ch % block);
      };
      // Small integers: many ties. Two NaN in one window of image 1, channel 5; image 2's
      // channel 0 all -inf.
      std::mt19937 gen(31);
      std::uniform_int_distribution<int> level(-3, 3);
      std::vector<float> x(size_t(n * c * h * w));
      for (float &v : x) v = float(level(gen));
      x[at(1, 5, 4, 3, h, w)] = nan;
      x[at(1, 5, 4, 4, h, w)] = nan;
      for (int64_t r = 0; r < h; ++r)
        for (int64_t q = 0; q < w; ++q) x[at(2, 0, r, q, h, w)] = -inf;
      const std::vector<float> dy = randomVector(size_t(n * c * oh * ow), 32);
      // torch's rule: the first element inside the image to start, then any greater element
      // or NaN takes its place.
      std::vector<float> wantY(dy.size());
      std::vector<double> wantDx(x.size(), 0.0);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t r = 0; r < oh; ++r)
            for (int64_t q = 0; q < ow; ++q) {
              float best = -inf;
              size_t arg = SIZE_MAX;
              for (int64_t i = 0; i < k.kh; ++i)
                for (int64_t j = 0; j < k.kw; ++j) {
                  const int64_t row = r * k.sh - k.pt + i, col = q * k.sw - k.pl + j;
                  if (row < 0 || row >= h || col < 0 || col >= w) continue;
                  const size_t in = at(b, ch, row, col, h, w);
                  if (arg == SIZE_MAX) arg = in;
                  if (x[in] > best || x[in] != x[in]) best = x[in], arg = in;
                }
              const size_t o = at(b, ch, r, q, oh, ow);
              wantY[o] = best;
              wantDx[arg] += dy[o];
            }
      for (dlrt::native::VectorIsa isa : runnableIsas())
        for (int threads : {1, 2, 3}) {
          CAPTURE(k.kh, k.kw, k.sh, layout, int(isa), threads);
          std::vector<float> y(dy.size(), 7.0f), dx(x.size(), 7.0f);
          std::vector<uint8_t> where(size_t(dlrt::native::maxPoolTrainingBytes(g.data())), 200);
          dlrt::native::maxPoolTraining(threads, g.data(), x.data(), y.data(), where.data(), isa);
          dlrt::native::maxPoolBackward(threads, g.data(), dy.data(), where.data(), dx.data(), isa);
          size_t wrong = 0;
          for (size_t i = 0; i < y.size(); ++i) {
            const bool same = std::isnan(wantY[i]) ? std::isnan(y[i]) : y[i] == wantY[i];
            if (!same && wrong++ < 3) UNSCOPED_INFO("y at " << i << ": " << y[i] << " want " << wantY[i]);
          }
          for (size_t i = 0; i < dx.size(); ++i)
            if (std::abs(dx[i] - wantDx[i]) > 1e-6 * (1 + std::abs(wantDx[i])) && wrong++ < 6)
              UNSCOPED_INFO("dx at " << i << ": " << dx[i] << " want " << wantDx[i]);
          CHECK(wrong == 0);
        }
    }
}

TEST_CASE("native layer_norm: a row whose variance is past float's range is NaN, as torch's float32 layer_norm, "
          "not beta; the rows beside it normalised",
          "[kernels]") {
  // Deviations of 1e20 square past 3.4e38: rstd would be 0 and every output beta, a number
  // that looks fine (difftest seed 164268, an eval step from weights SGD had blown up).
  using dlrt::native::VectorIsa;
  for (int64_t cols : {6, 16, 37})
    for (VectorIsa isa : runnableIsas()) {
      CAPTURE(cols, int(isa));
      std::vector<float> x(size_t(2 * cols)), gamma(size_t(cols), 1.0f), beta(size_t(cols), 0.25f), y(x.size());
      std::vector<float> mean(2), var(2);
      for (int64_t j = 0; j < cols; ++j) {
        x[size_t(j)] = float(j % 3 - 1) * 1e20f + float(j);
        x[size_t(cols + j)] = float(j % 5) - 2.0f;
      }
      dlrt::native::layerNorm(1, 2, cols, x.data(), gamma.data(), beta.data(), y.data(), 1e-5f, mean.data(),
                              var.data(), isa);
      for (int64_t j = 0; j < cols; ++j) {
        CHECK(std::isnan(y[size_t(j)]));
        CHECK(std::isfinite(y[size_t(cols + j)]));
      }
    }
}

TEST_CASE("native layer_norm and its gradient: every ISA build, row length (tails), team size, against double; "
          "NaN rows; dgamma and dbeta the same bits on any team",
          "[kernels]") {
  using dlrt::native::VectorIsa;
  const float eps = 1e-5f;
  for (int64_t cols : {1, 5, 16, 37, 128, 200}) {
    for (int64_t rows : {1, 33, 70}) {
      auto x = randomVector(size_t(rows * cols), 1, -2, 3), gamma = randomVector(size_t(cols), 2, 0.5, 1.5),
           beta = randomVector(size_t(cols), 3), dy = randomVector(size_t(rows * cols), 4);
      // The reference in double: y, the statistics, and the gradient of sum(y * dy).
      const auto rowCount = static_cast<size_t>(rows), colCount = static_cast<size_t>(cols);
      std::vector<double> wantY(x.size()), wantMean(rowCount), wantVar(rowCount), wantDx(x.size()),
          wantDgamma(colCount, 0.0), wantDbeta(colCount, 0.0);
      for (int64_t r = 0; r < rows; ++r) {
        const float *xr = x.data() + r * cols;
        double m = 0, v = 0;
        for (int64_t j = 0; j < cols; ++j) m += xr[j];
        m /= double(cols);
        for (int64_t j = 0; j < cols; ++j) v += (xr[j] - m) * (xr[j] - m);
        v /= double(cols);
        double rstd = 1 / std::sqrt(v + double(eps)), g1 = 0, gx1 = 0;
        wantMean[size_t(r)] = m;
        wantVar[size_t(r)] = v;
        for (int64_t j = 0; j < cols; ++j) {
          double xh = (xr[j] - m) * rstd, d = dy[size_t(r * cols + j)], g = d * gamma[size_t(j)];
          wantY[size_t(r * cols + j)] = xh * gamma[size_t(j)] + beta[size_t(j)];
          g1 += g;
          gx1 += g * xh;
          wantDgamma[size_t(j)] += d * xh;
          wantDbeta[size_t(j)] += d;
        }
        for (int64_t j = 0; j < cols; ++j) {
          double xh = (xr[j] - m) * rstd, g = dy[size_t(r * cols + j)] * gamma[size_t(j)];
          wantDx[size_t(r * cols + j)] = rstd * (g - g1 / double(cols) - xh * gx1 / double(cols));
        }
      }
      std::vector<float> scratch(static_cast<size_t>(dlrt::native::layerNormBackwardScratch(rows, cols)));
      std::vector<float> firstDgamma, firstDbeta;
      for (VectorIsa isa : runnableIsas())
        for (int threads : {1, 2, 3}) {
          CAPTURE(cols, rows, int(isa), threads);
          std::vector<float> y(x.size() + 1, -7.0f), mean(rowCount), var(rowCount); // y: one past the end too
          dlrt::native::layerNorm(threads, rows, cols, x.data(), gamma.data(), beta.data(), y.data(), eps,
                                  mean.data(), var.data(), isa);
          REQUIRE(y.back() == -7.0f);
          y.pop_back();
          requireClose(y, wantY, 2e-5);
          requireClose(mean, wantMean, 1e-6);
          requireClose(var, wantVar, 1e-5);
          std::vector<float> dx(x.size()), dgamma(colCount, 9.0f), dbeta(colCount, 9.0f);
          dlrt::native::layerNormBackward(threads, rows, cols, x.data(), gamma.data(), mean.data(), var.data(),
                                          dy.data(), dx.data(), dgamma.data(), dbeta.data(), eps, scratch.data(), isa);
          requireClose(dx, wantDx, 2e-5);
          // A row of one column: y is beta whatever x, and dx exactly 0, as PyTorch's
          // (dy gamma - mean(dy gamma) with the product rounded once: a fused multiply-add
          // left the product's rounding error, times rstd = 316).
          if (cols == 1)
            for (float d : dx) REQUIRE(d == 0.0f);
          requireClose(dgamma, wantDgamma, 1e-4);
          requireClose(dbeta, wantDbeta, 1e-4);
          if (isa == runnableIsas().back()) {
            if (firstDgamma.empty()) {
              firstDgamma = dgamma;
              firstDbeta = dbeta;
            } else { // the same bits whatever the team
              REQUIRE(dgamma == firstDgamma);
              REQUIRE(dbeta == firstDbeta);
            }
          }
        }
      // A NaN in row 0 makes that row's outputs and statistics NaN (and its gradient's
      // share), and leaves the others alone.
      if (rows > 1) {
        std::vector<float> withNaN = x, y(x.size()), mean(rowCount), var(rowCount);
        withNaN[0] = std::nanf("");
        for (VectorIsa isa : runnableIsas()) {
          dlrt::native::layerNorm(2, rows, cols, withNaN.data(), gamma.data(), beta.data(), y.data(), eps,
                                  mean.data(), var.data(), isa);
          CHECK(std::isnan(mean[0]));
          for (int64_t j = 0; j < cols; ++j) CHECK(std::isnan(y[size_t(j)]));
          CHECK(!std::isnan(y[size_t(cols)]));
          CHECK(!std::isnan(mean[1]));
        }
      }
    }
  }
}

TEST_CASE("native softmax and log_softmax along an axis, and their gradients: every ISA build, axis length "
          "(tails), elements after the axis (contiguous rows, and columns in vectors and one at a time), team size, "
          "in place, against double; -inf, +inf and NaN as torch",
          "[kernels]") {
  using dlrt::native::VectorIsa;
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t inner : {1, 3, 16, 21})
    for (int64_t cols : {1, 5, 16, 37, 64, 200}) {
      for (int64_t outer : {1, 7, 40}) {
        if (inner > 1 && cols * outer > 2000) continue; // columns: fewer, smaller cases suffice
        // Element a of line (o, i) at (o * cols + a) * inner + i.
        auto at = [&](int64_t o, int64_t a, int64_t i) { return size_t((o * cols + a) * inner + i); };
        const int64_t lines = outer * inner;
        auto x = randomVector(static_cast<size_t>(lines * cols), 5, -6, 6), dy = randomVector(x.size(), 6);
        // A causal mask's -inf in every line but the first element.
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i)
            for (int64_t a = (o + i) % 3 + 1; a < cols; a += 3) x[at(o, a, i)] = -inf;
        for (bool log : {false, true}) {
          std::vector<double> want(x.size()), wantDx(x.size());
          for (int64_t o = 0; o < outer; ++o)
            for (int64_t i = 0; i < inner; ++i) {
              double max = -INFINITY, sum = 0, dot = 0, dsum = 0;
              for (int64_t a = 0; a < cols; ++a) max = std::max(max, double(x[at(o, a, i)]));
              for (int64_t a = 0; a < cols; ++a) sum += std::exp(x[at(o, a, i)] - max);
              for (int64_t a = 0; a < cols; ++a) {
                double sm = std::exp(x[at(o, a, i)] - max) / sum;
                want[at(o, a, i)] = log ? x[at(o, a, i)] - max - std::log(sum) : sm;
                dot += dy[at(o, a, i)] * sm;
                dsum += dy[at(o, a, i)];
              }
              for (int64_t a = 0; a < cols; ++a) {
                double sm = std::exp(x[at(o, a, i)] - max) / sum, g = dy[at(o, a, i)];
                wantDx[at(o, a, i)] = log ? g - sm * dsum : sm * (g - dot);
              }
            }
          for (VectorIsa isa : runnableIsas())
            for (int threads : {1, 2, 3}) {
              CAPTURE(inner, cols, outer, log, int(isa), threads);
              std::vector<float> y(x.size());
              dlrt::native::softmaxAxis(threads, outer, cols, inner, x.data(), y.data(), log, isa);
              for (size_t e = 0; e < y.size(); ++e) {
                INFO("element " << e);
                if (std::isinf(want[e])) REQUIRE(y[e] == float(want[e])); // log_softmax of a masked element
                else REQUIRE(std::abs(double(y[e]) - want[e]) <= 2e-6 * (1 + std::abs(want[e])));
                if (!log && x[e] == -inf) REQUIRE(y[e] == 0.0f); // exactly 0, not exp's floor
              }
              std::vector<float> dx(x.size());
              dlrt::native::softmaxAxisBackward(threads, outer, cols, inner, y.data(), dy.data(), dx.data(), log,
                                                isa);
              requireClose(dx, wantDx, 2e-5);
              // In place (a dead input's buffer): the same bits.
              std::vector<float> inPlace = x;
              dlrt::native::softmaxAxis(threads, outer, cols, inner, inPlace.data(), inPlace.data(), log, isa);
              REQUIRE(inPlace == y);
            }
        }
        // Lines with a NaN, with +inf, and wholly -inf are NaN (torch); the rest are not.
        if (outer >= 4) {
          std::vector<float> odd = x, y(x.size());
          odd[at(0, cols - 1, 0)] = std::nanf("");
          odd[at(1, cols / 2, 0)] = inf;
          for (int64_t a = 0; a < cols; ++a) odd[at(2, a, 0)] = -inf;
          for (VectorIsa isa : runnableIsas())
            for (bool log : {false, true}) {
              CAPTURE(inner, cols, int(isa), log);
              dlrt::native::softmaxAxis(1, outer, cols, inner, odd.data(), y.data(), log, isa);
              for (int64_t o = 0; o < 4; ++o)
                for (int64_t i = 0; i < inner; ++i)
                  for (int64_t a = 0; a < cols; ++a) CHECK(std::isnan(y[at(o, a, i)]) == (o < 3 && i == 0));
            }
        }
      }
    }
}

TEST_CASE("native log_softmax keeps its precision where the inputs are large: (x - max) - log(sum), not "
          "x - (max + log(sum))",
          "[kernels]") {
  // Lines of values near 3.2e7 (floats 2 apart there) with three equal maxima: log_softmax
  // there is -log(3) = -1.0986 exactly as torch gives it; rounding max + log(sum) first gave
  // -2 (difftest seed 164167, a log_softmax after a product of attention outputs and their
  // mean). Rows (inner 1) and columns (inner 3 and 16: vectors and single lanes).
  using dlrt::native::VectorIsa;
  for (int64_t inner : {1, 3, 16})
    for (int64_t cols : {5, 12, 37}) {
      const int64_t outer = 3;
      auto at = [&](int64_t o, int64_t a, int64_t i) { return size_t((o * cols + a) * inner + i); };
      auto noise = randomVector(static_cast<size_t>(outer * cols * inner), 9, -1e7, 0);
      std::vector<float> x(noise.size());
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i)
          for (int64_t a = 0; a < cols; ++a)
            x[at(o, a, i)] = a % 4 == 1 && a < 12 ? 31614834.0f : 31614834.0f + noise[at(o, a, i)];
      for (VectorIsa isa : runnableIsas()) {
        CAPTURE(inner, cols, int(isa));
        std::vector<float> y(x.size());
        dlrt::native::softmaxAxis(1, outer, cols, inner, x.data(), y.data(), true, isa);
        for (int64_t o = 0; o < outer; ++o)
          for (int64_t i = 0; i < inner; ++i) {
            double max = -INFINITY, sum = 0;
            for (int64_t a = 0; a < cols; ++a) max = std::max(max, double(x[at(o, a, i)]));
            for (int64_t a = 0; a < cols; ++a) sum += std::exp(double(x[at(o, a, i)]) - max);
            for (int64_t a = 0; a < cols; ++a) {
              double want = (double(x[at(o, a, i)]) - max) - std::log(sum);
              CAPTURE(o, i, a, want);
              REQUIRE(std::abs(double(y[at(o, a, i)]) - want) <= 2e-6 * (1 + std::abs(want)));
            }
          }
      }
    }
}

TEST_CASE("batch_norm normalises with running statistics, or in training form with the batch's", "[kernels]") {
  for (std::vector<int64_t> dims : {std::vector<int64_t>{6, 4}, std::vector<int64_t>{3, 4, 5, 2}}) {
    int64_t n = dims[0], c = dims[1], spatial = 1;
    for (size_t i = 2; i < dims.size(); ++i) spatial *= dims[i];
    KernelContext ctx;
    auto x = randomVector(static_cast<size_t>(n * c * spatial), 4, -1, 2), gamma = randomVector(static_cast<size_t>(c), 5, 0.5, 1.5),
         beta = randomVector(static_cast<size_t>(c), 6);
    auto runMean = randomVector(static_cast<size_t>(c), 7), runVar = randomVector(static_cast<size_t>(c), 8, 0.5, 2);
    std::vector<float> y(x.size()), batchMean(static_cast<size_t>(c)), batchVar(static_cast<size_t>(c)), yTrain(x.size());
    auto at = [&](int64_t i, int64_t ch, int64_t s) { return size_t((i * c + ch) * spatial + s); };
    dlrt_k_batch_norm_f32(&ctx, 0, int64_t(dims.size()), dims.data(), x.data(), gamma.data(), beta.data(),
                          runMean.data(), runVar.data(), y.data(), 1e-5, 0, 0, nullptr);
    dlrt_k_batch_norm_f32(&ctx, 1, int64_t(dims.size()), dims.data(), x.data(), gamma.data(), beta.data(),
                          batchMean.data(), batchVar.data(), yTrain.data(), 1e-5, 1, 0, nullptr);
    REQUIRE(ctx.error.empty());
    std::vector<double> wantY(x.size()), wantMean(static_cast<size_t>(c)), wantVar(static_cast<size_t>(c)), wantTrain(x.size());
    for (int64_t ch = 0; ch < c; ++ch) {
      double s = 0, ss = 0, count = double(n * spatial);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < spatial; ++k) s += x[at(i, ch, k)];
      double m = s / count;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < spatial; ++k) ss += std::pow(x[at(i, ch, k)] - m, 2);
      wantMean[size_t(ch)] = m;
      wantVar[size_t(ch)] = ss / count;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t k = 0; k < spatial; ++k) {
          double v = x[at(i, ch, k)];
          wantY[at(i, ch, k)] = (v - runMean[size_t(ch)]) / std::sqrt(runVar[size_t(ch)] + 1e-5) * gamma[size_t(ch)] +
                                beta[size_t(ch)];
          wantTrain[at(i, ch, k)] = (v - m) / std::sqrt(ss / count + 1e-5) * gamma[size_t(ch)] + beta[size_t(ch)];
        }
    }
    requireClose(y, wantY, 1e-5);
    requireClose(batchMean, wantMean, 1e-6);
    requireClose(batchVar, wantVar, 1e-5);
    requireClose(yTrain, wantTrain, 1e-5);
  }
}

TEST_CASE("native batch_norm's training form and gradient: rows and planes, every ISA build, any team size the "
          "same bits; a mean far from 0; NaN and infinities as torch's",
          "[kernels]") {
  using dlrt::native::BatchNormShape;
  using dlrt::native::VectorIsa;
  // Rows (channels-last, [N, C]): a scalar tail, 4 and 1 vector blocks and a tail, one
  // block; planes (NCHW): a tail, one vector, 3 vectors and a tail.
  for (BatchNormShape s : {BatchNormShape{37, 5, 1}, BatchNormShape{300, 83, 1}, BatchNormShape{50, 16, 1},
                           BatchNormShape{3, 4, 37}, BatchNormShape{2, 3, 16}, BatchNormShape{5, 2, 55}}) {
    INFO("outer " << s.outer << " channels " << s.channels << " inner " << s.inner);
    const size_t size = size_t(s.outer * s.channels * s.inner), channels = size_t(s.channels);
    auto at = [&](int64_t o, int64_t c, int64_t i) { return size_t((o * s.channels + c) * s.inner + i); };
    // Values around 10^6 with spread 1 (in steps of 1/16, float's there): Σ x^2 - n mean^2
    // would lose the variance to cancellation even in double (measured: 2e-4 of it off).
    auto x = randomVector(size, 21, -1, 1), dy = randomVector(size, 22), gamma = randomVector(channels, 23, 0.5, 1.5),
         beta = randomVector(channels, 24);
    for (int64_t o = 0; o < s.outer; ++o)
      for (int64_t c = 0; c < s.channels; ++c)
        for (int64_t i = 0; i < s.inner; ++i) x[at(o, c, i)] += 1e6f;
    const double n = double(s.count()), eps = 1e-5;
    std::vector<double> wantY(size), wantDx(size), wantMean(channels), wantVar(channels), wantDgamma(channels),
        wantDbeta(channels);
    for (int64_t c = 0; c < s.channels; ++c) {
      double sum = 0, squares = 0, sumDy = 0, sumDyX = 0;
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t i = 0; i < s.inner; ++i) sum += x[at(o, c, i)];
      // The mean as it is kept, in float (PyTorch's too; near 10^6 it is off by up to 0.03,
      // which x - mean would pass on to the outputs): the rest is computed from that one.
      const double exact = sum / n, m = double(float(exact));
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t i = 0; i < s.inner; ++i) {
          squares += std::pow(x[at(o, c, i)] - exact, 2);
          sumDy += dy[at(o, c, i)];
          sumDyX += dy[at(o, c, i)] * (x[at(o, c, i)] - m);
        }
      const double v = squares / n, invStd = 1 / std::sqrt(v + eps);
      wantMean[size_t(c)] = exact, wantVar[size_t(c)] = v;
      wantDbeta[size_t(c)] = sumDy, wantDgamma[size_t(c)] = sumDyX * invStd;
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t i = 0; i < s.inner; ++i) {
          size_t k = at(o, c, i);
          wantY[k] = (x[k] - m) * invStd * gamma[size_t(c)] + beta[size_t(c)];
          wantDx[k] = (dy[k] - sumDy / n - (x[k] - m) * invStd * invStd * sumDyX / n) * invStd * gamma[size_t(c)];
        }
    }
    std::vector<double> scratch(size_t(dlrt::native::batchNormScratch(s)));
    for (VectorIsa isa : runnableIsas()) {
      std::vector<float> first;
      for (int threads : {1, 2, 3}) {
        CAPTURE(int(isa), threads);
        std::vector<float> y(size), dx(size), mean(channels), var(channels), dgamma(channels), dbeta(channels);
        dlrt::native::batchNormTraining(threads, s, x.data(), gamma.data(), beta.data(), y.data(), float(eps),
                                        mean.data(), var.data(), scratch.data(), {}, isa);
        // With the relu that follows applied as y is stored, and with a skip connection's
        // tensor (dy here) added before it: relu(y) and relu(y + dy), bit for bit.
        for (bool skip : {false, true}) {
          std::vector<float> relued(size), wantRelued(size);
          dlrt::native::batchNormTraining(threads, s, x.data(), gamma.data(), beta.data(), relued.data(),
                                          float(eps), mean.data(), var.data(), scratch.data(),
                                          {skip ? dy.data() : nullptr, true}, isa);
          for (size_t k = 0; k < size_t(size); ++k) {
            const float v = skip ? y[k] + dy[k] : y[k];
            wantRelued[k] = v > 0 ? v : 0.0f;
          }
          REQUIRE(std::memcmp(relued.data(), wantRelued.data(), relued.size() * sizeof(float)) == 0);
        }
        dlrt::native::batchNormBackward(threads, s, x.data(), gamma.data(), mean.data(), var.data(), dy.data(),
                                        dx.data(), dgamma.data(), dbeta.data(), float(eps), scratch.data(), isa);
        requireClose(mean, wantMean, 1e-7);
        requireClose(var, wantVar, 1e-6);
        requireClose(y, wantY, 1e-5);
        requireClose(dx, wantDx, 1e-5);
        requireClose(dbeta, wantDbeta, 1e-5);
        requireClose(dgamma, wantDgamma, 1e-5);
        std::vector<float> all = y;
        for (auto *v : {&dx, &mean, &var, &dgamma, &dbeta}) all.insert(all.end(), v->begin(), v->end());
        if (threads == 1) first = all;
        else REQUIRE(std::memcmp(all.data(), first.data(), all.size() * sizeof(float)) == 0);
      }
    }
  }

  // Channel 0 holds a NaN: its mean, variance and outputs are NaN. Channel 1 holds +inf,
  // its first value: mean +inf (not the NaN inf - inf would give), variance NaN, outputs
  // NaN. Channel 2 holds +inf and -inf: NaN mean. Channel 3 is finite, and untouched.
  const float inf = std::numeric_limits<float>::infinity();
  for (BatchNormShape s : {BatchNormShape{40, 4, 1}, BatchNormShape{3, 4, 20}}) {
    INFO("inner " << s.inner);
    const size_t size = size_t(s.outer * s.channels * s.inner);
    auto at = [&](int64_t o, int64_t c, int64_t i) { return size_t((o * s.channels + c) * s.inner + i); };
    auto x = randomVector(size, 31), dy = randomVector(size, 32);
    std::vector<float> gamma(4, 1.0f), beta(4, 0.0f);
    x[at(1, 0, 0)] = std::nanf("");
    x[at(0, 1, 0)] = inf;
    x[at(1, 2, 0)] = inf;
    x[at(2, 2, 0)] = -inf;
    std::vector<double> scratch(size_t(dlrt::native::batchNormScratch(s)));
    for (VectorIsa isa : runnableIsas()) {
      CAPTURE(int(isa));
      std::vector<float> y(size), dx(size), mean(4), var(4), dgamma(4), dbeta(4);
      dlrt::native::batchNormTraining(1, s, x.data(), gamma.data(), beta.data(), y.data(), 1e-5f, mean.data(),
                                      var.data(), scratch.data(), {}, isa);
      // relu'd as stored: NaN stays NaN, as torch.relu keeps it.
      std::vector<float> relued(size);
      dlrt::native::batchNormTraining(1, s, x.data(), gamma.data(), beta.data(), relued.data(), 1e-5f, mean.data(),
                                      var.data(), scratch.data(), {nullptr, true}, isa);
      for (size_t k = 0; k < size_t(size); ++k)
        CHECK((std::isnan(y[k]) ? std::isnan(relued[k]) : relued[k] == (y[k] > 0 ? y[k] : 0.0f)));
      dlrt::native::batchNormBackward(1, s, x.data(), gamma.data(), mean.data(), var.data(), dy.data(), dx.data(),
                                      dgamma.data(), dbeta.data(), 1e-5f, scratch.data(), isa);
      CHECK(std::isnan(mean[0]));
      CHECK(mean[1] == inf);
      CHECK(std::isnan(mean[2]));
      CHECK(std::isfinite(mean[3]));
      for (int c = 0; c < 3; ++c) CHECK(std::isnan(var[size_t(c)]));
      CHECK(std::isfinite(var[3]));
      for (int64_t o = 0; o < s.outer; ++o)
        for (int64_t c = 0; c < 4; ++c)
          for (int64_t i = 0; i < s.inner; ++i) {
            CHECK(std::isnan(y[at(o, c, i)]) == (c < 3));
            CHECK(std::isnan(dx[at(o, c, i)]) == (c < 3));
          }
      CHECK(std::isfinite(dgamma[3]));
      CHECK(std::isfinite(dbeta[3]));
    }
  }
}

TEST_CASE("batch_norm's training form and the max pooling of its result in one pass: the same maxima, positions "
          "and statistics as the two kernels apart, every ISA build, team sizes, negative scales, NaN and infinities; "
          "the kernel call too",
          "[kernels]") {
  using dlrt::native::VectorIsa;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  struct Window {
    int64_t k, s, p;
  };
  for (Window win : {Window{3, 2, 1}, Window{2, 2, 0}}) {
    const int64_t n = 3, c = 32, h = 9, w = 8;
    const int64_t oh = (h + 2 * win.p - win.k) / win.s + 1, ow = (w + 2 * win.p - win.k) / win.s + 1;
    const auto channels = static_cast<size_t>(c);
    const std::vector<int64_t> g = {n, c, h, w, oh, ow, win.k, win.k, win.s, win.s, win.p, win.p, win.p, win.p,
                                    1, DLRT_LAYOUT_NHWC, DLRT_ACTIVATION_NONE};
    REQUIRE(dlrt::native::maxPoolTrainingSupports(g.data()));
    auto x = randomVector(size_t(n * h * w * c), 61, -2, 3), gamma = randomVector(channels, 62, -1.5, 1.5),
         beta = randomVector(channels, 63);
    gamma[3] = 0; // every normalised value of channel 3 ties (beta): the first position
    x[size_t(((1 * h + 4) * w + 3) * c + 5)] = nan; // channel 5: NaN statistics, NaN everywhere
    x[size_t(((2 * h + 1) * w + 2) * c + 7)] = inf; // channel 7: an infinite mean
    const dlrt::native::BatchNormShape s{n * h * w, c, 1};
    const size_t pooledSize = size_t(n * oh * ow * c);
    std::vector<double> scratch(size_t(dlrt::native::batchNormScratch(s)));
    auto same = [](float a, float b) { return std::isnan(a) ? std::isnan(b) : a == b; };
    for (VectorIsa isa : runnableIsas())
      for (int threads : {1, 2, 3}) {
        CAPTURE(win.k, int(isa), threads);
        std::vector<float> y(x.size()), wantPooled(pooledSize), wantMean(channels), wantVar(channels);
        std::vector<uint8_t> wantWhere(size_t(dlrt::native::maxPoolTrainingBytes(g.data())));
        dlrt::native::batchNormTraining(threads, s, x.data(), gamma.data(), beta.data(), y.data(), 1e-5f,
                                        wantMean.data(), wantVar.data(), scratch.data(), {}, isa);
        dlrt::native::maxPoolTraining(threads, g.data(), y.data(), wantPooled.data(), wantWhere.data(), isa);
        std::vector<float> pooled(pooledSize, 7.0f), mean(channels, 7.0f), var(channels, 7.0f);
        std::vector<uint8_t> where(wantWhere.size(), 200);
        dlrt::native::batchNormTrainingMaxPool(threads, g.data(), x.data(), gamma.data(), beta.data(), 1e-5f,
                                               mean.data(), var.data(), scratch.data(), pooled.data(), where.data(),
                                               isa);
        size_t wrong = 0;
        for (size_t i = 0; i < pooledSize; ++i)
          if ((!same(pooled[i], wantPooled[i]) || where[i] != wantWhere[i]) && wrong++ < 4)
            UNSCOPED_INFO("at " << i << ": " << pooled[i] << " @" << int(where[i]) << " want " << wantPooled[i]
                                << " @" << int(wantWhere[i]));
        for (size_t i = 0; i < channels; ++i)
          if ((!same(mean[i], wantMean[i]) || !same(var[i], wantVar[i])) && wrong++ < 8)
            UNSCOPED_INFO("channel " << i << ": " << mean[i] << ", " << var[i]);
        CHECK(wrong == 0);
        CHECK(std::isnan(wantMean[5]));
        CHECK(wantMean[7] == inf);
      }
    // Through the kernel call, the compiler's form of it: the same as the native pair.
    KernelContext ctx;
    std::vector<float> y(x.size()), wantPooled(pooledSize), wantMean(channels), wantVar(channels);
    std::vector<uint8_t> wantWhere(size_t(dlrt::native::maxPoolTrainingBytes(g.data())));
    dlrt::native::batchNormTraining(1, s, x.data(), gamma.data(), beta.data(), y.data(), 1e-5f, wantMean.data(),
                                    wantVar.data(), scratch.data());
    dlrt::native::maxPoolTraining(1, g.data(), y.data(), wantPooled.data(), wantWhere.data());
    std::vector<float> pooled(pooledSize), mean(channels), var(channels);
    std::vector<uint8_t> where(wantWhere.size(), 200);
    dlrt_k_batch_norm_max_pool_f32(&ctx, 0, g.data(), x.data(), gamma.data(), beta.data(), mean.data(), var.data(),
                                   pooled.data(), where.data(), 1e-5);
    REQUIRE(ctx.error.empty());
    CHECK(std::equal(where.begin(), where.end(), wantWhere.begin()));
    for (size_t i = 0; i < pooledSize; ++i) CHECK(same(pooled[i], wantPooled[i]));
  }
}

TEST_CASE("native batch_norm writes results of 32 MiB and more past the caches, the same bits as through them",
          "[kernels]") {
  using dlrt::native::BatchNormShape;
  // Results that large, 64-byte aligned, take non-temporal stores; the same results one
  // float off alignment take ordinary ones (BatchNorm.cpp's streams()).
  for (BatchNormShape s : {BatchNormShape{131072, 64, 1}, BatchNormShape{16, 64, 8192}}) {
    INFO("inner " << s.inner);
    const size_t size = size_t(s.outer * s.channels * s.inner), channels = size_t(s.channels);
    auto x = randomVector(size, 41), dy = randomVector(size, 42), gamma = randomVector(channels, 43, 0.5, 1.5),
         beta = randomVector(channels, 44);
    dlrt::native::AlignedFloats streamed(int64_t(size) + 16), cached(int64_t(size) + 16);
    std::vector<float> mean(channels), var(channels), dgamma(channels), dbeta(channels);
    std::vector<double> scratch(size_t(dlrt::native::batchNormScratch(s)));
    for (bool gradient : {false, true}) {
      for (float *out : {streamed.data(), cached.data() + 1}) {
        if (gradient)
          dlrt::native::batchNormBackward(2, s, x.data(), gamma.data(), mean.data(), var.data(), dy.data(), out,
                                          dgamma.data(), dbeta.data(), 1e-5f, scratch.data());
        else
          dlrt::native::batchNormTraining(2, s, x.data(), gamma.data(), beta.data(), out, 1e-5f, mean.data(),
                                          var.data(), scratch.data());
      }
      INFO("gradient " << gradient);
      REQUIRE(std::memcmp(streamed.data(), cached.data() + 1, size * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("batch_norm on an NHWC tensor computes what it does on the NCHW one, forward and backward", "[kernels]") {
  int64_t n = 3, c = 4, h = 5, w = 2;
  std::vector<int64_t> nchw = {n, c, h, w}, nhwc = {n, h, w, c};
  auto toNHWC = [&](const std::vector<float> &v) {
    std::vector<float> r(v.size());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x = 0; x < w; ++x) r[size_t(((i * h + y) * w + x) * c + ch)] = v[size_t(((i * c + ch) * h + y) * w + x)];
    return r;
  };
  size_t size = size_t(n * c * h * w);
  auto x = randomVector(size, 11, -1, 2), dy = randomVector(size, 12), gamma = randomVector(size_t(c), 13, 0.5, 1.5),
       beta = randomVector(size_t(c), 14);
  auto xl = toNHWC(x), dyl = toNHWC(dy);
  struct Run {
    std::vector<float> y, mean, var, dx, dgamma, dbeta;
  };
  auto run = [&](const std::vector<int64_t> &dims, const std::vector<float> &xs, const std::vector<float> &dys,
                 int64_t channelsLast) {
    KernelContext ctx;
    Run r{std::vector<float>(size), std::vector<float>(size_t(c)), std::vector<float>(size_t(c)),
          std::vector<float>(size), std::vector<float>(size_t(c)), std::vector<float>(size_t(c))};
    dlrt_k_batch_norm_f32(&ctx, 0, 4, dims.data(), xs.data(), gamma.data(), beta.data(), r.mean.data(), r.var.data(),
                          r.y.data(), 1e-5, 1, channelsLast, nullptr);
    dlrt_k_batch_norm_backward_f32(&ctx, 1, 4, dims.data(), xs.data(), gamma.data(), r.mean.data(), r.var.data(),
                                   dys.data(), r.dx.data(), r.dgamma.data(), r.dbeta.data(), 1e-5, channelsLast);
    REQUIRE(ctx.error.empty());
    return r;
  };
  Run planar = run(nchw, x, dy, 0), last = run(nhwc, xl, dyl, 1);
  requireClose(last.y, widen(toNHWC(planar.y)), 1e-5);
  requireClose(last.mean, widen(planar.mean), 1e-6);
  requireClose(last.var, widen(planar.var), 1e-6);
  requireClose(last.dx, widen(toNHWC(planar.dx)), 1e-5);
  requireClose(last.dgamma, widen(planar.dgamma), 1e-5);
  requireClose(last.dbeta, widen(planar.dbeta), 1e-5);
}

TEST_CASE("the RNN's training form computes what inference does and keeps each layer's sequence", "[kernels]") {
  // h = 16: an LSTM on the native recurrence, whose last layer keeps no sequence of its own.
  for (auto [gru, h] : {std::pair<bool, int64_t>{false, 6}, {true, 6}, {false, 16}}) {
    INFO((gru ? "gru" : "lstm") << " h " << h);
    const bool native = !gru && h % 16 == 0;
    int64_t b = 3, t = 4, in = 5, layers = 2, gates = gru ? 3 : 4;
    std::vector<std::vector<float>> params;
    for (int64_t l = 0; l < layers; ++l) {
      unsigned seed = unsigned(10 * l);
      params.push_back(randomVector(static_cast<size_t>(gates * h * (l == 0 ? in : h)), seed + 1, -0.4f, 0.4f));
      params.push_back(randomVector(static_cast<size_t>(gates * h * h), seed + 2, -0.4f, 0.4f));
      params.push_back(randomVector(static_cast<size_t>(gates * h), seed + 3, -0.4f, 0.4f));
      params.push_back(randomVector(static_cast<size_t>(gates * h), seed + 4, -0.4f, 0.4f));
    }
    std::vector<int64_t> addrs;
    for (auto &p : params) addrs.push_back(int64_t(reinterpret_cast<intptr_t>(p.data())));
    auto x = randomVector(static_cast<size_t>(b * t * in), 9);
    KernelContext ctx;
    std::vector<int64_t> g = {b, t, in, h, layers, gru, /*sequences=*/0, /*dx wanted=*/1};
    std::vector<float> yInfer(static_cast<size_t>(b * h)), yTrain(static_cast<size_t>(b * h));
    dlrt_k_rnn_f32(&ctx, 0, g.data(), addrs.data(), x.data(), yInfer.data(), nullptr);
    int64_t bytes = 0;
    dlrt_k_rnn_workspace_bytes(&ctx, 0, g.data(), &bytes);
    size_t seqBytes = size_t(b * t * h) * sizeof(float);
    REQUIRE(static_cast<size_t>(bytes) > 2 * seqBytes);
    std::vector<float> ws(static_cast<size_t>(bytes) / sizeof(float) + 1);
    dlrt_k_rnn_f32(&ctx, 0, g.data(), addrs.data(), x.data(), yTrain.data(), ws.data());
    REQUIRE(ctx.error.empty());
    requireClose(yTrain, widen(yInfer), 1e-6);

    // The layer sequences close the workspace, 64-byte aligned: layer 0's must be what a
    // one-layer run returns as its sequence; the last step of layer 1's (oneDNN's) is y.
    std::vector<int64_t> g1 = {b, t, in, h, 1, gru, /*sequences=*/1};
    std::vector<float> seq0(static_cast<size_t>(b * t * h));
    dlrt_k_rnn_f32(&ctx, 1, g1.data(), addrs.data(), x.data(), seq0.data(), nullptr);
    size_t slot = (seqBytes + 63) / 64 * 64;
    const char *base = reinterpret_cast<const char *>(ws.data());
    auto *stored0 = reinterpret_cast<const float *>(base + size_t(bytes) - (native ? 1 : 2) * slot);
    requireClose(std::vector<float>(stored0, stored0 + seq0.size()), widen(seq0), 1e-6);
    if (!native) {
      auto *stored1 = reinterpret_cast<const float *>(base + size_t(bytes) - slot);
      for (int64_t i = 0; i < b; ++i)
        for (int64_t k = 0; k < h; ++k)
          REQUIRE(stored1[(i * t + t - 1) * h + k] == yTrain[size_t(i * h + k)]);
    }

    // The backward pass from this workspace (another site, as in compiled code) equals
    // the one that reruns the forward itself.
    auto dy = randomVector(static_cast<size_t>(b * h), 11);
    size_t weightFloats = 0;
    for (auto &p : params) weightFloats += p.size();
    std::vector<float> dxKept(x.size()), dwKept(weightFloats), dxRerun(x.size()), dwRerun(weightFloats);
    dlrt_k_rnn_backward_f32(&ctx, 2, 0, g.data(), addrs.data(), x.data(), yTrain.data(), ws.data(), dy.data(),
                            dxKept.data(), dwKept.data());
    dlrt_k_rnn_grad_f32(&ctx, 3, g.data(), addrs.data(), x.data(), dy.data(), dxRerun.data(), dwRerun.data());
    REQUIRE(ctx.error.empty());
    REQUIRE(dxKept == dxRerun);
    REQUIRE(dwKept == dwRerun);
  }
}

TEST_CASE("the RNN repacks its weights when the parameters change, and only then", "[kernels]") {
  for (bool gru : {false, true}) {
    INFO((gru ? "gru" : "lstm"));
    int64_t b = 2, t = 3, in = 4, h = 5, gates = gru ? 3 : 4;
    std::vector<std::vector<float>> params = {randomVector(static_cast<size_t>(gates * h * in), 1),
                                              randomVector(static_cast<size_t>(gates * h * h), 2),
                                              randomVector(static_cast<size_t>(gates * h), 3),
                                              randomVector(static_cast<size_t>(gates * h), 4)};
    std::vector<int64_t> addrs;
    for (auto &p : params) addrs.push_back(int64_t(reinterpret_cast<intptr_t>(p.data())));
    auto x = randomVector(static_cast<size_t>(b * t * in), 5);
    std::vector<int64_t> g = {b, t, in, h, 1, gru, 0};
    auto run = [&](KernelContext &ctx) {
      std::vector<float> y(static_cast<size_t>(b * h));
      dlrt_k_rnn_f32(&ctx, 0, g.data(), addrs.data(), x.data(), y.data(), nullptr);
      REQUIRE(ctx.error.empty());
      return y;
    };
    KernelContext ctx;
    auto before = run(ctx);
    REQUIRE(run(ctx) == before);
    // A set_param writes the buffers in place and bumps the version: the next call sees it.
    for (auto &p : params)
      for (float &v : p) v *= 0.5f;
    ++ctx.paramVersion;
    auto after = run(ctx);
    REQUIRE(after != before);
    KernelContext fresh;
    REQUIRE(run(fresh) == after);
  }
}

TEST_CASE("a dense layer in a train step (its weight changed at every call, read unpacked) gives x W^T + b, the "
          "same bits in a new session's first step, and x W^T + b in inference after it (packed)",
          "[kernels]") {
  // 32 rows into 20 outputs: oneDNN's path (a few rows take the native kernel); into 5
  // (one block of outputs): the native kernel, its weight repacked at every change. With
  // the input's columns in NHWC order (a block of all 6 channels) and in blocks of 3 and
  // 2 channels too.
  int64_t m = 32, c = 6, hw = 2, k = c * hw * hw;
  for (int64_t n : {20, 5})
    for (int64_t block : {int64_t(0), c, int64_t(3), int64_t(2)}) {
      const bool byNhwc = block != 0;
      const int64_t nhwc[4] = {c, hw, hw, block};
      INFO((byNhwc ? "channel blocks of " : "plain ") << block << ", " << n << " outputs");
      auto x = randomVector(size_t(m * k), 1);
      auto bias = randomVector(size_t(n), 2);
      std::vector<float> w = randomVector(size_t(n * k), 3);
      auto run = [&](KernelContext &ctx) {
        std::vector<float> y(size_t(m * n));
        dlrt_k_dense_f32(&ctx, 0, m, k, n, x.data(), w.data(), bias.data(), y.data(), DLRT_ACTIVATION_NONE,
                         byNhwc ? nhwc : nullptr);
        REQUIRE(ctx.error.empty());
        return y;
      };
      // y = x W^T + b in double; with nhwc, x's columns are (c / B, h, w, c % B) and W's
      // (c, h, w).
      auto reference = [&] {
        std::vector<double> y(size_t(m * n));
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double sum = bias[size_t(j)];
            for (int64_t ch = 0; ch < c; ++ch)
              for (int64_t p = 0; p < hw * hw; ++p) {
                int64_t xc = byNhwc ? (ch / block * hw * hw + p) * block + ch % block : ch * hw * hw + p;
                sum += double(x[size_t(i * k + xc)]) * double(w[size_t(j * k + ch * hw * hw + p)]);
              }
            y[size_t(i * n + j)] = sum;
          }
        return y;
      };
      KernelContext ctx;
      ctx.trainStep = true;
      std::vector<float> last;
      for (int step = 0; step < 5; ++step) {
        INFO("step " << step);
        // The optimizer writes the weight in place; the next step sees a new version.
        for (float &v : w) v = v * 0.9f + 0.01f * float(step);
        ++ctx.paramVersion;
        last = run(ctx);
        requireClose(last, reference(), 1e-5);
      }
      // A run resumed from a checkpoint: a new session whose first step has these weights
      // computes what the fifth step here did, bit for bit (the kernels follow the entry,
      // never the history of calls).
      KernelContext resumed;
      resumed.trainStep = true;
      CHECK(run(resumed) == last);
      // Settled (inference after training): the same numbers, call after call.
      ctx.trainStep = false;
      auto settled = reference();
      requireClose(run(ctx), settled, 1e-5);
      requireClose(run(ctx), settled, 1e-5);
    }
}

TEST_CASE("a convolution adds the skip tensor its destination holds", "[kernels]") {
  // 64 channels and more given 16-channel blocks: Winograd (on AVX-512); given 8-channel
  // blocks, 32 channels or NHWC: direct. 3x3, padding 1, a bias, then relu.
  for (int64_t ch : {32, 64, 96})
      for (int64_t layout : {DLRT_LAYOUT_NHWC, DLRT_LAYOUT_NCHW16C, DLRT_LAYOUT_NCHW8C}) {
        INFO(ch << " channels, layout " << layout);
        int64_t n = 2, h = 9, w = 7, oc = ch;
        std::vector<int64_t> g = {n, ch, h, w, oc, 3, 3, h, w, 1, 1, 1, 1, 1, 1, 1, 1, 1, DLRT_ACTIVATION_RELU, layout};
        auto x = randomVector(size_t(n * h * w * ch), 21);
        auto wt = randomVector(size_t(oc * ch * 9), 22, -0.1f, 0.1f);
        auto bias = randomVector(size_t(oc), 23);
        auto skip = randomVector(size_t(n * h * w * oc), 24);
        std::vector<double> want(skip.size());
        for (int64_t i = 0; i < n; ++i)
          for (int64_t y = 0; y < h; ++y)
            for (int64_t xx = 0; xx < w; ++xx)
              for (int64_t o = 0; o < oc; ++o) {
                double acc = bias[size_t(o)];
                for (int64_t ky = 0; ky < 3; ++ky)
                  for (int64_t kx = 0; kx < 3; ++kx) {
                    int64_t iy = y + ky - 1, ix = xx + kx - 1;
                    if (iy < 0 || ix < 0 || iy >= h || ix >= w)
                      continue;
                    for (int64_t c = 0; c < ch; ++c)
                      acc += double(x[size_t(((i * h + iy) * w + ix) * ch + c)]) *
                             double(wt[size_t(((o * ch + c) * 3 + ky) * 3 + kx)]);
                  }
                size_t at = size_t(((i * h + y) * w + xx) * oc + o);
                want[at] = std::max(0.0, acc + double(skip[at]));
              }
        KernelContext ctx;
        std::vector<int64_t> nchw = {n, ch, h, w};
        // Blocked activations go through the blocking kernel (checked on its own below).
        auto relayout = [&](const std::vector<float> &v, bool back) {
          if (layout == DLRT_LAYOUT_NHWC)
            return v;
          std::vector<float> b(v.size());
          dlrt_k_block_channels_f32(&ctx, 9, nchw.data(), v.data(), b.data(), back, dlrt_layout_block(layout));
          return b;
        };
        std::vector<float> xl = relayout(x, false), skipl = relayout(skip, false);
        std::vector<float> y(skip.size(), -7.0f);
        // Twice: the second call reuses the cached primitive and its staging.
        for (int call = 0; call < 2; ++call) {
          y = skipl;
          dlrt_k_conv2d_f32(&ctx, 0, g.data(), xl.data(), wt.data(), bias.data(), y.data(), nullptr, 0.0, 1);
          REQUIRE(ctx.error.empty());
          requireClose(relayout(y, true), want, 1e-5);
        }
      }
}

TEST_CASE("a transposed convolution gives PyTorch's ConvTranspose2d where output_padding exceeds padding, dilated "
          "or not (the rows and columns no window reaches hold the bias), NCHW and NHWC, grouped, with and without a "
          "bias",
          "[kernels]") {
  // Per dim: stride, padding, output_padding, dilation, kernel, input size. PyTorch's
  // output is the full transposed convolution's rows [p, p + out), the rows past its end
  // holding the bias alone; the kernel's far padding word is p - output_padding.
  struct Dim {
    int64_t s, p, op, d, k, in;
  };
  const std::vector<std::pair<Dim, Dim>> cases = {
      {{1, 0, 1, 2, 2, 5}, {1, 0, 1, 2, 2, 4}}, // difftest seed 168190: dilated, far padding -1
      {{2, 0, 1, 1, 2, 4}, {3, 1, 2, 2, 3, 3}}, // undilated -1; dilated -1 with near padding
      {{2, 1, 1, 2, 3, 3}, {1, 1, 0, 1, 3, 4}}, // far padding 0; plain
      {{3, 1, 2, 1, 1, 1}, {2, 0, 1, 3, 2, 3}}, // every reached row cropped away: bias alone
  };
  for (auto [dh, dw] : cases)
    for (int64_t groups : {1, 2})
      for (bool withBias : {true, false})
        for (int64_t layout : {DLRT_LAYOUT_NCHW, DLRT_LAYOUT_NHWC}) {
          const int64_t n = 2, c = 4, oc = 6, icg = c / groups, ocg = oc / groups;
          const int64_t oh = (dh.in - 1) * dh.s - 2 * dh.p + dh.d * (dh.k - 1) + dh.op + 1;
          const int64_t ow = (dw.in - 1) * dw.s - 2 * dw.p + dw.d * (dw.k - 1) + dw.op + 1;
          INFO("H (s p op d k) " << dh.s << " " << dh.p << " " << dh.op << " " << dh.d << " " << dh.k << ", W " << dw.s
                                 << " " << dw.p << " " << dw.op << " " << dw.d << " " << dw.k << ", groups " << groups
                                 << ", bias " << withBias << ", layout " << layout);
          std::vector<int64_t> g = {n,    c,    dh.in, dw.in,          oc,         dh.k, dw.k,
                                    oh,   ow,   dh.s,  dw.s,           dh.p,       dw.p, dh.p - dh.op,
                                    dw.p - dw.op, dh.d, dw.d, groups, DLRT_ACTIVATION_NONE, layout};
          auto x = randomVector(size_t(n * c * dh.in * dw.in), 31);
          auto wt = randomVector(size_t(c * ocg * dh.k * dw.k), 32); // [C, OC/G, KH, KW]
          auto bias = randomVector(size_t(oc), 33);
          const bool nhwc = layout == DLRT_LAYOUT_NHWC;
          auto at = [&](int64_t i, int64_t ch, int64_t y, int64_t xx, int64_t chs, int64_t hs, int64_t ws) {
            return size_t(nhwc ? ((i * hs + y) * ws + xx) * chs + ch : ((i * chs + ch) * hs + y) * ws + xx);
          };
          std::vector<double> want(size_t(n * oc * oh * ow));
          for (int64_t i = 0; i < n; ++i)
            for (int64_t o = 0; o < oc; ++o)
              for (int64_t y = 0; y < oh; ++y)
                for (int64_t xx = 0; xx < ow; ++xx) {
                  double acc = withBias ? bias[size_t(o)] : 0.0;
                  const int64_t grp = o / ocg;
                  for (int64_t ky = 0; ky < dh.k; ++ky)
                    for (int64_t kx = 0; kx < dw.k; ++kx) {
                      // Input (iy, ix) reaches full row iy * s + ky * d = y + p.
                      int64_t ry = y + dh.p - ky * dh.d, rx = xx + dw.p - kx * dw.d;
                      if (ry < 0 || rx < 0 || ry % dh.s || rx % dw.s) continue;
                      int64_t iy = ry / dh.s, ix = rx / dw.s;
                      if (iy >= dh.in || ix >= dw.in) continue;
                      for (int64_t ci = grp * icg; ci < (grp + 1) * icg; ++ci)
                        acc += double(x[at(i, ci, iy, ix, c, dh.in, dw.in)]) *
                               double(wt[size_t(((ci * ocg + o % ocg) * dh.k + ky) * dw.k + kx)]);
                    }
                  want[at(i, o, y, xx, oc, oh, ow)] = acc;
                }
          KernelContext ctx;
          // Twice: the second call reuses the cached primitive and reachedOutput.
          for (int call = 0; call < 2; ++call) {
            std::vector<float> y(want.size(), -7.0f);
            dlrt_k_deconv2d_f32(&ctx, 0, g.data(), x.data(), wt.data(), withBias ? bias.data() : nullptr, y.data());
            REQUIRE(ctx.error.empty());
            requireClose(y, want, 1e-5);
          }
        }
}

/// A 3x3 convolution of stride 1 and padding 1, x NHWC, w OIHW, without bias, in double,
/// and per output the error scale of a Winograd algorithm: the sum over the window of each
/// input's magnitude times its filter's largest tap (the transforms mix a filter's taps, so
/// an input's rounding is relative to those, not to the tap it meets). Non-finite inputs
/// are left out of the scale.
static std::pair<std::vector<double>, std::vector<double>>
directConv3x3(const std::vector<float> &x, const std::vector<float> &w, int64_t n, int64_t ch, int64_t h, int64_t wd,
              int64_t oc) {
  std::vector<double> want(size_t(n * h * wd * oc)), scale(want.size()), largestTap(size_t(oc * ch));
  for (size_t f = 0; f < largestTap.size(); ++f)
    for (size_t tap = 0; tap < 9; ++tap) largestTap[f] = std::max(largestTap[f], double(std::abs(w[f * 9 + tap])));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t xx = 0; xx < wd; ++xx)
        for (int64_t o = 0; o < oc; ++o) {
          double acc = 0, mag = 0;
          for (int64_t ky = 0; ky < 3; ++ky)
            for (int64_t kx = 0; kx < 3; ++kx) {
              int64_t iy = y + ky - 1, ix = xx + kx - 1;
              if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
              for (int64_t c = 0; c < ch; ++c) {
                double in = x[size_t(((i * h + iy) * wd + ix) * ch + c)];
                acc += in * double(w[size_t(((o * ch + c) * 3 + ky) * 3 + kx)]);
                if (std::isfinite(in)) mag += std::abs(in) * largestTap[size_t(o * ch + c)];
              }
            }
          want[size_t(((i * h + y) * wd + xx) * oc + o)] = acc;
          scale[size_t(((i * h + y) * wd + xx) * oc + o)] = mag;
        }
  return {want, scale};
}

TEST_CASE("a convolution by Winograd's algorithm (oneDNN's or native) gives the direct sums' NaN, infinities, "
          "near-overflow numbers and outliers: NaN only where an output reads one, +-inf where it reads one infinity, "
          "an outlier in no output that does not read it",
          "[kernels]") {
  // 2 images of 16x16: 32 tiles of 4x4, F(4x4, 3x3) where the input's range allows it.
  // 256 channels in 16-channel blocks: oneDNN's Winograd on AVX-512 (guarded by a scan of
  // the input); 32 and 64 channels, or 8-channel blocks: the native one where
  // nativeWinograd says so (tiles checked, F(4x4) guarded by the same scan), else direct.
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t ch : {32, 64, 256})
    for (int64_t layout : {DLRT_LAYOUT_NCHW16C, DLRT_LAYOUT_NCHW8C})
      for (float huge : {0.0f, 1e33f, 1e6f}) {
        INFO(ch << " channels, layout " << layout << ", huge " << huge);
        int64_t n = 2, h = 16, w = 16, oc = ch;
        std::vector<int64_t> g = {n, ch, h, w, oc, 3, 3, h, w, 1, 1, 1, 1, 1, 1, 1, 1, 1, DLRT_ACTIVATION_NONE, layout};
        auto x = randomVector(size_t(n * h * w * ch), 31); // NHWC
        auto wt = randomVector(size_t(oc * ch * 9), 32, -0.1f, 0.1f);
        auto at = [&](int64_t i, int64_t y, int64_t xx, int64_t c) { return size_t(((i * h + y) * w + xx) * ch + c); };
        if (huge == 0.0f) {
          x[at(0, 5, 5, 3)] = inf;
          x[at(0, 1, 8, 7)] = -inf;
          x[at(1, 6, 2, 5)] = nan;
        } else {
          // 1e33: finite sums that a transform scaling them by 10^4 would overflow. 1e6: an
          // outlier whose rounding error in a 6x6 patch's transform (F(4x4)) would reach
          // outputs 2 pixels away, which do not read it, by about 1.
          x[at(1, 3, 3, 1)] = huge;
        }
        // The direct sums in double and the error scale of a Winograd algorithm. A float sum
        // of -106 whose terms reach 1e5 is as close as 0.03; one outside an outlier's reach,
        // to about 1e-5 of its scale.
        auto [want, scale] = directConv3x3(x, wt, n, ch, h, w, oc);
        KernelContext ctx;
        std::vector<int64_t> nchw = {n, ch, h, w};
        std::vector<float> xl(x.size()), yl(want.size()), y(want.size());
        dlrt_k_block_channels_f32(&ctx, 9, nchw.data(), x.data(), xl.data(), false, dlrt_layout_block(layout));
        dlrt_k_conv2d_f32(&ctx, 0, g.data(), xl.data(), wt.data(), nullptr, yl.data(), nullptr, 0.0, 0);
        REQUIRE(ctx.error.empty());
        dlrt_k_block_channels_f32(&ctx, 9, nchw.data(), yl.data(), y.data(), true, dlrt_layout_block(layout));
        size_t wrong = 0, special = 0;
        for (size_t k = 0; k < y.size(); ++k) {
          double e = want[k];
          special += !std::isfinite(e) || (huge > 0 && std::abs(e) > 1e-3 * huge);
          bool ok = std::isnan(e) ? std::isnan(y[k])
                    : std::isinf(e) ? y[k] == e
                                    : std::abs(y[k] - e) <= 1e-5 * (1.0 + scale[k]);
          if (!ok && wrong++ < 3) UNSCOPED_INFO("at " << k << ": " << y[k] << " want " << e);
        }
        REQUIRE(special > 0);
        CHECK(wrong == 0);
      }
}

TEST_CASE("one convolution site runs Winograd's F(2x2) and F(4x4) call by call (batch, outliers) with the filters "
          "of each",
          "[kernels]") {
  // 64 channels, 16x16: 2 and 8 images have 32 and 128 tiles of 4x4 (F(4x4) where the input
  // allows it), 1 image 16 (F(2x2)); an outlier sends a call back to F(2x2). Each tile's
  // transformed filters are cached apart: read with the other's, the outputs are wrong.
  const int64_t ch = 64, h = 16, w = 16;
  auto wt = randomVector(size_t(ch * ch * 9), 52, -0.1f, 0.1f);
  for (int64_t layout : {DLRT_LAYOUT_NCHW16C, DLRT_LAYOUT_NCHW8C}) {
    KernelContext ctx; // a site's layout is the compiler's, one for all its calls
    for (auto [n, outlier] : {std::pair<int64_t, bool>{8, false}, {1, false}, {8, true}, {2, false}, {1, true}}) {
      INFO("layout " << layout << ", " << n << " images, outlier " << outlier);
      std::vector<int64_t> g = {n, ch, h, w, ch, 3, 3, h, w, 1, 1, 1, 1, 1, 1, 1, 1, 1, DLRT_ACTIVATION_NONE, layout};
      auto x = randomVector(size_t(n * h * w * ch), unsigned(53 + n)); // NHWC
      if (outlier) x[size_t(((0 * h + 7) * w + 7) * ch + 5)] = 1e7f;
      auto [want, scale] = directConv3x3(x, wt, n, ch, h, w, ch);
      std::vector<int64_t> nchw = {n, ch, h, w};
      std::vector<float> xl(x.size()), yl(x.size()), y(x.size());
      dlrt_k_block_channels_f32(&ctx, 9, nchw.data(), x.data(), xl.data(), false, dlrt_layout_block(layout));
      dlrt_k_conv2d_f32(&ctx, 0, g.data(), xl.data(), wt.data(), nullptr, yl.data(), nullptr, 0.0, 0);
      REQUIRE(ctx.error.empty());
      dlrt_k_block_channels_f32(&ctx, 9, nchw.data(), yl.data(), y.data(), true, dlrt_layout_block(layout));
      // Within 1e-5 of the scale (about 7 here; F(4x4)'s error is about 1e-6 of it). An
      // outlier's rounding in outputs that do not read it, with F(4x4), would be about 0.1.
      size_t wrong = 0;
      for (size_t k = 0; k < y.size(); ++k)
        if (std::abs(y[k] - want[k]) > 1e-5 * (1 + scale[k]) && wrong++ < 3)
          UNSCOPED_INFO("at " << k << ": " << y[k] << " want " << want[k] << ", scale " << scale[k]);
      CHECK(wrong == 0);
    }
  }
}

/// A 3x3 convolution of stride 1, x and y NHWC, w OIHW, its data and weight gradients for
/// dy, in double, each with its error scale: the sum of its terms' magnitudes.
struct TrainConvReference {
  std::vector<double> y, yScale, dx, dxScale, dw, dwScale;
};

static TrainConvReference trainConvReference(const int64_t *g, const std::vector<float> &x,
                                             const std::vector<float> &wt, const std::vector<float> &dy) {
  const int64_t n = g[0], c = g[1], h = g[2], w = g[3], k = g[4], oh = g[7], ow = g[8], pt = g[11], pl = g[12];
  TrainConvReference r;
  r.y.assign(size_t(n * oh * ow * k), 0.0);
  r.yScale = r.y;
  r.dx.assign(x.size(), 0.0);
  r.dxScale = r.dx;
  r.dw.assign(wt.size(), 0.0);
  r.dwScale = r.dw;
  // y[b][q][p][o] = sum x[b][q - pt + i][p - pl + j][ch] w[o][ch][i][j]; dx the transpose.
  // The filters and dw tap by tap ([i][j][o][ch]), so that the inner loop runs along rows.
  std::vector<double> wTaps(wt.size()), dwTaps(wt.size(), 0.0), dwTapsScale(wt.size(), 0.0);
  auto tapAt = [&](int64_t o, int64_t ch, int64_t i, int64_t j) { return size_t(((i * 3 + j) * k + o) * c + ch); };
  auto oihwAt = [&](int64_t o, int64_t ch, int64_t i, int64_t j) { return size_t(((o * c + ch) * 3 + i) * 3 + j); };
  for (int64_t o = 0; o < k; ++o)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) wTaps[tapAt(o, ch, i, j)] = wt[oihwAt(o, ch, i, j)];
  for (int64_t b = 0; b < n; ++b)
    for (int64_t q = 0; q < oh; ++q)
      for (int64_t col0 = 0; col0 < ow; ++col0)
        for (int64_t i = 0; i < 3; ++i)
          for (int64_t j = 0; j < 3; ++j) {
            const int64_t row = q - pt + i, col = col0 - pl + j;
            if (row < 0 || row >= h || col < 0 || col >= w) continue;
            const size_t x0 = size_t(((b * h + row) * w + col) * c), y0 = size_t(((b * oh + q) * ow + col0) * k);
            for (int64_t o = 0; o < k; ++o) {
              const double dyv = dy[y0 + size_t(o)];
              const size_t t0 = tapAt(o, 0, i, j);
              double yv = 0, yScale = 0;
              for (int64_t ch = 0; ch < c; ++ch) {
                const double xv = x[x0 + size_t(ch)], wv = wTaps[t0 + size_t(ch)];
                yv += xv * wv;
                r.dx[x0 + size_t(ch)] += dyv * wv;
                dwTaps[t0 + size_t(ch)] += dyv * xv;
                // Non-finite terms are left out of the scales.
                if (std::isfinite(xv * wv)) yScale += std::abs(xv * wv);
                if (std::isfinite(dyv * wv)) r.dxScale[x0 + size_t(ch)] += std::abs(dyv * wv);
                if (std::isfinite(dyv * xv)) dwTapsScale[t0 + size_t(ch)] += std::abs(dyv * xv);
              }
              r.y[y0 + size_t(o)] += yv;
              r.yScale[y0 + size_t(o)] += yScale;
            }
          }
  for (int64_t o = 0; o < k; ++o)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          r.dw[oihwAt(o, ch, i, j)] = dwTaps[tapAt(o, ch, i, j)];
          r.dwScale[oihwAt(o, ch, i, j)] = dwTapsScale[tapAt(o, ch, i, j)];
        }
  return r;
}

/// The outputs of `got` that differ from `want`: NaN where want is NaN, want's infinity
/// where it is one, else within `tolerance` of 1 + the scale; the first few described.
static size_t mismatches(const char *what, const std::vector<float> &got, const std::vector<double> &want,
                         const std::vector<double> &scale, double tolerance) {
  size_t wrong = 0;
  for (size_t at = 0; at < got.size(); ++at) {
    const double e = want[at];
    const bool ok = std::isnan(e)   ? std::isnan(got[at])
                    : std::isinf(e) ? double(got[at]) == e
                                    : std::abs(got[at] - e) <= tolerance * (1 + scale[at]);
    if (!ok && wrong++ < 3)
      UNSCOPED_INFO(what << " at " << at << ": " << got[at] << " want " << e << ", scale " << scale[at]);
  }
  return wrong;
}

/// One train step's three convolution kernels on sites 0, 1 and 2 of `ctx` (outputs
/// filled with 7 first), each output checked against trainConvReference within 1e-5.
static void checkTrainConv(KernelContext &ctx, const int64_t *g, const std::vector<float> &x,
                           const std::vector<float> &wt, const std::vector<float> &dy) {
  TrainConvReference want = trainConvReference(g, x, wt, dy);
  std::vector<float> y(want.y.size(), 7.0f), dx(want.dx.size(), 7.0f), dw(want.dw.size(), 7.0f);
  dlrt_k_conv2d_f32(&ctx, 0, g, x.data(), wt.data(), nullptr, y.data(), nullptr, 0.0, 0);
  dlrt_k_conv2d_backward_data_f32(&ctx, 1, g, dy.data(), wt.data(), dx.data());
  dlrt_k_conv2d_backward_weights_f32(&ctx, 2, g, x.data(), dy.data(), dw.data());
  REQUIRE(ctx.error.empty());
  CHECK(mismatches("y", y, want.y, want.yScale, 1e-5) == 0);
  CHECK(mismatches("dx", dx, want.dx, want.dxScale, 1e-5) == 0);
  CHECK(mismatches("dw", dw, want.dw, want.dwScale, 1e-5) == 0);
}

TEST_CASE("a train step's NHWC 3x3 convolution and its data and weight gradients by Winograd (native, or oneDNN's "
          "from 128 channels with AVX-512): against double, padding on any side, the filters changing step by step",
          "[kernels]") {
  // 3 images of 56x56, 64 -> 64 channels: at least 8748 output pixels, native Winograd on
  // AVX-512 and AVX2 (F(4x4); the weight gradient's Winograd takes 64 channels or more).
  // 2 images of 14x14, 128 -> 128: oneDNN's F(4x4, 3x3) forward and data gradient with
  // AVX-512 (trainingWinogradByOneDnn), its direct kernels where oneDNN has no Winograd
  // kernel for the padding, the weight gradient native; capped at AVX2, native Winograd.
  // 1 image of 10x10, 256 -> 256: with AVX-512 the weight gradient by oneDNN's too. dx is
  // the convolution of dy by the filters turned half a turn, padded 2 - p.
  struct Pads {
    int64_t t, l, b, r;
  };
  struct Case {
    int64_t n, c, h;
  };
  for (Case cs : {Case{3, 64, 56}, Case{2, 128, 14}, Case{1, 256, 10}})
    for (Pads p : {Pads{1, 1, 1, 1}, Pads{0, 0, 0, 0}, Pads{2, 1, 0, 2}}) {
      INFO(cs.n << " images of " << cs.h << "x" << cs.h << ", " << cs.c << " channels, padding " << p.t << " " << p.l
                << " " << p.b << " " << p.r);
      const int64_t n = cs.n, c = cs.c, k = cs.c, h = cs.h, w = cs.h;
      const int64_t oh = h + p.t + p.b - 2, ow = w + p.l + p.r - 2;
      const int64_t g[20] = {n, c, h, w, k, 3, 3, oh, ow, 1, 1, p.t, p.l, p.b, p.r, 1, 1, 1, DLRT_ACTIVATION_NONE,
                             DLRT_LAYOUT_NHWC};
      auto x = randomVector(size_t(n * h * w * c), 61), dy = randomVector(size_t(n * oh * ow * k), 62);
      auto wt = randomVector(size_t(k * c * 9), 63, -0.2f, 0.2f);
      KernelContext ctx;
      for (int step = 0; step < 2; ++step) {
        INFO("step " << step);
        checkTrainConv(ctx, g, x, wt, dy);
        // The optimizer's update: new filters in the same buffer, a new parameter version.
        for (float &v : wt) v = 0.5f * v - 0.01f;
        ++ctx.paramVersion;
      }
    }
}

TEST_CASE("convolution filters into and out of oneDNN's 16 x 16 channel blocks natively: the bytes oneDNN's reorder "
          "writes, both ways, on 1 and 2 threads",
          "[kernels]") {
  using tag = dnnl::memory::format_tag;
  struct Case {
    int64_t o, i, kh, kw;
  };
  for (Case cs : {Case{16, 16, 1, 1}, Case{512, 256, 3, 3}, Case{32, 48, 5, 5}, Case{64, 16, 7, 7}, Case{16, 32, 1, 3}}) {
    INFO(cs.o << "x" << cs.i << "x" << cs.kh << "x" << cs.kw);
    const int64_t taps = cs.kh * cs.kw;
    if (!dlrt::native::filterBlocksSupported(cs.o, cs.i, taps)) {
      WARN("no AVX-512: the native moves are not run here");
      return;
    }
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const dnnl::memory::dims dims = {cs.o, cs.i, cs.kh, cs.kw};
    dnnl::memory plain({dims, dnnl::memory::data_type::f32, tag::abcd}, engine),
        blocks({dims, dnnl::memory::data_type::f32, tag::ABcd16b16a}, engine);
    const auto w = randomVector(size_t(cs.o * cs.i * taps), 95);
    std::memcpy(plain.get_data_handle(), w.data(), w.size() * sizeof(float));
    dnnl::reorder(plain, blocks).execute(stream, plain, blocks);
    stream.wait();
    const auto *want = static_cast<const float *>(blocks.get_data_handle());
    for (int threads : {1, 2}) {
      std::vector<float> got(w.size(), 7.0f), back(w.size(), 7.0f);
      dlrt::native::toFilterBlocks(threads, cs.o, cs.i, taps, w.data(), got.data());
      CHECK(std::memcmp(got.data(), want, got.size() * sizeof(float)) == 0);
      dlrt::native::fromFilterBlocks(threads, cs.o, cs.i, taps, want, back.data());
      CHECK(std::memcmp(back.data(), w.data(), w.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("convolution filters packed once per parameter buffer and version for every site that reads them: two "
          "layers' filters swapping buffers step by step, as a train step's parameters do, each site's forward and data "
          "gradient against double",
          "[kernels]") {
  // 128 channels at 14x14: oneDNN's Winograd forward and data gradient with AVX-512 (the
  // filters in the same blocks for both), its direct kernels capped at AVX2.
  const int64_t n = 2, c = 128, k = 128, h = 14, w = 14;
  const int64_t g[20] = {n, c, h, w, k, 3, 3, h, w, 1, 1, 1, 1, 1, 1, 1, 1, 1, DLRT_ACTIVATION_NONE, DLRT_LAYOUT_NHWC};
  auto x = randomVector(size_t(n * h * w * c), 91), dy = randomVector(size_t(n * h * w * k), 92);
  std::vector<float> bufferP(size_t(k * c * 9)), bufferQ(bufferP.size());
  KernelContext ctx;
  for (int step = 0; step < 4; ++step) {
    // Layer 1's filters in P on even steps, in Q on odd ones; layer 2's in the other.
    std::vector<float> &one = step % 2 ? bufferQ : bufferP, &two = step % 2 ? bufferP : bufferQ;
    one = randomVector(one.size(), unsigned(100 + step), -0.2f, 0.2f);
    two = randomVector(two.size(), unsigned(200 + step), -0.2f, 0.2f);
    ++ctx.paramVersion;
    for (int layer = 0; layer < 2; ++layer) {
      INFO("step " << step << ", layer " << layer);
      const std::vector<float> &wt = layer == 0 ? one : two;
      TrainConvReference want = trainConvReference(g, x, wt, dy);
      std::vector<float> y(want.y.size(), 7.0f), dx(want.dx.size(), 7.0f);
      dlrt_k_conv2d_f32(&ctx, layer, g, x.data(), wt.data(), nullptr, y.data(), nullptr, 0.0, 0);
      dlrt_k_conv2d_backward_data_f32(&ctx, 2 + layer, g, dy.data(), wt.data(), dx.data());
      REQUIRE(ctx.error.empty());
      CHECK(mismatches("y", y, want.y, want.yScale, 1e-5) == 0);
      CHECK(mismatches("dx", dx, want.dx, want.dxScale, 1e-5) == 0);
    }
  }
}

TEST_CASE("a train step's 3x3 convolution of 64, 128 and 256 channels (the weight gradient by native F(4x4), or by "
          "oneDNN's from 256 with AVX-512) and its gradients give the direct sums' NaN, infinities, near-overflow "
          "numbers and outliers, call by call",
          "[kernels]") {
  // One site per kernel, called with ordinary operands between special ones: each call is
  // checked on its own (scanWinogradInput, winogradSafe) and runs the direct algorithm
  // where Winograd would not give the direct sums (an outlier of 1e6 among values of 1:
  // F(4x4)'s rounding would put about 0.1 into outputs that do not read it; in dy, errors
  // of 7e-4 of their terms into weight-gradient taps). 2 images of 12x12 are too few
  // pixels for native Winograd's forward and data gradient (direct there).
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  enum Special { kNone, kNonFinite, kNearOverflow, kOutlier };
  for (int64_t c : {64, 128, 256}) {
    const int64_t n = 2, k = c, h = 12, w = 12;
    const int64_t g[20] = {n, c, h, w, k, 3, 3, h, w, 1, 1, 1, 1, 1, 1, 1, 1, 1, DLRT_ACTIVATION_NONE,
                           DLRT_LAYOUT_NHWC};
    auto at = [&](int64_t b, int64_t row, int64_t col, int64_t ch) {
      return size_t(((b * h + row) * w + col) * c + ch);
    };
    const auto wt = randomVector(size_t(k * c * 9), 73, -0.1f, 0.1f);
    KernelContext ctx;
    for (bool inX : {true, false})
      for (Special special : {kNone, kNonFinite, kNone, kNearOverflow, kOutlier, kNone}) {
        INFO(c << " channels, " << (inX ? "x" : "dy") << " special " << int(special));
        auto x = randomVector(size_t(n * h * w * c), 71), dy = randomVector(size_t(n * h * w * k), 72);
        std::vector<float> &v = inX ? x : dy;
        switch (special) {
        case kNone: break;
        case kNonFinite:
          v[at(0, 5, 5, 3)] = inf;
          v[at(0, 1, 8, 7)] = -inf;
          v[at(1, 6, 2, 5)] = nan;
          break;
        case kNearOverflow: v[at(1, 3, 3, 1)] = 1e33f; break;
        case kOutlier: v[at(1, 3, 3, 1)] = 1e6f; break;
        }
        checkTrainConv(ctx, g, x, wt, dy);
      }
  }
}

/// The weight gradient of any NHWC convolution (groups 1) in double, OIHW, with each
/// tap's error scale (the sum of its terms' magnitudes); padding is left out, as the direct
/// sums leave it.
static void weightGradientReference(const int64_t *g, const std::vector<float> &x, const std::vector<float> &dy,
                                    std::vector<double> &dw, std::vector<double> &scale) {
  const int64_t n = g[0], c = g[1], h = g[2], w = g[3], k = g[4], kh = g[5], kw = g[6], oh = g[7], ow = g[8];
  dw.assign(size_t(k * c * kh * kw), 0.0);
  scale = dw;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t iy = oy * g[9] + i * g[15] - g[11], ix = ox * g[10] + j * g[16] - g[12];
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (int64_t ch = 0; ch < c; ++ch) {
              const double xv = x[size_t(((b * h + iy) * w + ix) * c + ch)];
              for (int64_t o = 0; o < k; ++o) {
                const double term = xv * dy[size_t(((b * oh + oy) * ow + ox) * k + o)];
                const size_t at = size_t(((o * c + ch) * kh + i) * kw + j);
                dw[at] += term;
                if (std::isfinite(term)) scale[at] += std::abs(term);
              }
            }
          }
}

TEST_CASE("a first convolution's weight gradient (1 to 4 input channels) by native outer products: every ISA build, "
          "kernel sizes, strides, dilations and padding, against double; the same bits on 1, 2 and 3 threads; an "
          "infinite dy beside padding gives the direct sums' values",
          "[kernels]") {
  using dlrt::native::VectorIsa;
  struct Case {
    int64_t n, c, h, w, k, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
  };
  // ResNet-18's stem on small images (7x7, stride 2, padding 3); the CNN sample's first
  // layer (1 -> 16, 3x3); 24 and 8 output channels (vectors of 8); a 5x3 kernel with
  // stride (1, 2), dilation (2, 1) and padding on some sides; a batch with fewer rows than
  // the kernel's groups; a stem whose output rows are long enough for the kernel call to
  // choose this kernel (with AVX-512 and AVX2).
  for (Case cs : {Case{2, 3, 29, 31, 64, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1}, Case{5, 1, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
                  Case{3, 4, 9, 13, 24, 3, 3, 1, 1, 0, 1, 2, 0, 1, 1}, Case{2, 2, 11, 12, 8, 5, 3, 1, 2, 2, 1, 0, 3, 2, 1},
                  Case{1, 3, 6, 6, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, Case{1, 3, 40, 120, 64, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1}}) {
    const int64_t oh = (cs.h + cs.pt + cs.pb - cs.dh * (cs.kh - 1) - 1) / cs.sh + 1;
    const int64_t ow = (cs.w + cs.pl + cs.pr - cs.dw * (cs.kw - 1) - 1) / cs.sw + 1;
    const int64_t g[20] = {cs.n,  cs.c,  cs.h,  cs.w,  cs.k,  cs.kh, cs.kw, oh, ow, cs.sh, cs.sw, cs.pt, cs.pl, cs.pb,
                           cs.pr, cs.dh, cs.dw, 1,     DLRT_ACTIVATION_NONE, DLRT_LAYOUT_NHWC};
    INFO(cs.n << " images of " << cs.h << "x" << cs.w << "x" << cs.c << " -> " << cs.k << ", kernel " << cs.kh << "x"
              << cs.kw << ", output " << oh << "x" << ow);
    REQUIRE(dlrt::native::fewChannelWeightGradientSupports(g));
    auto x = randomVector(size_t(cs.n * cs.h * cs.w * cs.c), 81), dy = randomVector(size_t(cs.n * oh * ow * cs.k), 82);
    std::vector<double> want, scale;
    weightGradientReference(g, x, dy, want, scale);
    const dlrt::native::WeightGradientShape s(g);
    for (VectorIsa isa : runnableIsas()) {
      std::vector<float> first;
      for (int threads : {1, 2, 3}) {
        INFO("ISA " << int(isa) << ", " << threads << " threads");
        std::vector<float> dw(want.size(), 7.0f),
            scratch(size_t(dlrt::native::fewChannelWeightGradientScratch(threads, s)), 5.0f);
        REQUIRE(dlrt::native::fewChannelWeightGradient(threads, s, x.data(), dy.data(), dw.data(), scratch.data(), isa));
        CHECK(mismatches("dw", dw, want, scale, 1e-5) == 0);
        if (first.empty()) first = dw;
        else CHECK(std::memcmp(first.data(), dw.data(), dw.size() * sizeof(float)) == 0);
      }
    }
    // Through the kernel call, where it takes this kernel (the last case): an infinity in
    // dy at an output pixel whose window reads padding (the first), and NaN in x, give what
    // the direct sums give. (oneDNN's own kernel for the dilated case, capped at AVX2, is
    // an im2col product that gives NaN there, as PyTorch does without mkldnn.)
    if (cs.w != 120) continue;
    const float inf = std::numeric_limits<float>::infinity();
    for (int special = 0; special < 3; ++special) {
      INFO("special " << special);
      auto xs = x, dys = dy;
      if (special == 1) dys[0] = inf;
      if (special == 2) xs[xs.size() / 2] = std::numeric_limits<float>::quiet_NaN();
      weightGradientReference(g, xs, dys, want, scale);
      KernelContext ctx;
      std::vector<float> dw(want.size(), 7.0f);
      dlrt_k_conv2d_backward_weights_f32(&ctx, 0, g, xs.data(), dys.data(), dw.data());
      REQUIRE(ctx.error.empty());
      CHECK(mismatches("dw", dw, want, scale, 1e-5) == 0);
    }
  }
}

TEST_CASE("a train step's 1x1 strided NHWC convolution of fewer than 16 channels: its weight gradient on 1 and 2 "
          "threads, f32 and bf16, against double (oneDNN's 1x1 kernels overran their scratchpad there)",
          "[kernels][strided1x1]") {
  // oneDNN's 1x1 weight-gradient kernels copy a strided input into a space of whole blocks
  // of 8 or 16 channels sized for fewer (ConvShape::overrunsStridedCopy): capped at AVX2,
  // the first case's gradient was off by up to 6.6 on two threads; with AVX-512 the 64x64
  // ones wrote past the scratchpad into the heap. 16 channels: the kernel is right there.
  struct Case {
    int64_t n, c, h, w, k, sh, sw;
  };
  for (Case cs : {Case{44, 4, 14, 8, 24, 2, 2}, Case{4, 1, 33, 17, 8, 2, 2}, Case{8, 4, 64, 64, 16, 2, 2},
                  Case{8, 12, 64, 64, 16, 2, 2}, Case{3, 7, 40, 40, 24, 2, 1}, Case{2, 4, 30, 30, 16, 3, 3},
                  Case{8, 16, 64, 64, 16, 2, 2}}) {
    const int64_t oh = (cs.h - 1) / cs.sh + 1, ow = (cs.w - 1) / cs.sw + 1;
    const int64_t g[20] = {cs.n, cs.c, cs.h, cs.w, cs.k, 1, 1, oh, ow, cs.sh, cs.sw, 0, 0, 0, 0, 1, 1, 1,
                           DLRT_ACTIVATION_NONE, DLRT_LAYOUT_NHWC};
    auto x = randomVector(size_t(cs.n * cs.h * cs.w * cs.c), 91), dy = randomVector(size_t(cs.n * oh * ow * cs.k), 92);
    std::vector<double> want, scale;
    weightGradientReference(g, x, dy, want, scale);
    for (bool bf16 : {false, true})
      for (int threads : {1, 2}) {
        INFO(cs.n << " images of " << cs.h << "x" << cs.w << "x" << cs.c << " -> " << cs.k << ", stride " << cs.sh << "x"
                  << cs.sw << ", " << threads << " threads" << (bf16 ? ", bf16" : ""));
        KernelContext ctx;
        ctx.bf16 = bf16;
        ctx.threading.threads = threads;
        // A first call with a large kernel: later ones run every kernel on all threads.
        ctx.threading.beginCall({1});
        ctx.threading.choose(2e7, 1);
        ctx.threading.endCall();
        for (int step = 0; step < 3; ++step) { // the scratchpad reused, as a session does
          ctx.threading.beginCall({1});
          std::vector<float> dw(want.size(), 7.0f);
          dlrt_k_conv2d_backward_weights_f32(&ctx, 0, g, x.data(), dy.data(), dw.data());
          ctx.threading.endCall();
          REQUIRE(ctx.error.empty());
          // bf16: x and dy rounded to 8 bits of mantissa, each term within 2^-8 of its size.
          CHECK(mismatches("dw", dw, want, scale, bf16 ? 1e-2 : 1e-5) == 0);
        }
      }
  }
}

TEST_CASE("a primitive that writes past the scratchpad it asked for fails its call with an error naming its kernel",
          "[kernels][strided1x1]") {
  // oneDNN's AVX2 1x1 weight-gradient kernel made for NHWC activations of 4 channels and
  // stride 2 (what overrunsStridedCopy keeps kernel calls from) writes bytes 65 to 256
  // past its page-aligned scratchpad on one thread at its first run, inside the guard. Its AVX-512 kernel
  // overruns only larger images, past the slack, so the test takes the AVX2 one alone
  // (ctest runs it capped: unit.kernels.avx2.strided_1x1).
  using dnnl::memory;
  using tag = memory::format_tag;
  const auto f32 = memory::data_type::f32;
  KernelContext ctx;
  // One thread from the primitive's making on (oneDNN sizes its scratchpad for the count).
  const int threads = dlrt::openMPMaxThreads();
  dlrt::setOpenMPThreads(1);
  memory::desc src({16, 4, 14, 8}, f32, tag::nhwc), dst({16, 24, 7, 4}, f32, tag::nhwc),
      wei({24, 4, 1, 1}, f32, tag::any);
  const memory::dims stride = {2, 2}, zero = {0, 0};
  dnnl::convolution_forward::primitive_desc hint(
      {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, wei, dst, stride, zero, zero},
      dlrt::kernelAttr(), ctx.engine);
  dnnl::convolution_backward_weights::primitive_desc pd(
      {dnnl::algorithm::convolution_direct, src, wei, dst, stride, zero, zero}, dlrt::kernelAttr(), ctx.engine, hint);
  if (std::string(pd.impl_info_str()) != "jit_1x1:avx2") {
    dlrt::setOpenMPThreads(threads);
    WARN("oneDNN chose " << pd.impl_info_str() << ", not its AVX2 1x1 kernel: nothing to check");
    return;
  }
  auto x = randomVector(size_t(16 * 14 * 8 * 4), 93), dy = randomVector(size_t(16 * 7 * 4 * 24), 94);
  memory xm(src, ctx.engine, x.data()), dym(dst, ctx.engine, dy.data()), dwm(pd.diff_weights_desc(), ctx.engine);
  CHECK_THROWS_WITH(ctx.run(dnnl::convolution_backward_weights(pd),
                            {{DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}}),
                    Catch::Contains("its kernel jit_1x1:avx2 wrote past the scratchpad it asked for"));
  dlrt::setOpenMPThreads(threads);
  // The context goes on: the kernel call takes oneDNN's blocked layouts for this geometry.
  const int64_t g[20] = {16, 4, 14, 8, 24, 1, 1, 7, 4, 2, 2, 0, 0, 0, 0, 1, 1, 1, DLRT_ACTIVATION_NONE, DLRT_LAYOUT_NHWC};
  std::vector<double> want, scale;
  weightGradientReference(g, x, dy, want, scale);
  std::vector<float> dw(want.size(), 7.0f);
  dlrt_k_conv2d_backward_weights_f32(&ctx, 0, g, x.data(), dy.data(), dw.data());
  REQUIRE(ctx.error.empty());
  CHECK(mismatches("dw", dw, want, scale, 1e-5) == 0);
}

TEST_CASE("activations applied in place (after a oneDNN primitive): every ISA build, tails, NaN and infinities as "
          "torch; a grouped convolution's sigmoid keeps NaN",
          "[kernels]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t count : {1, 15, 16, 37, 40000}) {
    auto x = randomVector(size_t(count), 41, -8, 8);
    x[0] = nan;
    if (count > 2) x[1] = inf, x[2] = -inf;
    for (int64_t activation : {DLRT_ACTIVATION_RELU, DLRT_ACTIVATION_SIGMOID, DLRT_ACTIVATION_TANH, DLRT_ACTIVATION_SILU})
      for (dlrt::native::VectorIsa isa : runnableIsas())
        for (int threads : {1, 2}) {
          CAPTURE(count, activation, int(isa), threads);
          std::vector<float> y = x;
          dlrt::native::activateInPlace(threads, activation, y.data(), count, isa);
          size_t wrong = 0;
          for (size_t i = 0; i < y.size(); ++i) {
            double v = x[i], e = activation == DLRT_ACTIVATION_RELU      ? (v < 0 ? 0.0 : v)
                                 : activation == DLRT_ACTIVATION_SIGMOID ? 1 / (1 + std::exp(-v))
                                 : activation == DLRT_ACTIVATION_TANH    ? std::tanh(v)
                                                                         : (std::isinf(v) && v < 0 ? nan : v / (1 + std::exp(-v)));
            bool ok = std::isnan(e) ? std::isnan(y[i]) : std::isinf(e) ? y[i] == e : std::abs(y[i] - e) <= 1e-6 * (1 + std::abs(e));
            if (!ok && wrong++ < 3) UNSCOPED_INFO("x " << x[i] << ": " << y[i] << " want " << e);
          }
          CHECK(wrong == 0);
        }
  }
  // oneDNN's gemm-based (grouped) convolution with a sigmoid post-op gave NaN inputs'
  // outputs numbers on AVX2; the runtime applies that sigmoid itself.
  const int64_t n = 2, c = 8, h = 6, w = 6, oc = 8, oh = 4, ow = 4;
  std::vector<int64_t> g = {n, c, h, w, oc, 3, 3, oh, ow, 1, 1, 0, 0, 0, 0, 1, 1, 2, DLRT_ACTIVATION_SIGMOID,
                            DLRT_LAYOUT_NCHW};
  auto x = randomVector(size_t(n * c * h * w), 42), wt = randomVector(size_t(oc * (c / 2) * 9), 43, -0.3f, 0.3f);
  x[size_t(((1 * c + 1) * h + 2) * w + 2)] = nan; // image 1, channel 1 (group 0): its outputs around (2, 2)
  KernelContext ctx;
  std::vector<float> y(size_t(n * oc * oh * ow));
  dlrt_k_conv2d_f32(&ctx, 0, g.data(), x.data(), wt.data(), nullptr, y.data(), nullptr, 0.0, 0);
  REQUIRE(ctx.error.empty());
  for (int64_t o = 0; o < oc; ++o)
    for (int64_t r = 0; r < oh; ++r)
      for (int64_t q = 0; q < ow; ++q) {
        CAPTURE(o, r, q);
        float got = y[size_t(((1 * oc + o) * oh + r) * ow + q)];
        CHECK(std::isnan(got) == (o < 4 && r <= 2 && q <= 2)); // group 0's outputs whose window reads it
        CHECK(!std::isnan(y[size_t((o * oh + r) * ow + q)])); // image 0 has none
      }
}

TEST_CASE("channel blocks of 16 and 8: element (n, c, h, w) at [n][c/B][h][w][c%B], and back", "[kernels]") {
  for (int64_t block : {16, 8}) {
    INFO(block << "-channel blocks");
    int64_t n = 2, c = 48, h = 3, w = 5;
    std::vector<int64_t> nchw = {n, c, h, w};
    auto x = randomVector(size_t(n * c * h * w), 31); // NHWC
    std::vector<float> blocked(x.size()), back(x.size());
    KernelContext ctx;
    dlrt_k_block_channels_f32(&ctx, 0, nchw.data(), x.data(), blocked.data(), 0, block);
    dlrt_k_block_channels_f32(&ctx, 0, nchw.data(), blocked.data(), back.data(), 1, block);
    REQUIRE(ctx.error.empty());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t xx = 0; xx < w; ++xx)
            REQUIRE(blocked[size_t((((i * (c / block) + ch / block) * h + y) * w + xx) * block + ch % block)] ==
                    x[size_t(((i * h + y) * w + xx) * c + ch)]);
    REQUIRE(back == x);

    std::vector<int64_t> odd = {1, block + block / 2, 2, 2};
    dlrt_k_block_channels_f32(&ctx, 3, odd.data(), x.data(), blocked.data(), 0, block);
    REQUIRE(ctx.error.find(std::to_string(block) + "-channel blocks of " + std::to_string(block + block / 2) +
                           " channels") != std::string::npos);
  }
}

TEST_CASE("threads: a call's kernels all go parallel when most work is in large ones, or with spinning workers above "
          "10 MFLOP") {
  // One call with given shapes runs under the per-kernel limit and decides for the later ones.
  auto later = [](bool spin, std::vector<double> kernels) {
    dlrt::ThreadPolicy p;
    p.threads = 2;
    p.workersSpin = spin;
    CHECK(!p.learnedWork({7}));
    p.beginCall({7});
    double total = 0;
    for (double flops : kernels) {
      CHECK(p.choose(flops, 1) == (flops >= dlrt::kParallelFlops ? 2 : 1));
      total += flops;
    }
    p.endCall();
    CHECK(p.learnedWork({7}) == total); // what a batch split is decided by
    p.beginCall({7});
    int n = p.choose(1e3, 1); // a small kernel of a later call
    p.endCall();
    p.beginCall({8}); // other shapes decide afresh
    CHECK(p.choose(1e3, 1) == 1);
    p.endCall();
    return n;
  };
  CHECK(later(true, {6e6, 6e6}) == 2);  // 12 MFLOP, workers spin
  CHECK(later(false, {6e6, 6e6}) == 1); // sleeping workers: the limit stays
  CHECK(later(true, {4e6, 4e6}) == 1);  // too little work to share
  CHECK(later(false, {2e7, 1e6}) == 2); // 95% in kernels above the limit
  CHECK(later(false, {2e7, 1e7 - 1}) == 1);
}

TEST_CASE("threads: a kernel that moves on to another way of computing its result counts its work once, whatever "
          "its operands",
          "[kernels]") {
  // The policy's tally decides whether later calls run every kernel on all threads: a
  // retry counted twice made that depend on the data, and a train step resumed from a
  // checkpoint ran on other thread counts than the uninterrupted run (difftest seed 167411,
  // weights off by an ulp).
  dlrt::ThreadPolicy p;
  p.threads = 2;
  p.workersSpin = false;
  p.beginCall({3});
  CHECK(p.choose(2e7, 1) == 2);
  p.retract();
  CHECK(p.choose(2e7, 1) == 2);
  CHECK(p.choose(1e6, 1) == 1);
  p.retract();
  CHECK(p.choose(1e6, 1) == 1);
  p.endCall();
  CHECK(p.learnedWork({3}) == 2.1e7);

  // Through a kernel call: native Winograd's weight gradient (64 channels) declines x with
  // an outlier and oneDNN's direct kernel computes it; the tally is the direct sums' work,
  // as where Winograd takes it.
  const int64_t n = 3, c = 64, k = 64, h = 20, w = 20;
  const int64_t g[20] = {n, c, h, w, k, 3, 3, h, w, 1, 1, 1, 1, 1, 1, 1, 1, 1, DLRT_ACTIVATION_NONE, DLRT_LAYOUT_NHWC};
  const double work = 2.0 * double(n * h * w) * double(k * c * 9);
  auto dy = randomVector(size_t(n * h * w * k), 96);
  for (bool outlier : {false, true}) {
    INFO((outlier ? "x with an outlier" : "x without"));
    auto x = randomVector(size_t(n * h * w * c), 95);
    if (outlier) x[x.size() / 2] = 1e30f;
    KernelContext ctx;
    ctx.threading.threads = 2;
    ctx.threading.beginCall({int64_t(outlier)});
    std::vector<float> dw(size_t(k * c * 9));
    dlrt_k_conv2d_backward_weights_f32(&ctx, 0, g, x.data(), dy.data(), dw.data());
    ctx.threading.endCall();
    REQUIRE(ctx.error.empty());
    CHECK(ctx.threading.learnedWork({int64_t(outlier)}) == work);
  }
}

TEST_CASE("a matmul with a long sum splits it over the threads: the product on 1 and 2 threads, operands plain or "
          "transposed, against a double-precision reference") {
  // [m, k] x [k, n] with k >> m, n (a weight's gradient dY^T X): split along k on two
  // threads (each part with its own primitive, stream and scratchpad), whole on one. An odd
  // k cuts unevenly; the batched form with a shared rhs is collapsed to it first.
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto [m, k, n, batch] : {std::array<int64_t, 4>{128, 1031, 64, 1}, {48, 1024, 96, 1}, {16, 640, 40, 1},
                                std::array<int64_t, 4>{32, 512, 24, 2}}) {
    for (int64_t transposed = 0; transposed < 4; ++transposed) {
      if (batch > 1 && (transposed & 1)) continue; // a batched lhs is read as it is
      std::vector<float> a(size_t(batch * m * k)), b(size_t(k * n));
      for (float &v : a) v = u(gen);
      for (float &v : b) v = u(gen);
      // Element (i, p) of the logical lhs and (p, j) of the rhs, as stored.
      auto lhs = [&](int64_t bi, int64_t i, int64_t p) {
        return double(a[size_t(bi * m * k + ((transposed & 1) ? p * m + i : i * k + p))]);
      };
      auto rhs = [&](int64_t p, int64_t j) { return double(b[size_t((transposed & 2) ? j * k + p : p * n + j)]); };
      std::vector<int64_t> dims = batch > 1 ? std::vector<int64_t>{batch, m, k, 1, k, n} : std::vector<int64_t>{m, k, k, n};
      for (int threads : {1, 2}) {
        KernelContext ctx;
        ctx.threading.threads = threads;
        ctx.threading.workersSpin = true;
        std::vector<float> c(size_t(batch * m * n), -1.f);
        for (int call = 0; call < 2; ++call) { // the second call reuses the parts
          ctx.threading.beginCall({m, k, n});
          dlrt_k_matmul_f32(&ctx, 0, int64_t(dims.size() / 2), dims.data(), a.data(), b.data(), c.data(), transposed);
          ctx.threading.endCall();
          REQUIRE(ctx.error.empty());
        }
        double worst = 0;
        for (int64_t bi = 0; bi < batch; ++bi)
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              double want = 0;
              for (int64_t p = 0; p < k; ++p) want += lhs(bi, i, p) * rhs(p, j);
              worst = std::max(worst, std::abs(want - double(c[size_t((bi * m + i) * n + j)])));
            }
        INFO("m " << m << " k " << k << " n " << n << " batch " << batch << " transposed " << transposed << " threads "
                  << threads);
        CHECK(worst < 1e-3);
      }
    }
  }
}

TEST_CASE("a product of many rows on two threads: one part of the rows per thread where oneDNN's kernel is gemm:jit "
          "(its fp32 matmul at AVX2), dense and matmul, against a double-precision reference",
          "[kernels]") {
  // ctest runs this case capped at AVX2 too (unit.kernels.avx2.split_rows), where the
  // narrow products must split: one part per thread, each on a primitive of its own.
  const bool gemmJit = dnnl::get_effective_cpu_isa() == dnnl::cpu_isa::avx2;
  auto session = [](int threads) {
    auto ctx = std::make_unique<KernelContext>();
    ctx->threading.threads = threads;
    ctx->threading.workersSpin = true;
    return ctx;
  };
  // Matmul, operands plain or transposed: [1024, 128] x [128, 128] and an odd row count
  // (cut unevenly) split; a wide result ([128, 384]) does not.
  for (auto [m, k, n] : {std::array<int64_t, 3>{1024, 128, 128}, {777, 96, 72}, {1024, 128, 384}}) {
    const bool splits = n <= 256;
    for (int64_t transposed = 0; transposed < 4; ++transposed) {
      auto a = randomVector(size_t(m * k), 1), b = randomVector(size_t(k * n), 2);
      std::vector<double> want(size_t(m * n));
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double sum = 0;
          for (int64_t p = 0; p < k; ++p)
            sum += double(a[size_t((transposed & 1) ? p * m + i : i * k + p)]) *
                   double(b[size_t((transposed & 2) ? j * k + p : p * n + j)]);
          want[size_t(i * n + j)] = sum;
        }
      int64_t dims[4] = {m, k, k, n};
      for (int threads : {1, 2}) {
        INFO("m " << m << " k " << k << " n " << n << " transposed " << transposed << " threads " << threads);
        auto ctx = session(threads);
        std::vector<float> c(size_t(m * n), -1.f);
        for (int call = 0; call < 3; ++call) { // the first learns the thread count; then the parts are reused
          ctx->threading.beginCall({m, k, n});
          dlrt_k_matmul_f32(ctx.get(), 0, 2, dims, a.data(), b.data(), c.data(), transposed);
          ctx->threading.endCall();
          REQUIRE(ctx->error.empty());
          requireClose(c, want, 1e-5);
        }
        if (gemmJit) CHECK(dlrt::splitParts(*ctx, dlrt::kMatmulSplitRows) == (threads == 2 && splits ? 2 : 0));
      }
    }
  }
  // A dense layer in a train step (its weight changed at every call, read unpacked), with
  // its bias and activation in each part.
  int64_t m = 1030, k = 64, n = 96;
  auto x = randomVector(size_t(m * k), 3), bias = randomVector(size_t(n), 4);
  for (int64_t activation : {int64_t(DLRT_ACTIVATION_NONE), int64_t(DLRT_ACTIVATION_RELU)})
    for (int threads : {1, 2}) {
      INFO("activation " << activation << " threads " << threads);
      auto w = randomVector(size_t(n * k), 5);
      auto ctx = session(threads);
      ctx->trainStep = true;
      for (int step = 0; step < 5; ++step) {
        for (float &v : w) v = v * 0.9f + 0.01f * float(step);
        ++ctx->paramVersion;
        std::vector<double> want(size_t(m * n));
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double sum = bias[size_t(j)];
            for (int64_t p = 0; p < k; ++p) sum += double(x[size_t(i * k + p)]) * double(w[size_t(j * k + p)]);
            want[size_t(i * n + j)] = activation == DLRT_ACTIVATION_RELU ? std::max(sum, 0.0) : sum;
          }
        std::vector<float> y(size_t(m * n), -1.f);
        ctx->threading.beginCall({m});
        dlrt_k_dense_f32(ctx.get(), 0, m, k, n, x.data(), w.data(), bias.data(), y.data(), activation, nullptr);
        ctx->threading.endCall();
        REQUIRE(ctx->error.empty());
        requireClose(y, want, 1e-5);
      }
      if (gemmJit) CHECK(dlrt::splitParts(*ctx, dlrt::kMatmulSplitRows) == (threads == 2 ? 2 : 0));
    }
}

TEST_CASE("generated loop nests: every row once over the threads, on the calling thread alone after a late thread or with sleeping workers") {
  // rows(data, begin, end) as compiled code's row-range kernels: marks each row with the
  // OS thread that computed it.
  struct Rows {
    std::vector<int> times;
    std::vector<std::thread::id> by;
  };
  auto rows = [](void *data, int64_t begin, int64_t end) {
    auto &r = *static_cast<Rows *>(data);
    for (int64_t i = begin; i < end; ++i) {
      r.times[size_t(i)] += 1;
      r.by[size_t(i)] = std::this_thread::get_id();
    }
  };
  dlrt::KernelContext ctx;
  ctx.threading.threads = 2;
  ctx.threading.workersSpin = true;
  dlrt::parallelParts(2, 2, [](int) {}); // OpenMP's worker started (its start is late)
  for (int64_t count : {1, 2, 7, 1000}) {
    Rows r{std::vector<int>(size_t(count)), std::vector<std::thread::id>(size_t(count))};
    // On loaded cores (the test suite runs two tests at a time) the worker may have been
    // descheduled during the last split, which then backed off; each count tries anew.
    ctx.rowsSerialUntil = {};
    ctx.threading.beginCall({count});
    dlrt_k_parallel_rows(&ctx, rows, &r, count, int64_t(1) << 24); // work enough for both threads
    ctx.threading.endCall();
    CHECK(std::all_of(r.times.begin(), r.times.end(), [](int t) { return t == 1; }));
    if (count >= 2) // split: the first row on one thread, the last on another
      CHECK(r.by.front() != r.by.back());
  }
  // While the session backs off (a split nest lately waited for a descheduled thread),
  // nests run on the calling thread alone; and so they do with sleeping workers.
  auto allOnCallingThread = [&](dlrt::KernelContext &session) {
    Rows r{std::vector<int>(64), std::vector<std::thread::id>(64)};
    session.threading.beginCall({64});
    dlrt_k_parallel_rows(&session, rows, &r, 64, int64_t(1) << 30);
    session.threading.endCall();
    CHECK(std::all_of(r.times.begin(), r.times.end(), [](int t) { return t == 1; }));
    CHECK(std::all_of(r.by.begin(), r.by.end(), [](std::thread::id id) { return id == std::this_thread::get_id(); }));
  };
  ctx.rowsSerialUntil = std::chrono::steady_clock::now() + std::chrono::hours(1);
  allOnCallingThread(ctx);
  dlrt::KernelContext passive;
  passive.threading.threads = 2;
  passive.threading.workersSpin = false;
  allOnCallingThread(passive);
}

TEST_CASE("native LSTM recurrence: every ISA build and team size, given the input's projection or projecting it in "
          "the steps, against a double-precision reference") {
  using dlrt::native::VectorIsa;
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> u(-0.4f, 0.4f), unit(-1.0f, 1.0f);
  std::vector<VectorIsa> isas = runnableIsas();
  // b: a single row, and rows left over after the groups of 4 (AVX-512) or 6 (AVX2, whose
  // rest of 2 to 5 rows is one more group, and of one row goes alone): 2 = 0 + 2, 6 = 4 +
  // 2 = 6, 7 = 4 + 3 = 6 + 1, 9 = 4 + 4 + 1 = 6 + 3, 11 = 4 x 2 + 3 = 6 + 5, 14 = 4 x 3 +
  // 2 = 6 x 2 + 2, 16 = 4 x 4 = 6 x 2 + 4 (AVX2's unit-major h in groups of two sizes);
  // h: one block, three blocks (which two threads share unevenly).
  for (int64_t b : {1, 2, 6, 7, 9, 11, 14, 16}) {
    for (int64_t h : {16, 48}) {
      // An input of 23 (no whole vector) whose projections spread over about -3 to 3.
      const int64_t t = 9, width = 23;
      std::vector<float> x(size_t(b * t * width)), wih(size_t(4 * h * width)), bias(size_t(4 * h)),
          whh(size_t(4 * h * h));
      for (float &v : x) v = unit(gen);
      for (float &v : wih) v = 2.0f * u(gen);
      for (float &v : bias) v = unit(gen);
      for (float &v : whh) v = u(gen);
      std::vector<double> projExact(size_t(b * t * 4 * h));
      for (int64_t row = 0; row < b * t; ++row)
        for (int64_t j = 0; j < 4 * h; ++j) {
          double sum = bias[size_t(j)];
          for (int64_t k = 0; k < width; ++k) sum += double(x[size_t(row * width + k)]) * wih[size_t(j * width + k)];
          projExact[size_t(row * 4 * h + j)] = sum;
        }
      std::vector<float> proj(projExact.begin(), projExact.end());
      // The reference: PyTorch's LSTM cell in double from the exact projections.
      std::vector<double> hs(size_t(b * h), 0.0), cs(size_t(b * h), 0.0), seq(size_t(b * t * h));
      auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
      for (int64_t s = 0; s < t; ++s) {
        std::vector<double> next(hs.size());
        for (int64_t r = 0; r < b; ++r)
          for (int64_t j = 0; j < h; ++j) {
            double a[4];
            for (int64_t g = 0; g < 4; ++g) {
              a[g] = projExact[size_t((r * t + s) * 4 * h + g * h + j)];
              for (int64_t k = 0; k < h; ++k) a[g] += hs[size_t(r * h + k)] * whh[size_t((g * h + j) * h + k)];
            }
            double c = sigmoid(a[1]) * cs[size_t(r * h + j)] + sigmoid(a[0]) * std::tanh(a[2]);
            cs[size_t(r * h + j)] = c;
            next[size_t(r * h + j)] = seq[size_t((r * t + s) * h + j)] = sigmoid(a[3]) * std::tanh(c);
          }
        hs = next;
      }
      std::vector<float> packed(size_t(dlrt::native::lstmPackedWeightSize(h, h))),
          packedInput(size_t(dlrt::native::lstmPackedWeightSize(h, width)));
      dlrt::native::packLstmWeight(whh.data(), h, h, packed.data());
      dlrt::native::packLstmWeight(wih.data(), h, width, packedInput.data());
      std::vector<float> state(size_t(dlrt::native::lstmStateSize(b, h, width, 3)));
      const dlrt::native::LstmInput input{x.data(), width, packedInput.data(), bias.data()};
      for (dlrt::native::VectorIsa isa : isas)
        for (int threads : {1, 2, 3})
          for (bool sequence : {true, false})
            for (bool projecting : {false, true}) {
              CAPTURE(b, h, int(isa), threads, sequence, projecting);
              std::vector<float> y(size_t(sequence ? b * t * h : b * h), -7.0f);
              dlrt::native::lstmRecurrence(threads, b, t, h, projecting ? nullptr : proj.data(), packed.data(),
                                           y.data(), sequence, state.data(), {}, isa,
                                           projecting ? input : dlrt::native::LstmInput{});
              double worst = 0;
              for (int64_t r = 0; r < b; ++r)
                for (int64_t s = sequence ? 0 : t - 1; s < t; ++s)
                  for (int64_t j = 0; j < h; ++j) {
                    float got = sequence ? y[size_t((r * t + s) * h + j)] : y[size_t(r * h + j)];
                    worst = std::max(worst, std::abs(double(got) - seq[size_t((r * t + s) * h + j)]));
                  }
              CHECK(worst < 1e-6);
            }
      // A NaN in one row's input makes that row's states NaN from then on, as in
      // PyTorch, and leaves the other rows alone: in the projection given (row 0, step 2,
      // gate i of unit 3) or in the input projected in the steps (row 0, step 2).
      std::vector<float> withNaN = proj, xWithNaN = x;
      withNaN[size_t(2 * 4 * h + 3)] = std::nanf("");
      xWithNaN[size_t(2 * width + 5)] = std::nanf("");
      std::vector<float> y(size_t(b * t * h));
      for (dlrt::native::VectorIsa isa : isas)
        for (bool projecting : {false, true}) {
          CAPTURE(b, h, int(isa), projecting);
          dlrt::native::LstmInput nanInput = input;
          nanInput.x = xWithNaN.data();
          dlrt::native::lstmRecurrence(1, b, t, h, projecting ? nullptr : withNaN.data(), packed.data(), y.data(), true,
                                       state.data(), {}, isa, projecting ? nanInput : dlrt::native::LstmInput{});
          CHECK(std::isnan(y[size_t(2 * h + 3)]));
          CHECK(std::isnan(y[size_t((t - 1) * h)]));
          CHECK(!std::isnan(y[size_t(1 * h + 3)]));
          if (b > 1) CHECK(!std::isnan(y[size_t((t + t - 1) * h)]));
        }
    }
  }
}

TEST_CASE("native LSTM backward: every ISA build and team size against a double-precision reference") {
  using dlrt::native::VectorIsa;
  std::mt19937 gen(12);
  std::uniform_real_distribution<float> u(-0.4f, 0.4f), big(-3.0f, 3.0f), unit(-1.0f, 1.0f);
  // b: rows left over after the groups of 8 (AVX-512) or 6 (AVX2): 1, 7 = 6 + 1,
  // 9 = 8 + 1 = 6 + 3, 14 = 8 + 6 = 12 + 2; t = 1: no step but the last.
  for (int64_t b : {1, 7, 9, 14}) {
    for (int64_t h : {16, 48}) {
      for (int64_t t : {1, 6}) {
        std::vector<float> proj(size_t(b * t * 4 * h)), whh(size_t(4 * h * h)), dySeq(size_t(b * t * h));
        for (float &v : proj) v = big(gen);
        for (float &v : whh) v = u(gen);
        for (float &v : dySeq) v = unit(gen);
        // The reference in double: PyTorch's LSTM cell forward, keeping the activated gates
        // and c, then backwards through time.
        auto sigmoid = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
        const size_t cells = size_t(b * t * h);
        std::vector<double> act(cells * 4), cs(cells), hs(cells);
        for (int64_t r = 0; r < b; ++r)
          for (int64_t s = 0; s < t; ++s)
            for (int64_t j = 0; j < h; ++j) {
              double a[4];
              for (int64_t g = 0; g < 4; ++g) {
                a[g] = proj[size_t((r * t + s) * 4 * h + g * h + j)];
                if (s > 0)
                  for (int64_t k = 0; k < h; ++k) a[g] += hs[size_t((r * t + s - 1) * h + k)] * whh[size_t((g * h + j) * h + k)];
              }
              size_t at = size_t((r * t + s) * h + j), gat = size_t((r * t + s) * 4 * h + j);
              double i = sigmoid(a[0]), f = sigmoid(a[1]), g = std::tanh(a[2]), o = sigmoid(a[3]);
              act[gat] = i, act[gat + size_t(h)] = f, act[gat + size_t(2 * h)] = g, act[gat + size_t(3 * h)] = o;
              cs[at] = f * (s > 0 ? cs[at - size_t(h)] : 0.0) + i * g;
              hs[at] = o * std::tanh(cs[at]);
            }
        for (bool sequence : {true, false}) {
          std::vector<float> dy(sequence ? dySeq : std::vector<float>(size_t(b * h)));
          if (!sequence)
            for (float &v : dy) v = unit(gen);
          std::vector<double> da(cells * 4), dbias(size_t(4 * h), 0.0);
          for (int64_t r = 0; r < b; ++r) {
            std::vector<double> dhNext(size_t(h), 0.0), dcNext(size_t(h), 0.0);
            for (int64_t s = t - 1; s >= 0; --s) {
              std::vector<double> dh(static_cast<size_t>(h));
              for (int64_t j = 0; j < h; ++j)
                dh[size_t(j)] = dhNext[size_t(j)] +
                                (sequence ? dy[size_t((r * t + s) * h + j)] : s == t - 1 ? dy[size_t(r * h + j)] : 0.0);
              for (int64_t j = 0; j < h; ++j) {
                size_t at = size_t((r * t + s) * h + j), gat = size_t((r * t + s) * 4 * h + j);
                double i = act[gat], f = act[gat + size_t(h)], g = act[gat + size_t(2 * h)], o = act[gat + size_t(3 * h)];
                double tc = std::tanh(cs[at]), cPrev = s > 0 ? cs[at - size_t(h)] : 0.0;
                double dc = dh[size_t(j)] * o * (1 - tc * tc) + dcNext[size_t(j)];
                da[gat] = dc * g * i * (1 - i);
                da[gat + size_t(h)] = dc * cPrev * f * (1 - f);
                da[gat + size_t(2 * h)] = dc * i * (1 - g * g);
                da[gat + size_t(3 * h)] = dh[size_t(j)] * tc * o * (1 - o);
                dcNext[size_t(j)] = dc * f;
              }
              for (int64_t k = 0; k < h; ++k) {
                double sum = 0;
                for (int64_t q = 0; q < 4 * h; ++q) sum += da[size_t((r * t + s) * 4 * h + q)] * whh[size_t(q * h + k)];
                dhNext[size_t(k)] = sum;
              }
            }
          }
          for (int64_t row = 0; row < b * t; ++row)
            for (int64_t q = 0; q < 4 * h; ++q) dbias[size_t(q)] += da[size_t(row * 4 * h + q)];
          double scale = 0;
          for (double v : da) scale = std::max(scale, std::abs(v));
          std::vector<float> packed(size_t(dlrt::native::lstmPackedWeightSize(h, h)));
          dlrt::native::packLstmWeight(whh.data(), h, h, packed.data());
          // The forward projecting its input in the steps is given proj itself as the input,
          // with W_ih the identity and no bias: the same pre-activations exactly, so that
          // the kept gates go where the backward pass reads them.
          std::vector<float> identity(size_t(16 * h * h), 0.0f), packedIdentity(identity.size()),
              noBias(size_t(4 * h), 0.0f);
          for (int64_t j = 0; j < 4 * h; ++j) identity[size_t(j * 4 * h + j)] = 1.0f;
          dlrt::native::packLstmWeight(identity.data(), h, 4 * h, packedIdentity.data());
          const dlrt::native::LstmInput input{proj.data(), 4 * h, packedIdentity.data(), noBias.data()};
          std::vector<float> state(size_t(std::max(dlrt::native::lstmStateSize(b, h, 4 * h, 3),
                                                   dlrt::native::lstmBackwardStateSize(b, h))));
          for (VectorIsa isa : runnableIsas())
            for (int threads : {1, 2, 3})
              for (bool projecting : {false, true}) {
                CAPTURE(b, h, t, int(isa), threads, sequence, projecting);
                // The training-form forward keeps the activated gates (over proj), c and hPrev.
                std::vector<float> gates = projecting ? std::vector<float>(cells * 4, -7.0f) : proj, c(cells),
                                   hPrev(cells), y(cells), daGot(cells * 4, -7.0f), dbiasGot(size_t(4 * h), -7.0f);
                dlrt::native::lstmRecurrence(threads, b, t, h, gates.data(), packed.data(), y.data(), true,
                                             state.data(), {c.data(), hPrev.data()}, isa,
                                             projecting ? input : dlrt::native::LstmInput{});
                double worstKept = 0;
                for (size_t k = 0; k < cells; ++k) {
                  worstKept = std::max(worstKept, std::abs(c[k] - cs[k]));
                  double prev = k % size_t(t * h) < size_t(h) ? 0.0 : hs[k - size_t(h)];
                  worstKept = std::max(worstKept, std::abs(hPrev[k] - prev));
                }
                for (size_t k = 0; k < cells * 4; ++k) worstKept = std::max(worstKept, std::abs(gates[k] - act[k]));
                CHECK(worstKept < 2e-6);
                dlrt::native::lstmBackward(threads, b, t, h, gates.data(), c.data(), whh.data(), dy.data(), sequence,
                                           daGot.data(), dbiasGot.data(), state.data(), isa);
                double worst = 0, worstBias = 0;
                for (size_t k = 0; k < cells * 4; ++k) worst = std::max(worst, std::abs(daGot[k] - da[k]));
                for (size_t k = 0; k < size_t(4 * h); ++k)
                  worstBias = std::max(worstBias, std::abs(dbiasGot[k] - dbias[k]));
                CHECK(worst < 1e-5 * std::max(1.0, scale));
                CHECK(worstBias < 1e-4 * std::max(1.0, scale));
              }
        }
      }
    }
  }
}

/// vtanhApprox and vsigmoidApprox over n floats (a multiple of 16), as the `isa` build of a
/// kernel runs them: 16-float vectors, or 8-float ones on AVX2 as the LSTM's.
template <class V> DLRT_VINLINE void approxActivations(const float *x, float *t, float *s, size_t n) {
  using namespace dlrt::native;
  for (size_t i = 0; i < n; i += size_t(kLanesOf<V>)) {
    V v = loadLanes<V>(x + i);
    storeLanes(t + i, vtanhApprox(v));
    storeLanes(s + i, vsigmoidApprox(v));
  }
}
DLRT_TARGET_AVX512 static void approxActivationsAvx512(const float *x, float *t, float *s, size_t n) {
  approxActivations<dlrt::native::vf>(x, t, s, n);
}
DLRT_TARGET_AVX2 static void approxActivationsAvx2(const float *x, float *t, float *s, size_t n) {
  approxActivations<dlrt::native::vf8>(x, t, s, n);
}

TEST_CASE("approximate tanh and logistic (an LSTM's gates): within their bounds over a sweep of the floats, every "
          "ISA build; NaN, infinities and signed zeros",
          "[kernels]") {
  using dlrt::native::VectorIsa;
  // Every 61st float from 2^-30 to 20, both signs (tanh rounds to +-1 from 9 on; the
  // logistic function's absolute error is what the bound is about, and it has none to
  // speak of beyond), then the special values.
  std::vector<float> x;
  for (uint32_t bits = 0x30800000u; bits < 0x41a00000u; bits += 61) {
    float v;
    std::memcpy(&v, &bits, sizeof v);
    x.push_back(v);
    x.push_back(-v);
  }
  const float inf = std::numeric_limits<float>::infinity();
  for (float v : {0.0f, -0.0f, inf, -inf, std::nanf(""), 1e-40f, -1e-40f, 1e30f, -1e30f}) x.push_back(v);
  x.resize((x.size() + 15) / 16 * 16, 0.0f);
  for (VectorIsa isa : runnableIsas()) {
    CAPTURE(int(isa));
    std::vector<float> t(x.size()), s(x.size());
    if (isa == VectorIsa::Avx512) approxActivationsAvx512(x.data(), t.data(), s.data(), x.size());
    else if (isa == VectorIsa::Avx2) approxActivationsAvx2(x.data(), t.data(), s.data(), x.size());
    else approxActivations<dlrt::native::vf>(x.data(), t.data(), s.data(), x.size());
    double worstUlp = 0, worstAbs = 0;
    size_t outOfRange = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i])) {
        CHECK(std::isnan(t[i]));
        CHECK(std::isnan(s[i]));
        continue;
      }
      const double tanhX = std::tanh(double(x[i])), logistic = 1.0 / (1.0 + std::exp(-double(x[i])));
      const float rounded = std::fabs(float(tanhX));
      const double ulp = double(std::nextafter(rounded, inf) - rounded);
      worstUlp = std::max(worstUlp, std::fabs(double(t[i]) - tanhX) / ulp);
      worstAbs = std::max(worstAbs, std::fabs(double(s[i]) - logistic));
      outOfRange += !(std::fabs(t[i]) <= 1.0f && s[i] >= 0.0f && s[i] <= 1.0f);
      if (x[i] == 0.0f) CHECK(std::signbit(t[i]) == std::signbit(x[i]));
    }
    // Over every float, 6.1 ulp and 1.9e-7 in the generic build (no FMA), 5.4 and 1.7e-7
    // with FMA.
    CHECK(worstUlp <= 7.0);
    CHECK(worstAbs <= 2e-7);
    CHECK(outOfRange == 0);
  }
}

TEST_CASE("native max pooling: NHWC and 16- and 8-channel blocks, every ISA build, window shape, padding and team size, NaN and infinities") {
  std::vector<dlrt::native::VectorIsa> isas = runnableIsas();
  std::mt19937 gen(5);
  std::normal_distribution<float> normal;
  // {KH, KW, SH, SW, PT, PL, PB, PR}: 2x2/2, 3x3/2 padded, 3x2/1 padded on one side.
  const int64_t windows[][8] = {{2, 2, 2, 2, 0, 0, 0, 0}, {3, 3, 2, 2, 1, 1, 1, 1}, {3, 2, 1, 1, 1, 0, 1, 1}};
  for (const auto &win : windows) {
    const int64_t n = 3, c = 32, h = 9, w = 13;
    const int64_t oh = (h + win[4] + win[6] - win[0]) / win[2] + 1, ow = (w + win[5] + win[7] - win[1]) / win[3] + 1;
    int64_t g[17] = {n, c, h, w, oh, ow, win[0], win[1], win[2], win[3], win[4], win[5], win[6], win[7], 1, 1, 0};
    std::vector<float> x(size_t(n * h * w * c));
    for (float &v : x) v = normal(gen);
    const float inf = std::numeric_limits<float>::infinity();
    x[size_t(((0 * h + 4) * w + 6) * c + 3)] = std::nanf("");   // a NaN
    x[size_t(((1 * h + 0) * w + 0) * c + 17)] = -inf;           // -inf alone is not NaN
    x[size_t(((2 * h + 8) * w + 12) * c + 31)] = inf;           // +inf wins, not NaN
    std::vector<float> want(size_t(n * oh * ow * c));
    for (int64_t b = 0; b < n; ++b)
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t q = 0; q < ow; ++q)
          for (int64_t ch = 0; ch < c; ++ch) {
            float m = -inf;
            for (int64_t i = 0; i < win[0]; ++i)
              for (int64_t j = 0; j < win[1]; ++j) {
                int64_t row = r * win[2] - win[4] + i, col = q * win[3] - win[5] + j;
                if (row < 0 || row >= h || col < 0 || col >= w) continue;
                float v = x[size_t(((b * h + row) * w + col) * c + ch)];
                if (std::isnan(v) || std::isnan(m)) m = std::nanf("");
                else m = std::max(m, v);
              }
            want[size_t(((b * oh + r) * ow + q) * c + ch)] = m;
          }
    for (int64_t layout : {DLRT_LAYOUT_NHWC, DLRT_LAYOUT_NCHW16C, DLRT_LAYOUT_NCHW8C}) {
      // Blocks ([N][C/B][H][W][B]) of an NHWC tensor of `rows` x `cols`, and back.
      const int64_t block = dlrt_layout_block(layout);
      auto blockIndex = [&](int64_t b, int64_t row, int64_t col, int64_t ch, int64_t rows, int64_t cols) {
        return size_t((((b * (c / block) + ch / block) * rows + row) * cols + col) * block + ch % block);
      };
      std::vector<float> xBlocked(x.size());
      if (block)
        for (int64_t b = 0; b < n; ++b)
          for (int64_t row = 0; row < h; ++row)
            for (int64_t col = 0; col < w; ++col)
              for (int64_t ch = 0; ch < c; ++ch)
                xBlocked[blockIndex(b, row, col, ch, h, w)] = x[size_t(((b * h + row) * w + col) * c + ch)];
      REQUIRE(dlrt::native::maxPoolSupports(layout, c));
      for (dlrt::native::VectorIsa isa : isas)
        for (int threads : {1, 2, 3})
          for (int64_t activation : {DLRT_ACTIVATION_NONE, DLRT_ACTIVATION_RELU}) {
          CAPTURE(win[0], win[1], win[2], win[4], layout, int(isa), threads, activation);
          g[15] = layout;
          g[16] = activation;
          std::vector<float> out(want.size(), 7.0f), y(want.size());
          dlrt::native::maxPool(threads, g, layout == DLRT_LAYOUT_NHWC ? x.data() : xBlocked.data(), out.data(), isa);
          for (int64_t b = 0; b < n; ++b)
            for (int64_t r = 0; r < oh; ++r)
              for (int64_t q = 0; q < ow; ++q)
                for (int64_t ch = 0; ch < c; ++ch) {
                  size_t plain = size_t(((b * oh + r) * ow + q) * c + ch);
                  y[plain] = layout == DLRT_LAYOUT_NHWC ? out[plain] : out[blockIndex(b, r, q, ch, oh, ow)];
                }
          size_t wrong = 0;
          for (size_t i = 0; i < y.size(); ++i) {
            // relu keeps NaN (and +inf); -inf and the negatives become 0.
            float expected = activation && !(want[i] > 0.0f) && !std::isnan(want[i]) ? 0.0f : want[i];
            if (!(y[i] == expected || (std::isnan(y[i]) && std::isnan(expected)))) ++wrong;
          }
          CHECK(wrong == 0);
        }
    }
  }
  REQUIRE_FALSE(dlrt::native::maxPoolSupports(DLRT_LAYOUT_NHWC, 24));
  REQUIRE(dlrt::native::maxPoolSupports(DLRT_LAYOUT_NCHW8C, 24));
  REQUIRE_FALSE(dlrt::native::maxPoolSupports(DLRT_LAYOUT_NCHW, 32));
}

TEST_CASE("native convolution and max pooling in one pass: every ISA build, window and stride (2x2 pairs in "
          "registers and the ring), padding, dilation, input NCHW and NHWC, output NHWC and blocks, bias, relu, team "
          "size, NaN and infinities, against double") {
  struct Case {
    int64_t c, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, h, w; // convolution
    int64_t pkh, pkw, psh, psw, ppt, ppl, ppb, ppr;              // pooling
  };
  const Case cases[] = {
      {1, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 11, 13, 2, 2, 2, 2, 0, 0, 0, 0}, // the CNN's, odd sizes: pairs
      {3, 64, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 19, 17, 3, 3, 2, 2, 1, 1, 1, 1}, // ResNet's stem: the ring
      {2, 24, 5, 3, 1, 2, 2, 1, 2, 1, 2, 1, 12, 15, 2, 2, 1, 1, 0, 0, 0, 0}, // dilated, overlapping windows
      {4, 32, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 10, 11, 3, 3, 3, 3, 0, 0, 0, 0}, // 1x1, windows of 3 by 3
      {1, 8, 3, 3, 1, 1, 0, 1, 1, 0, 1, 1, 9, 10, 2, 2, 2, 2, 0, 0, 0, 0},   // one-sided padding: pairs
      {3, 48, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 14, 18, 2, 2, 2, 2, 0, 0, 0, 0}, // strided, 3 vectors of 16: pairs
      {2, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8, 30, 2, 2, 2, 2, 0, 0, 0, 0},  // wide rows: every pixel block size
  };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::mt19937 gen(11);
  std::normal_distribution<float> normal;
  for (const Case &k : cases) {
    const int64_t n = 3;
    const int64_t oh = (k.h + k.pt + k.pb - k.dh * (k.kh - 1) - 1) / k.sh + 1;
    const int64_t ow = (k.w + k.pl + k.pr - k.dw * (k.kw - 1) - 1) / k.sw + 1;
    const int64_t poh = (oh + k.ppt + k.ppb - k.pkh) / k.psh + 1, pow = (ow + k.ppl + k.ppr - k.pkw) / k.psw + 1;
    std::vector<float> x(size_t(n * k.c * k.h * k.w)), w(size_t(k.oc * k.c * k.kh * k.kw)), bias(size_t(k.oc));
    for (float &v : x) v = normal(gen);
    for (float &v : w) v = normal(gen);
    for (float &v : bias) v = normal(gen);
    auto nchw = [&](int64_t b, int64_t ch, int64_t r, int64_t q) { return size_t(((b * k.c + ch) * k.h + r) * k.w + q); };
    x[nchw(1, 0, k.h / 2, k.w / 2)] = nan;               // a NaN: NaN through every window that reads it
    x[nchw(2, k.c - 1, k.h - 1, k.w - 1)] = inf;         // an infinity: +inf or -inf, or NaN where both meet
    for (bool withBias : {true, false}) {
      // The reference: conv2d + bias in double, then max pooling (NaN wins), unrelu'd; [N][POH][POW][OC].
      std::vector<double> conv(size_t(n * oh * ow * k.oc));
      for (int64_t b = 0; b < n; ++b)
        for (int64_t r = 0; r < oh; ++r)
          for (int64_t q = 0; q < ow; ++q)
            for (int64_t o = 0; o < k.oc; ++o) {
              double sum = withBias ? bias[size_t(o)] : 0.0;
              for (int64_t ch = 0; ch < k.c; ++ch)
                for (int64_t i = 0; i < k.kh; ++i)
                  for (int64_t j = 0; j < k.kw; ++j) {
                    int64_t row = r * k.sh - k.pt + i * k.dh, col = q * k.sw - k.pl + j * k.dw;
                    if (row < 0 || row >= k.h || col < 0 || col >= k.w) continue;
                    sum += double(x[nchw(b, ch, row, col)]) * w[size_t(((o * k.c + ch) * k.kh + i) * k.kw + j)];
                  }
              conv[size_t(((b * oh + r) * ow + q) * k.oc + o)] = sum;
            }
      std::vector<double> want(size_t(n * poh * pow * k.oc));
      for (int64_t b = 0; b < n; ++b)
        for (int64_t r = 0; r < poh; ++r)
          for (int64_t q = 0; q < pow; ++q)
            for (int64_t o = 0; o < k.oc; ++o) {
              double m = -inf;
              for (int64_t i = 0; i < k.pkh; ++i)
                for (int64_t j = 0; j < k.pkw; ++j) {
                  int64_t row = r * k.psh - k.ppt + i, col = q * k.psw - k.ppl + j;
                  if (row < 0 || row >= oh || col < 0 || col >= ow) continue;
                  double v = conv[size_t(((b * oh + row) * ow + col) * k.oc + o)];
                  m = std::isnan(v) || std::isnan(m) ? double(nan) : std::max(m, v);
                }
              want[size_t(((b * poh + r) * pow + q) * k.oc + o)] = m;
            }
      size_t nans = 0;
      for (double v : want) nans += std::isnan(v);
      REQUIRE(nans > 0); // the NaN reached some windows
      std::vector<float> xNhwc(x.size());
      for (int64_t b = 0; b < n; ++b)
        for (int64_t ch = 0; ch < k.c; ++ch)
          for (int64_t r = 0; r < k.h; ++r)
            for (int64_t q = 0; q < k.w; ++q) xNhwc[size_t(((b * k.h + r) * k.w + q) * k.c + ch)] = x[nchw(b, ch, r, q)];
      for (int64_t inLayout : {DLRT_LAYOUT_NCHW, DLRT_LAYOUT_NHWC})
        for (int64_t outLayout : {DLRT_LAYOUT_NHWC, DLRT_LAYOUT_NCHW16C, DLRT_LAYOUT_NCHW8C}) {
          const int64_t block = dlrt_layout_block(outLayout);
          if (block && k.oc % block) continue;
          for (int64_t activation : {DLRT_ACTIVATION_NONE, DLRT_ACTIVATION_RELU}) {
            const int64_t g[20] = {n, k.c, k.h, k.w, k.oc, k.kh, k.kw, oh, ow, k.sh, k.sw, k.pt, k.pl, k.pb, k.pr,
                                   k.dh, k.dw, 1, 0, inLayout};
            const int64_t p[17] = {n, k.oc, oh, ow, poh, pow, k.pkh, k.pkw, k.psh, k.psw, k.ppt, k.ppl, k.ppb, k.ppr,
                                   1, outLayout, activation};
            dlrt::native::ConvPoolShape shape(g, p);
            REQUIRE(dlrt::native::convMaxPoolSupports(shape));
            std::vector<float> packed(size_t(shape.packedWeightFloats()));
            dlrt::native::packConvPoolWeights(shape, w.data(), packed.data());
            for (dlrt::native::VectorIsa isa : runnableIsas())
              for (int threads : {1, 2, 3}) {
                CAPTURE(k.c, k.oc, k.kh, k.sh, k.pkh, k.psh, withBias, inLayout, outLayout, activation, int(isa), threads);
                std::vector<float> y(want.size(), 7.0f);
                dlrt::native::convMaxPool(threads, shape, inLayout == DLRT_LAYOUT_NHWC ? xNhwc.data() : x.data(),
                                          packed.data(), withBias ? bias.data() : nullptr, y.data(), isa);
                size_t wrong = 0;
                for (int64_t b = 0; b < n; ++b)
                  for (int64_t r = 0; r < poh; ++r)
                    for (int64_t q = 0; q < pow; ++q)
                      for (int64_t o = 0; o < k.oc; ++o) {
                        double e = want[size_t(((b * poh + r) * pow + q) * k.oc + o)];
                        if (activation && !(e > 0) && !std::isnan(e)) e = 0; // relu keeps NaN
                        size_t at = block ? size_t((((b * (k.oc / block) + o / block) * poh + r) * pow + q) * block +
                                                   o % block)
                                          : size_t(((b * poh + r) * pow + q) * k.oc + o);
                        float got = y[at];
                        bool ok = std::isnan(e) ? std::isnan(got)
                                  : std::isinf(e) ? got == e
                                                  : std::abs(got - e) <= 1e-4 * (1.0 + std::abs(e));
                        if (!ok && wrong++ < 3) UNSCOPED_INFO("at " << b << "," << r << "," << q << "," << o << ": "
                                                                    << got << " want " << e);
                      }
                CHECK(wrong == 0);
              }
          }
        }
    }
  }
}

/// A 3x3 stride-1 convolution for the native Winograd tests: channels in and out, the
/// input's size, padding top, left, bottom, right.
struct WinogradCase {
  int64_t c, k, h, w, pt, pl, pb, pr;
  int64_t oh() const { return h + pt + pb - 2; }
  int64_t ow() const { return w + pl + pr - 2; }
};

/// body(case, layout, block) for each case in each activation layout its channels fit:
/// 16- and 8-channel blocks, and NHWC (a train step's convolutions: channels in whole
/// 16s, as one block of all; block 16 there).
template <class Body> void forEachWinogradLayout(std::initializer_list<WinogradCase> cases, Body body) {
  for (const WinogradCase &k : cases)
    for (int64_t layout : {DLRT_LAYOUT_NCHW16C, DLRT_LAYOUT_NCHW8C, DLRT_LAYOUT_NHWC}) {
      const int64_t block = layout == DLRT_LAYOUT_NHWC ? 16 : dlrt_layout_block(layout);
      if (k.c % block || k.k % block) continue;
      body(k, layout, block);
    }
}

TEST_CASE("native Winograd F(2x2, 3x3) and F(4x4, 3x3): every ISA build, 16- and 8-channel blocks and NHWC, odd and even "
          "sizes, padding on any side, output-channel vectors 1 to 4 at once, bias, sum, relu, team size; NaN and "
          "infinities as the direct sum gives them, a hot spot's tiles too; against double") {
  const std::initializer_list<WinogradCase> cases = {
      {16, 32, 14, 14, 1, 1, 1, 1}, // the CNN's second convolution
      {8, 24, 9, 11, 1, 1, 1, 1},   // odd sizes (partial tiles), 3 vectors of 8
      {32, 16, 7, 7, 0, 0, 0, 0},   // no padding: 5 x 5, partial tiles
      {16, 64, 6, 10, 2, 1, 0, 2},  // padding on some sides only, 4 vectors at once
      {64, 48, 5, 5, 1, 1, 1, 1},   // more channels than a chunk's patches fit; F(4x4)'s 12 tiles: 2 and 3
                                    // threads share the 3 groups of output channels (AVX2 and 8-channel builds)
      {64, 64, 10, 13, 1, 1, 1, 1}, // F(4x4): partial tiles both ways, 4 vectors at once
  };
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::mt19937 gen(17);
  std::normal_distribution<float> normal;
  forEachWinogradLayout(cases, [&](const WinogradCase &k, int64_t layout, int64_t block) {
      const bool nhwc = layout == DLRT_LAYOUT_NHWC;
      const int64_t n = 3, oh = k.oh(), ow = k.ow();
      std::vector<float> x(size_t(n * k.c * k.h * k.w)), w(size_t(k.k * k.c * 9)), bias(size_t(k.k)),
          skip(size_t(n * k.k * oh * ow));
      for (float &v : x) v = normal(gen);
      for (float &v : w) v = normal(gen);
      for (float &v : bias) v = normal(gen);
      for (float &v : skip) v = normal(gen);
      auto xAt = [&](int64_t b, int64_t ch, int64_t r, int64_t q) {
        if (nhwc) return size_t(((b * k.h + r) * k.w + q) * k.c + ch);
        return size_t((((b * (k.c / block) + ch / block) * k.h + r) * k.w + q) * block + ch % block);
      };
      auto yAt = [&](int64_t b, int64_t o, int64_t r, int64_t q) {
        if (nhwc) return size_t(((b * oh + r) * ow + q) * k.k + o);
        return size_t((((b * (k.k / block) + o / block) * oh + r) * ow + q) * block + o % block);
      };
      x[xAt(1, 0, k.h / 2, k.w / 2)] = nan;               // NaN in the outputs that read it, and only there
      x[xAt(2, k.c - 1, k.h - 1, k.w - 1)] = inf;         // an infinity: +inf or -inf there, as the direct sum
      x[xAt(0, k.c / 2, 1, 2)] = -inf;
      // A hot spot: 3x3 pixels of image 2, every channel, a thousand times the rest. F(4x4)
      // gives its tiles the direct sums: their rounding, relative to the whole patch, would
      // reach outputs that do not read it, 8-27x over the bound below.
      for (int64_t ch = 0; ch < k.c; ++ch)
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t q = 0; q < 3; ++q) x[xAt(2, ch, r, q)] *= 1000.0f;
      // The direct sum in double, and the sum of its terms' magnitudes (the error scale).
      std::vector<double> conv(skip.size()), scale(skip.size());
      for (int64_t b = 0; b < n; ++b)
        for (int64_t o = 0; o < k.k; ++o)
          for (int64_t r = 0; r < oh; ++r)
            for (int64_t q = 0; q < ow; ++q) {
              double sum = 0, mag = 0;
              for (int64_t ch = 0; ch < k.c; ++ch)
                for (int64_t i = 0; i < 3; ++i)
                  for (int64_t j = 0; j < 3; ++j) {
                    int64_t row = r - k.pt + i, col = q - k.pl + j;
                    if (row < 0 || row >= k.h || col < 0 || col >= k.w) continue;
                    double term = double(x[xAt(b, ch, row, col)]) * w[size_t(((o * k.c + ch) * 3 + i) * 3 + j)];
                    sum += term;
                    if (std::isfinite(term)) mag += std::abs(term);
                  }
              conv[yAt(b, o, r, q)] = sum;
              scale[yAt(b, o, r, q)] = mag;
            }
      size_t nans = 0, infs = 0;
      for (double v : conv) nans += std::isnan(v), infs += std::isinf(v);
      REQUIRE(nans > 0);
      REQUIRE(infs > 0);
      for (int64_t activation : {DLRT_ACTIVATION_NONE, DLRT_ACTIVATION_RELU})
        for (bool withBias : {true, false})
          for (bool accumulate : {false, true})
            for (int tile : {2, 4}) {
              const int64_t g[20] = {n, k.c, k.h, k.w, k.k, 3, 3, oh, ow, 1, 1, k.pt, k.pl, k.pb, k.pr,
                                     1, 1, 1, activation, layout};
              REQUIRE(dlrt::native::winogradSupports(g));
              dlrt::native::WinogradShape shape(g, accumulate, tile);
              std::vector<float> packed(size_t(shape.packedWeightFloats())), fromTurned(packed.size());
              // The filters w turns half a turn (a data gradient's), [C][K][3][3]: packed
              // as FilterOrder::Turned, they must give w's packing bit for bit.
              std::vector<float> source(w.size());
              for (int64_t o = 0; o < k.k; ++o)
                for (int64_t ch = 0; ch < k.c; ++ch)
                  for (int64_t tap = 0; tap < 9; ++tap)
                    source[size_t((ch * k.k + o) * 9 + 8 - tap)] = w[size_t((o * k.c + ch) * 9 + tap)];
              for (dlrt::native::VectorIsa isa : runnableIsas())
                for (int threads : {1, 2, 3}) {
                  dlrt::native::packWinogradWeights(threads, shape, w.data(), packed.data(),
                                                    dlrt::native::FilterOrder::AsGiven, isa);
                  CAPTURE(k.c, k.k, k.h, k.w, block, activation, withBias, accumulate, tile, int(isa), threads);
                  dlrt::native::packWinogradWeights(threads, shape, source.data(), fromTurned.data(),
                                                    dlrt::native::FilterOrder::Turned, isa);
                  CHECK(std::memcmp(packed.data(), fromTurned.data(), packed.size() * sizeof(float)) == 0);
                  std::vector<float> y = accumulate ? skip : std::vector<float>(skip.size(), 7.0f);
                  dlrt::native::winogradConv(threads, shape, x.data(), packed.data(), withBias ? bias.data() : nullptr,
                                             y.data(), isa);
                  size_t wrong = 0;
                  for (size_t at = 0; at < y.size(); ++at) {
                    const int64_t o = nhwc ? int64_t(at) % k.k
                                           : int64_t(at) / (block * oh * ow) % (k.k / block) * block + int64_t(at) % block;
                    double e = conv[at] + (withBias ? bias[size_t(o)] : 0.0) + (accumulate ? skip[at] : 0.0);
                    if (activation == DLRT_ACTIVATION_RELU && e < 0) e = 0; // NaN stays NaN
                    float got = y[at];
                    bool ok = std::isnan(e)   ? std::isnan(got)
                              : std::isinf(e) ? got == e
                                              : std::abs(got - e) <= 1e-5 * (1.0 + scale[at] + std::abs(e));
                    if (!ok && wrong++ < 3) UNSCOPED_INFO("at " << at << ": " << got << " want " << e);
                  }
                  CHECK(wrong == 0);
                }
            }
  });
}

TEST_CASE("native Winograd weight gradient (F(2x2, 3x3) and F(4x4, 3x3) transforms, products a chunk of tiles and a block of "
          "channels at a time): every ISA build, 16- and 8-channel blocks and NHWC, channel blocks of 64 with what is "
          "left over, threads splitting the blocks or the tiles; against double") {
  const std::initializer_list<WinogradCase> cases = {
      {64, 64, 14, 14, 1, 1, 1, 1},   // one block: threads split the tiles
      {80, 48, 9, 11, 1, 1, 1, 1},    // 64 + 16 input channels (one vector left over), 48 rows; partial tiles
      {128, 128, 7, 7, 0, 0, 0, 0},   // 4 blocks: threads split them (2 threads), or the tiles (3)
      {16, 208, 6, 10, 2, 1, 0, 2},   // output channels 64 x 3 + 16 (row groups left over), padding on some sides
  };
  std::mt19937 gen(23);
  std::normal_distribution<float> normal;
  forEachWinogradLayout(cases, [&](const WinogradCase &k, int64_t layout, int64_t block) {
      const bool nhwc = layout == DLRT_LAYOUT_NHWC;
      const int64_t n = 3, oh = k.oh(), ow = k.ow();
      std::vector<float> x(size_t(n * k.c * k.h * k.w)), dy(size_t(n * k.k * oh * ow));
      for (float &v : x) v = normal(gen);
      for (float &v : dy) v = normal(gen);
      auto at = [&](int64_t channels, int64_t rows, int64_t cols, int64_t b, int64_t ch, int64_t r, int64_t q) {
        if (nhwc) return size_t(((b * rows + r) * cols + q) * channels + ch);
        return size_t((((b * (channels / block) + ch / block) * rows + r) * cols + q) * block + ch % block);
      };
      // dw[o][ch][i][j] = sum over b, r, q of dy[b][o][r][q] x[b][ch][r - pt + i][q - pl + j], in
      // double, and the sum of its terms' magnitudes.
      std::vector<double> dw(size_t(k.k * k.c * 9), 0.0), scale(dw.size(), 0.0);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t o = 0; o < k.k; ++o)
          for (int64_t r = 0; r < oh; ++r)
            for (int64_t q = 0; q < ow; ++q)
              for (int64_t ch = 0; ch < k.c; ++ch)
                for (int64_t i = 0; i < 3; ++i)
                  for (int64_t j = 0; j < 3; ++j) {
                    const int64_t row = r - k.pt + i, col = q - k.pl + j;
                    if (row < 0 || row >= k.h || col < 0 || col >= k.w) continue;
                    const double term =
                        double(dy[at(k.k, oh, ow, b, o, r, q)]) * x[at(k.c, k.h, k.w, b, ch, row, col)];
                    dw[size_t(((o * k.c + ch) * 3 + i) * 3 + j)] += term;
                    scale[size_t(((o * k.c + ch) * 3 + i) * 3 + j)] += std::abs(term);
                  }
      const int64_t g[20] = {n, k.c, k.h, k.w, k.k, 3, 3, oh, ow, 1, 1, k.pt, k.pl, k.pb, k.pr,
                             1, 1, 1, DLRT_ACTIVATION_NONE, layout};
      REQUIRE(dlrt::native::winogradSupports(g));
      for (int tile : {2, 4}) { const dlrt::native::WinogradShape shape(g, false, tile);
      for (dlrt::native::VectorIsa isa : runnableIsas())
        for (int threads : {1, 2, 3}) {
          CAPTURE(k.c, k.k, k.h, k.w, block, int(isa), threads, tile);
          std::vector<float> u(size_t(shape.elements() * k.k * k.c), 7.0f),
              scratch(size_t(dlrt::native::winogradWeightGradientScratch(threads, shape)), 7.0f),
              got(dw.size(), 7.0f);
          dlrt::native::winogradWeightGradientProducts(threads, shape, x.data(), dy.data(), u.data(), scratch.data(),
                                                       isa);
          dlrt::native::winogradGradientFilters(threads, shape, u.data(), got.data(), isa);
          size_t wrong = 0;
          for (size_t i = 0; i < dw.size(); ++i)
            if (std::abs(got[i] - dw[i]) > 1e-5 * (1.0 + scale[i]) && wrong++ < 3)
              UNSCOPED_INFO("dw at " << i << ": " << got[i] << " want " << dw[i]);
          CHECK(wrong == 0);
        }
      }
  });
}

TEST_CASE("scanWinogradInput: which inputs oneDNN's unchecked F(4x4, 3x3) may take: none of an outlier, a hot "
          "or cold spot or a NaN; the largest magnitude, infinite for an infinity") {
  const int64_t n = 3, c = 32, h = 9, w = 11;
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::mt19937 gen(23);
  std::normal_distribution<float> normal;
  for (int64_t layout : {DLRT_LAYOUT_NCHW16C, DLRT_LAYOUT_NCHW8C}) {
    const int64_t block = dlrt_layout_block(layout);
    const int64_t g[20] = {n, c, h, w, 32, 3, 3, h, w, 1, 1, 1, 1, 1, 1, 1, 1, 1, DLRT_ACTIVATION_NONE, layout};
    const dlrt::native::WinogradShape shape(g, false, 4);
    auto at = [&](int64_t b, int64_t ch, int64_t r, int64_t q) {
      return size_t((((b * (c / block) + ch / block) * h + r) * w + q) * block + ch % block);
    };
    std::vector<float> clean(size_t(n * c * h * w));
    for (float &v : clean) v = normal(gen);
    float largest = 0;
    for (float v : clean) largest = std::max(largest, std::abs(v));
    // The same input changed one way: whether a tile needs the direct sums, on every ISA
    // build and team size.
    auto scan = [&](const std::vector<float> &x, bool wantTile, float wantLargest) {
      for (dlrt::native::VectorIsa isa : runnableIsas())
        for (int threads : {1, 2}) {
          CAPTURE(block, int(isa), threads);
          auto found = dlrt::native::scanWinogradInput(threads, shape, x.data(), isa);
          CHECK(found.tileNeedsDirectSums == wantTile);
          if (!std::isnan(wantLargest)) CHECK(found.largest == wantLargest);
        }
    };
    scan(clean, false, largest);
    std::vector<float> x = clean;
    x[at(2, c - 1, h - 1, w - 1)] = 200.0f; // in a corner of the last image
    scan(x, true, 200.0f);
    x = clean;
    for (int64_t ch = 0; ch < c; ++ch) // 3x3 pixels of image 1, every channel, 1000x the rest
      for (int64_t r = 4; r < 7; ++r)
        for (int64_t q = 2; q < 5; ++q) x[at(1, ch, r, q)] *= 1000.0f;
    scan(x, true, NAN);
    // The same pixels a hundredth as large: their outputs' windows are out of scale with
    // their patches too; half as large, within what a window may be (a patch outweighs a
    // window by 4 where uniform, here by about 7, by 16 at most).
    for (float scale : {0.01f, 0.5f}) {
      x = clean;
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t r = 4; r < 7; ++r)
          for (int64_t q = 2; q < 5; ++q) x[at(1, ch, r, q)] *= scale;
      scan(x, scale < 0.1f, NAN);
    }
    x = clean;
    x[at(0, 3, 0, 5)] = nan;
    scan(x, true, NAN);
    x = clean;
    x[at(1, 5, 8, 0)] = -inf;
    scan(x, true, inf);
  }
}

/// c[i] = a[i]^T b[i] in double: a[i] stored [k][m], b [k][n] per batch (one for all where
/// sharedRhs).
static std::vector<double> transposedLhsProduct(const std::vector<float> &a, const std::vector<float> &b,
                                                int64_t batch, int64_t m, int64_t k, int64_t n, bool sharedRhs) {
  std::vector<double> c(size_t(batch * m * n));
  for (int64_t i = 0; i < batch; ++i)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t t = 0; t < k; ++t)
          sum += double(a[size_t((i * k + t) * m + r)]) * b[size_t(((sharedRhs ? 0 : i) * k + t) * n + j)];
        c[size_t((i * m + r) * n + j)] = sum;
      }
  return c;
}

static double largestDifference(const std::vector<float> &got, const std::vector<double> &want) {
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i) e = std::max(e, std::abs(double(got[i]) - want[i]));
  return e;
}

TEST_CASE("batched products whose left operand is stored transposed (attention's gradients), native: every ISA "
          "build, row and column tails, team size, against double; through dlrt_k_matmul_f32 on rank 3 and 4, "
          "and left to oneDNN where batch dims broadcast") {
  std::mt19937 gen(13);
  std::uniform_real_distribution<float> u(-1, 1);
  // {batch, m, k, n}: TinyGpt's two shapes, then tails of every block size and odd k.
  const int64_t shapes[][4] = {{8, 64, 64, 32}, {8, 32, 64, 64}, {3, 13, 7, 24}, {5, 1, 9, 8},
                               {2, 29, 64, 48}, {4, 17, 33, 128}, {2, 6, 1, 16}};
  for (const auto &sh : shapes) {
    const int64_t batch = sh[0], m = sh[1], k = sh[2], n = sh[3];
    REQUIRE(dlrt::native::transposedLhsMatmulSupports(m, k, n));
    std::vector<float> a(size_t(batch * k * m)), b(size_t(batch * k * n));
    for (float &v : a) v = u(gen);
    for (float &v : b) v = u(gen);
    const std::vector<double> want = transposedLhsProduct(a, b, batch, m, k, n, false);
    auto worst = [&](const std::vector<float> &c) { return largestDifference(c, want); };
    for (dlrt::native::VectorIsa isa : runnableIsas())
      for (int threads : {1, 2, 3}) {
        CAPTURE(batch, m, k, n, int(isa), threads);
        std::vector<float> c(want.size(), 7.0f);
        dlrt::native::transposedLhsMatmul(threads, batch, m, k, n, a.data(), b.data(), c.data(), isa);
        CHECK(worst(c) < 1e-4);
      }
    // The kernel entry: rank 3 ([batch, m, k]) and rank 4 ([2, batch / 2, m, k]) operands,
    // lhs stored transposed (bit 0).
    for (int64_t rank : {3, 4}) {
      if (rank == 4 && batch % 2) continue;
      std::vector<int64_t> dims = rank == 3 ? std::vector<int64_t>{batch, m, k, batch, k, n}
                                            : std::vector<int64_t>{2, batch / 2, m, k, 2, batch / 2, k, n};
      KernelContext ctx;
      std::vector<float> c(want.size(), 7.0f);
      dlrt_k_matmul_f32(&ctx, 0, rank, dims.data(), a.data(), b.data(), c.data(), /*transposed=*/1);
      REQUIRE(ctx.error.empty());
      CAPTURE(batch, m, k, n, rank);
      CHECK(worst(c) < 1e-4);
    }
  }
  // A broadcast batch dim (one rhs for every batch) goes to oneDNN, which reads it as it is.
  const int64_t batch = 3, m = 5, k = 6, n = 16;
  std::vector<float> a(size_t(batch * k * m)), b(size_t(k * n)), c(size_t(batch * m * n), 7.0f);
  for (float &v : a) v = u(gen);
  for (float &v : b) v = u(gen);
  std::vector<int64_t> dims = {batch, m, k, 1, k, n};
  KernelContext ctx;
  dlrt_k_matmul_f32(&ctx, 0, 3, dims.data(), a.data(), b.data(), c.data(), 1);
  REQUIRE(ctx.error.empty());
  CHECK(largestDifference(c, transposedLhsProduct(a, b, batch, m, k, n, true)) < 1e-4);
}

TEST_CASE("native dense of a few rows, or of many into one block of outputs: every ISA build, row count, tail "
          "block, activation, NHWC and blocked columns, team size") {
  std::vector<dlrt::native::VectorIsa> isas = runnableIsas();
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t n : {10, 64, 100})
    // An input of 4 channels, 3 x 5 pixels (k = 60): NCHW (block 0), NHWC (one block of 4
    // channels), blocks of 2.
    for (int64_t block : {0, 4, 2}) {
      const bool nhwc = block != 0;
      const int64_t chw[4] = {4, 3, 5, block};
      const int64_t k = 60;
      std::vector<float> w(static_cast<size_t>(n * k)), bias(static_cast<size_t>(n)), x(static_cast<size_t>(19 * k));
      for (float &v : w) v = u(gen);
      for (float &v : bias) v = u(gen);
      for (float &v : x) v = 2 * u(gen);
      x[size_t(k + 7)] = std::nanf(""); // row 1: every output NaN
      std::vector<float> packed(size_t(dlrt::native::denseRowsPackedSize(n, k)));
      dlrt::native::packDenseRows(w.data(), n, k, nhwc ? chw : nullptr, packed.data());
      for (int64_t activation = DLRT_ACTIVATION_NONE; activation <= DLRT_ACTIVATION_SILU; ++activation)
        // More than 4 rows only into one block of 16 outputs: 9 and 19 are a pass of 8
        // rows (4 on AVX2) and the rest one by one.
        for (int64_t m : {1, 2, 3, 4, 9, 19}) {
          if (m > 4 && n > 16) continue;
          REQUIRE(dlrt::native::denseRowsSupports(m, n, activation));
          std::vector<double> want(size_t(m * n));
          for (int64_t r = 0; r < m; ++r)
            for (int64_t o = 0; o < n; ++o) {
              double s = bias[size_t(o)];
              for (int64_t i = 0; i < k; ++i) {
                // Input column i is element (channel block, pixel, channel in the block);
                // the weight's column is NCHW.
                int64_t col = i;
                if (nhwc) {
                  int64_t pixels = chw[1] * chw[2], ch = i / (block * pixels) * block + i % block;
                  col = ch * pixels + i / block % pixels;
                }
                s += double(x[size_t(r * k + i)]) * w[size_t(o * k + col)];
              }
              double sig = 1 / (1 + std::exp(-s));
              want[size_t(r * n + o)] = activation == DLRT_ACTIVATION_RELU      ? (s < 0 ? 0 : s)
                                        : activation == DLRT_ACTIVATION_SIGMOID ? sig
                                        : activation == DLRT_ACTIVATION_TANH    ? std::tanh(s)
                                        : activation == DLRT_ACTIVATION_SILU    ? s * sig
                                                                                : s;
            }
          for (dlrt::native::VectorIsa isa : isas)
            for (int threads : {1, 2, 3}) {
              CAPTURE(n, block, activation, m, int(isa), threads);
              std::vector<float> y(size_t(m * n) + 1, -5.0f); // one past the end: untouched
              dlrt::native::denseRows(threads, m, k, n, x.data(), packed.data(), bias.data(), y.data(), activation,
                                      isa);
              double worst = 0;
              bool nanRight = true;
              for (int64_t i = 0; i < m * n; ++i) {
                if (std::isnan(want[size_t(i)])) nanRight = nanRight && std::isnan(y[size_t(i)]);
                else worst = std::max(worst, std::abs(y[size_t(i)] - want[size_t(i)]) / (1 + std::abs(want[size_t(i)])));
              }
              CHECK(nanRight);
              CHECK(worst < 2e-6);
              CHECK(y[size_t(m * n)] == -5.0f);
            }
        }
    }
  CHECK(!dlrt::native::denseRowsSupports(5, 17, DLRT_ACTIVATION_NONE));
  CHECK(dlrt::native::denseRowsSupports(5, 16, DLRT_ACTIVATION_NONE));
  CHECK(!dlrt::native::denseRowsSupports(1, 10, DLRT_ACTIVATION_GELU_ERF));
}

/// self_attention and its gradient in double, as the dl ops of its expansion compute them
/// (q / sqrt(head_dim), softmax over the keys a causal mask leaves, times v): out [B, T, E]
/// and, from dy [B, T, E], dqkv [B, T, 3E].
static void attentionReference(const dlrt::native::AttentionShape &s, const std::vector<float> &qkv,
                               const std::vector<float> &dy, std::vector<double> &out, std::vector<double> &dqkv) {
  const int64_t t = s.steps, e = s.embed, hd = e / s.heads;
  const double root = std::sqrt(double(hd));
  out.assign(size_t(s.batch * t * e), 0.0);
  dqkv.assign(size_t(s.batch * t * 3 * e), 0.0);
  auto at = [&](int64_t b, int64_t i, int64_t part, int64_t h, int64_t d) {
    return size_t(((b * t + i) * 3 + part) * e + h * hd + d);
  };
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h) {
      std::vector<double> p(size_t(t * t), 0.0), dp(size_t(t * t), 0.0);
      for (int64_t i = 0; i < t; ++i) {
        int64_t keys = s.causal ? i + 1 : t;
        double top = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < keys; ++j) {
          double dot = 0.0;
          for (int64_t d = 0; d < hd; ++d) dot += double(qkv[at(b, i, 0, h, d)]) / root * qkv[at(b, j, 1, h, d)];
          p[size_t(i * t + j)] = dot;
          top = std::max(top, dot);
        }
        for (int64_t j = 0; j < keys; ++j) sum += p[size_t(i * t + j)] = std::exp(p[size_t(i * t + j)] - top);
        for (int64_t j = 0; j < keys; ++j) p[size_t(i * t + j)] /= sum;
        for (int64_t d = 0; d < hd; ++d) {
          double o = 0.0;
          for (int64_t j = 0; j < keys; ++j) o += p[size_t(i * t + j)] * qkv[at(b, j, 2, h, d)];
          out[size_t((b * t + i) * e + h * hd + d)] = o;
        }
      }
      auto g = [&](int64_t i, int64_t d) { return double(dy[size_t((b * t + i) * e + h * hd + d)]); };
      for (int64_t i = 0; i < t; ++i) {
        double rowDot = 0.0;
        for (int64_t j = 0; j < t; ++j) {
          double v = 0.0;
          for (int64_t d = 0; d < hd; ++d) v += g(i, d) * qkv[at(b, j, 2, h, d)];
          dp[size_t(i * t + j)] = v;
          rowDot += v * p[size_t(i * t + j)];
        }
        for (int64_t j = 0; j < t; ++j) dp[size_t(i * t + j)] = p[size_t(i * t + j)] * (dp[size_t(i * t + j)] - rowDot);
      }
      for (int64_t i = 0; i < t; ++i)
        for (int64_t d = 0; d < hd; ++d) {
          double dq = 0.0, dk = 0.0, dv = 0.0;
          for (int64_t j = 0; j < t; ++j) {
            dq += dp[size_t(i * t + j)] * qkv[at(b, j, 1, h, d)];
            dk += dp[size_t(j * t + i)] * qkv[at(b, j, 0, h, d)] / root;
            dv += p[size_t(j * t + i)] * g(j, d);
          }
          dqkv[at(b, i, 0, h, d)] = dq / root;
          dqkv[at(b, i, 1, h, d)] = dk;
          dqkv[at(b, i, 2, h, d)] = dv;
        }
    }
}

TEST_CASE("native self-attention and its gradient: every ISA build, causal or not, head dims and lengths off the "
          "vector width, team size, against double") {
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> u(-1.5f, 1.5f);
  // {B, T, E, heads}: TinyGpt's, then lengths and head dims that leave tails of 8 and 16,
  // one step, one head, a head dim of 1.
  const int64_t shapes[][4] = {{2, 64, 128, 4}, {3, 5, 12, 3}, {2, 17, 40, 2}, {1, 33, 24, 1},
                               {2, 1, 16, 2},   {2, 9, 4, 4},  {1, 70, 96, 2}};
  for (const auto &sh : shapes)
    for (bool causal : {true, false}) {
      dlrt::native::AttentionShape s{sh[0], sh[1], sh[2], sh[3], causal};
      std::vector<float> qkv(size_t(s.batch * s.steps * 3 * s.embed)), dy(size_t(s.batch * s.steps * s.embed));
      for (float &v : qkv) v = u(gen);
      for (float &v : dy) v = u(gen);
      std::vector<double> wantOut, wantGrad;
      attentionReference(s, qkv, dy, wantOut, wantGrad);
      for (dlrt::native::VectorIsa isa : runnableIsas())
        for (int threads : {1, 2, 3}) {
          CAPTURE(sh[0], sh[1], sh[2], sh[3], causal, int(isa), threads);
          std::vector<float> out(wantOut.size(), 7.0f), grad(wantGrad.size(), 7.0f);
          dlrt::native::selfAttention(threads, s, qkv.data(), out.data(), isa);
          dlrt::native::selfAttentionBackward(threads, s, qkv.data(), dy.data(), grad.data(), isa);
          CHECK(largestDifference(out, wantOut) < 1e-5);
          CHECK(largestDifference(grad, wantGrad) < 1e-4);
        }
      // The kernel entries, as compiled code calls them.
      KernelContext ctx;
      std::vector<float> out(wantOut.size(), 7.0f), grad(wantGrad.size(), 7.0f);
      dlrt_k_self_attention_f32(&ctx, 0, s.batch, s.steps, s.embed, s.heads, causal, qkv.data(), out.data());
      dlrt_k_self_attention_backward_f32(&ctx, 0, s.batch, s.steps, s.embed, s.heads, causal, qkv.data(), dy.data(),
                                         grad.data());
      REQUIRE(ctx.error.empty());
      CHECK(largestDifference(out, wantOut) < 1e-5);
      CHECK(largestDifference(grad, wantGrad) < 1e-4);
    }
  // NaN in a query gives NaN in its row's output, as torch's softmax does.
  dlrt::native::AttentionShape s{1, 4, 8, 2, true};
  std::vector<float> qkv(size_t(4 * 24), 0.5f), out(size_t(4 * 8), 0.0f);
  qkv[size_t(2 * 24)] = NAN; // step 2, head 0, q[0]
  dlrt::native::selfAttention(1, s, qkv.data(), out.data());
  CHECK(std::isnan(out[size_t(2 * 8)]));
  CHECK(!std::isnan(out[size_t(1 * 8)]));
  CHECK(!std::isnan(out[size_t(2 * 8 + 4)])); // head 1 of the same step
  // NaN in a value gives NaN in every row of its head, the rows before it too: torch
  // multiplies the masked (zero) weights in, and 0 * NaN is NaN. Its gradient likewise
  // reaches every key's and value's gradient of that head through the zero weights.
  std::vector<float> vnan(size_t(4 * 24), 0.5f), dy(size_t(4 * 8), 1.0f), grad(size_t(4 * 24), 0.0f);
  vnan[size_t(3 * 24 + 16)] = NAN; // step 3, head 0, v[0]
  dlrt::native::selfAttention(1, s, vnan.data(), out.data());
  for (int64_t t = 0; t < 4; ++t) {
    CAPTURE(t);
    CHECK(std::isnan(out[size_t(t * 8)]));
    CHECK(!std::isnan(out[size_t(t * 8 + 4)]));
  }
  dlrt::native::selfAttentionBackward(1, s, vnan.data(), dy.data(), grad.data());
  for (int64_t t = 0; t < 4; ++t) {
    CAPTURE(t);
    CHECK(std::isnan(grad[size_t(t * 24)]));      // dq, head 0
    CHECK(!std::isnan(grad[size_t(t * 24 + 4)])); // dq, head 1
  }
  // A score of -inf has the weight 0, as torch's exp gives, not exp's floor (1.2e-38):
  // times an infinity in its value that is NaN, not an infinity (difftest seed 152027).
  // Step 2's key of head 0 is -inf in its first component, its value +inf there.
  for (bool causal : {false, true})
    for (dlrt::native::VectorIsa isa : runnableIsas()) {
      CAPTURE(causal, int(isa));
      dlrt::native::AttentionShape open{1, 4, 8, 2, causal};
      std::vector<float> inf(size_t(4 * 24), 0.5f), result(size_t(4 * 8), 0.0f);
      inf[size_t(2 * 24 + 8)] = -INFINITY; // k[2], head 0
      inf[size_t(2 * 24 + 16)] = INFINITY; // v[2], head 0
      dlrt::native::selfAttention(1, open, inf.data(), result.data(), isa);
      for (int64_t t = 0; t < 4; ++t) {
        CAPTURE(t);
        // Causal rows before step 2 see its key through a masked weight, 0 either way.
        CHECK(std::isnan(result[size_t(t * 8)]));
        CHECK(std::isfinite(result[size_t(t * 8 + 1)]));
        CHECK(std::isfinite(result[size_t(t * 8 + 4)])); // head 1
      }
    }
}
