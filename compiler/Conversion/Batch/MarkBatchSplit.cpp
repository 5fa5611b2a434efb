//===- MarkBatchSplit.cpp - may the runtime split the inference batch? ----===//
//
// Two threads gain most on a batch when each runs the whole model on its half: every
// kernel then runs on one thread, on data its own core wrote, with one parallel region
// per call instead of one per kernel (a CNN at batch 64 spent a third of its two-thread
// time in kernels slower on two threads than on one, reading what the other core wrote).
// That is only right where no op lets one sample's rows reach another's: this pass proves
// it for the inference entry, op by op, through dl.BatchSeparableOpInterface, and marks
// the module; the runtime decides whether a call is worth splitting.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"
#include "dialects/DL/DLOps.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/JSON.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLMARKBATCHSPLIT
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// The identifiers a dim expression of the signature names ("N", "T - 1" -> {N, T}).
llvm::SmallVector<std::string> identifiers(llvm::StringRef expr) {
  llvm::SmallVector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty() && !std::isdigit(static_cast<unsigned char>(cur[0]))) out.push_back(cur);
    cur.clear();
  };
  for (char c : expr) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') cur += c;
    else flush();
  }
  flush();
  return out;
}

/// How a value of the signature's (an input's or an output's) uses symbol `s`.
enum class Use { None, Dim0, Other };

Use symbolUse(const llvm::json::Array *shape, llvm::StringRef s) {
  if (!shape) return Use::Other;
  Use use = Use::None;
  for (size_t d = 0; d < shape->size(); ++d) {
    std::optional<llvm::StringRef> dim = (*shape)[d].getAsString();
    if (!dim) return Use::Other;
    if (d == 0 && *dim == s) {
      use = Use::Dim0;
      continue;
    }
    if (llvm::is_contained(identifiers(*dim), s)) return Use::Other;
  }
  return use;
}

/// The shape the signature gives the input or output named `name`, or null.
const llvm::json::Array *shapeOf(const llvm::json::Object &sig, llvm::StringRef list, llvm::StringRef name) {
  const llvm::json::Array *values = sig.getArray(list);
  if (!values) return nullptr;
  for (const llvm::json::Value &v : *values)
    if (const llvm::json::Object *o = v.getAsObject())
      if (o->getString("name") == name) return o->getArray("shape");
  return nullptr;
}

bool hasDynamicDim0(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getRank() > 0 && t.isDynamicDim(0);
}

/// Whether `fn` (the inference entry) keeps samples apart along symbol `s`.
bool separableAlong(func::FuncOp fn, const llvm::json::Object &sig, llvm::StringRef s) {
  llvm::DenseSet<Value> batched;
  for (BlockArgument arg : fn.getArguments()) {
    if (fn.getArgAttr(arg.getArgNumber(), dl::kParamAttr)) continue; // static shapes, no symbol
    auto name = fn.getArgAttrOfType<StringAttr>(arg.getArgNumber(), dl::kInputAttr);
    if (!name) return false;
    switch (symbolUse(shapeOf(sig, "inputs", name.getValue()), s)) {
    case Use::None: break;
    case Use::Dim0:
      if (!hasDynamicDim0(arg)) return false;
      batched.insert(arg);
      break;
    case Use::Other: return false;
    }
  }
  if (batched.empty()) return false;

  Block &body = fn.getBody().front();
  for (Operation &op : body.without_terminator()) {
    if (op.getNumRegions()) return false; // nothing the front end makes; not analysed
    llvm::SmallVector<bool> operandBatched;
    for (Value v : op.getOperands()) operandBatched.push_back(batched.contains(v));
    // Computed from what is the same for every sample: the same in every slice.
    if (!llvm::is_contained(operandBatched, true)) continue;
    auto separable = dyn_cast<dl::BatchSeparableOpInterface>(&op);
    if (!separable || !separable.keepsSamplesApart(operandBatched)) return false;
    for (Value r : op.getResults()) {
      if (!hasDynamicDim0(r)) return false;
      batched.insert(r);
    }
  }

  auto ret = cast<func::ReturnOp>(body.getTerminator());
  for (auto [k, v] : llvm::enumerate(ret.getOperands())) {
    auto name = fn.getResultAttrOfType<StringAttr>(k, dl::kOutputAttr);
    if (!name || !batched.contains(v) || symbolUse(shapeOf(sig, "outputs", name.getValue()), s) != Use::Dim0)
      return false;
  }
  return true;
}

struct MarkBatchSplit : impl::DLMarkBatchSplitBase<MarkBatchSplit> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    module->removeAttr("dl.batch_split");
    auto fn = module.lookupSymbol<func::FuncOp>("infer");
    auto sigAttr = module->getAttrOfType<StringAttr>("dl.signature");
    if (!fn || fn.isExternal() || !fn.getBody().hasOneBlock() || !sigAttr) return;
    llvm::Expected<llvm::json::Value> parsed = llvm::json::parse(sigAttr.getValue());
    if (!parsed) {
      llvm::consumeError(parsed.takeError());
      return; // dl-emit-model-interface reports it
    }
    const llvm::json::Object *sig = parsed->getAsObject();
    const llvm::json::Array *symbols = sig ? sig->getArray("symbols") : nullptr;
    if (!symbols) return;
    for (const llvm::json::Value &sym : *symbols) {
      std::optional<llvm::StringRef> s = sym.getAsString();
      if (s && separableAlong(fn, *sig, *s)) {
        module->setAttr("dl.batch_split", StringAttr::get(module.getContext(), *s));
        return;
      }
    }
  }
};

} // namespace
} // namespace dlc
