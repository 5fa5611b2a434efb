//===- Autodiff.cpp - the dl-autodiff pass --------------------------------===//
//
// Reverse mode on the dl graph of @train_step. Only values on a path from a trainable
// parameter to the loss get a gradient (as PyTorch's autograd: `cast(label)` on the loss
// path needs none); each op there says how its results' gradients reach its operands
// (GradientOpInterface, implemented by the op). The optimizer's update, from the layer
// registry, follows in the same function, so one call does forward, backward and step.
//
//===----------------------------------------------------------------------===//
#include "compiler/Autodiff/Passes.h"
#include "compiler/Basic/Diagnostics.h"
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientAccumulator.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/BitVector.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLAUTODIFF
#include "compiler/Autodiff/Passes.h.inc"

namespace {

std::string describe(Operation *op) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "'" << op->getName().stripDialect() << "'";
  std::string at = describeLocation(op->getLoc());
  if (!at.empty()) os << " at " << at;
  return s;
}

/// The layer an op belongs to, as the front end names it around the op's location
/// ("dense"); the op's own name where nothing names it.
std::string layerName(Operation *op) {
  if (auto named = dyn_cast<NameLoc>(op->getLoc())) return named.getName().str();
  return op->getName().stripDialect().str();
}

/// Gives every op a builder inserts one location: what a gradient rule or an optimizer
/// builds is named after what it serves ("dense backward" at the dense's position), so
/// that a profile tells the backward pass and the update from the forward pass.
struct NameInserted : OpBuilder::Listener {
  explicit NameInserted(Location loc) : loc(loc) {}
  void notifyOperationInserted(Operation *op, OpBuilder::InsertPoint) override { op->setLoc(loc); }
  Location loc;
};

Location namedLoc(StringRef name, Location at) { return renamedLoc(name, at); }

struct TrainStep {
  func::FuncOp fn;
  DictionaryAttr config;
  SmallVector<BlockArgument> params;   // every dl.param argument, in order
  SmallVector<bool> trainable;         // per params entry: not a buffer
  SmallVector<BlockArgument> slots;    // dl.slot arguments, grouped by trainable parameter
  BlockArgument lr, step;
};

class Differentiator {
public:
  Differentiator(TrainStep &ts, bool allowInferenceOnly) : ts(ts), allowInferenceOnly(allowInferenceOnly) {}

  /// Gradients of the loss for every trainable parameter (null where it does not reach
  /// the loss). Fails on an op without a gradient; sets `missing` instead where the
  /// caller allows dropping the train step.
  LogicalResult run(SmallVectorImpl<Value> &paramGrads, std::string &missing, std::optional<Location> &missingAt) {
    Block &body = ts.fn.getBody().front();
    auto ret = cast<func::ReturnOp>(body.getTerminator());
    Value loss = ret.getOperand(0);
    SmallVector<Operation *> forward;
    for (Operation &op : body.without_terminator()) forward.push_back(&op);

    // Values that depend on a trainable parameter, and those of them the loss reads.
    llvm::DenseSet<Value> dependent;
    for (auto [p, t] : llvm::zip(ts.params, ts.trainable))
      if (t) dependent.insert(p);
    for (Operation *op : forward)
      if (llvm::any_of(op->getOperands(), [&](Value v) { return dependent.contains(v); }))
        for (Value r : op->getResults())
          if (dl::isFloatTensor(r)) dependent.insert(r);
    llvm::DenseSet<Value> onPath;
    if (dependent.contains(loss)) onPath.insert(loss);
    for (Operation *op : llvm::reverse(forward)) {
      if (!llvm::any_of(op->getResults(), [&](Value r) { return onPath.contains(r); })) continue;
      for (Value o : op->getOperands())
        if (dependent.contains(o)) onPath.insert(o);
    }

    OpBuilder b(ret);
    auto lossType = cast<RankedTensorType>(loss.getType());
    grads.seed(loss, arith::ConstantOp::create(
        b, loss.getLoc(), DenseElementsAttr::get(lossType, b.getFloatAttr(lossType.getElementType(), 1.0))));
    for (Operation *op : llvm::reverse(forward)) {
      SmallVector<Value> resultGrads;
      bool any = false;
      for (Value r : op->getResults()) {
        resultGrads.push_back(grads.lookup(r));
        any |= bool(resultGrads.back());
      }
      if (!any) continue;
      SmallVector<bool> needed;
      for (Value o : op->getOperands()) needed.push_back(onPath.contains(o));
      if (!llvm::is_contained(needed, true)) continue;
      auto iface = dyn_cast<dl::GradientOpInterface>(op);
      // A target may mark an op whose gradient it cannot run (dl-unroll-recurrent does).
      auto unavailable = op->getAttrOfType<StringAttr>("dl.gradient_unavailable");
      if (!iface || unavailable) {
        auto origin = op->getAttrOfType<StringAttr>("dl.origin");
        std::string what = describe(op) + " (from " + (origin ? origin.getValue().str() : "built-in") +
                           ") is on the training path but has no gradient";
        if (unavailable) what += " (" + unavailable.getValue().str() + ")";
        if (allowInferenceOnly && !origin) {
          missing = what;
          missingAt = op->getLoc();
          return success();
        }
        return op->emitError(what);
      }
      SmallVector<Value> operandGrads;
      b.setInsertionPoint(ret);
      NameInserted naming(namedLoc(layerName(op) + " backward", op->getLoc()));
      b.setListener(&naming);
      llvm::scope_exit unname([&] { b.setListener(nullptr); });
      if (failed(iface.buildGradient(b, resultGrads, needed, operandGrads))) return failure();
      if (operandGrads.size() != op->getNumOperands())
        return op->emitError("internal error: the gradient rule returned ")
               << operandGrads.size() << " gradients for " << op->getNumOperands() << " operands";
      for (auto [o, g, want] : llvm::zip(op->getOperands(), operandGrads, needed))
        if (want && g) grads.accumulate(b, o, g);
    }
    for (auto [p, t] : llvm::zip(ts.params, ts.trainable)) paramGrads.push_back(t ? grads.lookup(p) : Value());
    return success();
  }

private:
  TrainStep &ts;
  bool allowInferenceOnly;
  dl::GradientAccumulator grads;
};

