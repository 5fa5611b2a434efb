//===- Parser.cpp - recursive-descent parser for .dl ----------------------===//
#include "compiler/Frontend/Parser.h"
#include "compiler/Frontend/Lexer.h"

#include "llvm/Support/SaveAndRestore.h"

#include <algorithm>

namespace dlc {
namespace {

/// How deep an expression may nest: operators, calls, pipes, brackets and signs, each a
/// level. The parser and Sema walk expressions recursively, and a few thousand levels
/// overflow the stack (a sum of 6,000 terms in one statement did); real models nest a few
/// dozen. Beyond it: an error that says to split the expression into statements.
constexpr int kMaxExprDepth = 256;
/// How deep blocks may nest (the model's, repeat's, fn's, train's), for the same reason:
/// each level recurses through the parser and Sema.
constexpr int kMaxBlockDepth = 64;

class Parser {
public:
  Parser(std::vector<Token> toks, Diagnostics &diags) : toks(std::move(toks)), diags(diags) {}

  std::optional<Model> parseFile();

private:
  enum class Ctx { Model, Fn, Repeat, Train };

  const Token &cur() const { return toks[pos]; }
  const Token &peek(size_t n = 1) const { return toks[std::min(pos + n, toks.size() - 1)]; }
  bool at(Tok k) const { return cur().kind == k; }
  Token take() {
    Token t = toks[pos];
    if (pos + 1 < toks.size()) ++pos;
    return t;
  }
  bool accept(Tok k) {
    if (!at(k)) return false;
    take();
    return true;
  }
  void skipNewlines() {
    while (at(Tok::Newline) || at(Tok::Semi)) take();
  }

  /// Reports "expected X" at the current token, once per statement.
  bool expect(Tok k, const char *what = nullptr) {
    if (accept(k)) return true;
    errorHere(std::string("expected ") + (what ? what : tokName(k)));
    return false;
  }
  void errorHere(const std::string &msg) {
    if (failedStmt) return;
    failedStmt = true;
    if (at(Tok::Error)) {
      diags.error(cur().loc, cur().text);
      return;
    }
    std::string found = at(Tok::Ident) || at(Tok::Int) || at(Tok::Float)
                            ? "'" + cur().text + "'"
                            : tokName(cur().kind);
    diags.error(cur().loc, msg + ", found " + found);
  }
  /// Skips to the end of the current statement (a newline or ';' outside brackets, or the
  /// '}' that closes the block), leaving that token in place.
  void recover() {
    int braces = 0;
    while (!at(Tok::Eof)) {
      if (braces == 0 && (at(Tok::Newline) || at(Tok::Semi) || at(Tok::RBrace))) break;
      if (at(Tok::LBrace)) ++braces;
      if (at(Tok::RBrace)) --braces;
      take();
    }
  }

  void parseBlock(Ctx ctx, std::vector<StmtPtr> &out, Model *model, SrcLoc open);
  StmtPtr parseStmt(Ctx ctx, Model *model);
  bool endOfStmt() {
    if (at(Tok::Newline) || at(Tok::Semi)) { take(); return true; }
    if (at(Tok::RBrace) || at(Tok::Eof)) return true;
    errorHere("expected the end of the statement");
    return false;
  }

  ExprPtr parseExpr();
  ExprPtr parseNested();
  /// (this->*parse)() one level deeper; an error at `at` past kMaxExprDepth. Brackets, call
  /// arguments and signs recurse through here before any node exists for deepen to count.
  ExprPtr descend(SrcLoc at, ExprPtr (Parser::*parse)()) {
    if (nesting >= kMaxExprDepth) {
      tooDeep(at);
      return nullptr;
    }
    llvm::SaveAndRestore deeper(nesting, nesting + 1);
    return (this->*parse)();
  }
  /// Sets e's depth from its operands'; false (reported) beyond kMaxExprDepth.
  bool deepen(Expr &e) {
    for (const ExprPtr &a : e.args) e.depth = std::max(e.depth, a->depth + 1);
    for (const KwArg &k : e.kwargs) e.depth = std::max(e.depth, k.value->depth + 1);
    if (e.depth <= kMaxExprDepth) return true;
    tooDeep(e.loc);
    return false;
  }
  void tooDeep(SrcLoc at) {
    if (failedStmt) return;
    failedStmt = true;
    diags.error(at, "expression nested too deeply: more than " + std::to_string(kMaxExprDepth) +
                        " levels of operators, calls, pipes and brackets; split it into statements");
  }
  ExprPtr parseAdditive();
  ExprPtr parseMultiplicative();
  ExprPtr parseUnary();
  ExprPtr parsePrimary();
  bool parseArgs(Expr &call, SrcLoc open);
  ExprPtr parseDim();

