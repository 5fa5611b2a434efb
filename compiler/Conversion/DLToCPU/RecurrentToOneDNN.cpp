//===- RecurrentToOneDNN.cpp - lstm/gru -> the runtime's oneDNN RNN kernel ===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace dlc {
namespace {

/// The kernels' geometry words: B T I H layers is_gru sequences, and for the backward
/// kernels an eighth, whether the input's gradient is used (an LSTM's native backward
/// leaves it out otherwise: the model's input sequence wants none).
template <typename OpT> Value recurrentGeometry(OpBuilder &b, Location loc, OpT op, Value x) {
  auto cst = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
  SmallVector<Value> words = {dimOf(b, loc, x, 0),          dimOf(b, loc, x, 1),
                              dimOf(b, loc, x, 2),          cst(op.getHidden()),
                              cst(op.getLayers()),          cst(op.getIsGru() ? 1 : 0),
                              cst(op.getSequences() ? 1 : 0)};
  if constexpr (std::is_same_v<OpT, dl::RecurrentBackwardOp>) words.push_back(cst(op->getResult(0).use_empty() ? 0 : 1));
  return i64Array(b, loc, words);
}

/// The dynamic sizes of a recurrence's result ([B, T, H] or [B, H]): its batch and
/// sequence length are the input's.
SmallVector<Value> resultDynSizes(OpBuilder &b, Location loc, RankedTensorType rt, Value x) {
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rt.getRank(); ++i)
    if (rt.isDynamicDim(i)) dyn.push_back(dimOf(b, loc, x, i));
  return dyn;
}

/// Whether `back` is the gradient of `fwd`: the same weights and attributes, on f32.
bool sameRecurrence(dl::RecurrentOp fwd, dl::RecurrentBackwardOp back) {
  return llvm::equal(back.getWeights(), fwd.getWeights()) && back.getIsGru() == fwd.getIsGru() &&
         back.getHidden() == fwd.getHidden() && back.getLayers() == fwd.getLayers() &&
         back.getSequences() == fwd.getSequences() && fwd.getInput().getType().getElementType().isF32();
}

struct RecurrentToOneDNN : public OpRewritePattern<dl::RecurrentOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::RecurrentOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    if (hasPairedBackward<dl::RecurrentBackwardOp>(op, op.getInput(), sameRecurrence))
      return rw.notifyMatchFailure(op, "lowered with its gradient, in training form");
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto rt = op.getResult().getType();
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_rnn_f32")
                         .in(recurrentGeometry(rw, loc, op, x))
                         .addresses(op.getWeights())
                         .in(x)
                         .out(rt, resultDynSizes(rw, loc, rt, x))
                         .optional(Value()) // workspace: training form only
                         .emitResult());
    return success();
  }
};

/// Each weight's gradient as a view of the kernels' flat buffer of them all.
SmallVector<Value> weightGradients(OpBuilder &b, Location loc, Value flat, ValueRange weights) {
  SmallVector<Value> grads;
  int64_t offset = 0;
  for (Value w : weights) {
    auto wt = cast<RankedTensorType>(w.getType());
    int64_t n = wt.getNumElements();
    auto part = RankedTensorType::get({n}, wt.getElementType());
    Value slice = tensor::ExtractSliceOp::create(b, loc, part, flat, ArrayRef<OpFoldResult>{b.getIndexAttr(offset)},
                                                 ArrayRef<OpFoldResult>{b.getIndexAttr(n)},
                                                 ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    if (wt.getRank() != 1) {
      SmallVector<ReassociationIndices> all{llvm::to_vector<2>(llvm::seq<int64_t>(0, wt.getRank()))};
      slice = tensor::ExpandShapeOp::create(b, loc, wt, slice, all);
    }
    grads.push_back(slice);
    offset += n;
  }
  return grads;
}

/// The gradients on oneDNN's RNN backward: the input's, and every weight's in one flat
/// buffer, of which each weight's gradient is a view. With the train step's forward
/// beside it, that forward runs in training form and keeps its workspace (its size asked
/// of the runtime, which knows oneDNN's layout) for the backward to read; otherwise the
/// backward kernel reruns the forward.
struct RecurrentBackwardToOneDNN : public OpRewritePattern<dl::RecurrentBackwardOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::RecurrentBackwardOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto xt = cast<RankedTensorType>(x.getType());
    int64_t total = 0;
    for (Value w : op.getWeights()) total += cast<RankedTensorType>(w.getType()).getNumElements();
    auto flatType = RankedTensorType::get({total}, xt.getElementType());

    Value y, workspace, forwardSite;
    if (auto fwd = forwardOf<dl::RecurrentOp>(op, x, sameRecurrence)) {
      OpBuilder::InsertionGuard guard(rw);
      rw.setInsertionPoint(fwd);
      Location floc = fwd.getLoc();
      Value geom = recurrentGeometry(rw, floc, fwd, x);
      forwardSite = siteOf(rw, floc, fwd);
      Value bytes = workspaceBytes(rw, floc, fwd, "dlrt_k_rnn_workspace_bytes", geom);
      auto rt = fwd.getResult().getType();
      SmallVector<Value> results = KernelCall(rw, floc, fwd, "dlrt_k_rnn_f32")
                                       .in(geom)
                                       .addresses(fwd.getWeights())
                                       .in(x)
                                       .out(rt, resultDynSizes(rw, floc, rt, x))
                                       .out(RankedTensorType::get({ShapedType::kDynamic}, rw.getI8Type()), {bytes})
                                       .emit();
      y = results[0];
      workspace = results[1];
      rw.replaceOp(fwd, y);
    }

    KernelCall call(rw, loc, op, workspace ? "dlrt_k_rnn_backward_f32" : "dlrt_k_rnn_grad_f32");
    if (workspace) call.in(forwardSite);
    call.in(recurrentGeometry(rw, loc, op, x)).addresses(op.getWeights()).in(x);
    if (workspace) call.in(y).in(workspace);
    SmallVector<Value> results =
        call.in(op.getGrad()).out(xt, broadcastDynamicSizes(rw, loc, xt, ValueRange{x})).out(flatType, {}).emit();
    SmallVector<Value> grads{results[0]};
    grads.append(weightGradients(rw, loc, results[1], op.getWeights()));
    rw.replaceOp(op, grads);
    return success();
  }
};

} // namespace

void populateRecurrentToOneDNN(RewritePatternSet &patterns) {
  patterns.add<RecurrentToOneDNN, RecurrentBackwardToOneDNN>(patterns.getContext());
}

} // namespace dlc