/// clip_grad_norm_: every gradient times min(max_norm / (||all gradients||_2 + 1e-6), 1).
void clipGradients(OpBuilder &b, Location loc, MutableArrayRef<Value> grads, double maxNorm) {
  Value total;
  for (Value g : grads) {
    if (!g) continue;
    auto t = cast<RankedTensorType>(g.getType());
    SmallVector<int64_t> all;
    for (int64_t i = 0; i < t.getRank(); ++i) all.push_back(i);
    Value sq = dl::SumOp::create(b, loc, RankedTensorType::get({}, t.getElementType()), dl::MulOp::create(b, loc, g, g),
                                 b.getDenseI64ArrayAttr(all), b.getBoolAttr(false));
    total = total ? Value(dl::AddOp::create(b, loc, total, sq)) : sq;
  }
  if (!total) return;
  Type elt = cast<RankedTensorType>(total.getType()).getElementType();
  Value coef = dl::mapLike(b, loc, total, elt, total, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value norm = math::SqrtOp::create(nb, l, a[0]);
    Value c = arith::DivFOp::create(nb, l, dl::floatConst(nb, l, elt, maxNorm),
                                    arith::AddFOp::create(nb, l, norm, dl::floatConst(nb, l, elt, 1e-6)));
    return arith::MinimumFOp::create(nb, l, c, dl::floatConst(nb, l, elt, 1.0));
  });
  for (Value &g : grads)
    if (g) g = dl::MulOp::create(b, loc, g, coef);
}

