#include "compiler/Frontend/Parser.h"

#include "CollectDiagnostics.h"

#include <catch2/catch.hpp>

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
