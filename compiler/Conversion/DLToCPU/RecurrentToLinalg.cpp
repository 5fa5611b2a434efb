//===- RecurrentToLinalg.cpp - lstm/gru and their gradient as loops over time ---===//
//
// The portable form of dl.recurrent, for `--kernels=linalg` and the GPU path: per layer,
// the input projection of every step at once (x W_ih^T + b_ih, one contraction), then an
// scf.for over the steps carrying h (and c) that adds h W_hh^T + b_hh and applies the
// gates, in PyTorch's gate order (LSTM: i, f, g, o; GRU: r, z, n with the reset gate
// applied to the hidden projection n part, b_hn included, as torch.nn.GRU does). The
// projections and gates are dl ops, which the other linalg patterns lower.
//
// dl.recurrent_backward is backpropagation through time in the same shape: the forward
// again, keeping each step's gates (and c, or the GRU's hidden n projection), then per
// layer from the last an scf.for from the last step back that carries dh (and dc) and
// writes each step's pre-activation gradients; after it, each weight's gradient is one
// contraction over all steps, and the layer input's gradient another. Its size and
// compile time do not grow with the sequence: unrolling the recurrence for autodiff
// (dl-unroll-recurrent, which this path used before) took 34 s and made a 2.4 MB
// model.so for a GRU over 512 steps.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;

namespace dlc {
namespace {

/// What a recurrence's loops share: its element type and dims, static and at run time.
struct Recurrence {
  Location loc;
  Type elt;
  bool gru;
  int64_t h, gates, bStatic, tStatic;
  Value batch, steps;
  OpFoldResult b;                 // the batch as a slice size
  SmallVector<Value> bDyn, seqDyn; // dynamic sizes of [B, ...] and [B, T, ...] tensors

  Recurrence(OpBuilder &rw, Location loc, Value input, bool gru, int64_t h) : loc(loc), gru(gru), h(h) {
    auto xt = cast<RankedTensorType>(input.getType());
    elt = xt.getElementType();
    gates = gru ? 3 : 4;
    bStatic = xt.getDimSize(0);
    tStatic = xt.getDimSize(1);
    batch = dimOf(rw, loc, input, 0);
    steps = dimOf(rw, loc, input, 1);
    b = getAsOpFoldResult(batch);
    if (xt.isDynamicDim(0)) bDyn.push_back(batch), seqDyn.push_back(batch);
    if (xt.isDynamicDim(1)) seqDyn.push_back(steps);
  }

  RankedTensorType rows(int64_t width) const { return RankedTensorType::get({bStatic, width}, elt); }
  RankedTensorType seq(int64_t width) const { return RankedTensorType::get({bStatic, tStatic, width}, elt); }

  Value filled(OpBuilder &bb, RankedTensorType type, ValueRange dyn, double v) const {
    Value c = arith::ConstantOp::create(bb, loc, elt, bb.getFloatAttr(elt, v));
    return linalg::FillOp::create(bb, loc, c, tensor::EmptyOp::create(bb, loc, type, dyn).getResult()).getResult(0);
  }
  Value zeroRows(OpBuilder &bb, int64_t width) const { return filled(bb, rows(width), bDyn, 0.0); }

  /// Step t of a [B, T, width] tensor as [B, width], and a [B, width] value written there.
  Value stepOf(OpBuilder &bb, Value s, Value t, int64_t width) const {
    return tensor::ExtractSliceOp::create(bb, loc, rows(width), s, at(bb, t), sizes(bb, width), unit(bb));
  }
  Value withStep(OpBuilder &bb, Value row, Value s, Value t, int64_t width, int64_t column = 0) const {
    return tensor::InsertSliceOp::create(bb, loc, row, s, at(bb, t, column), sizes(bb, width), unit(bb));
  }
  SmallVector<OpFoldResult> at(OpBuilder &bb, Value t, int64_t column = 0) const {
    return {bb.getIndexAttr(0), t, bb.getIndexAttr(column)};
  }
  SmallVector<OpFoldResult> sizes(OpBuilder &bb, int64_t width) const {
    return {b, bb.getIndexAttr(1), bb.getIndexAttr(width)};
  }
  SmallVector<OpFoldResult> unit(OpBuilder &bb) const { return SmallVector<OpFoldResult>(3, bb.getIndexAttr(1)); }

  /// Columns [k h, (k + 1) h) of a [B, n h] value.
  Value part(OpBuilder &bb, Value v, int64_t k) const {
    return tensor::ExtractSliceOp::create(bb, loc, rows(h), v,
                                          ArrayRef<OpFoldResult>{bb.getIndexAttr(0), bb.getIndexAttr(k * h)},
                                          ArrayRef<OpFoldResult>{b, bb.getIndexAttr(h)},
                                          ArrayRef<OpFoldResult>{bb.getIndexAttr(1), bb.getIndexAttr(1)});
  }

