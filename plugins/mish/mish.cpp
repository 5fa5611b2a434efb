//===- mish.cpp - Mish as a plugin layer lowered to linalg ------------------===//
//
//   mish(x) = x * tanh(softplus(x)),  softplus(x) = log(1 + exp(x))
//
// A lowering, not a kernel: the layer becomes a linalg.generic like the built-in
// activations, which fuses with its neighbours and needs no run-time part. Its gradient,
//   d mish / dx = tanh(sp) + x * sigmoid(x) * (1 - tanh(sp)^2),
// is built the same way. Computed in f32 for bf16 and f16 inputs, as PyTorch does.
//
//===----------------------------------------------------------------------===//
#include <dlc/plugin.h>

// No kernels: a model using mish needs no run-time part.
DLRT_PLUGIN_NO_KERNELS(mish, 1, 0)

#ifdef DLC_PLUGIN_COMPILER
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;

namespace {

Value f32Const(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
}
Value toF32(OpBuilder &b, Location loc, Value v) {
  return v.getType().isF32() ? v : arith::ExtFOp::create(b, loc, b.getF32Type(), v).getResult();
}
Value fromF32(OpBuilder &b, Location loc, Value v, Type t) {
  return t.isF32() ? v : arith::TruncFOp::create(b, loc, t, v).getResult();
}
/// tanh(log1p(exp(x))), for x in f32.
Value tanhSoftplus(OpBuilder &b, Location loc, Value x) {
  Value sp = math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, x));
  return math::TanhOp::create(b, loc, sp);
}

} // namespace

DLC_PLUGIN_LAYERS(registrar) {
  dlc::LayerDef def;
  def.name = "mish";
  def.numInputs = 1;
  def.infer = [](dlc::LayerCall &c) {
    if (!dlc::isFloat(c.inputs[0].dtype))
      return c.error("mish takes a float tensor, got " + std::string(dlc::dtypeName(c.inputs[0].dtype)));
    c.result = c.inputs[0];
    return true;
  };
  def.plugin.lowerToLinalg = [](const dl::PluginLowering &l) -> SmallVector<Value> {
    Value x = l.operands[0];
    Type elt = cast<RankedTensorType>(x.getType()).getElementType();
    return {dl::mapLike(l.b, l.loc, x, elt, {x}, [elt](OpBuilder &b, Location loc, ValueRange a) {
      Value v = toF32(b, loc, a[0]);
      return fromF32(b, loc, arith::MulFOp::create(b, loc, v, tanhSoftplus(b, loc, v)), elt);
    })};
  };
  def.plugin.gradient = [](const dl::PluginGradient &g) -> SmallVector<Value> {
    Value x = g.operands[0];
    Type elt = cast<RankedTensorType>(x.getType()).getElementType();
    return {dl::mapLike(g.b, g.loc, x, elt, {x, g.grad}, [elt](OpBuilder &b, Location loc, ValueRange a) {
      Value v = toF32(b, loc, a[0]), dy = toF32(b, loc, a[1]);
      Value t = tanhSoftplus(b, loc, v);
      Value one = f32Const(b, loc, 1.0);
      Value sig = arith::DivFOp::create(
          b, loc, one, arith::AddFOp::create(b, loc, one, math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, v))));
      Value dt = arith::SubFOp::create(b, loc, one, arith::MulFOp::create(b, loc, t, t));
      Value d = arith::AddFOp::create(b, loc, t, arith::MulFOp::create(b, loc, v, arith::MulFOp::create(b, loc, sig, dt)));
      return fromF32(b, loc, arith::MulFOp::create(b, loc, dy, d), elt);
    })};
  };
  registrar.add(std::move(def));
}
#endif
