//===- Sema.cpp - checks a parsed model and unrolls it into a graph -------===//
#include "compiler/Frontend/Sema.h"

#include "llvm/Support/SaveAndRestore.h"

#include <cmath>
#include <set>

namespace dlc {
namespace {

/// What to say after "unknown op 'x'": the closest layer, with the plugin it comes from,
/// or how plugins add layers when nothing is close.
std::string unknownOpHint(const std::string &name, const std::vector<std::string> &known,
                          const LayerRegistry &reg) {
  std::string best = closestMatch(name, known);
  if (best.empty())
    return " (no built-in or loaded plugin layer has this name; a plugin adds layers: load it with "
           "--plugin PATH or DLC_PLUGIN_PATH)";
  const LayerDef *def = reg.lookup(best);
  if (def && def->plugin.plugin) return " (did you mean '" + best + "' from " + def->origin + "?)";
  return " (did you mean '" + best + "'?)";
}

/// A value during analysis: a compile-time number, string or tuple, or a tensor of the
/// graph. `Err` stands for a value whose computation already reported an error, so that
/// one mistake is not reported again by everything that uses it.
struct Val {
  enum Kind { Err, Int, Float, Bool, Str, Tensor, Tuple } kind = Err;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  int id = -1;
  std::vector<Val> elems;
  SrcLoc loc;
  bool isNumber() const { return kind == Int || kind == Float; }
  double num() const { return kind == Int ? double(i) : f; }
};

const char *kindName(Val::Kind k) {
  switch (k) {
  case Val::Err: return "an invalid value";
  case Val::Int: return "an integer";
  case Val::Float: return "a number";
  case Val::Bool: return "a bool";
  case Val::Str: return "a string";
  case Val::Tensor: return "a tensor";
  case Val::Tuple: return "a tuple";
  }
  return "?";
}

struct Scope {
  std::string prefix;              // "block.0." inside the first call of fn block
  std::set<std::string> taken;     // layer names given in this scope
  std::map<std::string, int> fnCalls;
  std::map<std::string, Val> env;  // bindings: inputs (model scope), fn parameters, values
  bool inFn = false;
};

class Sema {
public:
  Sema(const Model &m, Diagnostics &d, const LayerRegistry &r) : model(m), diags(d), reg(r) {}
  std::optional<ModelGraph> run();

private:
  // Statements and expressions.
  std::optional<Val> execBlock(const std::vector<StmtPtr> &body, Scope &scope);
  void execInput(const Stmt &s, Scope &scope);
  Val eval(const Expr &e, Scope &scope, const std::string *hint = nullptr);
  Val evalIdent(const Expr &e, Scope &scope);
  Val evalBinary(const Expr &e, Scope &scope);
  Val evalCall(const Expr &call, Scope &scope, const std::string *hint, const Val *piped);
  Val evalPipe(const Expr &e, Scope &scope, const std::string *hint);
  Val callFn(const FnDecl &fn, std::vector<Val> args, SrcLoc loc, Scope &scope);
  Val callLayer(const LayerDef &def, std::vector<Val> pos, std::vector<std::pair<const KwArg *, Val>> kw,
                SrcLoc loc, Scope &scope, const std::string *hint);
  std::optional<std::map<std::string, AttrValue>> bindAttrs(
      const std::string &callee, const std::vector<AttrSpec> &specs, std::vector<Val> pos,
      std::vector<std::pair<const KwArg *, Val>> kw, SrcLoc loc, std::string *explicitName,
      bool allowName);
  std::optional<AttrValue> convertAttr(const AttrSpec &spec, const Val &v, const std::string &callee);
  void checkTrain(Scope &scope);
  void checkUsage();

  int addValue(GraphValue v) {
    graph.values.push_back(std::move(v));
    return int(graph.values.size()) - 1;
  }
  Val tensor(int id, SrcLoc loc) {
    Val v;
    v.kind = Val::Tensor;
    v.id = id;
    v.loc = loc;
    return v;
  }
  bool isLayerWithParams(const Expr &e) const {
    if (e.kind != Expr::Call) return false;
    const LayerDef *d = reg.lookup(e.name);
    return d && d->withParams && !fns.count(e.name);
  }
  std::string uniqueName(Scope &scope, const std::string &base);

