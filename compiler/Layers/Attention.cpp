//===- Attention.cpp - multi-head self-attention --------------------------===//
//
// As nn.MultiheadAttention(batch_first=True) computes it: the packed input projection
// (a dense), dl.self_attention (every head's softmax(q k^T / sqrt(head_dim)) v, causal
// or not), the output projection (a dense). A target runs self_attention as one kernel or
// expands it (dialects/DL/SelfAttention.h); with dropout on the attention weights in
// training the layer emits that expansion itself, the dropout inside it.
//
//===----------------------------------------------------------------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/SelfAttention.h"

#include <cmath>

namespace dlc {

static mlir::Value emitAttention(GenCall &c) {
  using namespace mlir::dl;
  mlir::OpBuilder &b = c.b;
  mlir::Location loc = c.loc;
  mlir::MLIRContext *ctx = b.getContext();
  const TensorType &xt = c.inputTypes[0];
  int64_t e = *xt.shape[2].constant(), heads = c.attrs.at("heads").i;
  bool causal = c.attrs.at("causal").b;
  TensorType packed{xt.dtype, {xt.shape[0], xt.shape[1], SymExpr(3 * e)}};
  mlir::Value qkv = DenseOp::create(b, loc, toMLIR(packed, ctx), c.operands[0], c.operands[1], c.operands[2]);
  mlir::Value o;
  double p = c.attrs.at("dropout").f; // on the attention weights, in training only
  if (c.training && p > 0) {
    // Dropout between softmax and the product with v: the pieces as ops of their own.
    o = expandSelfAttention(b, loc, qkv, heads, causal, [&](mlir::Value weights) -> mlir::Value {
      return DropoutOp::create(b, loc, weights.getType(), weights, c.seed, c.step, b.getF64FloatAttr(p),
                               b.getI64IntegerAttr((*c.nextStream)++));
    });
  } else {
    o = SelfAttentionOp::create(b, loc, c.resultType, qkv, b.getI64IntegerAttr(heads), b.getBoolAttr(causal));
  }
  return DenseOp::create(b, loc, c.resultType, o, c.operands[3], c.operands[4]);
}

void registerAttentionLayers(LayerRegistry &r) {
  LayerDef d;
  d.name = "attention";
  d.withParams = true;
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
  d.build = emitAttention;
  r.add(d);
}

} // namespace dlc