  /// A [B, T, H] sequence one step later: zeros at step 0, s[:, t - 1] at step t (each
  /// step's previous state).
  Value shifted(OpBuilder &bb, Value s) const {
    Value zero = arith::ConstantIndexOp::create(bb, loc, 0), one = arith::ConstantIndexOp::create(bb, loc, 1);
    Value rest = arith::MaxSIOp::create(bb, loc, arith::SubIOp::create(bb, loc, steps, one), zero);
    SmallVector<OpFoldResult> restSizes = {b, getAsOpFoldResult(rest), bb.getIndexAttr(h)};
    Value head = tensor::ExtractSliceOp::create(bb, loc, s, SmallVector<OpFoldResult>(3, bb.getIndexAttr(0)),
                                                restSizes, unit(bb));
    return tensor::InsertSliceOp::create(bb, loc, head, filled(bb, seq(h), seqDyn, 0.0),
                                         ArrayRef<OpFoldResult>{bb.getIndexAttr(0), bb.getIndexAttr(1),
                                                                bb.getIndexAttr(0)},
                                         restSizes, unit(bb));
  }
};

/// One layer's forward over the sequence `in`, from zero states: every step's h ([B, T, H])
/// and the last, and with `keep` what its backward reads of each step ([B, T, K H]): the
/// LSTM's gates i, f, g, o and c; the GRU's gates r, z, n and its hidden projection's n
/// part (h W_hn^T + b_hn, which the reset gate scales).
struct LayerForward {
  Value sequence, last, kept;
};
constexpr int64_t keptParts(bool gru) { return gru ? 4 : 5; }

LayerForward forwardLayer(OpBuilder &rw, const Recurrence &r, Value in, ValueRange w, bool keep) {
  Location loc = r.loc;
  int64_t h = r.h, gates = r.gates;
  Value wih = w[0], whh = w[1], bih = w[2], bhh = w[3];
  Value zeros = r.zeroRows(rw, h);
  Value proj = dl::DenseOp::create(rw, loc, r.seq(gates * h), in, wih, bih);
  SmallVector<Value> init = {zeros, tensor::EmptyOp::create(rw, loc, r.seq(h), r.seqDyn)};
  if (!r.gru) init.push_back(zeros);
  if (keep) init.push_back(tensor::EmptyOp::create(rw, loc, r.seq(keptParts(r.gru) * h), r.seqDyn));
  auto loop = scf::ForOp::create(
      rw, loc, arith::ConstantIndexOp::create(rw, loc, 0), r.steps, arith::ConstantIndexOp::create(rw, loc, 1), init,
      [&](OpBuilder &bb, Location lc, Value t, ValueRange carried) {
        Value gx = r.stepOf(bb, proj, t, gates * h);
        Value hPrev = carried[0];
        Value gh = dl::DenseOp::create(bb, lc, r.rows(gates * h), hPrev, whh, bhh);
        auto state = r.rows(h);
        auto add = [&](Value x, Value y) -> Value { return dl::AddOp::create(bb, lc, state, x, y); };
        auto mul = [&](Value x, Value y) -> Value { return dl::MulOp::create(bb, lc, state, x, y); };
        auto sigmoid = [&](Value x) -> Value { return dl::SigmoidOp::create(bb, lc, state, x); };
        auto tanh = [&](Value x) -> Value { return dl::TanhOp::create(bb, lc, state, x); };
        Value hNext, cNext;
        SmallVector<Value> parts;
        if (r.gru) {
          Value hn = r.part(bb, gh, 2);
          Value rg = sigmoid(add(r.part(bb, gx, 0), r.part(bb, gh, 0)));
          Value z = sigmoid(add(r.part(bb, gx, 1), r.part(bb, gh, 1)));
          Value n = tanh(add(r.part(bb, gx, 2), mul(rg, hn)));
          // (1 - z) * n + z * h = n + z * (h - n)
          hNext = add(n, mul(z, dl::SubOp::create(bb, lc, state, hPrev, n)));
          parts = {rg, z, n, hn};
        } else {
          Value i = sigmoid(add(r.part(bb, gx, 0), r.part(bb, gh, 0)));
          Value f = sigmoid(add(r.part(bb, gx, 1), r.part(bb, gh, 1)));
          Value g = tanh(add(r.part(bb, gx, 2), r.part(bb, gh, 2)));
          Value o = sigmoid(add(r.part(bb, gx, 3), r.part(bb, gh, 3)));
          cNext = add(mul(f, carried[2]), mul(i, g));
          hNext = mul(o, tanh(cNext));
          parts = {i, f, g, o, cNext};
        }
        SmallVector<Value> next = {hNext, r.withStep(bb, hNext, carried[1], t, h)};
        if (!r.gru) next.push_back(cNext);
        if (keep) {
          Value kept = carried.back();
          for (auto [k, v] : llvm::enumerate(parts)) kept = r.withStep(bb, v, kept, t, h, int64_t(k) * h);
          next.push_back(kept);
        }
        scf::YieldOp::create(bb, lc, next);
      });
  return {loop.getResult(1), loop.getResult(0), keep ? loop.getResults().back() : Value()};
}

struct RecurrentToLinalg : public OpRewritePattern<dl::RecurrentOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::RecurrentOp op, PatternRewriter &rw) const override {
    Recurrence r(rw, op.getLoc(), op.getInput(), op.getIsGru(), int64_t(op.getHidden()));
    Value seq = op.getInput(), last;
    for (int64_t l = 0; l < int64_t(op.getLayers()); ++l) {
      LayerForward f = forwardLayer(rw, r, seq, op.getWeights().slice(4 * l, 4), /*keep=*/false);
      seq = f.sequence;
      last = f.last;
    }
    rw.replaceOp(op, op.getSequences() ? seq : last);
    return success();
  }
};

