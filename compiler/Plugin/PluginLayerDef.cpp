//===- PluginLayerDef.cpp - a plugin's layer as a dl.plugin op ------------===//
#include "compiler/Plugin/PluginLayerDef.h"
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {

/// For each dynamic dim of `t`: the (input, dim) of an input dim of the same symbolic
/// size; nullopt where none has it.
static std::optional<std::vector<int64_t>> dynamicDimSources(const TensorType &t,
                                                             const std::vector<TensorType> &inputs,
                                                             std::string *missing) {
  std::vector<int64_t> out;
  for (const SymExpr &d : t.shape) {
    if (d.constant()) continue;
    bool found = false;
    for (size_t k = 0; k < inputs.size() && !found; ++k)
      for (size_t j = 0; j < inputs[k].shape.size() && !found; ++j)
        if (inputs[k].shape[j] == d) {
          out.push_back(int64_t(k));
          out.push_back(int64_t(j));
          found = true;
        }
    if (!found) {
      if (missing) *missing = d.str();
      return std::nullopt;
    }
  }
  return out;
}

void makePluginLayerDef(LayerDef &def) {
  std::string name = def.name;
  def.infer = [name, infer = std::move(def.infer)](LayerCall &call) {
    if (!infer(call)) return false;
    std::vector<TensorType> results = {call.result};
    results.insert(results.end(), call.saved.begin(), call.saved.end());
    for (const TensorType &t : results) {
      std::string missing;
      if (!dynamicDimSources(t, call.inputs, &missing))
        return call.error(name + ": the shape rule returns a dim '" + missing +
                          "' that is none of the inputs' dims; a plugin layer's dynamic dims must be its inputs'");
    }
    return true;
  };
  def.build = [name, plugin = def.plugin.plugin](GenCall &c) -> mlir::Value {
    mlir::MLIRContext *ctx = c.b.getContext();
    llvm::SmallVector<mlir::Type> types = {c.resultType};
    std::vector<TensorType> results = {c.resultSym};
    if (c.saved)
      for (const TensorType &t : *c.saved) {
        types.push_back(toMLIR(t, ctx));
        results.push_back(t);
      }
    llvm::SmallVector<int64_t> dims;
    for (const TensorType &t : results) {
      auto sources = dynamicDimSources(t, c.inputTypes, nullptr);
      dims.append(sources->begin(), sources->end()); // the shape rule's wrapper checked them
    }
    llvm::SmallVector<mlir::NamedAttribute> attrs;
    for (const auto &[k, v] : c.attrs) attrs.push_back(c.b.getNamedAttr(k, toMLIR(v, c.b)));
    auto op = mlir::dl::PluginOp::create(c.b, c.loc, types, c.operands, c.b.getStringAttr(plugin->name),
                                         c.b.getStringAttr(name), c.b.getDictionaryAttr(attrs),
                                         c.b.getDenseI64ArrayAttr(dims), mlir::UnitAttr());
    return op.getResult(0);
  };
}

} // namespace dlc
