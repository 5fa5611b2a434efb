//===- Attention.cpp - multi-head self-attention --------------------------===//
//
// Lowered as nn.MultiheadAttention(batch_first=True) computes it: the packed input
// projection, heads split out of the last dim, q scaled by 1/sqrt(head_dim), q k^T, the
// causal -inf mask, softmax, times v, heads merged, the output projection. The pieces are
// dl ops, so fusion and the GPU path see them like any others.
//
//===----------------------------------------------------------------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <cmath>

namespace dlc {

static mlir::Value emitAttention(GenCall &c) {
  using namespace mlir::dl;
  mlir::OpBuilder &b = c.b;
  mlir::Location loc = c.loc;
  mlir::MLIRContext *ctx = b.getContext();
  const TensorType &xt = c.inputTypes[0];
  SymExpr B = xt.shape[0], T = xt.shape[1];
  int64_t e = *xt.shape[2].constant(), heads = c.attrs.at("heads").i, hd = e / heads;
  DType dt = xt.dtype;
  auto ty = [&](std::vector<SymExpr> shape) { return TensorType{dt, std::move(shape)}; };
  auto mty = [&](const TensorType &t) { return toMLIR(t, ctx); };

  TensorType packed = ty({B, T, SymExpr(3 * e)}), seq = ty({B, T, SymExpr(e)});
  TensorType split = ty({B, T, SymExpr(heads), SymExpr(hd)}), headsFirst = ty({B, SymExpr(heads), T, SymExpr(hd)});
  TensorType keysT = ty({B, SymExpr(heads), SymExpr(hd), T}), scores = ty({B, SymExpr(heads), T, T});

  mlir::Value qkv = DenseOp::create(b, loc, mty(packed), c.operands[0], c.operands[1], c.operands[2]);
  auto perm = [&](std::initializer_list<int64_t> p) { return b.getDenseI64ArrayAttr(p); };
  auto headsOf = [&](int64_t part) {
    mlir::Value s = SliceOp::create(b, loc, mty(seq), qkv, b.getI64IntegerAttr(2), b.getI64IntegerAttr(part * e),
                                    b.getI64IntegerAttr((part + 1) * e));
    mlir::Value r = emitReshape(b, loc, s, seq.shape, split);
    return TransposeOp::create(b, loc, mty(headsFirst), r, perm({0, 2, 1, 3})).getResult();
  };
  mlir::Value q = headsOf(0), k = headsOf(1), v = headsOf(2);
  auto scalarType = mlir::RankedTensorType::get({}, toMLIR(dt, ctx));
  mlir::Value root = mlir::arith::ConstantOp::create(
      b, loc, mlir::DenseElementsAttr::get(scalarType, b.getFloatAttr(toMLIR(dt, ctx), std::sqrt(double(hd)))));
  q = DivOp::create(b, loc, mty(headsFirst), q, root);
  mlir::Value kt = TransposeOp::create(b, loc, mty(keysT), k, perm({0, 1, 3, 2}));
  mlir::Value att = MatmulOp::create(b, loc, mty(scores), q, kt);
  if (c.attrs.at("causal").b) att = CausalMaskOp::create(b, loc, mty(scores), att);
  att = SoftmaxOp::create(b, loc, mty(scores), att, b.getI64IntegerAttr(3));
  double p = c.attrs.at("dropout").f; // on the attention weights, in training only
  if (c.training && p > 0)
    att = DropoutOp::create(b, loc, mty(scores), att, c.seed, c.step, b.getF64FloatAttr(p),
                            b.getI64IntegerAttr((*c.nextStream)++));
  mlir::Value o = MatmulOp::create(b, loc, mty(headsFirst), att, v);
  o = TransposeOp::create(b, loc, mty(split), o, perm({0, 2, 1, 3}));
  o = emitReshape(b, loc, o, split.shape, seq);
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
