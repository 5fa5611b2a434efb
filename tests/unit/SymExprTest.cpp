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
