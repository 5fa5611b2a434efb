//===- SymExpr.cpp - sizes that may depend on symbolic dims ---------------===//
#include "compiler/Frontend/SymExpr.h"

namespace dlc {

struct SymExpr::Node {
  char op = 'c'; // 'c' constant, 's' symbol, or one of + - * /
  int64_t value = 0;
  std::string spelling;
};

SymExpr::SymExpr(int64_t c) {
  auto n = std::make_shared<Node>();
  n->value = c;
  n->spelling = std::to_string(c);
  node = std::move(n);
}

SymExpr SymExpr::symbol(const std::string &name) {
  auto n = std::make_shared<Node>();
  n->op = 's';
  n->spelling = name;
  return SymExpr(std::shared_ptr<const Node>(std::move(n)));
}

std::optional<int64_t> SymExpr::constant() const {
  if (node->op == 'c') return node->value;
  return std::nullopt;
}
bool SymExpr::isSymbol() const { return node->op == 's'; }
std::string SymExpr::str() const { return node->spelling; }

static int64_t floorDivInt(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

SymExpr operator+(const SymExpr &a, const SymExpr &b) {
  auto ca = a.constant(), cb = b.constant();
  if (ca && cb) return SymExpr(*ca + *cb);
  if (ca && *ca == 0) return b;
  if (cb && *cb == 0) return a;
  auto n = std::make_shared<SymExpr::Node>();
  n->op = '+';
  n->spelling = "(" + a.str() + "+" + b.str() + ")";
  return SymExpr(std::shared_ptr<const SymExpr::Node>(std::move(n)));
}

SymExpr operator-(const SymExpr &a, const SymExpr &b) {
  auto ca = a.constant(), cb = b.constant();
  if (ca && cb) return SymExpr(*ca - *cb);
  if (cb && *cb == 0) return a;
  if (a == b) return SymExpr(int64_t(0));
  auto n = std::make_shared<SymExpr::Node>();
  n->op = '-';
  n->spelling = "(" + a.str() + "-" + b.str() + ")";
  return SymExpr(std::shared_ptr<const SymExpr::Node>(std::move(n)));
}

SymExpr operator*(const SymExpr &a, const SymExpr &b) {
  auto ca = a.constant(), cb = b.constant();
  if (ca && cb) return SymExpr(*ca * *cb);
  if (ca && *ca == 1) return b;
  if (cb && *cb == 1) return a;
  if ((ca && *ca == 0) || (cb && *cb == 0)) return SymExpr(int64_t(0));
  auto n = std::make_shared<SymExpr::Node>();
  n->op = '*';
  // Constants first so that 4*B and B*4 spell the same.
  const SymExpr &l = cb && !ca ? b : a;
  const SymExpr &r = cb && !ca ? a : b;
  n->spelling = "(" + l.str() + "*" + r.str() + ")";
  return SymExpr(std::shared_ptr<const SymExpr::Node>(std::move(n)));
}

SymExpr floorDiv(const SymExpr &a, const SymExpr &b) {
  auto ca = a.constant(), cb = b.constant();
  if (ca && cb && *cb != 0) return SymExpr(floorDivInt(*ca, *cb));
  if (cb && *cb == 1) return a;
  auto n = std::make_shared<SymExpr::Node>();
  n->op = '/';
  n->spelling = "(" + a.str() + "/" + b.str() + ")";
  return SymExpr(std::shared_ptr<const SymExpr::Node>(std::move(n)));
}

} // namespace dlc
