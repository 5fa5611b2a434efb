//===- MLIRGen.cpp - emits the dl dialect for a checked model -------------===//
#include "compiler/Frontend/MLIRGen.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

#include <nlohmann/json.hpp>

namespace dlc {

static nlohmann::json shapeJson(const TensorType &t) {
  nlohmann::json dims = nlohmann::json::array();
  for (const SymExpr &d : t.shape) dims.push_back(d.str());
  return dims;
}

std::string buildSignature(const ModelGraph &g) {
  using nlohmann::json;
  json sig;
  sig["model"] = g.name;
  sig["symbols"] = g.symbols;
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
  }
  return sig.dump();
}

mlir::OwningOpRef<mlir::ModuleOp> emitModule(const ModelGraph &g, Diagnostics &diags) {
  mlir::MLIRContext *ctx = &diags.context();
  ctx->loadDialect<mlir::dl::DLDialect, mlir::func::FuncDialect, mlir::arith::ArithDialect>();
  mlir::OpBuilder b(ctx);
  auto module = mlir::ModuleOp::create(diags.loc(SrcLoc{1, 1}), g.name);
  module->setAttr("dl.signature", b.getStringAttr(buildSignature(g)));

  // Which values inference needs: everything the outputs reach.
  std::vector<bool> needed(g.values.size(), false);
  std::vector<int> stack;
  for (const GraphOutput &o : g.outputs) stack.push_back(o.value);
  while (!stack.empty()) {
    int v = stack.back();
    stack.pop_back();
    if (needed[v]) continue;
    needed[v] = true;
    if (g.values[v].kind == GraphValue::Result)
      for (int o : g.nodes[g.values[v].node].operands) stack.push_back(o);
  }

  llvm::SmallVector<mlir::Type> argTypes, resultTypes;
  llvm::SmallVector<int> argValues;
  for (size_t k = 0; k < g.inputs.size(); ++k)
    if (!g.inputTrainOnly[k]) argValues.push_back(g.inputs[k]);
  for (const GraphParam &p : g.params) argValues.push_back(p.value);
  for (int v : argValues) argTypes.push_back(toMLIR(g.values[v].type, ctx));
  for (const GraphOutput &o : g.outputs) resultTypes.push_back(toMLIR(g.values[o.value].type, ctx));

  b.setInsertionPointToEnd(module.getBody());
  auto fn = mlir::func::FuncOp::create(b, diags.loc(SrcLoc{1, 1}), "infer",
                                       b.getFunctionType(argTypes, resultTypes));
  for (size_t k = 0; k < argValues.size(); ++k) {
    const GraphValue &v = g.values[argValues[k]];
    fn.setArgAttr(k, v.kind == GraphValue::Input ? mlir::dl::kInputAttr : mlir::dl::kParamAttr,
                  b.getStringAttr(v.name));
  }
  for (size_t k = 0; k < g.outputs.size(); ++k)
    fn.setResultAttr(k, mlir::dl::kOutputAttr, b.getStringAttr(g.outputs[k].name));

  mlir::Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  std::vector<mlir::Value> values(g.values.size());
  for (size_t k = 0; k < argValues.size(); ++k) values[argValues[k]] = entry->getArgument(k);

  bool ok = true;
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (!needed[v]) continue;
    const GraphValue &gv = g.values[v];
    if (gv.kind == GraphValue::Constant) {
      auto type = toMLIR(gv.type, ctx);
      mlir::Attribute elt = isFloat(gv.type.dtype)
                                ? mlir::Attribute(b.getFloatAttr(type.getElementType(), gv.constant))
                                : mlir::Attribute(b.getIntegerAttr(type.getElementType(), int64_t(gv.constant)));
      values[v] = mlir::arith::ConstantOp::create(b, diags.loc(gv.loc),
                                                  mlir::DenseElementsAttr::get(type, elt));
      continue;
    }
    if (gv.kind != GraphValue::Result) continue;
    const GraphNode &n = g.nodes[gv.node];
    if (!n.def->build) {
      diags.error(n.loc, "'" + n.def->name + "' is checked but has no CPU lowering yet");
      ok = false;
      continue;
    }
    GenCall call{b, diags.loc(n.loc), {}, n.attrs, toMLIR(gv.type, ctx), n.axes, n.inputTypes, gv.type};
    bool missing = false;
    for (int o : n.operands) {
      call.operands.push_back(values[o]);
      missing |= !values[o];
    }
    if (missing) { ok = false; continue; } // an operand already failed
    values[v] = n.def->build(call);
  }
  if (!ok) return nullptr;
  llvm::SmallVector<mlir::Value> results;
  for (const GraphOutput &o : g.outputs) results.push_back(values[o.value]);
  mlir::func::ReturnOp::create(b, diags.loc(g.outputs.front().loc), results);
  return module;
}

} // namespace dlc
