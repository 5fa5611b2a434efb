//===- RecurrentToLinalg.cpp - lstm/gru as a loop over time ---------------===//
//
// The portable form of dl.recurrent, for `--kernels=linalg` and the GPU path: per layer,
// the input projection of every step at once (x W_ih^T + b_ih, one contraction), then an
// scf.for over the steps carrying h (and c) that adds h W_hh^T + b_hh and applies the
// gates, in PyTorch's gate order (LSTM: i, f, g, o; GRU: r, z, n with the reset gate
// applied to the hidden projection n part, b_hn included, as torch.nn.GRU does). The
// projections and gates are dl ops, which the other linalg patterns lower.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;

namespace dlc {
namespace {

struct RecurrentToLinalg : public OpRewritePattern<dl::RecurrentOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::RecurrentOp op, PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto xt = op.getInput().getType();
    Type elt = xt.getElementType();
    bool gru = op.getIsGru();
    int64_t h = op.getHidden(), gates = gru ? 3 : 4;
    Value batch = dimOf(rw, loc, op.getInput(), 0), steps = dimOf(rw, loc, op.getInput(), 1);
    int64_t bStatic = xt.getDimSize(0), tStatic = xt.getDimSize(1);
    auto state = RankedTensorType::get({bStatic, h}, elt);
    auto gateRow = RankedTensorType::get({bStatic, gates * h}, elt);
    auto seqType = RankedTensorType::get({bStatic, tStatic, h}, elt);
    SmallVector<Value> bDyn, seqDyn;
    if (xt.isDynamicDim(0)) bDyn.push_back(batch), seqDyn.push_back(batch);
    if (xt.isDynamicDim(1)) seqDyn.push_back(steps);
    Value zero = arith::ConstantOp::create(rw, loc, elt, rw.getFloatAttr(elt, 0.0));
    Value zeros = linalg::FillOp::create(rw, loc, zero, tensor::EmptyOp::create(rw, loc, state, bDyn).getResult())
                      .getResult(0);
    Value one = arith::ConstantIndexOp::create(rw, loc, 1);
    OpFoldResult b = getAsOpFoldResult(batch);

    Value seq = op.getInput(), last;
    for (int64_t l = 0; l < int64_t(op.getLayers()); ++l) {
      Value wih = op.getWeights()[4 * l], whh = op.getWeights()[4 * l + 1], bih = op.getWeights()[4 * l + 2],
            bhh = op.getWeights()[4 * l + 3];
      auto projType = RankedTensorType::get({bStatic, tStatic, gates * h}, elt);
      Value proj = dl::DenseOp::create(rw, loc, projType, seq, wih, bih);
      Value out = tensor::EmptyOp::create(rw, loc, seqType, seqDyn);
      SmallVector<Value> init = {zeros, out};
      if (!gru) init.push_back(zeros);
      auto loop = scf::ForOp::create(
          rw, loc, arith::ConstantIndexOp::create(rw, loc, 0), steps, one, init,
          [&](OpBuilder &bb, Location lc, Value t, ValueRange carried) {
            SmallVector<OpFoldResult> at = {bb.getIndexAttr(0), t, bb.getIndexAttr(0)};
            SmallVector<OpFoldResult> unit(3, bb.getIndexAttr(1));
            Value gx = tensor::ExtractSliceOp::create(bb, lc, gateRow, proj, at,
                                                      ArrayRef<OpFoldResult>{b, bb.getIndexAttr(1),
                                                                             bb.getIndexAttr(gates * h)},
                                                      unit);
            Value hPrev = carried[0];
            Value gh = dl::DenseOp::create(bb, lc, gateRow, hPrev, whh, bhh);
            auto part = [&](Value v, int64_t k) -> Value {
              return tensor::ExtractSliceOp::create(
                  bb, lc, state, v, ArrayRef<OpFoldResult>{bb.getIndexAttr(0), bb.getIndexAttr(k * h)},
                  ArrayRef<OpFoldResult>{b, bb.getIndexAttr(h)},
                  ArrayRef<OpFoldResult>{bb.getIndexAttr(1), bb.getIndexAttr(1)});
            };
            auto add = [&](Value x, Value y) -> Value { return dl::AddOp::create(bb, lc, state, x, y); };
            auto mul = [&](Value x, Value y) -> Value { return dl::MulOp::create(bb, lc, state, x, y); };
            auto sigmoid = [&](Value x) -> Value { return dl::SigmoidOp::create(bb, lc, state, x); };
            auto tanh = [&](Value x) -> Value { return dl::TanhOp::create(bb, lc, state, x); };
            Value hNext, cNext;
            if (gru) {
              Value r = sigmoid(add(part(gx, 0), part(gh, 0)));
              Value z = sigmoid(add(part(gx, 1), part(gh, 1)));
              Value n = tanh(add(part(gx, 2), mul(r, part(gh, 2))));
              // (1 - z) * n + z * h = n + z * (h - n)
              hNext = add(n, mul(z, dl::SubOp::create(bb, lc, state, hPrev, n)));
            } else {
              Value i = sigmoid(add(part(gx, 0), part(gh, 0)));
              Value f = sigmoid(add(part(gx, 1), part(gh, 1)));
              Value g = tanh(add(part(gx, 2), part(gh, 2)));
              Value o = sigmoid(add(part(gx, 3), part(gh, 3)));
              cNext = add(mul(f, carried[2]), mul(i, g));
              hNext = mul(o, tanh(cNext));
            }
            Value written = tensor::InsertSliceOp::create(
                bb, lc, hNext, carried[1], at, ArrayRef<OpFoldResult>{b, bb.getIndexAttr(1), bb.getIndexAttr(h)}, unit);
            SmallVector<Value> next = {hNext, written};
            if (!gru) next.push_back(cNext);
            scf::YieldOp::create(bb, lc, next);
          });
      seq = loop.getResult(1);
      last = loop.getResult(0);
    }
    rw.replaceOp(op, op.getSequences() ? seq : last);
    return success();
  }
};

} // namespace

void populateRecurrentToLinalg(RewritePatternSet &patterns) {
  patterns.add<RecurrentToLinalg>(patterns.getContext(), /*benefit=*/2);
}

} // namespace dlc