/// One layer's gradients from `dy`, the gradient of its every step's h ([B, T, H]; or, for
/// the last layer without `sequences`, of its last step's, [B, H]): its input's and its
/// four weights'.
void backwardLayer(OpBuilder &rw, const Recurrence &r, Value in, ValueRange w, const LayerForward &fwd, Value dy,
                   bool lastStepOnly, Value &inGrad, SmallVectorImpl<Value> &weightGrads) {
  Location loc = r.loc;
  int64_t h = r.h, gh = r.gates * h;
  Value whh = w[1];
  auto state = r.rows(h);
  Value zeros = r.zeroRows(rw, h), ones = r.filled(rw, state, r.bDyn, 1.0);
  Value hPrevSeq = r.shifted(rw, fwd.sequence);
  Value cPrevSeq;
  if (!r.gru) {
    auto cType = r.seq(h);
    SmallVector<OpFoldResult> cColumns = {rw.getIndexAttr(0), rw.getIndexAttr(0), rw.getIndexAttr(4 * h)};
    Value cSeq = tensor::ExtractSliceOp::create(
        rw, loc, cType, fwd.kept, cColumns,
        ArrayRef<OpFoldResult>{r.b, getAsOpFoldResult(r.steps), rw.getIndexAttr(h)}, r.unit(rw));
    cPrevSeq = r.shifted(rw, cSeq);
  }
  // Carried: dh and dc flowing back from the next step, then the steps' pre-activation
  // gradients for the input projection and (GRU, whose n part differs) the hidden one.
  SmallVector<Value> init = {lastStepOnly ? dy : zeros};
  if (!r.gru) init.push_back(zeros);
  init.push_back(tensor::EmptyOp::create(rw, loc, r.seq(gh), r.seqDyn));
  if (r.gru) init.push_back(tensor::EmptyOp::create(rw, loc, r.seq(gh), r.seqDyn));
  Value one = arith::ConstantIndexOp::create(rw, loc, 1);
  Value lastStep = arith::SubIOp::create(rw, loc, r.steps, one);
  auto loop = scf::ForOp::create(
      rw, loc, arith::ConstantIndexOp::create(rw, loc, 0), r.steps, one, init,
      [&](OpBuilder &bb, Location lc, Value s, ValueRange carried) {
        Value t = arith::SubIOp::create(bb, lc, lastStep, s); // T - 1 down to 0
        auto add = [&](Value x, Value y) -> Value { return dl::AddOp::create(bb, lc, state, x, y); };
        auto sub = [&](Value x, Value y) -> Value { return dl::SubOp::create(bb, lc, state, x, y); };
        auto mul = [&](Value x, Value y) -> Value { return dl::MulOp::create(bb, lc, state, x, y); };
        auto concat = [&](ArrayRef<Value> parts) -> Value {
          return dl::ConcatOp::create(bb, lc, r.rows(gh), parts, 1);
        };
        // sigmoid' = s (1 - s), tanh' = 1 - t^2, from the gates' values.
        auto dSigmoid = [&](Value d, Value sv) { return mul(d, mul(sv, sub(ones, sv))); };
        auto dTanh = [&](Value d, Value tv) { return mul(d, sub(ones, mul(tv, tv))); };
        Value dh = lastStepOnly ? carried[0] : add(carried[0], r.stepOf(bb, dy, t, h));
        Value kept = r.stepOf(bb, fwd.kept, t, keptParts(r.gru) * h);
        SmallVector<Value> next;
        if (r.gru) {
          Value rg = r.part(bb, kept, 0), z = r.part(bb, kept, 1), n = r.part(bb, kept, 2), hn = r.part(bb, kept, 3);
          Value hPrev = r.stepOf(bb, hPrevSeq, t, h);
          // h' = (1 - z) n + z h
          Value dan = dTanh(mul(dh, sub(ones, z)), n);
          Value dar = dSigmoid(mul(dan, hn), rg), daz = dSigmoid(mul(dh, sub(hPrev, n)), z);
          Value dx = concat({dar, daz, dan}), dhPre = concat({dar, daz, mul(dan, rg)});
          Value dhPrev = add(mul(dh, z), dl::MatmulOp::create(bb, lc, state, dhPre, whh));
          next = {dhPrev, r.withStep(bb, dx, carried[1], t, gh), r.withStep(bb, dhPre, carried[2], t, gh)};
        } else {
          Value i = r.part(bb, kept, 0), f = r.part(bb, kept, 1), g = r.part(bb, kept, 2), o = r.part(bb, kept, 3),
                c = r.part(bb, kept, 4);
          Value tc = dl::TanhOp::create(bb, lc, state, c);
          // h = o tanh(c), c = f c' + i g
          Value dc = add(dTanh(mul(dh, o), tc), carried[1]);
          Value cPrev = r.stepOf(bb, cPrevSeq, t, h);
          Value pre = concat({dSigmoid(mul(dc, g), i), dSigmoid(mul(dc, cPrev), f), dTanh(mul(dc, i), g),
                              dSigmoid(mul(dh, tc), o)});
          Value dhPrev = dl::MatmulOp::create(bb, lc, state, pre, whh);
          next = {dhPrev, mul(dc, f), r.withStep(bb, pre, carried[2], t, gh)};
        }
        scf::YieldOp::create(bb, lc, next);
      });
  // LSTM: the same pre-activation gradients for both projections.
  Value dx = loop.getResult(r.gru ? 1 : 2), dhPre = loop.getResult(2);
  auto weightType = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  // Over every step at once: [G H, B T] x [B T, width].
  auto summedOverSteps = [&](Value pre, Value operand) {
    return dl::matmul(rw, loc, dl::transposeLast(rw, loc, dl::asRows(rw, loc, pre)), dl::asRows(rw, loc, operand));
  };
  weightGrads.push_back(summedOverSteps(dx, in));
  weightGrads.push_back(summedOverSteps(dhPre, hPrevSeq));
  weightGrads.push_back(dl::sumTo(rw, loc, dx, weightType(w[2])));
  weightGrads.push_back(dl::sumTo(rw, loc, dhPre, weightType(w[3])));
  inGrad = dl::MatmulOp::create(rw, loc, cast<RankedTensorType>(in.getType()), dx, w[0]);
}

