//===- AST.h - the syntax tree of a .dl model -------------------*- C++ -*-===//
#ifndef DLC_FRONTEND_AST_H
#define DLC_FRONTEND_AST_H

#include "compiler/Frontend/Token.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dlc {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct KwArg {
  std::string name;
  SrcLoc loc;
  ExprPtr value;
};

struct Expr {
  enum Kind { Int, Float, Bool, String, Ident, Tuple, Call, Binary, Neg, Pipe };
  Kind kind;
  SrcLoc loc;
  int64_t intValue = 0;
  double floatValue = 0;
  bool boolValue = false;
  std::string name;           // Ident, String (its value), Call (callee)
  char op = 0;                // Binary: + - * / @
  std::vector<ExprPtr> args;  // Tuple elements, Call positionals, Binary/Pipe [lhs, rhs], Neg [x]
  std::vector<KwArg> kwargs;  // Call
  int depth = 1;              // levels of the tree it roots (a leaf: 1); the parser bounds it
  Expr(Kind k, SrcLoc l) : kind(k), loc(l) {}
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;

struct InputDecl {
  std::string name, dtype;
  SrcLoc loc, dtypeLoc;
  std::vector<ExprPtr> dims;
};

struct Stmt {
  enum Kind { Const, Input, Assign, Output, Return, Repeat };
  Kind kind;
  SrcLoc loc;
  std::string name;                                  // Assign, Output
  ExprPtr value;                                     // Assign, Output (optional), Return, Repeat count
  std::vector<std::pair<std::string, ExprPtr>> consts; // Const
  std::vector<SrcLoc> constLocs;
  InputDecl input;                                   // Input
  std::vector<StmtPtr> body;                         // Repeat
  Stmt(Kind k, SrcLoc l) : kind(k), loc(l) {}
};

struct FnDecl {
  std::string name;
  SrcLoc loc;
  std::vector<std::string> params;
  std::vector<SrcLoc> paramLocs;
  std::vector<StmtPtr> body; // ends with a Return
};

/// The `train { ... }` block: assignments of `loss`, `optimizer` and extras such as
/// `clip_grad_norm`, kept in order so Sema can check each.
struct TrainBlock {
  SrcLoc loc;
  std::vector<StmtPtr> body; // Assign statements
};

struct Model {
  std::string name;
  SrcLoc loc;
  std::vector<StmtPtr> body;
  std::vector<FnDecl> fns;
  std::optional<TrainBlock> train;
};

} // namespace dlc
#endif
