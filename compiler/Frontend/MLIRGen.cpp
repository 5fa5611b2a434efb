//===- MLIRGen.cpp - emits the dl dialect for a checked model -------------===//
#include "compiler/Frontend/MLIRGen.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

#include <nlohmann/json.hpp>

#include <map>
#include <set>

namespace dlc {

static nlohmann::json shapeJson(const TensorType &t) {
  nlohmann::json dims = nlohmann::json::array();
  for (const SymExpr &d : t.shape) dims.push_back(d.str());
  return dims;
}

/// The classification loss (scores and integer labels) whose predicted classes the train
/// and eval steps also return, for accuracy and the confusion matrix: the loss itself, or
/// the one classification loss among its terms, where the loss sums terms each scaled by
/// constants (`cross_entropy(logits, label) + 0.01 * mean(h * h)`, `bce(s, t) + n * 0.5`):
/// a regulariser or a second head beside a classifier leaves it a classifier. None where
/// no term is one, or several of other scores or labels (which would accuracy be of?).
static const GraphNode *classLoss(const ModelGraph &g) {
  if (!g.train) return nullptr;
  std::map<std::pair<int, int>, const GraphNode *> found; // (scores, labels) -> a loss of them
  auto isConstant = [&](int v) { return g.values[v].kind == GraphValue::Constant; };
  // A worklist rather than recursion: a loss may sum a chain of statements thousands deep.
  std::vector<int> terms{g.train->loss};
  std::set<int> seen;
  while (!terms.empty()) {
    int v = terms.back();
    terms.pop_back();
    if (g.values[v].kind != GraphValue::Result || !seen.insert(v).second) continue;
    const GraphNode &n = g.nodes[g.values[v].node];
    const std::string &op = n.def->name;
    if (n.def->isLoss) {
      if (n.operands.size() == 2 && isInteger(g.values[n.operands[1]].type.dtype))
        found.emplace(std::make_pair(n.operands[0], n.operands[1]), &n);
    } else if (op == "add" || op == "sub") {
      terms.push_back(n.operands[0]);
      terms.push_back(n.operands[1]);
    } else if ((op == "mul" || op == "div") && isConstant(n.operands[1])) {
      terms.push_back(n.operands[0]);
    } else if (op == "mul" && isConstant(n.operands[0])) {
      terms.push_back(n.operands[1]);
    }
  }
  return found.size() == 1 ? found.begin()->second : nullptr;
}

/// What a call of the model needs of its symbols' values (the signature's "requires",
/// checked as the inputs bind them): each symbolic dim of a layer's result 0 or more, and
/// what layers ask beyond that (LayerCall::needs, which say why first); one entry per
/// size and divisor, with its largest bound and the first layer that asks it. A size
/// that cannot be negative (SymExpr::nonNegative: B*T, (B*T)/4) needs no bound of 0.
static nlohmann::json sizeNeeds(const ModelGraph &g, Diagnostics &diags) {
  struct Need {
    std::string size;
    int64_t atLeast, multipleOf;
    std::string where, why;
  };
  std::vector<Need> needs;
  std::map<std::pair<std::string, int64_t>, size_t> index; // (size, multipleOf) -> needs
  auto add = [&](const SymExpr &size, int64_t atLeast, int64_t multipleOf, const GraphNode &n,
                 const std::string &why) {
    if (size.isConstant() || (atLeast <= 0 && multipleOf == 1 && size.nonNegative())) return;
    auto [it, fresh] = index.try_emplace({size.str(), multipleOf}, needs.size());
    if (fresh) needs.push_back({size.str(), atLeast, multipleOf, "", ""});
    else if (needs[it->second].atLeast >= atLeast) return;
    Need &need = needs[it->second];
    need.atLeast = atLeast;
    need.where = n.def->name + " at " + describeLocation(diags.loc(n.loc));
    need.why = why;
  };
  for (const GraphNode &n : g.nodes) {
    if (n.result < 0) continue;
    const TensorType &t = g.values[n.result].type;
    for (const LayerCall::SizeNeed &need : n.needs) add(need.size, need.atLeast, need.multipleOf, n, need.why);
    for (size_t d = 0; d < t.rank(); ++d)
      add(t.shape[d], 0, 1, n, "its result's dim " + std::to_string(d) + " would be negative");
  }
  nlohmann::json out = nlohmann::json::array();
  for (const Need &need : needs)
    out.push_back({{"size", need.size},
                   {"at_least", need.atLeast},
                   {"multiple_of", need.multipleOf},
                   {"where", need.where},
                   {"why", need.why}});
  return out;
}

std::string buildSignature(const ModelGraph &g, Diagnostics &diags) {
  using nlohmann::json;
  json sig;
  sig["model"] = g.name;
  sig["symbols"] = g.symbols;
  sig["requires"] = sizeNeeds(g, diags);
  json inputs = json::array();
  for (size_t k = 0; k < g.inputs.size(); ++k) {
    const GraphValue &v = g.values[g.inputs[k]];
    inputs.push_back({{"name", v.name},
                      {"dtype", dtypeName(v.type.dtype)},
                      {"shape", shapeJson(v.type)},
                      {"train_only", bool(g.inputTrainOnly[k])}});
  }
  sig["inputs"] = inputs;
  json outputs = json::array();
  for (const GraphOutput &o : g.outputs) {
    const GraphValue &v = g.values[o.value];
    outputs.push_back({{"name", o.name}, {"dtype", dtypeName(v.type.dtype)}, {"shape", shapeJson(v.type)}});
  }
  sig["outputs"] = outputs;
  json params = json::array();
  for (const GraphParam &p : g.params) {
    const char *kinds[] = {"uniform", "normal", "zeros", "ones"};
    params.push_back({{"name", p.name},
                      {"dtype", dtypeName(p.spec.type.dtype)},
                      {"shape", shapeJson(p.spec.type)},
                      {"init", {{"kind", kinds[p.spec.init.kind]}, {"a", p.spec.init.a}, {"b", p.spec.init.b}}},
                      {"buffer", p.spec.buffer}});
  }
  sig["params"] = params;
  if (g.train) {
    json opt = json::object();
    for (auto &[k, v] : g.train->optimizerAttrs)
      opt[k] = v.kind == AttrValue::Bool ? json(v.b) : json(v.f);
    sig["train"] = {{"optimizer", g.train->optimizer}, {"hyper", opt}};
    if (g.train->clipGradNorm) sig["train"]["clip_grad_norm"] = *g.train->clipGradNorm;
    const OptimizerDef *od = LayerRegistry::instance().lookupOptimizer(g.train->optimizer);
    sig["train"]["slots"] = od && od->slots ? od->slots(g.train->optimizerAttrs) : std::vector<std::string>{};
    const GraphNode *classes = classLoss(g);
    sig["train"]["predictions"] = classes != nullptr;
    if (classes) {
      const GraphNode &n = *classes;
      sig["train"]["prediction_shape"] = shapeJson(g.values[n.operands[1]].type);
      // The input that holds the labels, where the loss reads one directly: dlrun's metrics.
      if (g.values[n.operands[1]].kind == GraphValue::Input) sig["train"]["labels"] = g.values[n.operands[1]].name;
    }
  }
  // The lexer admits only UTF-8 strings; should anything else reach here, replace it
  // rather than throw through code built without exceptions.
  return sig.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

enum class Entry { Infer, Eval, Train };

/// Emits one entry function of the model: @infer (outputs from the inference inputs),
/// @eval_step (the loss, predicted classes and outputs from every input, layers in their
/// inference behaviour) or @train_step (the same in training behaviour, with the
/// optimizer's slots, the generator's seed, the step number and the learning rate as
/// further arguments; dl-autodiff then adds the backward pass and the update).
class EntryEmitter {
public:
  EntryEmitter(const ModelGraph &g, Diagnostics &diags, mlir::ModuleOp module)
      : g(g), diags(diags), module(module), ctx(module.getContext()), b(ctx) {}

  bool emit(Entry kind) {
    bool training = kind == Entry::Train;
    // Arguments.
    llvm::SmallVector<mlir::Type> argTypes;
    llvm::SmallVector<mlir::NamedAttrList> argAttrs;
    std::vector<int> argValues; // graph value per argument, -1 for the train step's extras
    auto addArg = [&](int value, mlir::Type t, llvm::StringRef attr, mlir::Attribute a) {
      argValues.push_back(value);
      argTypes.push_back(t);
      argAttrs.emplace_back();
      argAttrs.back().set(attr, a);
    };
    for (size_t k = 0; k < g.inputs.size(); ++k)
      if (kind != Entry::Infer || !g.inputTrainOnly[k])
        addArg(g.inputs[k], toMLIR(g.values[g.inputs[k]].type, ctx), mlir::dl::kInputAttr,
               b.getStringAttr(g.values[g.inputs[k]].name));
    for (const GraphParam &p : g.params) {
      addArg(p.value, toMLIR(g.values[p.value].type, ctx), mlir::dl::kParamAttr, b.getStringAttr(p.name));
      if (p.spec.buffer) argAttrs.back().set("dl.buffer", b.getUnitAttr());
    }
    auto i64Scalar = mlir::RankedTensorType::get({}, b.getI64Type());
    if (training) {
      const OptimizerDef *od = LayerRegistry::instance().lookupOptimizer(g.train->optimizer);
      std::vector<std::string> slots = od->slots(g.train->optimizerAttrs);
      for (const GraphParam &p : g.params)
        if (!p.spec.buffer)
          for (const std::string &s : slots)
            addArg(-1, toMLIR(g.values[p.value].type, ctx), "dl.slot", b.getStringAttr(p.name + "." + s));
      addArg(-1, i64Scalar, "dl.seed", b.getUnitAttr());
      addArg(-1, i64Scalar, "dl.step", b.getUnitAttr());
      addArg(-1, mlir::RankedTensorType::get({}, b.getF64Type()), "dl.lr", b.getUnitAttr());
    }

    // Results: the values they need.
    std::vector<int> roots;
    if (kind != Entry::Infer) roots.push_back(g.train->loss);
    for (const GraphOutput &o : g.outputs) roots.push_back(o.value);
    // A layer that updates buffers in training (batch_norm's running statistics) runs in the
    // train step even where nothing reads its result, as the module's forward would in PyTorch.
    if (training) {
      std::vector<bool> isBuffer(g.values.size(), false);
      for (const GraphParam &p : g.params)
        if (p.spec.buffer) isBuffer[size_t(p.value)] = true;
      for (const GraphNode &n : g.nodes)
        if (n.result >= 0 && llvm::any_of(n.operands, [&](int o) { return o >= 0 && isBuffer[size_t(o)]; }))
          roots.push_back(n.result);
    }
    std::vector<bool> needed(g.values.size(), false);
    std::vector<int> stack = roots;
    while (!stack.empty()) {
      int v = stack.back();
      stack.pop_back();
      if (v < 0 || needed[v]) continue;
      needed[v] = true;
      if (g.values[v].kind == GraphValue::Result)
        for (int o : g.nodes[g.values[v].node].operands) stack.push_back(o);
    }

    static const char *names[] = {"infer", "eval_step", "train_step"};
    b.setInsertionPointToEnd(module.getBody());
    auto fn = mlir::func::FuncOp::create(b, diags.loc(SrcLoc{1, 1}), names[int(kind)],
                                         b.getFunctionType(argTypes, {}));
    for (size_t k = 0; k < argAttrs.size(); ++k) fn.setArgAttrs(k, argAttrs[k].getDictionary(ctx));
    mlir::Block *entry = fn.addEntryBlock();
    b.setInsertionPointToStart(entry);
    std::vector<mlir::Value> values(g.values.size());
    mlir::Value seed, step;
    for (size_t k = 0; k < argValues.size(); ++k) {
      if (argValues[k] >= 0) values[argValues[k]] = entry->getArgument(k);
      if (argAttrs[k].get("dl.seed")) seed = entry->getArgument(k);
      if (argAttrs[k].get("dl.step")) step = entry->getArgument(k);
    }
    int64_t nextStream = 0;
    std::vector<std::pair<mlir::Value, mlir::Value>> bufferUpdates;

    bool ok = true;
    for (size_t v = 0; v < g.values.size(); ++v) {
      if (!needed[v]) continue;
      const GraphValue &gv = g.values[v];
      if (gv.kind == GraphValue::Constant) {
        auto type = toMLIR(gv.type, ctx);
        mlir::Attribute elt = isFloat(gv.type.dtype)
                                  ? mlir::Attribute(b.getFloatAttr(type.getElementType(), gv.constant))
                                  : mlir::Attribute(b.getIntegerAttr(type.getElementType(), int64_t(gv.constant)));
        values[v] = mlir::arith::ConstantOp::create(b, diags.loc(gv.loc), mlir::DenseElementsAttr::get(type, elt));
        continue;
      }
      if (gv.kind != GraphValue::Result) continue;
      const GraphNode &n = g.nodes[gv.node];
      if (!n.def->build) {
        diags.error(n.loc, "'" + n.def->name + "' is checked but has no CPU lowering yet");
        ok = false;
        continue;
      }
      // The layer's name around its position: the ops it lowers to keep it, so a
      // profile names what ran ("dense at model.dl:6:8") after fusion and lowering.
      mlir::Location at = mlir::NameLoc::get(b.getStringAttr(n.def->name), withFnScope(diags.loc(n.loc), n.fnScope));
      GenCall call{b, at, {}, n.attrs, toMLIR(gv.type, ctx), n.axes, n.inputTypes, gv.type};
      call.training = training;
      call.seed = seed;
      call.step = step;
      call.nextStream = &nextStream;
      call.saved = &n.saved;
      if (training) call.bufferUpdates = &bufferUpdates;
      bool missing = false;
      for (int o : n.operands) {
        call.operands.push_back(values[o]);
        missing |= !values[o];
      }
      if (missing) { ok = false; continue; } // an operand already failed
      values[v] = n.def->build(call);
    }
    if (!ok) return false;

    llvm::SmallVector<mlir::Value> results;
    llvm::SmallVector<mlir::NamedAttrList> resultAttrs;
    mlir::Location retLoc = diags.loc(g.outputs.front().loc);
    if (kind != Entry::Infer) {
      results.push_back(values[g.train->loss]);
      resultAttrs.emplace_back();
      resultAttrs.back().set("dl.loss", b.getUnitAttr());
      if (const GraphNode *classes = classLoss(g)) {
        const GraphNode &n = *classes;
        mlir::Value scores = values[n.operands[0]];
        auto st = mlir::cast<mlir::RankedTensorType>(scores.getType());
        auto pt = mlir::RankedTensorType::get(st.getShape().drop_back(), b.getI64Type());
        // The predicted classes, at the loss's position under a name of their own.
        mlir::Location at = mlir::NameLoc::get(b.getStringAttr("predictions"), diags.loc(n.loc));
        results.push_back(mlir::dl::ArgmaxOp::create(b, at, pt, scores));
        resultAttrs.emplace_back();
        resultAttrs.back().set("dl.predictions", b.getUnitAttr());
      }
      retLoc = diags.loc(g.train->loc);
    }
    for (const GraphOutput &o : g.outputs) {
      results.push_back(values[o.value]);
      resultAttrs.emplace_back();
      resultAttrs.back().set(mlir::dl::kOutputAttr, b.getStringAttr(o.name));
    }
    // The train step's new buffer values, which dl-autodiff moves to the buffers' results.
    for (auto [buffer, value] : bufferUpdates) {
      auto arg = mlir::cast<mlir::BlockArgument>(buffer);
      results.push_back(value);
      resultAttrs.emplace_back();
      resultAttrs.back().set("dl.buffer_update", fn.getArgAttr(arg.getArgNumber(), mlir::dl::kParamAttr));
    }
    mlir::func::ReturnOp::create(b, retLoc, results);
    llvm::SmallVector<mlir::Type> resultTypes;
    for (mlir::Value r : results) resultTypes.push_back(r.getType());
    fn.setType(b.getFunctionType(argTypes, resultTypes));
    for (size_t k = 0; k < resultAttrs.size(); ++k) fn.setResultAttrs(k, resultAttrs[k].getDictionary(ctx));

    if (training) {
      llvm::SmallVector<mlir::NamedAttribute> hyper;
      for (auto &[k, v] : g.train->optimizerAttrs)
        hyper.push_back(b.getNamedAttr(k, v.kind == AttrValue::Bool ? mlir::Attribute(b.getBoolAttr(v.b))
                                                                     : mlir::Attribute(b.getF64FloatAttr(v.f))));
      llvm::SmallVector<mlir::NamedAttribute> train{b.getNamedAttr("optimizer", b.getStringAttr(g.train->optimizer)),
                                                    b.getNamedAttr("hyper", b.getDictionaryAttr(hyper))};
      if (g.train->clipGradNorm)
        train.push_back(b.getNamedAttr("clip_grad_norm", b.getF64FloatAttr(*g.train->clipGradNorm)));
      fn->setAttr("dl.train", b.getDictionaryAttr(train));
    }
    return true;
  }

private:
  const ModelGraph &g;
  Diagnostics &diags;
  mlir::ModuleOp module;
  mlir::MLIRContext *ctx;
  mlir::OpBuilder b;
};

} // namespace

mlir::OwningOpRef<mlir::ModuleOp> emitModule(const ModelGraph &g, Diagnostics &diags) {
  mlir::MLIRContext *ctx = &diags.context();
  // Layers build dl ops, and the linalg/tensor blocks of GradientBuilders where no dl op fits.
  ctx->loadDialect<mlir::dl::DLDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect,
                   mlir::linalg::LinalgDialect, mlir::tensor::TensorDialect>();
  auto module = mlir::ModuleOp::create(diags.loc(SrcLoc{1, 1}), g.name);
  mlir::OpBuilder b(ctx);
  module->setAttr("dl.signature", b.getStringAttr(buildSignature(g, diags)));
  EntryEmitter emitter(g, diags, module);
  bool ok = emitter.emit(Entry::Infer);
  if (ok && g.train) ok = emitter.emit(Entry::Eval) && emitter.emit(Entry::Train);
  if (!ok) {
    module->erase();
    return nullptr;
  }
  return module;
}

} // namespace dlc
