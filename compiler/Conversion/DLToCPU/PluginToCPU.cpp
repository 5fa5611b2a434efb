//===- PluginToCPU.cpp - dl.plugin -> its kernel call or its own linalg ---===//
//
// A plugin layer that runs a kernel becomes a call of the runtime's plugin trampoline
// dlrt_k_plugin_<outputs>, which finds the plugin's kernel by call site (the signature's
// plugin_calls table, written here) and hands it dense row-major views. A layer with a
// lowering gets the plugin's linalg in its place, which then fuses and bufferizes like
// the built-in ops' loops.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/PluginLayer.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <map>

using namespace mlir;

namespace dlc {

namespace {

/// The most results a plugin kernel call may have (the runtime has a trampoline for
/// each count up to it).
constexpr unsigned kMaxPluginOutputs = 16;

StringRef dtypeName(Type t) {
  if (t.isF32()) return "f32";
  if (t.isBF16()) return "bf16";
  if (t.isF16()) return "f16";
  if (t.isInteger(64)) return "i64";
  if (t.isInteger(32)) return "i32";
  if (t.isInteger(1)) return "bool";
  return "";
}


/// The call's attributes as [name, kind, value] triples: the kind says how the kernel
/// sees the value (JSON alone would not tell 1.0 from 1).
ArrayAttr attrTriples(Builder &b, DictionaryAttr attrs) {
  SmallVector<Attribute> out;
  for (NamedAttribute a : attrs) {
    Attribute v = a.getValue();
    StringRef kind = "none";
    if (isa<BoolAttr>(v)) kind = "bool";
    else if (isa<IntegerAttr>(v)) kind = "int";
    else if (isa<FloatAttr>(v)) kind = "float";
    else if (isa<StringAttr>(v)) kind = "string";
    else if (isa<DenseI64ArrayAttr>(v)) kind = "ints";
    else v = b.getUnitAttr();
    out.push_back(b.getArrayAttr({a.getName(), b.getStringAttr(kind), v}));
  }
  return b.getArrayAttr(out);
}

struct PluginToKernel : public OpRewritePattern<dl::PluginOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::PluginOp op, PatternRewriter &rw) const override {
    if (!pluginRunsKernel(op)) return failure();
    if (op.getNumResults() > kMaxPluginOutputs)
      return op.emitError(op.describe() + ": a kernel call has at most ") << kMaxPluginOutputs << " outputs";
    Location loc = op.getLoc();
    // Every dim of every input, then of every output, as the kernel's views take them.
    SmallVector<Value> dims;
    for (Value in : op.getInputs())
      for (int64_t d = 0, r = cast<RankedTensorType>(in.getType()).getRank(); d < r; ++d)
        dims.push_back(dimOf(rw, loc, in, d));
    ArrayRef<int64_t> sources = op.getDynamicDims();
    size_t next = 0;
    SmallVector<SmallVector<Value>> dynSizes;
    for (Type t : op.getResultTypes()) {
      auto rt = cast<RankedTensorType>(t);
      dynSizes.emplace_back();
      for (int64_t d = 0; d < rt.getRank(); ++d) {
        if (!rt.isDynamicDim(d)) {
          dims.push_back(arith::ConstantIndexOp::create(rw, loc, rt.getDimSize(d)));
          continue;
        }
        Value size = dimOf(rw, loc, op.getOperand(sources[next]), sources[next + 1]);
        next += 2;
        dims.push_back(size);
        dynSizes.back().push_back(size);
      }
    }
    KernelCall call(rw, loc, op, ("dlrt_k_plugin_" + llvm::Twine(op.getNumResults())).str());
    call.addresses(op.getInputs()).in(i64Array(rw, loc, dims));
    for (auto [t, sizes] : llvm::zip(op.getResultTypes(), dynSizes)) call.out(cast<RankedTensorType>(t), sizes);
    rw.replaceOp(op, call.emit());
    return success();
  }
};

