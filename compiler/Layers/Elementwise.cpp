//===- Elementwise.cpp - activations, arithmetic, softmax, dropout --------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {
namespace {

bool sameAsInput(LayerCall &c) {
  c.result = c.inputs[0];
  return true;
}

bool floatSameAsInput(LayerCall &c) {
  if (!isFloat(c.inputs[0].dtype))
    return c.error(std::string("expects a floating-point tensor, got ") + c.inputs[0].str());
  return sameAsInput(c);
}

template <typename OpT>
LayerDef unary(const std::string &name, bool floatOnly = true) {
  LayerDef d;
  d.name = name;
  d.infer = floatOnly ? floatSameAsInput : sameAsInput;
  d.build = [](GenCall &c) -> mlir::Value {
    return OpT::create(c.b, c.loc, c.resultType, c.operands[0]);
  };
  return d;
}

/// Broadcasting binary ops; type promotion casts are inserted by Sema before the call, so
/// both operands arrive with the result's dtype.
template <typename OpT>
LayerDef binary(const std::string &name, bool trueDivision = false) {
  LayerDef d;
  d.name = name;
  d.numInputs = 2;
  d.promotesOperands = true;
  d.infer = [trueDivision](LayerCall &c) {
    auto shape = broadcast(c.inputs[0].shape, c.inputs[1].shape);
    if (!shape)
      return c.error("shapes " + c.inputs[0].str() + " and " + c.inputs[1].str() +
                     " do not broadcast");
    DType dt = promote(c.inputs[0].dtype, c.weakInputs[0], c.inputs[1].dtype, c.weakInputs[1]);
    if (trueDivision && !isFloat(dt)) dt = DType::F32;
    if (dt == DType::Bool) return c.error("arithmetic on bool tensors is not supported");
    c.result = TensorType{dt, *shape};
    return true;
  };
  d.build = [](GenCall &c) -> mlir::Value {
    return OpT::create(c.b, c.loc, c.resultType, c.operands[0], c.operands[1]);
  };
  return d;
}

template <typename OpT>
LayerDef axisOp(const std::string &name) {
  LayerDef d;
  d.name = name;
  d.attrs = {{"axis", AttrType::Int, AttrValue::ofInt(-1), {"dim"}}};
  d.infer = [](LayerCall &c) {
    if (!floatSameAsInput(c)) return false;
    if (c.inputs[0].rank() == 0) return c.error("expects a tensor of rank >= 1");
    auto a = c.axis(c.getInt("axis"), c.inputs[0].rank());
    if (!a) return false;
    c.axes = {*a};
    return true;
  };
  d.build = [](GenCall &c) -> mlir::Value {
    return OpT::create(c.b, c.loc, c.resultType, c.operands[0],
                       c.b.getI64IntegerAttr(c.normalisedAxes[0]));
  };
  return d;
}

} // namespace

void registerElementwiseLayers(LayerRegistry &r) {
  using namespace mlir::dl;
  r.add(unary<ReluOp>("relu", /*floatOnly=*/false));
  r.add(unary<SigmoidOp>("sigmoid"));
  r.add(unary<TanhOp>("tanh"));
  r.add(unary<SiluOp>("silu"));
  r.add(unary<ExpOp>("exp"));
  r.add(unary<LogOp>("log"));
  r.add(unary<SqrtOp>("sqrt"));
  r.add(unary<AbsOp>("abs", /*floatOnly=*/false));
  r.add(unary<NegOp>("neg", /*floatOnly=*/false));

  LayerDef leaky = unary<LeakyReluOp>("leaky_relu");
  leaky.attrs = {{"alpha", AttrType::Float, AttrValue::ofFloat(0.01), {"negative_slope"}}};
  leaky.build = [](GenCall &c) -> mlir::Value {
    return LeakyReluOp::create(c.b, c.loc, c.resultType, c.operands[0],
                               c.b.getF64FloatAttr(c.attrs.at("alpha").f));
  };
  r.add(leaky);

  LayerDef gelu = unary<GeluOp>("gelu");
  gelu.attrs = {{"approximate", AttrType::String, AttrValue::ofString("none"), {}, {"none", "tanh"}}};
  gelu.build = [](GenCall &c) -> mlir::Value {
    return GeluOp::create(c.b, c.loc, c.resultType, c.operands[0],
                          c.b.getBoolAttr(c.attrs.at("approximate").s == "tanh"));
  };
  r.add(gelu);

  r.add(binary<AddOp>("add"));
  r.add(binary<SubOp>("sub"));
  r.add(binary<MulOp>("mul"));
  r.add(binary<DivOp>("div", /*trueDivision=*/true));
  // Integer powers stay integers, as in PyTorch and ONNX (DSL.md's promotion rules).
  r.add(binary<PowOp>("pow"));

  r.add(axisOp<SoftmaxOp>("softmax"));
  r.add(axisOp<LogSoftmaxOp>("log_softmax"));

  LayerDef dropout;
  dropout.name = "dropout";
  dropout.trainOnlyBehaviour = true;
  dropout.attrs = {{"p", AttrType::Float, std::nullopt}};
  dropout.infer = [](LayerCall &c) {
    double p = c.getFloat("p");
    if (p < 0 || p >= 1) return c.error("p must be in [0, 1), got " + std::to_string(p));
    return floatSameAsInput(c);
  };
  // Inference (and the eval step): the identity. The train step draws a mask.
  dropout.build = [](GenCall &c) -> mlir::Value {
    double p = c.attrs.at("p").f;
    if (!c.training || p == 0) return c.operands[0];
    return DropoutOp::create(c.b, c.loc, c.resultType, c.operands[0], c.seed, c.step, c.b.getF64FloatAttr(p),
                             c.b.getI64IntegerAttr((*c.nextStream)++));
  };
  r.add(dropout);

  LayerDef cast;
  cast.name = "cast";
  cast.attrs = {{"dtype", AttrType::Dtype, std::nullopt}};
  cast.infer = [](LayerCall &c) {
    c.result = TensorType{c.attrs.at("dtype").dtype, c.inputs[0].shape};
    return true;
  };
  cast.build = [](GenCall &c) -> mlir::Value {
    if (c.operands[0].getType() == c.resultType) return c.operands[0];
    return CastOp::create(c.b, c.loc, c.resultType, c.operands[0]);
  };
  r.add(cast);
}

} // namespace dlc
