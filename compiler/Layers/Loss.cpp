//===- Loss.cpp - cross_entropy, nll, mse, bce_with_logits ----------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {

/// Classes in the last dim: logits [..., C], labels [...] of integer class indices.
template <typename OpT>
static mlir::Value buildLoss(GenCall &c) {
  return OpT::create(c.b, c.loc, c.resultType, c.operands[0], c.operands[1]);
}

static LayerDef classification(const std::string &name) {
  LayerDef d;
  d.name = name;
  d.numInputs = 2;
  d.isLoss = true;
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
  auto with = [](LayerDef d, std::function<mlir::Value(GenCall &)> build) {
    d.build = std::move(build);
    return d;
  };
  using namespace mlir::dl;
  r.add(with(classification("cross_entropy"), buildLoss<CrossEntropyOp>));
  r.add(with(classification("nll"), buildLoss<NllOp>));
  r.add(with(regression("mse"), buildLoss<MseOp>));
  r.add(with(regression("bce_with_logits"), buildLoss<BceWithLogitsOp>));
}

} // namespace dlc