struct AutodiffPass : public impl::DLAutodiffBase<AutodiffPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (auto fn : llvm::to_vector(module.getOps<func::FuncOp>())) {
      auto config = fn->getAttrOfType<DictionaryAttr>("dl.train");
      if (!config) continue;
      if (failed(complete(module, fn, config))) return signalPassFailure();
    }
  }

  /// Removes the results tagged dl.buffer_update (a buffer's new value in training, which
  /// layers such as batch_norm emit) and returns them by buffer name.
  static llvm::StringMap<Value> takeBufferUpdates(func::FuncOp fn) {
    llvm::StringMap<Value> updates;
    auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    llvm::BitVector drop(fn.getNumResults());
    for (unsigned i = 0; i < fn.getNumResults(); ++i)
      if (auto name = fn.getResultAttrOfType<StringAttr>(i, "dl.buffer_update")) {
        updates[name.getValue()] = ret.getOperand(i);
        drop.set(i);
      }
    if (drop.none()) return updates;
    ret->eraseOperands(drop);
    (void)fn.eraseResults(drop);
    return updates;
  }

  LogicalResult complete(ModuleOp module, func::FuncOp fn, DictionaryAttr config) {
    llvm::StringMap<Value> bufferUpdates = takeBufferUpdates(fn);
    TrainStep ts{fn, config, {}, {}, {}, {}, {}};
    for (BlockArgument a : fn.getArguments()) {
      unsigned i = a.getArgNumber();
      if (fn.getArgAttr(i, dl::kParamAttr)) {
        ts.params.push_back(a);
        ts.trainable.push_back(!fn.getArgAttr(i, "dl.buffer"));
      }
      if (fn.getArgAttr(i, "dl.slot")) ts.slots.push_back(a);
      if (fn.getArgAttr(i, "dl.lr")) ts.lr = a;
      if (fn.getArgAttr(i, "dl.step")) ts.step = a;
    }
    auto name = config.getAs<StringAttr>("optimizer");
    const OptimizerDef *od = name ? LayerRegistry::instance().lookupOptimizer(name.str()) : nullptr;
    if (!od || !od->update) return fn.emitError("dl.train names no known optimizer");
    auto hyper = config.getAs<DictionaryAttr>("hyper");
    if (!hyper || !ts.lr || !ts.step) return fn.emitError("dl.train function lacks hyper, dl.lr or dl.step");
    int64_t numTrainable = llvm::count(ts.trainable, true);
    if (numTrainable && ts.slots.size() % numTrainable)
      return fn.emitError("the dl.slot arguments do not divide among the trainable parameters");
    size_t slotsPer = numTrainable ? ts.slots.size() / numTrainable : 0;

    SmallVector<Value> paramGrads;
    std::string missing;
    std::optional<Location> missingAt;
    Differentiator diff(ts, allowInferenceOnly);
    if (failed(diff.run(paramGrads, missing, missingAt))) return failure();
    if (!missing.empty()) {
      // At the op's location, without the op printed: a note for the user, not a dump.
      mlir::emitWarning(*missingAt, missing + " yet: model.so gets no train step");
      module->setAttr("dl.train_unavailable", StringAttr::get(module.getContext(), missing));
      fn.erase();
      return success();
    }

    auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    OpBuilder b(ret);
    Location loc = ret.getLoc();
    // A parameter of a fn call is updated in that call's scope, so that the updates of
    // each call's parameters share one body too (dl-share-fn-bodies).
    SmallVector<std::string> gradScopes;
    for (Value g : paramGrads) gradScopes.push_back(g ? fnScopeOf(g.getLoc()) : "");
    if (auto clip = config.getAs<FloatAttr>("clip_grad_norm")) {
      NameInserted clipNaming(namedLoc("clip_grad_norm", loc));
      b.setListener(&clipNaming);
      clipGradients(b, loc, paramGrads, clip.getValueAsDouble());
    }
    NameInserted updateNaming(namedLoc(name.str() + " update", loc));
    b.setListener(&updateNaming);

    SmallVector<Value> newParams, newSlots;
    size_t k = 0;
    for (auto [p, trainable, g, scope] : llvm::zip(ts.params, ts.trainable, paramGrads, gradScopes)) {
      if (!trainable) {
        auto name = fn.getArgAttrOfType<StringAttr>(p.getArgNumber(), dl::kParamAttr);
        Value updated = name ? bufferUpdates.lookup(name.getValue()) : Value();
        newParams.push_back(updated ? updated : p);
        continue;
      }
      ArrayRef<BlockArgument> slotArgs = ArrayRef<BlockArgument>(ts.slots).slice(k * slotsPer, slotsPer);
      ++k;
      if (!g) { // not on the loss's path: PyTorch skips a parameter without a gradient
        newParams.push_back(p);
        newSlots.append(slotArgs.begin(), slotArgs.end());
        continue;
      }
      SmallVector<Value> slotValues(slotArgs.begin(), slotArgs.end());
      updateNaming.loc = namedLoc(name.str() + " update", withFnScope(loc, scope));
      SmallVector<Value> updated = od->update(OptimizerUpdate{b, p.getLoc(), hyper, p, g, slotValues, ts.lr, ts.step});
      newParams.push_back(updated[0]);
      newSlots.append(updated.begin() + 1, updated.end());
    }
    b.setListener(nullptr);

    SmallVector<Value> results(ret.getOperands());
    SmallVector<DictionaryAttr> resultAttrs;
    for (unsigned i = 0; i < fn.getNumResults(); ++i) resultAttrs.push_back(fn.getResultAttrDict(i));
    MLIRContext *ctx = module.getContext();
    for (auto [p, v] : llvm::zip(ts.params, newParams)) {
      results.push_back(v);
      resultAttrs.push_back(DictionaryAttr::get(
          ctx, {NamedAttribute(StringAttr::get(ctx, "dl.param_out"), fn.getArgAttr(p.getArgNumber(), dl::kParamAttr))}));
    }
    for (auto [s, v] : llvm::zip(ts.slots, newSlots)) {
      results.push_back(v);
      resultAttrs.push_back(DictionaryAttr::get(
          ctx, {NamedAttribute(StringAttr::get(ctx, "dl.slot_out"), fn.getArgAttr(s.getArgNumber(), "dl.slot"))}));
    }
    func::ReturnOp::create(b, loc, results);
    ret.erase();
    SmallVector<Type> types;
    for (Value r : results) types.push_back(r.getType());
    fn.setType(FunctionType::get(ctx, fn.getArgumentTypes(), types));
    for (auto [i, d] : llvm::enumerate(resultAttrs))
      fn.setResultAttrs(i, d ? d : DictionaryAttr::get(ctx));
    fn->removeAttr("dl.train");
    return success();
  }
};

} // namespace
} // namespace dlc