  std::vector<Token> toks;
  size_t pos = 0;
  Diagnostics &diags;
  bool failedStmt = false;
  int nesting = 0;    // parseExpr and parseUnary calls open now (brackets, arguments, signs)
  int blockDepth = 0; // blocks open now
};

std::optional<Model> Parser::parseFile() {
  skipNewlines();
  Model m;
  m.loc = cur().loc;
  if (!expect(Tok::KwModel, "'model NAME { ... }'")) return std::nullopt;
  Token name = cur();
  if (!expect(Tok::Ident, "the model's name")) return std::nullopt;
  m.name = name.text;
  SrcLoc open = cur().loc;
  if (!expect(Tok::LBrace)) return std::nullopt;
  parseBlock(Ctx::Model, m.body, &m, open);
  skipNewlines();
  if (!at(Tok::Eof)) {
    failedStmt = false;
    errorHere(at(Tok::KwModel) ? "only one model per file is allowed" : "expected the end of the file");
  }
  return m;
}

void Parser::parseBlock(Ctx ctx, std::vector<StmtPtr> &out, Model *model, SrcLoc open) {
  if (blockDepth >= kMaxBlockDepth) {
    diags.error(open, "blocks nested too deeply: more than " + std::to_string(kMaxBlockDepth) +
                          " levels of model, repeat, fn and train blocks");
    failedStmt = true;
    for (int braces = 1; braces > 0 && !at(Tok::Eof); take()) // to its '}', not into it
      braces += at(Tok::LBrace) ? 1 : at(Tok::RBrace) ? -1 : 0;
    return;
  }
  llvm::SaveAndRestore deeper(blockDepth, blockDepth + 1);
  for (;;) {
    skipNewlines();
    if (at(Tok::RBrace)) { take(); return; }
    if (at(Tok::Eof)) {
      diags.error(cur().loc, "expected '}' to close the block").attachNote(diags.loc(open))
          << "the block opened here";
      return;
    }
    failedStmt = false;
    size_t before = pos;
    StmtPtr s = parseStmt(ctx, model);
    if (failedStmt) recover();
    else if (s) out.push_back(std::move(s));
    if (pos == before) take(); // never loop on a token no rule consumes
  }
}

StmtPtr Parser::parseStmt(Ctx ctx, Model *model) {
  Token first = cur();
  switch (first.kind) {
  case Tok::KwConst: {
    take();
    auto s = std::make_unique<Stmt>(Stmt::Const, first.loc);
    do {
      Token n = cur();
      if (!expect(Tok::Ident, "a constant's name")) return nullptr;
      if (!expect(Tok::Assign)) return nullptr;
      ExprPtr v = parseExpr();
      if (!v) return nullptr;
      s->consts.emplace_back(n.text, std::move(v));
      s->constLocs.push_back(n.loc);
    } while (accept(Tok::Comma));
    return endOfStmt() ? std::move(s) : nullptr;
  }
  case Tok::KwInput: {
    take();
    auto s = std::make_unique<Stmt>(Stmt::Input, first.loc);
    Token n = cur();
    if (!expect(Tok::Ident, "the input's name")) return nullptr;
    s->input.name = n.text;
    s->input.loc = n.loc;
    if (!expect(Tok::Colon, "':' and a type such as f32[B, 64]")) return nullptr;
    Token dt = cur();
    if (!expect(Tok::Ident, "a dtype (f32, i64, i32, bf16, f16, bool)")) return nullptr;
    s->input.dtype = dt.text;
    s->input.dtypeLoc = dt.loc;
    SrcLoc open = cur().loc;
    if (!expect(Tok::LBracket, "'[' and the dims (write f32[] for a scalar)")) return nullptr;
    if (!at(Tok::RBracket)) {
      do {
        ExprPtr d = parseExpr();
        if (!d) return nullptr;
        s->input.dims.push_back(std::move(d));
      } while (accept(Tok::Comma));
    }
    if (!at(Tok::RBracket)) {
      errorHere("expected ']'");
      diags.error(open, "to close the '[' opened here");
      return nullptr;
    }
    take();
    return endOfStmt() ? std::move(s) : nullptr;
  }
  case Tok::KwOutput: {
    take();
    auto s = std::make_unique<Stmt>(Stmt::Output, first.loc);
    if (ctx != Ctx::Model && ctx != Ctx::Repeat) {
      diags.error(first.loc, "'output' is only allowed in the model body");
      failedStmt = true;
      return nullptr;
    }
    Token n = cur();
    if (!expect(Tok::Ident, "the output's name")) return nullptr;
    s->name = n.text;
    s->loc = n.loc;
    if (accept(Tok::Assign)) {
      s->value = parseExpr();
      if (!s->value) return nullptr;
    }
    return endOfStmt() ? std::move(s) : nullptr;
  }
  case Tok::KwFn: {
    take();
    if (ctx != Ctx::Model) {
      diags.error(first.loc, "'fn' is only allowed at the top of the model body");
      failedStmt = true;
      return nullptr;
    }
    FnDecl fn;
    Token n = cur();
    if (!expect(Tok::Ident, "the function's name")) return nullptr;
    fn.name = n.text;
    fn.loc = n.loc;
    if (!expect(Tok::LParen)) return nullptr;
    if (!at(Tok::RParen)) {
      do {
        Token p = cur();
        if (!expect(Tok::Ident, "a parameter name")) return nullptr;
        fn.params.push_back(p.text);
        fn.paramLocs.push_back(p.loc);
      } while (accept(Tok::Comma));
    }
    if (!expect(Tok::RParen)) return nullptr;
    SrcLoc open = cur().loc;
    if (!expect(Tok::LBrace)) return nullptr;
    parseBlock(Ctx::Fn, fn.body, model, open);
    if (fn.body.empty() || fn.body.back()->kind != Stmt::Return)
      diags.error(fn.loc, "function '" + fn.name + "' must end with 'return EXPR'");
    model->fns.push_back(std::move(fn));
    return nullptr;
  }
  case Tok::KwRepeat: {
    take();
    auto s = std::make_unique<Stmt>(Stmt::Repeat, first.loc);
    s->value = parseExpr();
    if (!s->value) return nullptr;
    SrcLoc open = cur().loc;
    if (!expect(Tok::LBrace)) return nullptr;
    parseBlock(ctx == Ctx::Fn ? Ctx::Fn : Ctx::Repeat, s->body, model, open);
    return s;
  }
  case Tok::KwTrain: {
    take();
    if (ctx != Ctx::Model) {
      diags.error(first.loc, "'train' is only allowed at the top of the model body");
      failedStmt = true;
      return nullptr;
    }
    if (model->train) {
      diags.error(first.loc, "a model has at most one 'train' block");
      failedStmt = true;
      return nullptr;
    }
    TrainBlock tb;
    tb.loc = first.loc;
    SrcLoc open = cur().loc;
    if (!expect(Tok::LBrace)) return nullptr;
    parseBlock(Ctx::Train, tb.body, model, open);
    model->train = std::move(tb);
    return nullptr;
  }
  case Tok::KwReturn: {
    take();
    if (ctx != Ctx::Fn) {
      diags.error(first.loc, "'return' is only allowed inside 'fn'");
      failedStmt = true;
      return nullptr;
    }
    auto s = std::make_unique<Stmt>(Stmt::Return, first.loc);
    s->value = parseExpr();
    if (!s->value) return nullptr;
    return endOfStmt() ? std::move(s) : nullptr;
  }
  case Tok::Ident: {
    if (peek().kind != Tok::Assign) break;
    take();
    take();
    auto s = std::make_unique<Stmt>(Stmt::Assign, first.loc);
    s->name = first.text;
    s->value = parseExpr();
    if (!s->value) return nullptr;
    return endOfStmt() ? std::move(s) : nullptr;
  }
  default:
    break;
  }
  if (first.kind == Tok::KwModel) errorHere("only one model per file is allowed");
  else errorHere(ctx == Ctx::Train ? "expected 'loss = ...', 'optimizer = ...' or another assignment"
                                   : "expected a statement (NAME = EXPR, input, output, const, fn, repeat, train)");
  return nullptr;
}

ExprPtr Parser::parseExpr() { return descend(cur().loc, &Parser::parseNested); }

ExprPtr Parser::parseNested() {
  ExprPtr lhs = parseAdditive();
  if (!lhs) return nullptr;
  for (;;) {
    // A line that starts with |> continues the statement.
    if (at(Tok::Newline) && peek().kind == Tok::Pipe) take();
    if (!at(Tok::Pipe)) return lhs;
    Token pipe = take();
    while (at(Tok::Newline)) take(); // a line that ends with |> continues too
    Token n = cur();
    if (!expect(Tok::Ident, "an op or function name after '|>'")) return nullptr;
    auto call = std::make_unique<Expr>(Expr::Call, n.loc);
    call->name = n.text;
    if (at(Tok::LParen)) {
      SrcLoc open = take().loc;
      if (!parseArgs(*call, open)) return nullptr;
    }
    if (!deepen(*call)) return nullptr;
    auto p = std::make_unique<Expr>(Expr::Pipe, pipe.loc);
    p->args.push_back(std::move(lhs));
    p->args.push_back(std::move(call));
    if (!deepen(*p)) return nullptr;
    lhs = std::move(p);
  }
}

ExprPtr Parser::parseAdditive() {
  ExprPtr lhs = parseMultiplicative();
  while (lhs && (at(Tok::Plus) || at(Tok::Minus))) {
    Token op = take();
    ExprPtr rhs = parseMultiplicative();
    if (!rhs) return nullptr;
    auto b = std::make_unique<Expr>(Expr::Binary, op.loc);
    b->op = op.text[0];
    b->args.push_back(std::move(lhs));
    b->args.push_back(std::move(rhs));
    if (!deepen(*b)) return nullptr;
    lhs = std::move(b);
  }
  return lhs;
}

ExprPtr Parser::parseMultiplicative() {
  ExprPtr lhs = parseUnary();
  while (lhs && (at(Tok::Star) || at(Tok::Slash) || at(Tok::At))) {
    Token op = take();
    ExprPtr rhs = parseUnary();
    if (!rhs) return nullptr;
    auto b = std::make_unique<Expr>(Expr::Binary, op.loc);
    b->op = op.text[0];
    b->args.push_back(std::move(lhs));
    b->args.push_back(std::move(rhs));
    if (!deepen(*b)) return nullptr;
    lhs = std::move(b);
  }
  return lhs;
}

ExprPtr Parser::parseUnary() {
  if (at(Tok::Minus)) {
    Token op = take();
    ExprPtr x = descend(op.loc, &Parser::parseUnary);
    if (!x) return nullptr;
    // Fold the sign into numeric literals so that `-1` in a shape is a plain constant.
    if (x->kind == Expr::Int) { x->intValue = -x->intValue; x->loc = op.loc; return x; }
    if (x->kind == Expr::Float) { x->floatValue = -x->floatValue; x->loc = op.loc; return x; }
    auto n = std::make_unique<Expr>(Expr::Neg, op.loc);
    n->args.push_back(std::move(x));
    if (!deepen(*n)) return nullptr;
    return n;
  }
  return parsePrimary();
}

ExprPtr Parser::parsePrimary() {
  Token t = cur();
  switch (t.kind) {
  case Tok::Int: {
    take();
    auto e = std::make_unique<Expr>(Expr::Int, t.loc);
    e->intValue = t.intValue;
    return e;
  }
  case Tok::Float: {
    take();
    auto e = std::make_unique<Expr>(Expr::Float, t.loc);
    e->floatValue = t.floatValue;
    return e;
  }
  case Tok::KwTrue:
  case Tok::KwFalse: {
    take();
    auto e = std::make_unique<Expr>(Expr::Bool, t.loc);
    e->boolValue = t.kind == Tok::KwTrue;
    return e;
  }
  case Tok::String: {
    take();
    auto e = std::make_unique<Expr>(Expr::String, t.loc);
    e->name = t.text;
    return e;
  }
  case Tok::Ident: {
    take();
    if (at(Tok::LParen)) {
      SrcLoc open = take().loc;
      auto call = std::make_unique<Expr>(Expr::Call, t.loc);
      call->name = t.text;
      if (!parseArgs(*call, open) || !deepen(*call)) return nullptr;
      return call;
    }
    auto e = std::make_unique<Expr>(Expr::Ident, t.loc);
    e->name = t.text;
    return e;
  }
  case Tok::LParen: {
    SrcLoc open = take().loc;
    auto tuple = std::make_unique<Expr>(Expr::Tuple, open);
    bool sawComma = false;
    while (!at(Tok::RParen)) {
      ExprPtr e = parseExpr();
      if (!e) return nullptr;
      tuple->args.push_back(std::move(e));
      if (!accept(Tok::Comma)) break;
      sawComma = true;
    }
    if (!at(Tok::RParen)) {
      if (at(Tok::Eof)) {
        diags.error(open, "unclosed '(': expected ')' to match it");
        failedStmt = true;
        return nullptr;
      }
      errorHere("expected ')' to close the '(' at " + std::to_string(open.line) + ":" +
                std::to_string(open.col));
      return nullptr;
    }
    take();
    if (tuple->args.size() == 1 && !sawComma) return std::move(tuple->args[0]);
    if (!deepen(*tuple)) return nullptr;
    return tuple;
  }
  default:
    errorHere("expected an expression");
    return nullptr;
  }
}

bool Parser::parseArgs(Expr &call, SrcLoc open) {
  bool sawKw = false;
  while (!at(Tok::RParen)) {
    if (at(Tok::Ident) && peek().kind == Tok::Assign) {
      Token n = take();
      take();
      ExprPtr v = parseExpr();
      if (!v) return false;
      call.kwargs.push_back(KwArg{n.text, n.loc, std::move(v)});
      sawKw = true;
    } else {
      SrcLoc l = cur().loc;
      ExprPtr v = parseExpr();
      if (!v) return false;
      if (sawKw) {
        diags.error(l, "a positional argument cannot follow a keyword argument");
        failedStmt = true;
        return false;
      }
      call.args.push_back(std::move(v));
    }
    if (!accept(Tok::Comma)) break;
  }
  if (at(Tok::RParen)) { take(); return true; }
  if (at(Tok::Eof)) {
    diags.error(open, "unclosed '(' of the call to '" + call.name + "': expected ')'");
    failedStmt = true;
    return false;
  }
  // Name the bracket that is still open, where it opened, and what stopped the call.
  if (!failedStmt) {
    failedStmt = true;
    std::string found = at(Tok::Ident) || at(Tok::Int) || at(Tok::Float) ? "'" + cur().text + "'" : tokName(cur().kind);
    diags.error(open, "unclosed '(' of the call to '" + call.name + "': expected ',' or ')' before " + found +
                          " at " + std::to_string(cur().loc.line) + ":" + std::to_string(cur().loc.col));
  }
  return false;
}

} // namespace

std::optional<Model> parseModel(std::string_view src, Diagnostics &diags) {
  Parser p(lex(src), diags);
  return p.parseFile();
}

} // namespace dlc
