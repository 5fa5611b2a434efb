#include "compiler/Frontend/Parser.h"
#include "compiler/Frontend/Sema.h"

#include "CollectDiagnostics.h"

#include <catch2/catch.hpp>

using namespace dlc;

namespace {
struct Analyzed : CollectDiagnostics {
  std::optional<ModelGraph> graph;
  explicit Analyzed(const std::string &src) {
    Diagnostics diags(ctx, "t.dl");
    auto m = parseModel(src, diags);
    if (m) graph = analyze(*m, diags);
  }
  std::vector<std::string> params() const {
    std::vector<std::string> out;
    for (const GraphParam &p : graph->params) out.push_back(p.name);
    return out;
  }
  bool hasParam(const std::string &n) const {
    auto ps = params();
    return std::find(ps.begin(), ps.end(), n) != ps.end();
  }
};
} // namespace

TEST_CASE("naming: the binding names the layer that is the whole right-hand side or last pipe stage") {
  Analyzed a(R"(model M {
  input x: f32[B, 4]
  h1 = dense(x, 8) |> relu
  h = relu(dense(x, 8))
  g = relu(dense(dense(x, 8), 4))
  output o = h1 + h + dense(g, 8)
})");
  REQUIRE(a.errors.empty());
  CHECK(a.hasParam("h1.weight"));
  CHECK(a.hasParam("h1.bias"));
  CHECK(a.hasParam("dense.weight"));   // h = relu(dense(...)): not the whole right-hand side
  CHECK(a.hasParam("dense_1.weight")); // inner dense of g, evaluated first
  CHECK(a.hasParam("dense_2.weight")); // outer dense of g
  CHECK(a.hasParam("dense_3.weight")); // inside the output expression
}

TEST_CASE("naming: repeat counts in unrolled order, explicit names override") {
  Analyzed a(R"(model M {
  input x: f32[B, 8]
  h = x
  repeat 3 { h = dense(h, 8) }
  e = dense(h, 8, name = "layer1.0.conv1")
  output e
})");
  REQUIRE(a.errors.empty());
  std::vector<std::string> want = {"h.weight", "h.bias", "h_1.weight", "h_1.bias", "h_2.weight", "h_2.bias",
                                   "layer1.0.conv1.weight", "layer1.0.conv1.bias"};
  CHECK(a.params() == want);
}

TEST_CASE("naming: the TinyGpt example of DSL.md") {
  Analyzed a(R"(model TinyGpt {
  const V = 256, D = 128, H = 4, L = 2, T = 64
  input tokens: i64[B, T]
  input targets: i64[B, T]
  fn block(x) {
    x = x + attention(layer_norm(x), heads = H, causal = true)
    m = layer_norm(x) |> dense(4 * D) |> gelu |> dense(D)
    return x + m
  }
  h = embedding(tokens, V, D) + position_embedding(tokens, T, D)
  repeat L { h = block(h) }
  logits = dense(layer_norm(h), V)
  output logits
  train {
    loss = cross_entropy(logits, targets)
    optimizer = adamw(lr = 3e-4, weight_decay = 0.01)
  }
})");
  REQUIRE(a.errors.empty());
  for (const char *n : {"block.0.attention.in_proj_weight", "block.1.layer_norm_1.bias", "block.0.m.weight",
                        "block.0.dense.weight", "embedding.weight", "logits.weight", "position_embedding.weight",
                        "block.0.attention.out_proj.bias", "layer_norm.weight"})
    CHECK(a.hasParam(n));
  REQUIRE(a.graph->train);
  CHECK(a.graph->train->optimizer == "adamw");
  // targets is read only by the loss.
  CHECK(a.graph->inputTrainOnly == std::vector<bool>{false, true});
}

