//===- Recurrent.cpp - lstm and gru with PyTorch's parameters -------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {

/// LSTM (4 gates) and GRU (3 gates) share the shape rule and parameter layout of
/// torch.nn.LSTM/GRU(batch_first=True): weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
/// bias_hh_l{k}, all drawn from U(-1/sqrt(hidden), 1/sqrt(hidden)).
static LayerDef recurrent(const std::string &name, int64_t gates) {
  LayerDef d;
  d.name = name;
  d.withParams = true;
  d.attrs = {{"hidden", AttrType::Int, std::nullopt, {"hidden_size"}},
             {"layers", AttrType::Int, AttrValue::ofInt(1), {"num_layers"}},
             {"sequences", AttrType::Bool, AttrValue::ofBool(true)}};
  d.infer = [gates](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() != 3) return c.error("expects a batch-first sequence [B, T, D], got " + x.str());
    auto in = x.shape[2].constant();
    if (!in) return c.error("the feature dim sizes the weights and must be constant, got " + x.str());
    int64_t h = c.getInt("hidden"), layers = c.getInt("layers");
    if (h <= 0 || layers <= 0) return c.error("hidden and layers must be positive");
    ParamInit init = fanInUniform(h);
    for (int64_t l = 0; l < layers; ++l) {
      std::string k = std::to_string(l);
      int64_t width = l == 0 ? *in : h;
      c.params.push_back({"weight_ih_l" + k, TensorType{x.dtype, {SymExpr(gates * h), SymExpr(width)}}, init});
      c.params.push_back({"weight_hh_l" + k, TensorType{x.dtype, {SymExpr(gates * h), SymExpr(h)}}, init});
      c.params.push_back({"bias_ih_l" + k, TensorType{x.dtype, {SymExpr(gates * h)}}, init});
      c.params.push_back({"bias_hh_l" + k, TensorType{x.dtype, {SymExpr(gates * h)}}, init});
    }
    c.result = c.getBool("sequences") ? TensorType{x.dtype, {x.shape[0], x.shape[1], SymExpr(h)}}
                                      : TensorType{x.dtype, {x.shape[0], SymExpr(h)}};
    return true;
  };
  d.build = [gates](GenCall &c) -> mlir::Value {
    // Training too: the op's gradient is dl.recurrent_backward, or a target without that
    // kernel unrolls the recurrence first (dl-unroll-recurrent).
    std::vector<mlir::Value> weights(c.operands.begin() + 1, c.operands.end());
    return mlir::dl::RecurrentOp::create(c.b, c.loc, c.resultType, c.operands[0], weights, c.b.getBoolAttr(gates == 3),
                                         c.b.getI64IntegerAttr(c.attrs.at("hidden").i),
                                         c.b.getI64IntegerAttr(c.attrs.at("layers").i),
                                         c.b.getBoolAttr(c.attrs.at("sequences").b));
  };
  return d;
}

void registerRecurrentLayers(LayerRegistry &r) {
  r.add(recurrent("lstm", 4));
  r.add(recurrent("gru", 3));
}

} // namespace dlc