struct RecurrentBackwardToLinalg : public OpRewritePattern<dl::RecurrentBackwardOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::RecurrentBackwardOp op, PatternRewriter &rw) const override {
    Recurrence r(rw, op.getLoc(), op.getInput(), op.getIsGru(), int64_t(op.getHidden()));
    int64_t layers = int64_t(op.getLayers());
    SmallVector<Value> inputs = {op.getInput()};
    SmallVector<LayerForward> forwards;
    for (int64_t l = 0; l < layers; ++l) {
      forwards.push_back(forwardLayer(rw, r, inputs.back(), op.getWeights().slice(4 * l, 4), /*keep=*/true));
      inputs.push_back(forwards.back().sequence);
    }
    SmallVector<Value> grads(op.getWeights().size());
    Value dy = op.getGrad();
    for (int64_t l = layers - 1; l >= 0; --l) {
      SmallVector<Value> weightGrads;
      Value inGrad;
      backwardLayer(rw, r, inputs[l], op.getWeights().slice(4 * l, 4), forwards[l], dy,
                    /*lastStepOnly=*/l == layers - 1 && !op.getSequences(), inGrad, weightGrads);
      llvm::copy(weightGrads, grads.begin() + 4 * l);
      dy = inGrad;
    }
    grads.insert(grads.begin(), dy);
    rw.replaceOp(op, grads);
    return success();
  }
};

} // namespace

void populateRecurrentToLinalg(RewritePatternSet &patterns) {
  patterns.add<RecurrentToLinalg, RecurrentBackwardToLinalg>(patterns.getContext(), /*benefit=*/2);
}

} // namespace dlc
