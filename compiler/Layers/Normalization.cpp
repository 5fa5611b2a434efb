//===- Normalization.cpp - batch_norm and layer_norm -----------------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {

void registerNormalizationLayers(LayerRegistry &r) {
  LayerDef bn;
  bn.name = "batch_norm";
  bn.withParams = true;
  bn.trainOnlyBehaviour = true;
  bn.attrs = {{"momentum", AttrType::Float, AttrValue::ofFloat(0.1)},
              {"eps", AttrType::Float, AttrValue::ofFloat(1e-5)}};
  bn.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() < 2 || x.rank() > 5)
      return c.error("expects [N, C], [N, C, L] or [N, C, H, W], got " + x.str());
    auto ch = x.shape[1].constant();
    if (!ch) return c.error("the channel dim (1) sizes the parameters and must be constant, got " + x.str());
    if (c.getFloat("eps") <= 0) return c.error("eps must be positive");
    c.result = x;
    TensorType vec{x.dtype, {SymExpr(*ch)}};
    c.params = {{"weight", vec, {ParamInit::Ones}},
                {"bias", vec, {ParamInit::Zeros}},
                {"running_mean", vec, {ParamInit::Zeros}, true},
                {"running_var", vec, {ParamInit::Ones}, true},
                {"num_batches_tracked", TensorType{DType::I64, {}}, {ParamInit::Zeros}, true}};
    return true;
  };
  // Inference normalises with the running statistics (operands: x, weight, bias,
  // running_mean, running_var, num_batches_tracked).
  bn.build = [](GenCall &c) -> mlir::Value {
    return mlir::dl::BatchNormOp::create(c.b, c.loc, c.resultType, c.operands[0], c.operands[1], c.operands[2],
                                         c.operands[3], c.operands[4], c.b.getF64FloatAttr(c.attrs.at("eps").f));
  };
  r.add(bn);

  LayerDef ln;
  ln.name = "layer_norm";
  ln.withParams = true;
  ln.attrs = {{"eps", AttrType::Float, AttrValue::ofFloat(1e-5)}};
  ln.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() == 0) return c.error("expects a tensor of rank >= 1");
    auto d = x.shape.back().constant();
    if (!d) return c.error("the last dim sizes the parameters and must be constant, got " + x.str());
    if (c.getFloat("eps") <= 0) return c.error("eps must be positive");
    c.result = x;
    TensorType vec{x.dtype, {SymExpr(*d)}};
    c.params = {{"weight", vec, {ParamInit::Ones}}, {"bias", vec, {ParamInit::Zeros}}};
    return true;
  };
  ln.build = [](GenCall &c) -> mlir::Value {
    return mlir::dl::LayerNormOp::create(c.b, c.loc, c.resultType, c.operands[0], c.operands[1], c.operands[2],
                                         c.b.getF64FloatAttr(c.attrs.at("eps").f));
  };
  r.add(ln);
}

} // namespace dlc