struct PluginToLinalg : public OpRewritePattern<dl::PluginOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::PluginOp op, PatternRewriter &rw) const override {
    if (op.getBackward()) return failure();
    const dl::PluginLayer *layer = dl::lookupPluginLayer(op.getLayer());
    if (!layer) return op.emitError(op.describe() + ": that plugin is not loaded (dlc --plugin PATH)");
    if (layer->runsKernel()) return failure();
    dl::PluginLowering lowering{{rw, op.getLoc(), op.getInputs(), op.getLayerAttrs()}, op.getResultTypes()};
    SmallVector<Value> results = layer->lowerToLinalg(lowering);
    if (results.size() != op.getNumResults())
      return op.emitError(op.describe() + ": its lowering returned ") << results.size() << " values for "
                                                                      << op.getNumResults() << " results";
    for (auto [r, t] : llvm::zip(results, op.getResultTypes()))
      if (!r || r.getType() != t)
        return op.emitError(op.describe() + ": its lowering returned ") << (r ? r.getType() : Type()) << " for a "
                                                                        << t << " result";
    rw.replaceOp(op, results);
    return success();
  }
};

} // namespace

bool pluginRunsKernel(Operation *pluginOp) {
  auto op = cast<dl::PluginOp>(pluginOp);
  if (op.getBackward()) return true;
  const dl::PluginLayer *layer = dl::lookupPluginLayer(op.getLayer());
  return layer && layer->runsKernel();
}

void populatePluginLowering(RewritePatternSet &patterns) {
  patterns.add<PluginToKernel, PluginToLinalg>(patterns.getContext());
}

LogicalResult recordPluginCalls(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  Builder b(ctx);
  SmallVector<Attribute> calls;
  std::map<std::string, Attribute> plugins;
  WalkResult walk = module.walk([&](dl::PluginOp op) {
    if (!pluginRunsKernel(op)) return WalkResult::advance();
    const dl::PluginLayer *layer = dl::lookupPluginLayer(op.getLayer());
    if (!layer || !layer->plugin) {
      op.emitError(op.describe() + ": that plugin is not loaded (dlc --plugin PATH)");
      return WalkResult::interrupt();
    }
    const dl::PluginInfo &p = *layer->plugin;
    plugins[p.name] = b.getDictionaryAttr({b.getNamedAttr("name", b.getStringAttr(p.name)),
                                           b.getNamedAttr("major", b.getI64IntegerAttr(p.major)),
                                           b.getNamedAttr("minor", b.getI64IntegerAttr(p.minor)),
                                           b.getNamedAttr("abi", b.getI64IntegerAttr(p.abi)),
                                           b.getNamedAttr("file", b.getStringAttr(p.runtimeFile))});
    auto views = [&](TypeRange types) {
      SmallVector<Attribute> out;
      for (Type t : types) {
        auto rt = cast<RankedTensorType>(t);
        out.push_back(b.getArrayAttr({b.getStringAttr(dtypeName(rt.getElementType())),
                                      b.getI64IntegerAttr(rt.getRank())}));
      }
      return b.getArrayAttr(out);
    };
    auto site = op->getAttrOfType<IntegerAttr>("dl.site");
    calls.push_back(b.getDictionaryAttr({b.getNamedAttr("site", site ? site : b.getI64IntegerAttr(-1)),
                                         b.getNamedAttr("plugin", op.getPluginAttr()),
                                         b.getNamedAttr("kernel", b.getStringAttr(layer->kernel)),
                                         b.getNamedAttr("backward", b.getBoolAttr(op.getBackward())),
                                         b.getNamedAttr("attrs", attrTriples(b, op.getLayerAttrs())),
                                         b.getNamedAttr("inputs", views(op.getInputs().getTypes())),
                                         b.getNamedAttr("outputs", views(op.getResultTypes()))}));
    return WalkResult::advance();
  });
  if (walk.wasInterrupted()) return failure();
  if (calls.empty()) return success();
  SmallVector<Attribute> list;
  for (auto &kv : plugins) list.push_back(kv.second);
  module->setAttr("dl.plugins", b.getArrayAttr(list));
  module->setAttr("dl.plugin_calls", b.getArrayAttr(calls));
  return success();
}

} // namespace dlc
