//===- Reduction.cpp - sum, mean, max over axes ---------------------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

#include <algorithm>

namespace dlc {

template <typename OpT>
static LayerDef reduction(const std::string &name, bool floatOnly) {
  LayerDef d;
  d.name = name;
  d.attrs = {{"axis", AttrType::OptAxes, AttrValue::none(), {"dim"}},
             {"keepdims", AttrType::Bool, AttrValue::ofBool(false), {"keepdim"}}};
  d.infer = [floatOnly](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (floatOnly && !isFloat(x.dtype))
      return c.error("expects a floating-point tensor, got " + x.str());
    if (x.dtype == DType::Bool) return c.error("cannot reduce a bool tensor");
    std::vector<int64_t> axes;
    if (!c.has("axis")) {
      for (size_t i = 0; i < x.rank(); ++i) axes.push_back(int64_t(i));
    } else {
      for (int64_t a : c.getInts("axis")) {
        auto n = c.axis(a, x.rank());
        if (!n) return false;
        if (std::find(axes.begin(), axes.end(), *n) != axes.end())
          return c.error("axis " + std::to_string(*n) + " appears twice");
        axes.push_back(*n);
      }
    }
    std::sort(axes.begin(), axes.end());
    c.axes = axes;
    bool keep = c.getBool("keepdims");
    c.result = TensorType{x.dtype, {}};
    for (size_t i = 0; i < x.rank(); ++i) {
      bool reduced = std::find(axes.begin(), axes.end(), int64_t(i)) != axes.end();
      if (!reduced) c.result.shape.push_back(x.shape[i]);
      else if (keep) c.result.shape.push_back(SymExpr(int64_t(1)));
    }
    return true;
  };
  d.build = [](GenCall &c) -> mlir::Value {
    return OpT::create(c.b, c.loc, c.resultType, c.operands[0],
                       c.b.getDenseI64ArrayAttr(c.normalisedAxes),
                       c.b.getBoolAttr(c.attrs.at("keepdims").b));
  };
  return d;
}

void registerReductionLayers(LayerRegistry &r) {
  r.add(reduction<mlir::dl::SumOp>("sum", false));
  r.add(reduction<mlir::dl::MeanOp>("mean", true));
  r.add(reduction<mlir::dl::MaxOp>("max", false));
}

} // namespace dlc
