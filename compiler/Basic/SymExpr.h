//===- SymExpr.h - sizes that may depend on symbolic dims -------*- C++ -*-===//
#ifndef DLC_BASIC_SYMEXPR_H
#define DLC_BASIC_SYMEXPR_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace dlc {

/// A dim size: a constant, a symbolic dim of the model (`B`), or arithmetic on those
/// (`B*T` after a flatten). Folded as far as constants allow, sums and products in a
/// canonical form; two sizes are equal when their canonical spellings are. The spelling
/// is what the model signature stores and the runtime evaluates to size outputs before a
/// call.
class SymExpr {
public:
  SymExpr() : SymExpr(int64_t(0)) {}
  SymExpr(int64_t c);
  static SymExpr symbol(const std::string &name);

  std::optional<int64_t> constant() const;
  bool isConstant() const { return constant().has_value(); }
  bool isSymbol() const;
  /// Whether the size is 0 or more for any sizes of its symbols (which are): sums and
  /// products of them with coefficients and a constant of 0 or more, and quotients of
  /// such by a positive constant. False where it may be negative, or it takes more to tell.
  bool nonNegative() const;
  std::string str() const;

  friend SymExpr operator+(const SymExpr &a, const SymExpr &b);
  friend SymExpr operator-(const SymExpr &a, const SymExpr &b);
  friend SymExpr operator*(const SymExpr &a, const SymExpr &b);
  /// Floor division, as size arithmetic (conv output sizes) needs.
  friend SymExpr floorDiv(const SymExpr &a, const SymExpr &b);
  friend bool operator==(const SymExpr &a, const SymExpr &b) { return a.str() == b.str(); }
  friend bool operator!=(const SymExpr &a, const SymExpr &b) { return !(a == b); }

  struct Node;
  explicit SymExpr(std::shared_ptr<const Node> n) : node(std::move(n)) {}
  const Node &rep() const { return *node; } // for SymExpr.cpp's canonical forms

private:
  std::shared_ptr<const Node> node;
};

} // namespace dlc
#endif
