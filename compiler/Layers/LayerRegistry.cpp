//===- LayerRegistry.cpp - the one table of layer definitions -------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "compiler/Basic/Diagnostics.h"

#include <cmath>
#include <sstream>

namespace dlc {

std::string AttrValue::str() const {
  switch (kind) {
  case None: return "none";
  case Int: return std::to_string(i);
  case Float: {
    std::ostringstream os;
    os << f;
    return os.str();
  }
  case Bool: return b ? "true" : "false";
  case String: return "\"" + s + "\"";
  case Dtype: return dtypeName(dtype);
  case Tuple: {
    std::string r = "(";
    for (size_t k = 0; k < elems.size(); ++k) r += (k ? ", " : "") + elems[k].str();
    return r + (elems.size() == 1 ? ",)" : ")");
  }
  }
  return "?";
}

std::string ParamInit::str() const {
  std::ostringstream os;
  switch (kind) {
  case Uniform: os << "uniform(" << a << ", " << b << ")"; break;
  case Normal: os << "normal(" << a << ", " << b << ")"; break;
  case Zeros: os << "zeros"; break;
  case Ones: os << "ones"; break;
  }
  return os.str();
}

std::vector<int64_t> attrInts(const AttrValue &v) {
  if (v.kind == AttrValue::Int) return {v.i};
  std::vector<int64_t> out;
  for (const AttrValue &e : v.elems) out.push_back(e.i);
  return out;
}

std::vector<int64_t> LayerCall::getInts(const std::string &n) const { return attrInts(attrs.at(n)); }

bool LayerCall::error(const std::string &msg) const {
  diags.error(loc, def.name + ": " + msg);
  return false;
}

std::optional<int64_t> LayerCall::axis(int64_t a, size_t rank, const char *what) const {
  int64_t r = static_cast<int64_t>(rank);
  if (a < -r || a >= r) {
    error(std::string(what) + " " + std::to_string(a) + " is out of range for a tensor of rank " +
          std::to_string(rank));
    return std::nullopt;
  }
  return a < 0 ? a + r : a;
}

LayerRegistry &LayerRegistry::instance() {
  static LayerRegistry *reg = [] {
    auto *r = new LayerRegistry();
    registerElementwiseLayers(*r);
    registerLinearLayers(*r);
    registerEmbeddingLayers(*r);
    registerConvolutionLayers(*r);
    registerPoolingLayers(*r);
    registerNormalizationLayers(*r);
    registerRecurrentLayers(*r);
    registerAttentionLayers(*r);
    registerShapeLayers(*r);
    registerReductionLayers(*r);
    registerLossLayers(*r);
    registerOptimizers(*r);
    // dl.plugin ops find their layer's definition here.
    mlir::dl::setPluginLayerLookup([r](llvm::StringRef name) -> const mlir::dl::PluginLayer * {
      const LayerDef *def = r->lookup(name.str());
      return def && def->plugin.plugin ? &def->plugin : nullptr;
    });
    return r;
  }();
  return *reg;
}

void LayerRegistry::add(LayerDef def) {
  std::string name = def.name;
  layers[name] = std::make_unique<LayerDef>(std::move(def));
}
bool LayerRegistry::addPluginLayer(LayerDef def, std::string &error) {
  if (const LayerDef *old = lookup(def.name)) {
    error = "layer '" + def.name + "' is already defined by " + (old->plugin.plugin ? old->origin : "dlc (a built-in layer)");
    return false;
  }
  if (lookupOptimizer(def.name)) {
    error = "'" + def.name + "' is the name of a built-in optimizer";
    return false;
  }
  add(std::move(def));
  return true;
}

mlir::Attribute toMLIR(const AttrValue &v, mlir::Builder &b) {
  switch (v.kind) {
  case AttrValue::None: return b.getUnitAttr();
  case AttrValue::Int: return b.getI64IntegerAttr(v.i);
  case AttrValue::Float: return b.getF64FloatAttr(v.f);
  case AttrValue::Bool: return b.getBoolAttr(v.b);
  case AttrValue::String: return b.getStringAttr(v.s);
  case AttrValue::Dtype: return b.getStringAttr(dtypeName(v.dtype));
  case AttrValue::Tuple: return b.getDenseI64ArrayAttr(attrInts(v));
  }
  return b.getUnitAttr();
}

void LayerRegistry::addOptimizer(OptimizerDef def) {
  std::string name = def.name;
  optimizers[name] = std::move(def);
}
const LayerDef *LayerRegistry::lookup(const std::string &name) const {
  auto it = layers.find(name);
  return it == layers.end() ? nullptr : it->second.get();
}
const OptimizerDef *LayerRegistry::lookupOptimizer(const std::string &name) const {
  auto it = optimizers.find(name);
  return it == optimizers.end() ? nullptr : &it->second;
}
std::vector<std::string> LayerRegistry::names() const {
  std::vector<std::string> out;
  for (auto &kv : layers) out.push_back(kv.first);
  return out;
}
std::vector<std::string> LayerRegistry::optimizerNames() const {
  std::vector<std::string> out;
  for (auto &kv : optimizers) out.push_back(kv.first);
  return out;
}

mlir::RankedTensorType toMLIR(const TensorType &t, mlir::MLIRContext *ctx) {
  llvm::SmallVector<int64_t> dims;
  for (const SymExpr &d : t.shape)
    dims.push_back(d.constant() ? *d.constant() : mlir::ShapedType::kDynamic);
  return mlir::RankedTensorType::get(dims, toMLIR(t.dtype, ctx));
}

std::optional<std::vector<SymExpr>> broadcast(const std::vector<SymExpr> &a,
                                              const std::vector<SymExpr> &b) {
  size_t rank = std::max(a.size(), b.size());
  std::vector<SymExpr> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    SymExpr da = i < rank - a.size() ? SymExpr(int64_t(1)) : a[i - (rank - a.size())];
    SymExpr db = i < rank - b.size() ? SymExpr(int64_t(1)) : b[i - (rank - b.size())];
    if (da.constant() == 1) out[i] = db;
    else if (db.constant() == 1 || da == db) out[i] = da;
    else return std::nullopt;
  }
  return out;
}

ParamInit fanInUniform(int64_t fanIn) {
  double bound = fanIn > 0 ? 1.0 / std::sqrt(double(fanIn)) : 0.0;
  return ParamInit{ParamInit::Uniform, -bound, bound};
}

} // namespace dlc
