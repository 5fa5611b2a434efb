//===- Loss.cpp - gradients of the losses ---------------------------------===//
//
// Each loss is a mean, so every gradient carries dLoss / N (N: positions or elements):
//   cross_entropy: (softmax(x) - onehot(label)) / N     nll: -onehot(label) / N
//   mse: 2 (x - t) / N, and its negative for t          bce_with_logits: (sigmoid(x) - t) / N, -x / N for t
// as PyTorch's fused backward kernels compute them.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::dl;

namespace {

/// `body(p, onehot, scale)` over the scores' shape: p an element of `scores`, onehot 1 at
/// the label's class and 0 elsewhere, scale = dLoss / (number of positions).
Value classGradient(OpBuilder &b, Location loc, Value x, Value scores, Value labels, Value g,
                    function_ref<Value(OpBuilder &, Location, Value, Value, Value)> body) {
  auto xt = cast<RankedTensorType>(x.getType());
  int64_t rank = xt.getRank();
  Type elt = xt.getElementType();
  Value n = countOf(b, loc, labels, iota(rank - 1), elt);
  SmallVector<SmallVector<int64_t>> maps{iota(rank), iota(rank - 1), {}};
  return buildBroadcastGeneric(
      b, loc, xt, dynamicSizes(b, loc, x), ValueRange{scores, labels, g},
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value c = arith::IndexCastOp::create(nb, l, nb.getI64Type(), linalg::IndexOp::create(nb, l, rank - 1));
        Value label = a[1];
        if (label.getType() != nb.getI64Type()) label = arith::ExtSIOp::create(nb, l, nb.getI64Type(), label);
        Value hit = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, c, label);
        Value onehot = arith::SelectOp::create(nb, l, hit, floatConst(nb, l, elt, 1.0), floatConst(nb, l, elt, 0.0));
        return body(nb, l, a[0], onehot, arith::DivFOp::create(nb, l, a[2], n));
      },
      maps);
}

/// `body(x, t, scale)` over the input's shape for the elementwise losses.
Value pairGradient(OpBuilder &b, Location loc, Value x, Value t, Value g,
                   function_ref<Value(OpBuilder &, Location, Value, Value, Value)> body) {
  auto xt = cast<RankedTensorType>(x.getType());
  Value n = countOf(b, loc, x, iota(xt.getRank()), xt.getElementType());
  SmallVector<SmallVector<int64_t>> maps{iota(xt.getRank()), iota(xt.getRank()), {}};
  return buildBroadcastGeneric(
      b, loc, xt, dynamicSizes(b, loc, x), ValueRange{x, t, g},
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        return body(nb, l, a[0], a[1], arith::DivFOp::create(nb, l, a[2], n));
      },
      maps);
}

} // namespace

LogicalResult CrossEntropyOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                            SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value x = getInput();
  Value dx;
  if (needed[0]) {
    Value p = SoftmaxOp::create(b, loc, x.getType(), x, b.getI64IntegerAttr(getInput().getType().getRank() - 1));
    dx = classGradient(b, loc, x, p, getTarget(), resultGrads[0],
                       [](OpBuilder &nb, Location l, Value p, Value onehot, Value scale) -> Value {
                         return arith::MulFOp::create(nb, l, arith::SubFOp::create(nb, l, p, onehot), scale);
                       });
  }
  grads.append({dx, Value()});
  return success();
}

LogicalResult NllOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  Value dx;
  if (needed[0])
    dx = classGradient(b, getLoc(), getInput(), getInput(), getTarget(), resultGrads[0],
                       [](OpBuilder &nb, Location l, Value, Value onehot, Value scale) -> Value {
                         return arith::MulFOp::create(nb, l, arith::NegFOp::create(nb, l, onehot), scale);
                       });
  grads.append({dx, Value()});
  return success();
}

LogicalResult MseOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                   SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  auto twice = [](OpBuilder &nb, Location l, Value x, Value t, Value scale) -> Value {
    Value d = arith::SubFOp::create(nb, l, x, t);
    return arith::MulFOp::create(nb, l, arith::MulFOp::create(nb, l, floatConst(nb, l, x.getType(), 2.0), d), scale);
  };
  Value dx, dt;
  if (needed[0]) dx = pairGradient(b, loc, getInput(), getTarget(), resultGrads[0], twice);
  if (needed[1])
    dt = pairGradient(b, loc, getInput(), getTarget(), resultGrads[0],
                      [&](OpBuilder &nb, Location l, Value x, Value t, Value s) -> Value {
                        return arith::NegFOp::create(nb, l, twice(nb, l, x, t, s));
                      });
  grads.append({dx, dt});
  return success();
}

LogicalResult BceWithLogitsOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                             SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value dx, dt;
  if (needed[0])
    dx = pairGradient(b, loc, getInput(), getTarget(), resultGrads[0],
                      [](OpBuilder &nb, Location l, Value x, Value t, Value scale) -> Value {
                        Value one = floatConst(nb, l, x.getType(), 1.0);
                        Value e = math::ExpOp::create(nb, l, arith::NegFOp::create(nb, l, x));
                        Value sig = arith::DivFOp::create(nb, l, one, arith::AddFOp::create(nb, l, one, e));
                        return arith::MulFOp::create(nb, l, arith::SubFOp::create(nb, l, sig, t), scale);
                      });
  if (needed[1])
    dt = pairGradient(b, loc, getInput(), getTarget(), resultGrads[0],
                      [](OpBuilder &nb, Location l, Value x, Value, Value scale) -> Value {
                        return arith::MulFOp::create(nb, l, arith::NegFOp::create(nb, l, x), scale);
                      });
  grads.append({dx, dt});
  return success();
}

// The same mask (a function of seed, step, stream and position) scales the gradient.
LogicalResult DropoutOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                       SmallVectorImpl<Value> &grads) {
  grads.push_back(needed[0] ? Value(DropoutOp::create(b, getLoc(), getInput().getType(), resultGrads[0], getSeed(),
                                                      getStep(), getPAttr(), getStreamAttr()))
                            : Value());
  grads.append({Value(), Value()});
  return success();
}