  const Model &model;
  Diagnostics &diags;
  const LayerRegistry &reg;
  ModelGraph graph;
  std::map<std::string, const FnDecl *> fns;
  std::map<std::string, Val> consts;
  std::vector<std::string> callStack;
  int evalDepth = 0;        // eval calls open now
  bool evalTooDeep = false; // reported once
  bool sawOutput = false;
};

std::optional<ModelGraph> Sema::run() {
  graph.name = model.name;
  for (const FnDecl &fn : model.fns) {
    if (fns.count(fn.name)) diags.error(fn.loc, "function '" + fn.name + "' is defined twice");
    else if (reg.lookup(fn.name))
      diags.error(fn.loc, "function '" + fn.name + "' would hide the built-in op of that name");
    fns[fn.name] = &fn;
  }
  Scope top;
  execBlock(model.body, top);
  if (!sawOutput) diags.error(model.loc, "model '" + model.name + "' has no 'output'");
  if (model.train) checkTrain(top);
  if (diags.errorCount() == 0) checkUsage();
  if (diags.errorCount() != 0) return std::nullopt;
  return std::move(graph);
}

std::optional<Val> Sema::execBlock(const std::vector<StmtPtr> &body, Scope &scope) {
  for (const StmtPtr &sp : body) {
    const Stmt &s = *sp;
    switch (s.kind) {
    case Stmt::Const:
      for (size_t k = 0; k < s.consts.size(); ++k) {
        const auto &[name, expr] = s.consts[k];
        Val v = eval(*expr, scope);
        if (v.kind == Val::Err) continue;
        if (!v.isNumber()) {
          diags.error(expr->loc, "constant '" + name + "' must be a number, got " + kindName(v.kind));
          continue;
        }
        if (consts.count(name) || scope.env.count(name)) {
          diags.error(s.constLocs[k], "'" + name + "' is already defined");
          continue;
        }
        consts[name] = v;
      }
      break;
    case Stmt::Input:
      if (scope.inFn || &body != &model.body) {
        diags.error(s.loc, "'input' is only allowed at the top of the model body");
        break;
      }
      execInput(s, scope);
      break;
    case Stmt::Assign:
      scope.env[s.name] = eval(*s.value, scope, &s.name);
      break;
    case Stmt::Output: {
      sawOutput = true;
      Val v;
      if (s.value) {
        v = eval(*s.value, scope, &s.name);
        scope.env[s.name] = v;
      } else {
        Expr ident(Expr::Ident, s.loc);
        ident.name = s.name;
        v = evalIdent(ident, scope);
      }
      if (v.kind == Val::Err) break;
      if (v.kind != Val::Tensor) {
        diags.error(s.loc, "output '" + s.name + "' must be a tensor, got " + kindName(v.kind));
        break;
      }
      bool dup = false;
      for (const GraphOutput &o : graph.outputs) dup |= o.name == s.name;
      if (dup) diags.error(s.loc, "output '" + s.name + "' is declared twice");
      else graph.outputs.push_back({s.name, v.id, s.loc});
      break;
    }
    case Stmt::Return:
      return eval(*s.value, scope);
    case Stmt::Repeat: {
      Val n = eval(*s.value, scope);
      if (n.kind == Val::Err) break;
      if (n.kind != Val::Int || n.i < 0) {
        diags.error(s.value->loc, "'repeat' needs a non-negative integer constant, got " +
                                      std::string(kindName(n.kind)));
        break;
      }
      for (int64_t k = 0; k < n.i; ++k) {
        unsigned before = diags.errorCount();
        execBlock(s.body, scope);
        if (diags.errorCount() != before) break; // the same error in every iteration
      }
      break;
    }
    }
  }
  return std::nullopt;
}

void Sema::execInput(const Stmt &s, Scope &scope) {
  const InputDecl &in = s.input;
  auto dt = parseDType(in.dtype);
  if (!dt) {
    diags.error(in.dtypeLoc, "unknown dtype '" + in.dtype + "'" +
                                 didYouMean(in.dtype, {"f32", "i64", "i32", "bf16", "f16", "bool"}) +
                                 "; expected f32, i64, i32, bf16, f16 or bool");
    scope.env[in.name] = Val{}; // known but invalid: uses of it report nothing more
    return;
  }
  if (scope.env.count(in.name) || consts.count(in.name)) {
    diags.error(in.loc, "'" + in.name + "' is already defined");
    return;
  }
  TensorType t{*dt, {}};
  for (const ExprPtr &d : in.dims) {
    if (d->kind == Expr::Ident && !consts.count(d->name)) {
      t.shape.push_back(SymExpr::symbol(d->name));
      if (std::find(graph.symbols.begin(), graph.symbols.end(), d->name) == graph.symbols.end())
        graph.symbols.push_back(d->name);
      continue;
    }
    Val v = eval(*d, scope);
    if (v.kind == Val::Err) return;
    if (v.kind != Val::Int || v.i <= 0) {
      diags.error(d->loc, "a dim must be a positive integer or a symbolic name, got " +
                              (v.kind == Val::Int ? std::to_string(v.i) : std::string(kindName(v.kind))));
      return;
    }
    t.shape.push_back(SymExpr(v.i));
  }
  int id = addValue({GraphValue::Input, t, in.name, -1, 0, false, in.loc});
  graph.inputs.push_back(id);
  scope.env[in.name] = tensor(id, in.loc);
}

Val Sema::evalIdent(const Expr &e, Scope &scope) {
  auto it = scope.env.find(e.name);
  if (it != scope.env.end()) {
    Val v = it->second;
    v.loc = e.loc;
    return v;
  }
  auto c = consts.find(e.name);
  if (c != consts.end()) {
    Val v = c->second;
    v.loc = e.loc;
    return v;
  }
  std::vector<std::string> known;
  for (auto &kv : scope.env) known.push_back(kv.first);
  for (auto &kv : consts) known.push_back(kv.first);
  std::string msg = "'" + e.name + "' is used before it is bound";
  if (scope.inFn) msg += " (a fn sees only its parameters, the constants and other fns)";
  diags.error(e.loc, msg + didYouMean(e.name, known));
  return Val{};
}

Val Sema::eval(const Expr &e, Scope &scope, const std::string *hint) {
  // The parser bounds one expression's depth and callFn the calls' nesting, but a call
  // deep inside an expression of a function called deep inside another's adds up: bound
  // the whole recursion (1,024 levels stay well inside the stack, sanitizers' frames too).
  constexpr int kMaxEvalDepth = 1024;
  if (evalDepth >= kMaxEvalDepth) {
    if (!evalTooDeep) diags.error(e.loc, "expressions nested too deeply across function calls: more than " +
                                             std::to_string(kMaxEvalDepth) +
                                             " levels; split them into statements");
    evalTooDeep = true;
    return Val{};
  }
  llvm::SaveAndRestore deeper(evalDepth, evalDepth + 1);
  Val v;
  v.loc = e.loc;
  switch (e.kind) {
  case Expr::Int: v.kind = Val::Int; v.i = e.intValue; return v;
  case Expr::Float: v.kind = Val::Float; v.f = e.floatValue; return v;
  case Expr::Bool: v.kind = Val::Bool; v.b = e.boolValue; return v;
  case Expr::String: v.kind = Val::Str; v.s = e.name; return v;
  case Expr::Ident: return evalIdent(e, scope);
  case Expr::Tuple:
    v.kind = Val::Tuple;
    for (const ExprPtr &x : e.args) {
      Val el = eval(*x, scope);
      if (el.kind == Val::Err) return Val{};
      v.elems.push_back(el);
    }
    return v;
  case Expr::Neg: {
    Val x = eval(*e.args[0], scope);
    if (x.kind == Val::Err) return x;
    if (x.kind == Val::Int) { x.i = -x.i; return x; }
    if (x.kind == Val::Float) { x.f = -x.f; return x; }
    if (x.kind != Val::Tensor) {
      diags.error(e.loc, std::string("cannot negate ") + kindName(x.kind));
      return Val{};
    }
    return callLayer(*reg.lookup("neg"), {x}, {}, e.loc, scope, nullptr);
  }
  case Expr::Binary: return evalBinary(e, scope);
  case Expr::Call: return evalCall(e, scope, hint, nullptr);
  case Expr::Pipe: return evalPipe(e, scope, hint);
  }
  return Val{};
}

Val Sema::evalBinary(const Expr &e, Scope &scope) {
  Val a = eval(*e.args[0], scope), b = eval(*e.args[1], scope);
  if (a.kind == Val::Err || b.kind == Val::Err) return Val{};
  if (a.isNumber() && b.isNumber()) {
    Val r;
    r.loc = e.loc;
    bool ints = a.kind == Val::Int && b.kind == Val::Int;
    switch (e.op) {
    case '+': case '-': case '*':
      if (ints) {
        r.kind = Val::Int;
        r.i = e.op == '+' ? a.i + b.i : e.op == '-' ? a.i - b.i : a.i * b.i;
      } else {
        r.kind = Val::Float;
        r.f = e.op == '+' ? a.num() + b.num() : e.op == '-' ? a.num() - b.num() : a.num() * b.num();
      }
      return r;
    case '/':
      if (b.num() == 0) {
        diags.error(e.loc, "division by zero in a constant expression");
        return Val{};
      }
      // Integer constants that divide exactly stay integers, so `D / H` can size a layer.
      if (ints && a.i % b.i == 0) { r.kind = Val::Int; r.i = a.i / b.i; return r; }
      r.kind = Val::Float;
      r.f = a.num() / b.num();
      return r;
    default:
      diags.error(e.loc, "'@' needs tensors, got two numbers");
      return Val{};
    }
  }
  for (const Val *x : {&a, &b})
    if (x->kind != Val::Tensor && !x->isNumber()) {
      diags.error(x->loc, std::string("'") + e.op + "' needs tensors or numbers, got " + kindName(x->kind));
      return Val{};
    }
  const char *op = e.op == '+' ? "add" : e.op == '-' ? "sub" : e.op == '*' ? "mul" : e.op == '/' ? "div" : "matmul";
  return callLayer(*reg.lookup(op), {a, b}, {}, e.loc, scope, nullptr);
}

Val Sema::evalPipe(const Expr &e, Scope &scope, const std::string *hint) {
  // Flatten a |> f |> g into the head and its stages, then name before desugaring: the
  // binding's name goes to the last stage that is a layer with parameters.
  std::vector<const Expr *> stages;
  const Expr *head = &e;
  while (head->kind == Expr::Pipe) {
    stages.push_back(head->args[1].get());
    head = head->args[0].get();
  }
  std::reverse(stages.begin(), stages.end());
  const Expr *named = nullptr;
  if (hint) {
    for (auto it = stages.rbegin(); it != stages.rend() && !named; ++it)
      if (isLayerWithParams(**it)) named = *it;
    if (!named && isLayerWithParams(*head)) named = head;
  }
  Val cur = eval(*head, scope, head == named ? hint : nullptr);
  for (const Expr *st : stages) {
    if (cur.kind == Val::Err) return cur;
    cur = evalCall(*st, scope, st == named ? hint : nullptr, &cur);
  }
  return cur;
}

Val Sema::evalCall(const Expr &call, Scope &scope, const std::string *hint, const Val *piped) {
  // Arguments are evaluated left to right before the call takes its name.
  std::vector<Val> pos;
  if (piped) pos.push_back(*piped);
  const LayerDef *def = reg.lookup(call.name);
  bool isFn = fns.count(call.name) > 0;
  for (size_t k = 0; k < call.args.size(); ++k) {
    const Expr &a = *call.args[k];
    // A bare dtype name (cast(x, f32)) is an attribute, not a value.
    size_t index = pos.size();
    if (def && !isFn && a.kind == Expr::Ident && parseDType(a.name) && index >= def->numInputs &&
        !scope.env.count(a.name)) {
      Val v;
      v.kind = Val::Str;
      v.s = a.name;
      v.loc = a.loc;
      pos.push_back(v);
      continue;
    }
    // An argument that failed is carried on as Err: what the call can be checked for
    // without it (an unknown op, attribute names, the argument count) is still reported.
    pos.push_back(eval(a, scope));
  }
  std::vector<std::pair<const KwArg *, Val>> kw;
  for (const KwArg &k : call.kwargs) {
    if (k.value->kind == Expr::Ident && parseDType(k.value->name) && !scope.env.count(k.value->name)) {
      Val v;
      v.kind = Val::Str;
      v.s = k.value->name;
      v.loc = k.value->loc;
      kw.emplace_back(&k, v);
      continue;
    }
    kw.emplace_back(&k, eval(*k.value, scope));
  }
  bool argFailed = std::any_of(pos.begin(), pos.end(), [](const Val &v) { return v.kind == Val::Err; }) ||
                   std::any_of(kw.begin(), kw.end(), [](const auto &p) { return p.second.kind == Val::Err; });
  if (isFn) {
    if (argFailed) return Val{};
    if (!kw.empty()) {
      diags.error(kw[0].first->loc, "function '" + call.name + "' takes positional arguments only");
      return Val{};
    }
    return callFn(*fns.at(call.name), std::move(pos), call.loc, scope);
  }
  if (!def) {
    std::vector<std::string> known = reg.names();
    for (auto &kv : fns) known.push_back(kv.first);
    if (reg.lookupOptimizer(call.name))
      diags.error(call.loc, "optimizer '" + call.name + "' may only be used as 'optimizer = ...' in 'train'");
    else diags.error(call.loc, "unknown op '" + call.name + "'" + unknownOpHint(call.name, known, reg));
    return Val{};
  }
  return callLayer(*def, std::move(pos), std::move(kw), call.loc, scope, hint);
}

Val Sema::callFn(const FnDecl &fn, std::vector<Val> args, SrcLoc loc, Scope &scope) {
  if (args.size() != fn.params.size()) {
    diags.error(loc, "function '" + fn.name + "' takes " + std::to_string(fn.params.size()) +
                         " arguments, got " + std::to_string(args.size()));
    return Val{};
  }
  if (std::find(callStack.begin(), callStack.end(), fn.name) != callStack.end()) {
    diags.error(loc, "function '" + fn.name + "' calls itself (recursion is not allowed)");
    return Val{};
  }
  // Each call nests Sema's recursion (the body's statements, their expressions) a few
  // kilobytes of stack deeper: a chain of thousands of functions each calling the next
  // would overflow it. Models nest functions a few levels.
  constexpr size_t kMaxCallDepth = 64;
  if (callStack.size() >= kMaxCallDepth) {
    diags.error(loc, "function '" + fn.name + "' called " + std::to_string(kMaxCallDepth + 1) +
                         " calls deep (calls inside calls, from '" + callStack.front() + "'): at most " +
                         std::to_string(kMaxCallDepth) + " may nest");
    return Val{};
  }
  Scope inner;
  inner.inFn = true;
  inner.prefix = scope.prefix + fn.name + "." + std::to_string(scope.fnCalls[fn.name]++) + ".";
  for (size_t k = 0; k < args.size(); ++k) inner.env[fn.params[k]] = args[k];
  callStack.push_back(fn.name);
  std::optional<Val> ret = execBlock(fn.body, inner);
  callStack.pop_back();
  if (!ret) return Val{}; // the parser already reported the missing return
  return *ret;
}

std::string Sema::uniqueName(Scope &scope, const std::string &base) {
  std::string name = base;
  for (int k = 1; scope.taken.count(name); ++k) name = base + "_" + std::to_string(k);
  scope.taken.insert(name);
  return name;
}

std::optional<AttrValue> Sema::convertAttr(const AttrSpec &spec, const Val &v, const std::string &callee) {
  auto fail = [&](const std::string &expected) -> std::optional<AttrValue> {
    diags.error(v.loc, callee + ": attribute '" + spec.name + "' expects " + expected + ", got " +
                           (v.kind == Val::Str ? "\"" + v.s + "\"" : std::string(kindName(v.kind))));
    return std::nullopt;
  };
  auto intTuple = [&](const Val &t) -> std::optional<AttrValue> {
    AttrValue r;
    r.kind = AttrValue::Tuple;
    for (const Val &e : t.elems) {
      if (e.kind != Val::Int) return std::nullopt;
      r.elems.push_back(AttrValue::ofInt(e.i));
    }
    return r;
  };
  switch (spec.type) {
  case AttrType::Int:
    if (v.kind == Val::Int) return AttrValue::ofInt(v.i);
    return fail("an integer");
  case AttrType::Float:
    if (v.isNumber()) return AttrValue::ofFloat(v.num());
    return fail("a number");
  case AttrType::Bool:
    if (v.kind == Val::Bool) return AttrValue::ofBool(v.b);
    return fail("true or false");
  case AttrType::String: {
    if (v.kind != Val::Str) return fail("a string");
    if (!spec.choices.empty() &&
        std::find(spec.choices.begin(), spec.choices.end(), v.s) == spec.choices.end()) {
      std::string list;
      for (const std::string &c : spec.choices) list += (list.empty() ? "\"" : ", \"") + c + "\"";
      return fail("one of " + list);
    }
    return AttrValue::ofString(v.s);
  }
  case AttrType::PadOrSame:
    if (v.kind == Val::Str) {
      if (v.s == "same") return AttrValue::ofString("same");
      if (v.s == "valid") return convertAttr({spec.name, AttrType::IntOrPair, std::nullopt}, [] {
          Val z; z.kind = Val::Int; return z; }(), callee);
      return fail("an int, a pair or \"same\"");
    }
    [[fallthrough]];
  case AttrType::IntOrPair: {
    if (v.kind == Val::Int) {
      AttrValue r;
      r.kind = AttrValue::Tuple;
      r.elems = {AttrValue::ofInt(v.i), AttrValue::ofInt(v.i)};
      return r;
    }
    if (v.kind == Val::Tuple && v.elems.size() == 2)
      if (auto r = intTuple(v)) return r;
    return fail("an integer or a pair of integers");
  }
  case AttrType::IntOrTuple:
  case AttrType::OptAxes:
  case AttrType::IntTuple: {
    if (v.kind == Val::Int) {
      AttrValue r;
      r.kind = AttrValue::Tuple;
      r.elems = {AttrValue::ofInt(v.i)};
      return r;
    }
    if (v.kind == Val::Tuple)
      if (auto r = intTuple(v)) return r;
    return fail("an integer or a tuple of integers");
  }
  case AttrType::Dtype: {
    if (v.kind == Val::Str)
      if (auto d = parseDType(v.s)) {
        AttrValue r;
        r.kind = AttrValue::Dtype;
        r.dtype = *d;
        return r;
      }
    return fail("a dtype (f32, i64, i32, bf16, f16, bool)");
  }
  }
  return std::nullopt;
}

/// Defaults are written in their short form (padding = 0): give them the normalised form
/// that a written value of that type gets.
static AttrValue normaliseDefault(const AttrSpec &s) {
  AttrValue v = *s.dflt;
  if (v.kind != AttrValue::Int) return v;
  AttrValue t;
  t.kind = AttrValue::Tuple;
  switch (s.type) {
  case AttrType::IntOrPair:
  case AttrType::PadOrSame:
    t.elems = {v, v};
    return t;
  case AttrType::IntOrTuple:
  case AttrType::OptAxes:
  case AttrType::IntTuple:
    t.elems = {v};
    return t;
  default:
    return v;
  }
}

std::optional<std::map<std::string, AttrValue>> Sema::bindAttrs(
    const std::string &callee, const std::vector<AttrSpec> &specs, std::vector<Val> pos,
    std::vector<std::pair<const KwArg *, Val>> kw, SrcLoc loc, std::string *explicitName,
    bool allowName) {
  std::map<std::string, AttrValue> out;
  std::map<std::string, const Val *> given;
  bool ok = true;
  if (pos.size() > specs.size()) {
    diags.error(pos[specs.size()].loc, callee + " takes at most " + std::to_string(specs.size()) +
                                           " attribute arguments after its tensors, got " +
                                           std::to_string(pos.size()));
    return std::nullopt;
  }
  for (size_t k = 0; k < pos.size(); ++k) given[specs[k].name] = &pos[k];
  for (auto &[arg, val] : kw) {
    if (allowName && arg->name == "name") {
      if (val.kind == Val::Err) {
        ok = false;
      } else if (val.kind != Val::Str) {
        diags.error(arg->loc, callee + ": 'name' expects a string");
        ok = false;
      } else {
        *explicitName = val.s;
      }
      continue;
    }
    const AttrSpec *spec = nullptr;
    for (const AttrSpec &s : specs)
      if (s.name == arg->name || std::find(s.aliases.begin(), s.aliases.end(), arg->name) != s.aliases.end())
        spec = &s;
    if (!spec) {
      std::vector<std::string> names;
      for (const AttrSpec &s : specs) {
        names.push_back(s.name);
        names.insert(names.end(), s.aliases.begin(), s.aliases.end());
      }
      if (allowName) names.push_back("name");
      std::string list;
      for (const AttrSpec &s : specs) list += (list.empty() ? "" : ", ") + s.name;
      diags.error(arg->loc, callee + " has no attribute '" + arg->name + "'" + didYouMean(arg->name, names) +
                                (list.empty() ? "; it takes none" : "; it takes " + list));
      ok = false;
      continue;
    }
    if (given.count(spec->name)) {
      diags.error(arg->loc, callee + ": attribute '" + spec->name + "' is given twice");
      ok = false;
      continue;
    }
    given[spec->name] = &val;
  }
  for (const AttrSpec &s : specs) {
    auto it = given.find(s.name);
    if (it == given.end()) {
      if (!s.dflt) {
        diags.error(loc, callee + ": missing required argument '" + s.name + "'");
        ok = false;
      } else {
        out[s.name] = normaliseDefault(s);
      }
      continue;
    }
    if (it->second->kind == Val::Err) { // already reported where it was computed
      ok = false;
      continue;
    }
    auto v = convertAttr(s, *it->second, callee);
    if (!v) ok = false;
    else out[s.name] = *v;
  }
  if (!ok) return std::nullopt;
  return out;
}

Val Sema::callLayer(const LayerDef &def, std::vector<Val> pos, std::vector<std::pair<const KwArg *, Val>> kw,
                    SrcLoc loc, Scope &scope, const std::string *hint) {
  // Tensor operands come first, positionally.
  std::vector<Val> operands;
  if (def.tupleInput) {
    if (!pos.empty() && pos[0].kind == Val::Err) return Val{};
    if (pos.empty() || pos[0].kind != Val::Tuple) {
      diags.error(pos.empty() ? loc : pos[0].loc, def.name + " expects a tuple of tensors first, as in " +
                                                      def.name + "((a, b), ...)");
      return Val{};
    }
    operands = pos[0].elems;
    pos.erase(pos.begin());
  } else {
    if (pos.size() < def.numInputs) {
      diags.error(loc, def.name + " expects " + std::to_string(def.numInputs) + " tensor argument" +
                           (def.numInputs > 1 ? "s" : "") + ", got " + std::to_string(pos.size()));
      return Val{};
    }
    operands.assign(pos.begin(), pos.begin() + def.numInputs);
    pos.erase(pos.begin(), pos.begin() + def.numInputs);
  }
  std::string explicitName;
  auto attrs = bindAttrs(def.name, def.attrs, std::move(pos), std::move(kw), loc, &explicitName, def.withParams);
  bool operandFailed = false;
  for (const Val &o : operands) {
    if (o.kind == Val::Err) { // reported where it was computed
      operandFailed = true;
      continue;
    }
    if (o.kind != Val::Tensor && !o.isNumber()) {
      diags.error(o.loc, def.name + " expects a tensor here, got " + kindName(o.kind));
      return Val{};
    }
  }
  if (!attrs || operandFailed) return Val{};

  // Literal operands become weak scalar constants (torch's wrapped numbers).
  std::vector<int> ids;
  LayerCall call{def, {}, *attrs, {}, loc, diags, {}, {}, {}, {}, {}};
  for (const Val &o : operands) {
    if (o.kind == Val::Tensor) {
      ids.push_back(o.id);
      call.inputs.push_back(graph.values[o.id].type);
      call.weakInputs.push_back(graph.values[o.id].weak);
    } else {
      TensorType t{o.kind == Val::Int ? DType::I64 : DType::F32, {}};
      ids.push_back(addValue({GraphValue::Constant, t, "", -1, o.num(), true, o.loc}));
      call.inputs.push_back(t);
      call.weakInputs.push_back(true);
    }
  }
  if (!def.infer(call)) return Val{};

  // Elementwise arithmetic computes in the promoted dtype: retype literals, cast tensors.
  if (def.promotesOperands) {
    for (size_t k = 0; k < ids.size(); ++k) {
      GraphValue &v = graph.values[ids[k]];
      if (v.type.dtype == call.result.dtype) continue;
      if (v.kind == GraphValue::Constant) {
        v.type.dtype = call.result.dtype;
        continue;
      }
      std::map<std::string, AttrValue> castAttrs;
      castAttrs["dtype"].kind = AttrValue::Dtype;
      castAttrs["dtype"].dtype = call.result.dtype;
      GraphNode cast{reg.lookup("cast"), {ids[k]}, castAttrs, {}, {v.type}, -1, "", loc, {}, scope.prefix};
      TensorType ct{call.result.dtype, v.type.shape};
      graph.nodes.push_back(cast);
      int cid = addValue({GraphValue::Result, ct, "", int(graph.nodes.size()) - 1, 0, false, loc});
      graph.nodes.back().result = cid;
      ids[k] = cid;
      call.inputs[k] = ct;
    }
  }

  GraphNode node{&def, ids, *attrs, call.axes, call.inputs, -1, "", loc, {}, scope.prefix};
  node.saved = call.saved;
  node.needs = call.needs;
  if (def.withParams) {
    std::string name;
    if (!explicitName.empty()) {
      if (scope.taken.count(explicitName)) {
        diags.error(loc, def.name + ": the name '" + explicitName + "' is already taken in this scope");
        return Val{};
      }
      scope.taken.insert(explicitName);
      name = explicitName;
    } else {
      name = uniqueName(scope, hint ? *hint : def.name);
    }
    node.layerName = scope.prefix + name;
    for (const ParamSpec &p : call.params) {
      std::string full = node.layerName + "." + p.name;
      int id = addValue({GraphValue::Param, p.type, full, -1, 0, false, loc});
      graph.params.push_back({full, p, id, loc});
      node.operands.push_back(id);
    }
  }
  graph.nodes.push_back(std::move(node));
  int rid = addValue({GraphValue::Result, call.result, "", int(graph.nodes.size()) - 1, 0, false, loc});
  graph.nodes.back().result = rid;
  return tensor(rid, loc);
}

void Sema::checkTrain(Scope &scope) {
  const TrainBlock &tb = *model.train;
  TrainSpec spec;
  spec.loc = tb.loc;
  bool sawOptimizer = false;
  for (const StmtPtr &sp : tb.body) {
    const Stmt &s = *sp;
    if (s.kind != Stmt::Assign) {
      diags.error(s.loc, "'train' holds only 'loss = ...', 'optimizer = ...' and 'clip_grad_norm = ...'");
      continue;
    }
    if (s.name == "loss") {
      Val v = eval(*s.value, scope);
      if (v.kind == Val::Err) { spec.loss = -2; continue; }
      if (v.kind != Val::Tensor) {
        diags.error(s.value->loc, std::string("the loss must be a scalar tensor, got ") + kindName(v.kind));
        spec.loss = -2;
        continue;
      }
      const TensorType &t = graph.values[v.id].type;
      if (t.rank() != 0 || !isFloat(t.dtype)) {
        diags.error(s.value->loc, "the loss must be a floating-point scalar, got " + t.str() +
                                      " (reduce it, e.g. with mean(...))");
        spec.loss = -2;
        continue;
      }
      spec.loss = v.id;
    } else if (s.name == "optimizer") {
      sawOptimizer = true;
      const Expr &e = *s.value;
      if (e.kind != Expr::Call || !reg.lookupOptimizer(e.name)) {
        std::string got = e.kind == Expr::Call || e.kind == Expr::Ident ? "'" + e.name + "'" : "an expression";
        diags.error(e.loc, "expected an optimizer (sgd, adam, adamw), got " + got +
                               (e.kind == Expr::Call || e.kind == Expr::Ident ? didYouMean(e.name, reg.optimizerNames()) : ""));
        continue;
      }
      std::vector<Val> pos;
      std::vector<std::pair<const KwArg *, Val>> kw;
      bool ok = true;
      for (const ExprPtr &a : e.args) {
        pos.push_back(eval(*a, scope));
        ok &= pos.back().kind != Val::Err;
      }
      for (const KwArg &k : e.kwargs) {
        kw.emplace_back(&k, eval(*k.value, scope));
        ok &= kw.back().second.kind != Val::Err;
      }
      if (!ok) continue;
      std::string unused;
      auto attrs = bindAttrs(e.name, reg.lookupOptimizer(e.name)->attrs, pos, kw, e.loc, &unused, false);
      if (!attrs) continue;
      if (e.name == "sgd" && (*attrs)["nesterov"].b && (*attrs)["momentum"].f <= 0)
        diags.error(e.loc, "sgd: nesterov needs momentum > 0");
      if ((*attrs)["lr"].f < 0) diags.error(e.loc, e.name + ": lr must not be negative");
      spec.optimizer = e.name;
      spec.optimizerAttrs = *attrs;
    } else if (s.name == "clip_grad_norm") {
      Val v = eval(*s.value, scope);
      if (v.kind == Val::Err) continue;
      if (!v.isNumber() || v.num() <= 0) {
        diags.error(s.value->loc, "clip_grad_norm must be a positive number");
        continue;
      }
      spec.clipGradNorm = v.num();
    } else {
      diags.error(s.loc, "unknown train setting '" + s.name + "'" +
                             didYouMean(s.name, {"loss", "optimizer", "clip_grad_norm"}) +
                             "; expected loss, optimizer or clip_grad_norm");
    }
  }
  if (spec.loss == -1) diags.error(tb.loc, "'train' needs 'loss = ...'");
  if (!sawOptimizer) diags.error(tb.loc, "'train' needs 'optimizer = ...' (sgd, adam or adamw)");
  if (spec.loss >= 0 && !spec.optimizer.empty()) graph.train = spec;
}

void Sema::checkUsage() {
  auto reach = [&](std::vector<int> roots) {
    std::vector<bool> seen(graph.values.size(), false);
    while (!roots.empty()) {
      int v = roots.back();
      roots.pop_back();
      if (v < 0 || seen[v]) continue;
      seen[v] = true;
      if (graph.values[v].kind == GraphValue::Result)
        for (int o : graph.nodes[graph.values[v].node].operands) roots.push_back(o);
    }
    return seen;
  };
  std::vector<int> outs;
  for (const GraphOutput &o : graph.outputs) outs.push_back(o.value);
  std::vector<bool> inferUse = reach(outs);
  std::vector<bool> trainUse = graph.train ? reach({graph.train->loss}) : std::vector<bool>(graph.values.size());
  for (int id : graph.inputs) {
    const GraphValue &v = graph.values[id];
    if (!inferUse[id] && !trainUse[id])
      diags.error(v.loc, "input '" + v.name + "' is never used by an output" +
                             std::string(graph.train ? " or the loss" : ""));
    graph.inputTrainOnly.push_back(!inferUse[id] && trainUse[id]);
  }
}

} // namespace

std::optional<ModelGraph> analyze(const Model &model, Diagnostics &diags, const LayerRegistry &registry) {
  Sema s(model, diags, registry);
  return s.run();
}

} // namespace dlc
