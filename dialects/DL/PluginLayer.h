//===- PluginLayer.h - what the dialect asks of a plugin's layer -*- C++ -*-===//
//
// A layer that a plugin adds appears in the dl dialect as one generic op, `dl.plugin`,
// naming its layer. The op's interfaces (lowering, gradient) dispatch to the layer's
// definition, which the layer registry (compiler/Layers) holds and hands to the dialect
// through the lookup below: the dialect knows no registry and no plugin loader, and a
// plugin layer is a LayerDef like any built-in one.
//
// A layer runs one of two ways:
//  (a) `kernel`: a function of the plugin's run-time part (dlrt/plugin.h), called on
//      dense row-major buffers; `kernelBackward` says whether it has a backward kernel.
//  (b) `lowerToLinalg`: tensor-level MLIR (linalg, arith, math, tensor) built in place
//      of the op, which then takes part in fusion like any generated loop; `gradient`
//      builds the operands' gradients the same way.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_DIALECTS_DL_PLUGINLAYER_H
#define DLC_DIALECTS_DL_PLUGINLAYER_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#include <functional>
#include <string>

namespace mlir::dl {

/// The plugin a layer came from, as a compiled model records it.
struct PluginInfo {
  std::string name;        // the plugin's name (dlrt_plugin_info::name)
  unsigned major = 0, minor = 0;
  unsigned abi = 0;        // the run-time kernel ABI it was built for
  std::string runtimeFile; // its run-time part's file name, looked up at load time
  std::string path;        // where dlc loaded its compile-time part from
};

/// A dl.plugin op as its layer's code sees it: operands are the layer's inputs, then its
/// parameters, in the order of the shape rule's parameters.
struct PluginOpView {
  OpBuilder &b;
  Location loc;
  ValueRange operands;
  DictionaryAttr attrs; // every attribute of the call, defaults filled in

  int64_t getInt(StringRef name) const;
  double getFloat(StringRef name) const; // ints widen
  bool getBool(StringRef name) const;
  StringRef getString(StringRef name) const;
  SmallVector<int64_t> getInts(StringRef name) const;
};

/// Lowering (b): returns the op's results (the layer's result, then anything it saves
/// for its gradient), of `resultTypes`.
struct PluginLowering : PluginOpView {
  TypeRange resultTypes;
};

/// Gradient (b): returns one value per operand, the loss's gradient with respect to it
/// (null where `needed` is false or the operand has none, as integer ids).
struct PluginGradient : PluginOpView {
  ValueRange results; // the forward op's results
  Value grad;         // the gradient of its first result
  ArrayRef<bool> needed;
};

struct PluginLayer {
  const PluginInfo *plugin = nullptr;
  std::string kernel;          // (a): the run-time kernel's name
  bool kernelBackward = false; // (a): it has a backward kernel
  std::function<SmallVector<Value>(const PluginLowering &)> lowerToLinalg; // (b)
  std::function<SmallVector<Value>(const PluginGradient &)> gradient;      // (b), optional

  bool runsKernel() const { return !kernel.empty(); }
  bool hasGradient() const { return runsKernel() ? kernelBackward : bool(gradient); }
};

/// The layer of a plugin op, or null when no loaded plugin defines it (dlc-opt on a
/// module made with a plugin dlc-opt did not load).
const PluginLayer *lookupPluginLayer(StringRef layer);
/// Installed by the layer registry.
void setPluginLayerLookup(std::function<const PluginLayer *(StringRef)> lookup);

} // namespace mlir::dl
#endif
