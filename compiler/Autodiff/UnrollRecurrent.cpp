//===- UnrollRecurrent.cpp - the dl-unroll-recurrent pass -----------------===//
//
// For targets without a fused recurrent gradient (the f16 and bf16 recurrences of the
// oneDNN path): the train step's lstm and gru written out in dl ops, whose gradients
// autodiff composes into backpropagation through time. (The portable path lowers
// dl.recurrent_backward to a loop over time of its own: RecurrentToLinalg.cpp.)
//
//===----------------------------------------------------------------------===//
#include "compiler/Autodiff/Passes.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLUNROLLRECURRENT
#include "compiler/Autodiff/Passes.h.inc"

namespace {

/// `op`'s recurrence over its static sequence length. The input projections of all steps
/// are one dense per layer; each step adds its hidden projection.
Value unroll(OpBuilder &b, dl::RecurrentOp op) {
  Location loc = op.getLoc();
  Value seq = op.getInput();
  bool gru = op.getIsGru();
  auto xt = cast<RankedTensorType>(seq.getType());
  Type elt = xt.getElementType();
  int64_t batch = xt.getDimSize(0), steps = xt.getDimSize(1);
  int64_t h = op.getHidden(), layers = op.getLayers(), gates = gru ? 3 : 4;
  auto type = [&](int64_t t, int64_t width) { return RankedTensorType::get({batch, t, width}, elt); };
  auto part = [&](Value v, int64_t k) -> Value { // gate k of a [B, 1, G*H] or [G*H] value
    auto vt = cast<RankedTensorType>(v.getType());
    int64_t axis = vt.getRank() - 1;
    SmallVector<int64_t> shape(vt.getShape());
    shape[axis] = h;
    return dl::SliceOp::create(b, loc, RankedTensorType::get(shape, elt), v, axis, k * h, (k + 1) * h);
  };
  auto sigmoid = [&](Value v) -> Value { return dl::SigmoidOp::create(b, loc, v.getType(), v); };
  auto tanh = [&](Value v) -> Value { return dl::TanhOp::create(b, loc, v.getType(), v); };
  auto add = [&](Value x, Value y) -> Value { return dl::AddOp::create(b, loc, x, y); };
  auto sub = [&](Value x, Value y) -> Value { return dl::SubOp::create(b, loc, x, y); };
  auto mul = [&](Value x, Value y) -> Value { return dl::MulOp::create(b, loc, x, y); };
  Value hidden, cell;
  for (int64_t l = 0; l < layers; ++l) {
    ValueRange w = op.getWeights().slice(4 * l, 4); // weight_ih, weight_hh, bias_ih, bias_hh
    Value projected = dl::DenseOp::create(b, loc, type(steps, gates * h), seq, w[0], w[2]);
    SmallVector<Value> outputs;
    for (int64_t t = 0; t < steps; ++t) {
      Value xs = dl::SliceOp::create(b, loc, type(1, gates * h), projected, 1, t, t + 1);
      // The hidden projection; at t = 0 the state is zero and only its bias remains. A
      // one-step sequence still projects the zero state, as PyTorch's kernel does: the
      // hidden weight then gets a zero gradient rather than none, so that weight decay
      // and momentum update it as torch.optim does (a parameter without a gradient is
      // skipped).
      Value hs = w[3];
      if (t || steps == 1)
        hs = dl::DenseOp::create(b, loc, type(1, gates * h), t ? hidden : dl::zerosLike(b, loc, part(xs, 0)), w[1],
                                 w[3]);
      if (gru) {
        Value r = sigmoid(add(part(xs, 0), part(hs, 0)));
        Value z = sigmoid(add(part(xs, 1), part(hs, 1)));
        Value n = tanh(add(part(xs, 2), mul(r, part(hs, 2))));
        // h' = (1 - z) n + z h = n + z (h - n)
        hidden = t ? add(n, mul(z, sub(hidden, n))) : sub(n, mul(z, n));
      } else {
        Value pre = add(xs, hs);
        Value i = sigmoid(part(pre, 0)), f = sigmoid(part(pre, 1)), g = tanh(part(pre, 2)), o = sigmoid(part(pre, 3));
        // c_{-1} = 0, and f * 0 is still computed so that a NaN forget gate makes c NaN,
        // as in PyTorch.
        cell = add(mul(f, t ? cell : dl::zerosLike(b, loc, f)), mul(i, g));
        hidden = mul(o, tanh(cell));
      }
      outputs.push_back(hidden);
    }
    bool needSequence = l + 1 < layers || op.getSequences();
    if (needSequence) seq = steps == 1 ? outputs[0] : Value(dl::ConcatOp::create(b, loc, type(steps, h), outputs, 1));
  }
  if (op.getSequences()) return seq;
  // The last step's state, [B, 1, H] -> [B, H].
  return dl::ReshapeOp::create(b, loc, op.getResult().getType(), hidden,
                               b.getDenseI64ArrayAttr(ShapedType::isDynamic(batch) ? ArrayRef<int64_t>{0, 1}
                                                                                   : ArrayRef<int64_t>{}));
}

struct DLUnrollRecurrent : impl::DLUnrollRecurrentBase<DLUnrollRecurrent> {
  using DLUnrollRecurrentBase::DLUnrollRecurrentBase;
  void runOnOperation() override {
    SmallVector<dl::RecurrentOp> ops;
    getOperation().walk([&](func::FuncOp fn) {
      if (fn->hasAttr("dl.train")) fn.walk([&](dl::RecurrentOp op) { ops.push_back(op); });
    });
    for (dl::RecurrentOp op : ops) {
      auto xt = op.getInput().getType();
      if (keepFused || (keepFusedF32 && xt.getElementType().isF32())) continue;
      if (xt.isDynamicDim(1) || xt.getDimSize(1) == 0) {
        op->setAttr("dl.gradient_unavailable",
                    StringAttr::get(op.getContext(), "this target unrolls the recurrence for training, which needs a "
                                                     "static sequence length"));
        continue;
      }
      OpBuilder b(op);
      op.getResult().replaceAllUsesWith(unroll(b, op));
      op.erase();
    }
  }
};

} // namespace
} // namespace dlc
