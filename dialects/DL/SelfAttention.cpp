//===- SelfAttention.cpp - self_attention in finer dl ops -----------------===//
#include "dialects/DL/SelfAttention.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientAccumulator.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "llvm/ADT/DenseSet.h"

#include <cmath>

using namespace mlir;
using namespace mlir::dl;

namespace {

/// The expansion, each op it makes appended to `made` when not null.
Value expand(OpBuilder &b, Location loc, Value qkv, int64_t heads, bool causal, function_ref<Value(Value)> onWeights,
             SmallVectorImpl<Operation *> *made) {
  auto packed = cast<RankedTensorType>(qkv.getType());
  Type elt = packed.getElementType();
  int64_t batch = packed.getDimSize(0), steps = packed.getDimSize(1), e = packed.getDimSize(2) / 3, hd = e / heads;
  auto ty = [&](ArrayRef<int64_t> shape) { return RankedTensorType::get(shape, elt); };
  auto seq = ty({batch, steps, e}), split = ty({batch, steps, heads, hd}), headsFirst = ty({batch, heads, steps, hd});
  auto keysT = ty({batch, heads, hd, steps}), scores = ty({batch, heads, steps, steps});
  auto track = [&](Value v) {
    if (made) made->push_back(v.getDefiningOp());
    return v;
  };
  // A reshape between [B, T, E] and [B, T, heads, head_dim]: dims 0 and 1 (B, and T where
  // dynamic too) carried over as they are.
  SmallVector<int64_t> kept;
  for (int64_t d : {int64_t(0), int64_t(1)})
    if (ShapedType::isDynamic(packed.getDimSize(d))) kept.append({d, d + 1});
  auto reshape = [&](Value v, RankedTensorType to) {
    return track(ReshapeOp::create(b, loc, to, v, b.getDenseI64ArrayAttr(kept)));
  };
  auto perm = [&](std::initializer_list<int64_t> p) { return b.getDenseI64ArrayAttr(p); };
  auto headsOf = [&](int64_t part) {
    Value s = track(SliceOp::create(b, loc, seq, qkv, b.getI64IntegerAttr(2), b.getI64IntegerAttr(part * e),
                                    b.getI64IntegerAttr((part + 1) * e)));
    return track(TransposeOp::create(b, loc, headsFirst, reshape(s, split), perm({0, 2, 1, 3})));
  };
  Value q = headsOf(0), k = headsOf(1), v = headsOf(2);
  auto scalar = RankedTensorType::get({}, elt);
  Value root = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(scalar, b.getFloatAttr(elt, std::sqrt(double(hd)))));
  q = track(DivOp::create(b, loc, headsFirst, q, root));
  Value kt = track(TransposeOp::create(b, loc, keysT, k, perm({0, 1, 3, 2})));
  Value att = track(MatmulOp::create(b, loc, scores, q, kt));
  if (causal) att = track(CausalMaskOp::create(b, loc, scores, att));
  att = track(SoftmaxOp::create(b, loc, scores, att, b.getI64IntegerAttr(3)));
  if (onWeights) att = onWeights(att);
  Value o = track(MatmulOp::create(b, loc, headsFirst, att, v));
  o = track(TransposeOp::create(b, loc, split, o, perm({0, 2, 1, 3})));
  return reshape(o, seq);
}

} // namespace

Value mlir::dl::expandSelfAttention(OpBuilder &b, Location loc, Value qkv, int64_t heads, bool causal,
                                    function_ref<Value(Value)> onWeights) {
  return expand(b, loc, qkv, heads, causal, onWeights, nullptr);
}

FailureOr<Value> mlir::dl::expandSelfAttentionGradient(OpBuilder &b, Location loc, Value grad, Value qkv,
                                                       int64_t heads, bool causal) {
  SmallVector<Operation *> made;
  Value result = expand(b, loc, qkv, heads, causal, {}, &made);
  // Reverse mode over the expansion, as dl-autodiff runs it over a train step: each op's
  // rule from its result's gradient, the gradients of qkv's three slices summed as
  // dl-autodiff sums them (inserted into one tensor, not added at full size).
  llvm::DenseSet<Value> fromQkv = {qkv};
  for (Operation *op : made) fromQkv.insert(op->getResult(0));
  GradientAccumulator grads;
  grads.seed(result, grad);
  for (Operation *op : llvm::reverse(made)) {
    Value g = grads.lookup(op->getResult(0));
    if (!g) continue;
    auto rule = dyn_cast<GradientOpInterface>(op);
    if (!rule) return op->emitOpError("has no gradient rule");
    SmallVector<bool> needed;
    for (Value operand : op->getOperands()) needed.push_back(fromQkv.contains(operand));
    SmallVector<Value> operandGrads;
    if (failed(rule.buildGradient(b, ValueRange{g}, needed, operandGrads))) return failure();
    for (auto [operand, og, want] : llvm::zip(op->getOperands(), operandGrads, needed))
      if (want && og) grads.accumulate(b, operand, og);
  }
  return grads.lookup(qkv);
}
