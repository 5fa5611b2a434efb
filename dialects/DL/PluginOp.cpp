//===- PluginOp.cpp - dl.plugin: a plugin's layer in the dialect ----------===//
//
// The op dispatches to the layer's definition (PluginLayer.h) for its gradient; its
// lowerings do the same (compiler/Conversion/DLToCPU/PluginToCPU.cpp).
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/PluginLayer.h"

using namespace mlir;
using namespace mlir::dl;

static std::function<const PluginLayer *(StringRef)> &pluginLookup() {
  static std::function<const PluginLayer *(StringRef)> lookup;
  return lookup;
}

void mlir::dl::setPluginLayerLookup(std::function<const PluginLayer *(StringRef)> lookup) {
  pluginLookup() = std::move(lookup);
}

const PluginLayer *mlir::dl::lookupPluginLayer(StringRef layer) {
  return pluginLookup() ? pluginLookup()(layer) : nullptr;
}

//===----------------------------------------------------------------------===//
// Attribute access for the layer's code. The front end checked every attribute against
// the layer's declaration, so a missing or mistyped one is the plugin's own bug: asking
// for an attribute it did not declare.
//===----------------------------------------------------------------------===//

static Attribute attrOf(DictionaryAttr attrs, StringRef name) {
  Attribute a = attrs.get(name);
  if (!a) llvm::report_fatal_error(llvm::Twine("plugin layer asked for attribute '") + name + "', which it does not declare");
  return a;
}

int64_t PluginOpView::getInt(StringRef name) const {
  if (auto i = dyn_cast<IntegerAttr>(attrOf(attrs, name))) return i.getInt();
  llvm::report_fatal_error(llvm::Twine("plugin attribute '") + name + "' is not an int");
}

double PluginOpView::getFloat(StringRef name) const {
  Attribute a = attrOf(attrs, name);
  if (auto f = dyn_cast<FloatAttr>(a)) return f.getValueAsDouble();
  if (auto i = dyn_cast<IntegerAttr>(a)) return double(i.getInt());
  llvm::report_fatal_error(llvm::Twine("plugin attribute '") + name + "' is not a number");
}

bool PluginOpView::getBool(StringRef name) const {
  if (auto b = dyn_cast<BoolAttr>(attrOf(attrs, name))) return b.getValue();
  llvm::report_fatal_error(llvm::Twine("plugin attribute '") + name + "' is not a bool");
}

StringRef PluginOpView::getString(StringRef name) const {
  if (auto s = dyn_cast<StringAttr>(attrOf(attrs, name))) return s.getValue();
  llvm::report_fatal_error(llvm::Twine("plugin attribute '") + name + "' is not a string");
}

SmallVector<int64_t> PluginOpView::getInts(StringRef name) const {
  Attribute a = attrOf(attrs, name);
  if (auto arr = dyn_cast<DenseI64ArrayAttr>(a)) return SmallVector<int64_t>(arr.asArrayRef());
  if (auto i = dyn_cast<IntegerAttr>(a)) return {i.getInt()};
  llvm::report_fatal_error(llvm::Twine("plugin attribute '") + name + "' is not an int tuple");
}

//===----------------------------------------------------------------------===//

LogicalResult PluginOp::verify() {
  if (getNumResults() == 0) return emitOpError("has no result");
  // Each dynamic result dim names an operand dim.
  ArrayRef<int64_t> dims = getDynamicDims();
  size_t dynamic = 0;
  for (Type t : getResultTypes())
    for (int64_t size : cast<RankedTensorType>(t).getShape()) dynamic += ShapedType::isDynamic(size);
  if (dims.size() != 2 * dynamic)
    return emitOpError("dynamic_dims must give (operand, dim) for each of the results' ") << dynamic << " dynamic dims";
  for (size_t k = 0; k < dims.size(); k += 2) {
    if (dims[k] < 0 || dims[k] >= int64_t(getNumOperands()) ||
        dims[k + 1] < 0 || dims[k + 1] >= cast<RankedTensorType>(getOperand(dims[k]).getType()).getRank())
      return emitOpError("dynamic_dims names no operand dim: (") << dims[k] << ", " << dims[k + 1] << ")";
  }
  if (getBackward()) {
    // operands: the forward's operands, its results, the first result's gradient.
    unsigned n = getNumResults();
    if (getNumOperands() < n + 2)
      return emitOpError("backward: expected the forward's ") << n << " operands, its results and a gradient, got "
                                                              << getNumOperands() << " operands";
    for (unsigned k = 0; k < n; ++k)
      if (getOperand(k).getType() != getResult(k).getType())
        return emitOpError("backward: gradient ") << k << " must have its operand's type " << getOperand(k).getType();
  }
  return success();
}

LogicalResult PluginOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &operandGrads) {
  const PluginLayer *layer = lookupPluginLayer(getLayer());
  std::string what = describe();
  if (!layer) return emitError(what + " is on the training path, but that plugin is not loaded");
  if (getBackward()) return emitError("the backward kernel of " + what + " has no gradient of its own");
  if (!layer->hasGradient()) return emitError(what + " is on the training path but has no gradient");
  // Only the layer's result reaches the loss: what it saves is read by its gradient alone.
  for (unsigned k = 1; k < resultGrads.size(); ++k)
    if (resultGrads[k]) return emitError(what + ": a saved result is used on the training path");
  Value grad = resultGrads[0];
  if (!grad) {
    operandGrads.append(getNumOperands(), Value());
    return success();
  }
  if (!layer->runsKernel()) {
    PluginGradient g{{b, getLoc(), getInputs(), getLayerAttrs()}, getResults(), grad, needed};
    SmallVector<Value> grads = layer->gradient(g);
    if (grads.size() != getNumOperands())
      return emitError(what + ": its gradient returned ") << grads.size() << " values for " << getNumOperands()
                                                          << " operands";
    for (auto [o, gv, want] : llvm::zip(getInputs(), grads, needed)) {
      if (want && gv && gv.getType() != o.getType())
        return emitError(what + ": its gradient has type ") << gv.getType() << " for an operand of " << o.getType();
      operandGrads.push_back(want ? gv : Value());
    }
    return success();
  }
  SmallVector<Value> operands(getInputs());
  operands.append(getResults().begin(), getResults().end());
  operands.push_back(grad);
  SmallVector<int64_t> dims;
  for (auto [k, o] : llvm::enumerate(getInputs()))
    for (auto [d, size] : llvm::enumerate(cast<RankedTensorType>(o.getType()).getShape()))
      if (ShapedType::isDynamic(size)) dims.append({int64_t(k), int64_t(d)});
  auto bwd = PluginOp::create(b, getLoc(), getInputs().getTypes(), operands, getPluginAttr(), getLayerAttr(),
                              getLayerAttrs(), b.getDenseI64ArrayAttr(dims), b.getUnitAttr());
  for (auto [r, want] : llvm::zip(bwd.getResults(), needed))
    operandGrads.push_back(want && isa<FloatType>(cast<RankedTensorType>(r.getType()).getElementType()) ? Value(r)
                                                                                                         : Value());
  return success();
}
