#include "compiler/Frontend/Parser.h"

#include "CollectDiagnostics.h"

#include <catch2/catch.hpp>

#include <functional>

using namespace dlc;

namespace {
struct Parsed : CollectDiagnostics {
  std::optional<Model> model;
  explicit Parsed(const std::string &src) {
    Diagnostics diags(ctx, "t.dl");
    model = parseModel(src, diags);
  }
};
} // namespace

TEST_CASE("parser: statements of every kind") {
  Parsed p(R"(model M {
  const A = 3, B2 = A * 4
  input x: f32[N, 8]
  fn block(h) {
    h = relu(h)
    return h
  }
  repeat A { x = block(x) }
  y = x
    |> dense(4)
  output y
  output z = softmax(y, axis = -1)
  train {
    loss = mse(y, y)
    optimizer = sgd(lr = 0.1)
  }
})");
  REQUIRE(p.errors.empty());
  REQUIRE(p.model);
  REQUIRE(p.model->fns.size() == 1);
  REQUIRE(p.model->train);
  REQUIRE(p.model->body.size() == 6); // const, input, repeat, y, output, output
  const Stmt &y = *p.model->body[3];
  REQUIRE(y.kind == Stmt::Assign);
  REQUIRE(y.value->kind == Expr::Pipe);
}

TEST_CASE("parser: precedence follows Python") {
  Parsed p("model M {\n y = a + b * c |> relu\n}");
  REQUIRE(p.errors.empty());
  const Expr &e = *p.model->body[0]->value;
  REQUIRE(e.kind == Expr::Pipe);           // |> binds loosest
  REQUIRE(e.args[0]->kind == Expr::Binary); // a + (b * c)
  REQUIRE(e.args[0]->op == '+');
  REQUIRE(e.args[0]->args[1]->op == '*');
}

TEST_CASE("parser: tuples and negative literals") {
  Parsed p("model M {\n y = reshape(x, (-1, 4))\n z = f((3,))\n}");
  REQUIRE(p.errors.empty());
  const Expr &call = *p.model->body[0]->value;
  REQUIRE(call.args[1]->kind == Expr::Tuple);
  REQUIRE(call.args[1]->args[0]->intValue == -1);
  const Expr &one = *p.model->body[1]->value;
  REQUIRE(one.args[0]->kind == Expr::Tuple);
  REQUIRE(one.args[0]->args.size() == 1);
}

TEST_CASE("parser: several errors in one run, with recovery") {
  Parsed p("model M {\n a = = 3\n b = 4 4\n c = relu(x)\n}");
  REQUIRE(p.errors.size() == 2);
  REQUIRE(p.model->body.size() == 1);
}

TEST_CASE("parser: an unclosed bracket names where it opened") {
  Parsed p("model M {\n y = dense(x, 4\n}");
  REQUIRE(!p.errors.empty());
  REQUIRE(p.errors[0].find("unclosed '('") != std::string::npos);
}

TEST_CASE("parser: an expression nested past 256 levels is an error, not a stack overflow") {
  // Each form the parser or Sema walks recursively: a long sum (a left-deep tree built in a
  // loop), brackets, signs, calls, pipes; 256 levels pass, 100,000 are refused where the
  // nesting passes the limit (a few thousand overflowed Sema's stack before).
  auto model = [](const std::string &expr) { return "model M {\n  input x: f32[B, 4]\n  output y = " + expr + "\n}"; };
  auto repeat = [](const std::string &s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  auto sum = [&](int n) { return "x" + repeat(" + x", n - 1); };
  const std::vector<std::pair<std::string, std::function<std::string(int)>>> forms = {
      {"a sum", sum},
      {"brackets", [&](int n) { return repeat("(", n - 1) + "x" + repeat(")", n - 1); }},
      {"signs", [&](int n) { return repeat("-", n - 1) + "x"; }},
      {"calls", [&](int n) { return repeat("relu(", n - 1) + "x" + repeat(")", n - 1); }},
      {"pipes", [&](int n) { return "x" + repeat(" |> relu", n - 1); }},
  };
  for (const auto &[what, make] : forms) {
    INFO(what);
    Parsed ok(model(make(256)));
    CHECK(ok.errors.empty());
    Parsed deep(model(make(100000)));
    REQUIRE(deep.errors.size() == 1);
    CHECK(deep.errors[0].find("expression nested too deeply: more than 256 levels") != std::string::npos);
  }
}

TEST_CASE("parser: blocks nested past 64 levels are an error, not a stack overflow") {
  auto nested = [](int n) {
    std::string src = "model M {\n  input x: f32[B, 4]\n";
    for (int i = 1; i < n; ++i) src += "repeat 1 {\n";
    src += "x = relu(x)\n";
    for (int i = 1; i < n; ++i) src += "}\n";
    return src + "  output y = x\n}";
  };
  Parsed ok(nested(64));
  CHECK(ok.errors.empty());
  Parsed deep(nested(100000));
  REQUIRE(deep.errors.size() == 1);
  CHECK(deep.errors[0].find("blocks nested too deeply: more than 64 levels") != std::string::npos);
  REQUIRE(deep.model);
  CHECK(deep.model->body.size() == 2); // the input and the output: the nest skipped whole
}
