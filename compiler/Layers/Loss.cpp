//===- Loss.cpp - cross_entropy, nll, mse, bce_with_logits (shape rules) --===//
#include "compiler/Layers/LayerRegistry.h"

namespace dlc {

/// Classes in the last dim: logits [..., C], labels [...] of integer class indices.
static LayerDef classification(const std::string &name) {
  LayerDef d;
  d.name = name;
  d.numInputs = 2;
  d.isLoss = true;
  d.hasGradient = true;
  d.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0], &y = c.inputs[1];
    if (!isFloat(x.dtype)) return c.error("expects floating-point scores, got " + x.str());
    if (x.rank() < 2) return c.error("expects scores [B, C] or [B, T, C], got " + x.str());
    if (!isInteger(y.dtype)) return c.error("labels must be i64 or i32 class indices, got " + y.str());
    std::vector<SymExpr> expect(x.shape.begin(), x.shape.end() - 1);
    if (y.shape != expect)
      return c.error("labels " + y.str() + " do not match scores " + x.str() + ": expected labels " +
                     TensorType{y.dtype, expect}.str());
    c.result = TensorType{x.dtype, {}};
    return true;
  };
  return d;
}

static LayerDef regression(const std::string &name) {
  LayerDef d;
  d.name = name;
  d.numInputs = 2;
  d.isLoss = true;
  d.hasGradient = true;
  d.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0], &y = c.inputs[1];
    if (!isFloat(x.dtype) || !isFloat(y.dtype))
      return c.error("expects floating-point tensors, got " + x.str() + " and " + y.str());
    if (x.shape != y.shape)
      return c.error("prediction " + x.str() + " and target " + y.str() + " must have the same shape");
    c.result = TensorType{x.dtype, {}};
    return true;
  };
  return d;
}

void registerLossLayers(LayerRegistry &r) {
  r.add(classification("cross_entropy"));
  r.add(classification("nll"));
  r.add(regression("mse"));
  r.add(regression("bce_with_logits"));
}

void registerOptimizers(LayerRegistry &r) {
  r.addOptimizer({"sgd",
                  {{"lr", AttrType::Float, std::nullopt},
                   {"momentum", AttrType::Float, AttrValue::ofFloat(0)},
                   {"nesterov", AttrType::Bool, AttrValue::ofBool(false)},
                   {"weight_decay", AttrType::Float, AttrValue::ofFloat(0)}}});
  auto adamLike = [](const std::string &name, double wd) {
    return OptimizerDef{name,
                        {{"lr", AttrType::Float, AttrValue::ofFloat(1e-3)},
                         {"beta1", AttrType::Float, AttrValue::ofFloat(0.9)},
                         {"beta2", AttrType::Float, AttrValue::ofFloat(0.999)},
                         {"eps", AttrType::Float, AttrValue::ofFloat(1e-8)},
                         {"weight_decay", AttrType::Float, AttrValue::ofFloat(wd)}}};
  };
  r.addOptimizer(adamLike("adam", 0));
  r.addOptimizer(adamLike("adamw", 0.01));
}

} // namespace dlc