TEST_CASE("types: promotion with weak literals, true division") {
  Analyzed a(R"(model M {
  input x: bf16[B, 4]
  input i: i64[B, 4]
  output a = 0.5 * x
  output b = i / 2
  output c = i + 1
  output d = i * 1.5
})");
  REQUIRE(a.errors.empty());
  auto dt = [&](int k) { return a.graph->values[a.graph->outputs[k].value].type.dtype; };
  CHECK(dt(0) == DType::BF16);
  CHECK(dt(1) == DType::F32);
  CHECK(dt(2) == DType::I64);
  CHECK(dt(3) == DType::F32);
}

TEST_CASE("shapes: convolution, pooling and recurrent rules") {
  Analyzed a(R"(model M {
  input x: f32[N, 3, 32, 32]
  c = conv2d(x, 16, 3, padding = 1)
  p = max_pool2d(c, 2)
  s = conv2d(p, 8, (3, 5), stride = 2, padding = "same")
  output s
})");
  REQUIRE(a.errors.size() == 1);
  CHECK(a.errors[0].find("padding = \"same\" needs stride 1") != std::string::npos);
  Analyzed b(R"(model M {
  input x: f32[N, 3, 32, 32]
  c = conv2d(x, 16, 3, stride = 2, padding = 1)
  output p = max_pool2d(c, 2)
  output l = lstm(flatten(p, 2), 20, layers = 2, sequences = false)
})");
  REQUIRE(b.errors.empty());
  auto shape = [&](int k) { return b.graph->values[b.graph->outputs[k].value].type.str(); };
  CHECK(shape(0) == "f32[N, 16, 8, 8]");
  CHECK(shape(1) == "f32[N, 20]");
  CHECK(b.hasParam("l.weight_hh_l1"));
}

TEST_CASE("sema: functions nest at most 64 calls deep, and 256 levels of expression analyse") {
  // A chain of functions each calling the next: 64 analyse, 65 are an error naming the
  // call (thousands overflowed Sema's stack before); an expression at the parser's depth
  // limit analyses.
  auto chain = [](int n) {
    std::string src = "model M {\n  input x: f32[B, 4]\n";
    for (int i = 0; i + 1 < n; ++i)
      src += "  fn f" + std::to_string(i) + "(x) {\n    return f" + std::to_string(i + 1) + "(x) + 1\n  }\n";
    src += "  fn f" + std::to_string(n - 1) + "(x) {\n    return relu(x)\n  }\n  output y = f0(x)\n}";
    return src;
  };
  Analyzed ok(chain(64));
  CHECK(ok.errors.empty());
  Analyzed deep(chain(20000));
  REQUIRE(deep.errors.size() == 1);
  CHECK(deep.errors[0].find("function 'f64' called 65 calls deep") != std::string::npos);
  std::string sum = "x";
  for (int i = 1; i < 254; ++i) sum += " + relu(x)" + std::string(i % 2 ? "" : " * 2.0");
  Analyzed wide("model M {\n  input x: f32[B, 4]\n  output y = " + sum + "\n}");
  CHECK(wide.errors.empty());
}

TEST_CASE("sema: calls deep inside expressions of functions called deep add up to at most 1,024 levels") {
  // Each of n functions returns its successor's call under 60 relus: 16 (976 levels)
  // analyse; 64 (3,900 levels, which overflowed the stack before) are an error.
  auto chain = [](int n) {
    std::string src = "model M {\n  input x: f32[B, 4]\n";
    for (int i = 0; i < n; ++i) {
      std::string inner = i + 1 < n ? "f" + std::to_string(i + 1) + "(x)" : "x";
      std::string e = inner;
      for (int k = 0; k < 60; ++k) e = "relu(" + e + ")";
      src += "  fn f" + std::to_string(i) + "(x) {\n    return " + e + "\n  }\n";
    }
    return src + "  output y = f0(x)\n}";
  };
  Analyzed ok(chain(16));
  CHECK(ok.errors.empty());
  Analyzed deep(chain(64));
  REQUIRE(deep.errors.size() == 1);
  CHECK(deep.errors[0].find("expressions nested too deeply across function calls") != std::string::npos);
}
