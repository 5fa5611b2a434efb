//===- Attention.cpp - multi-head self-attention (shape rule) -------------===//
#include "compiler/Layers/LayerRegistry.h"

#include <cmath>

namespace dlc {

void registerAttentionLayers(LayerRegistry &r) {
  LayerDef d;
  d.name = "attention";
  d.withParams = true;
  d.hasGradient = true;
  d.trainOnlyBehaviour = true;
  d.attrs = {{"heads", AttrType::Int, std::nullopt, {"num_heads"}},
             {"causal", AttrType::Bool, AttrValue::ofBool(false)},
             {"dropout", AttrType::Float, AttrValue::ofFloat(0.0)}};
  d.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() != 3) return c.error("expects a batch-first sequence [B, T, D], got " + x.str());
    auto e = x.shape[2].constant();
    if (!e) return c.error("the embedding dim sizes the weights and must be constant, got " + x.str());
    int64_t heads = c.getInt("heads");
    if (heads <= 0 || *e % heads)
      return c.error("the embedding dim " + std::to_string(*e) + " must be divisible by heads (" +
                     std::to_string(heads) + ")");
    double p = c.getFloat("dropout");
    if (p < 0 || p >= 1) return c.error("dropout must be in [0, 1)");
    c.result = x;
    // nn.MultiheadAttention._reset_parameters: xavier_uniform_ on the packed in-projection
    // (fan_in E, fan_out 3E), zero biases; out_proj keeps Linear's weight init.
    double bound = std::sqrt(6.0 / double(*e + 3 * *e));
    SymExpr E(*e), E3(3 * *e);
    c.params = {{"in_proj_weight", TensorType{x.dtype, {E3, E}}, {ParamInit::Uniform, -bound, bound}},
                {"in_proj_bias", TensorType{x.dtype, {E3}}, {ParamInit::Zeros}},
                {"out_proj.weight", TensorType{x.dtype, {E, E}}, fanInUniform(*e)},
                {"out_proj.bias", TensorType{x.dtype, {E}}, {ParamInit::Zeros}}};
    return true;
  };
  r.add(d);
}

} // namespace dlc
