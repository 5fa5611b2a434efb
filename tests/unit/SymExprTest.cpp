#include "compiler/Basic/SymExpr.h"

#include <catch2/catch.hpp>

using namespace dlc;

TEST_CASE("symexpr: constants fold, products are canonical") {
  SymExpr B = SymExpr::symbol("B"), T = SymExpr::symbol("T");
  CHECK((SymExpr(3) * SymExpr(4)).constant() == 12);
  CHECK(B * SymExpr(3) * SymExpr(4) == SymExpr(12) * B);
  CHECK(B * T == T * B);
  CHECK(floorDiv(SymExpr(8) * B, SymExpr(8)) == B);
  CHECK(floorDiv(SymExpr(12) * B, SymExpr(4)) == SymExpr(3) * B);
  CHECK(floorDiv(SymExpr(-7), SymExpr(2)).constant() == -4);
  CHECK((B - B).constant() == 0);
  CHECK((B * SymExpr(1)) == B);
  CHECK((B + SymExpr(0)) == B);
  CHECK(B != T);
}

TEST_CASE("symexpr: sums are canonical") {
  SymExpr B = SymExpr::symbol("B"), H = SymExpr::symbol("H"), W = SymExpr::symbol("W");
  // A convolution that takes a row (H - 3 + 2 + 1... = H - 1 + 1): the size it started from.
  CHECK(((H + SymExpr(-1)) + SymExpr(1)) == H);
  CHECK((((H + SymExpr(-1)) + SymExpr(1)) + SymExpr(-1)) + SymExpr(1) == H);
  CHECK((H + SymExpr(-1)) == (H - SymExpr(1)));
  CHECK((H + W) == (W + H));
  CHECK((H + W - H) == W);
  CHECK((H + H) == SymExpr(2) * H);
  CHECK((SymExpr(3) * B + B) == SymExpr(4) * B);
  CHECK(((H + SymExpr(2)) - (H + SymExpr(-3))).constant() == 5);
  CHECK((B * H + H * B) == SymExpr(2) * (B * H));
  // Quotients are terms of their own: (H - 5) / 2 + 1 stays as it is.
  SymExpr out = floorDiv(H - SymExpr(5), SymExpr(2)) + SymExpr(1);
  CHECK(out != floorDiv(H - SymExpr(3), SymExpr(2)));
  CHECK(out - SymExpr(1) == floorDiv(H + SymExpr(-5), SymExpr(2)));
  // The spelling the runtime evaluates (Signature.cpp's evalDim).
  CHECK((H + SymExpr(-1)).str() == "(H+-1)");
  CHECK((W - H + SymExpr(2)).str() == "((-1*H)+W+2)");
  CHECK((SymExpr(0) - H).str() == "(-1*H)");
  CHECK(!(H + SymExpr(1)).isConstant());
}

TEST_CASE("symexpr: sizes that cannot be negative") {
  SymExpr B = SymExpr::symbol("B"), H = SymExpr::symbol("H"), T = SymExpr::symbol("T");
  CHECK(B.nonNegative());
  CHECK(SymExpr(0).nonNegative());
  CHECK(!SymExpr(-1).nonNegative());
  CHECK((B * T).nonNegative());
  CHECK(floorDiv(B * T, SymExpr(4)).nonNegative());
  CHECK((H + T + SymExpr(1)).nonNegative());
  // A size the symbols' values decide: the runtime checks it (the signature's "requires").
  CHECK(!(H - SymExpr(2)).nonNegative());
  CHECK(!(floorDiv(H - SymExpr(5), SymExpr(2)) + SymExpr(1)).nonNegative());
  CHECK(!((H - SymExpr(2)) * B).nonNegative());
  CHECK(!(T - H).nonNegative());
}
