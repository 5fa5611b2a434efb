//===- SymExpr.cpp - sizes that may depend on symbolic dims ---------------===//
#include "compiler/Basic/SymExpr.h"

#include <algorithm>
#include <map>
#include <vector>

namespace dlc {

struct SymExpr::Node {
  char op = 'c'; // 'c' constant, 's' symbol, or one of + * /
  int64_t value = 0; // constants; the coefficient of a product; a sum's constant
  std::vector<SymExpr> factors; // a product's non-constant factors, sorted by spelling; a quotient's two operands
  std::vector<std::pair<int64_t, SymExpr>> terms; // a sum's (coefficient, term), sorted by the term's spelling
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
bool SymExpr::nonNegative() const {
  const Node &n = *node;
  switch (n.op) {
  case 'c': return n.value >= 0;
  case 's': return true;
  case '*':
    return n.value >= 0 && std::all_of(n.factors.begin(), n.factors.end(), [](const SymExpr &f) { return f.nonNegative(); });
  case '+':
    return n.value >= 0 && std::all_of(n.terms.begin(), n.terms.end(), [](const auto &t) {
             return t.first >= 0 && t.second.nonNegative();
           });
  case '/': return n.factors[0].nonNegative() && n.factors[1].constant().value_or(0) > 0;
  }
  return false;
}
std::string SymExpr::str() const { return node->spelling; }

static int64_t floorDivInt(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// Products are kept canonical (coefficient times sorted factors) so that equal sizes
/// spell the same however they were computed: B*3*4, 12*B and (4*B)*3 are one size.
static SymExpr product(int64_t coef, std::vector<SymExpr> factors) {
  if (coef == 0 || factors.empty()) return SymExpr(factors.empty() ? coef : 0);
  std::sort(factors.begin(), factors.end(), [](const SymExpr &x, const SymExpr &y) { return x.str() < y.str(); });
  if (coef == 1 && factors.size() == 1) return factors[0];
  auto n = std::make_shared<SymExpr::Node>();
  n->op = '*';
  n->value = coef;
  n->spelling = "(" + (coef != 1 ? std::to_string(coef) : std::string());
  for (size_t i = 0; i < factors.size(); ++i)
    n->spelling += (i || coef != 1 ? "*" : "") + factors[i].str();
  n->spelling += ")";
  n->factors = std::move(factors);
  return SymExpr(std::shared_ptr<const SymExpr::Node>(std::move(n)));
}

/// Sums are kept canonical too: a constant plus coefficients times distinct terms (a
/// symbol, a product's factors, a quotient), the terms sorted by spelling, so that a size
/// computed two ways spells the same: a convolution that takes one row and one that gives
/// it back leave H, not ((H+-1)+1), which the broadcast of a residual add must see as H.
namespace {
struct Sum {
  int64_t constant = 0;
  std::map<std::string, std::pair<SymExpr, int64_t>> terms; // spelling -> (term, coefficient)
};
} // namespace

static void addTo(Sum &sum, const SymExpr &x, int64_t scale) {
  const SymExpr::Node &n = x.rep();
  if (n.op == 'c') {
    sum.constant += scale * n.value;
    return;
  }
  if (n.op == '+') {
    sum.constant += scale * n.value;
    for (const auto &[coef, term] : n.terms) addTo(sum, term, scale * coef);
    return;
  }
  SymExpr term = x;
  int64_t coef = 1;
  if (n.op == '*') {
    coef = n.value;
    term = product(1, n.factors);
  }
  auto &slot = sum.terms.try_emplace(term.str(), term, 0).first->second;
  slot.second += scale * coef;
}

static SymExpr combine(const SymExpr &a, const SymExpr &b, int64_t bScale) {
  Sum sum;
  addTo(sum, a, 1);
  addTo(sum, b, bScale);
  auto n = std::make_shared<SymExpr::Node>();
  n->op = '+';
  n->value = sum.constant;
  for (auto &[spelling, entry] : sum.terms) {
    if (entry.second == 0) continue;
    n->terms.push_back({entry.second, entry.first});
    SymExpr t = entry.first * SymExpr(entry.second);
    n->spelling += (n->spelling.empty() ? "" : "+") + t.str();
  }
  if (n->terms.empty()) return SymExpr(sum.constant);
  if (n->terms.size() == 1 && sum.constant == 0) return n->terms[0].second * SymExpr(n->terms[0].first);
  if (sum.constant != 0) n->spelling += "+" + std::to_string(sum.constant);
  n->spelling = "(" + n->spelling + ")";
  return SymExpr(std::shared_ptr<const SymExpr::Node>(std::move(n)));
}

SymExpr operator+(const SymExpr &a, const SymExpr &b) {
  auto ca = a.constant(), cb = b.constant();
  if (ca && cb) return SymExpr(*ca + *cb);
  return combine(a, b, 1);
}

SymExpr operator-(const SymExpr &a, const SymExpr &b) {
  auto ca = a.constant(), cb = b.constant();
  if (ca && cb) return SymExpr(*ca - *cb);
  return combine(a, b, -1);
}

SymExpr operator*(const SymExpr &a, const SymExpr &b) {
  int64_t coef = 1;
  std::vector<SymExpr> factors;
  for (const SymExpr *x : {&a, &b}) {
    if (auto c = x->constant()) coef *= *c;
    else if (x->node->op == '*') {
      coef *= x->node->value;
      factors.insert(factors.end(), x->node->factors.begin(), x->node->factors.end());
    } else {
      factors.push_back(*x);
    }
  }
  return product(coef, std::move(factors));
}

SymExpr floorDiv(const SymExpr &a, const SymExpr &b) {
  auto ca = a.constant(), cb = b.constant();
  if (ca && cb && *cb != 0) return SymExpr(floorDivInt(*ca, *cb));
  if (cb && *cb == 1) return a;
  if (cb && *cb != 0 && a.node->op == '*' && a.node->value % *cb == 0)
    return product(a.node->value / *cb, a.node->factors);
  auto n = std::make_shared<SymExpr::Node>();
  n->op = '/';
  n->factors = {a, b};
  n->spelling = "(" + a.str() + "/" + b.str() + ")";
  return SymExpr(std::shared_ptr<const SymExpr::Node>(std::move(n)));
}

} // namespace dlc
