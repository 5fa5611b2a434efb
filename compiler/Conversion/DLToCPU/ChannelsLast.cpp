//===- ChannelsLast.cpp - run convolutions and pooling on NHWC ------------===//
//
// oneDNN's fastest f32 convolutions on this CPU (brgconv) work on NHWC activations, and
// its pooling vectorises over channels there too. Models are written in PyTorch's NCHW,
// so each conv2d / conv_transpose2d / pool2d is rewritten to the channels_last form with
// explicit transposes around it:
//
//   conv(x)  ->  T_nchw(conv_cl(T_nhwc(x)))
//
// Then transposes that meet cancel (T_nhwc(T_nchw(y)) = y), and the remaining ones move
// down through elementwise ops and reductions towards the next convolution or the model's
// boundary. A transpose that is flattened into a dense layer (a CNN's classifier head)
// folds into the dense's weight instead, which the runtime permutes once. In a CNN only
// the input's transpose is left; an input with one channel turns into a reshape, which
// costs nothing (see ShapeToTensor).
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Utils/IndexingUtils.h"

#include "llvm/ADT/STLExtras.h"

using namespace mlir;

namespace dlc {
namespace {

constexpr int64_t kToNHWC[] = {0, 2, 3, 1};
constexpr int64_t kToNCHW[] = {0, 3, 1, 2};

RankedTensorType permuted(RankedTensorType t, ArrayRef<int64_t> perm) {
  SmallVector<int64_t> shape;
  for (int64_t p : perm) shape.push_back(t.getDimSize(p));
  return RankedTensorType::get(shape, t.getElementType());
}

Value transpose(PatternRewriter &rw, Location loc, Value v, ArrayRef<int64_t> perm) {
  auto t = cast<RankedTensorType>(v.getType());
  return dl::TransposeOp::create(rw, loc, permuted(t, perm), v, rw.getDenseI64ArrayAttr(perm));
}

/// Rewrites an NCHW op to its channels_last form. `Op` names which operands are
/// activations (moved to NHWC); the others (weights, biases) keep their layout.
template <typename Op> struct ToChannelsLast : public OpRewritePattern<Op> {
  using OpRewritePattern<Op>::OpRewritePattern;
  static SmallVector<OpOperand *> activations(Op op) {
    SmallVector<OpOperand *> r = {&op.getInputMutable()};
    if constexpr (std::is_same_v<Op, dl::Conv2DOp>)
      if (op.getResidual()) r.push_back(&op.getResidualMutable()[0]);
    return r;
  }
  LogicalResult matchAndRewrite(Op op, PatternRewriter &rw) const override {
    if (op.getChannelsLast() || !op.getInput().getType().getElementType().isF32()) return failure();
    Location loc = op.getLoc();
    SmallVector<std::pair<unsigned, Value>> moved;
    for (OpOperand *use : activations(op))
      moved.push_back({use->getOperandNumber(), transpose(rw, loc, use->get(), kToNHWC)});
    auto resultType = op.getResult().getType();
    Operation *nhwc = rw.clone(*op.getOperation());
    for (auto [i, v] : moved) nhwc->setOperand(i, v);
    nhwc->getResult(0).setType(permuted(resultType, kToNHWC));
    nhwc->setAttr("channels_last", rw.getUnitAttr());
    rw.replaceOp(op, transpose(rw, loc, nhwc->getResult(0), kToNCHW));
    return success();
  }
};

/// transpose(transpose(x, p), q) -> transpose(x, p∘q), or x where that is the identity.
struct ComposeTransposes : public OpRewritePattern<dl::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::TransposeOp op, PatternRewriter &rw) const override {
    auto inner = op.getInput().getDefiningOp<dl::TransposeOp>();
    if (!inner) return failure();
    SmallVector<int64_t> perm;
    for (int64_t q : op.getPerm()) perm.push_back(inner.getPerm()[q]);
    if (isIdentityPermutation(perm))
      rw.replaceOp(op, inner.getInput());
    else
      rw.replaceOpWithNewOp<dl::TransposeOp>(op, op.getType(), inner.getInput(), rw.getDenseI64ArrayAttr(perm));
    return success();
  }
};

/// f(transpose(a, p), transpose(b, p), ...) -> transpose(f(a, b, ...), p) for an
/// elementwise f (see sinkLayoutThroughElementwise).
struct SinkThroughElementwise : public OpInterfaceRewritePattern<dl::ScalarElementwiseOpInterface> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;
  LogicalResult matchAndRewrite(dl::ScalarElementwiseOpInterface iface, PatternRewriter &rw) const override {
    Operation *op = iface.getOperation();
    if (op->getNumResults() != 1 || op->getNumOperands() == 0) return failure();
    auto first = op->getOperand(0).getDefiningOp<dl::TransposeOp>();
    if (!first) return failure();
    ArrayRef<int64_t> perm = first.getPerm();
    auto unwrap = [&](Value v) -> Value {
      auto t = v.getDefiningOp<dl::TransposeOp>();
      return t && t.getPerm() == perm ? t.getInput() : Value();
    };
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    return sinkLayoutThroughElementwise(op, rw, unwrap, permuted(resultType, invertPermutationVector(perm)),
                                        [&](Value moved) { return transpose(rw, op->getLoc(), moved, perm); });
  }
};

/// reduce(transpose(x, p), axes) -> reduce(x, p[axes]), followed by what is left of the
/// permutation (nothing when the reduced dims were the only ones out of order, as in a
/// global average pool over H and W of an NHWC tensor).
template <typename Op> struct SinkThroughReduction : public OpRewritePattern<Op> {
  using OpRewritePattern<Op>::OpRewritePattern;
  LogicalResult matchAndRewrite(Op op, PatternRewriter &rw) const override {
    auto t = op.getInput().template getDefiningOp<dl::TransposeOp>();
    if (!t || !t->hasOneUse()) return failure();
    ArrayRef<int64_t> perm = t.getPerm();
    auto xType = t.getInput().getType();
    SmallVector<int64_t> axes;
    for (int64_t a : op.getAxes()) axes.push_back(perm[a]);
    llvm::sort(axes);
    // The reduced tensor's shape, and where its dims must go to match op's result.
    SmallVector<int64_t> shape;
    bool keep = op.getKeepdims();
    for (int64_t i = 0; i < xType.getRank(); ++i) {
      bool reduced = llvm::is_contained(axes, i);
      if (reduced && !keep) continue;
      shape.push_back(reduced ? 1 : xType.getDimSize(i));
    }
    SmallVector<int64_t> after;
    if (keep) {
      after.assign(perm.begin(), perm.end());
    } else {
      // Result dim j comes from x dim q_j = perm[i_j] (i_j the kept dims of the
      // transposed tensor); in the reduced x it sits at the rank of q_j among the kept.
      SmallVector<int64_t> kept;
      for (auto [i, p] : llvm::enumerate(perm))
        if (!llvm::is_contained(op.getAxes(), int64_t(i))) kept.push_back(p);
      SmallVector<int64_t> sorted = kept;
      llvm::sort(sorted);
      for (int64_t q : kept) after.push_back(llvm::find(sorted, q) - sorted.begin());
    }
    auto reducedType = RankedTensorType::get(shape, xType.getElementType());
    Value r = Op::create(rw, op.getLoc(), reducedType, t.getInput(), rw.getDenseI64ArrayAttr(axes),
                         rw.getBoolAttr(keep));
    rw.replaceOp(op, isIdentityPermutation(after) ? r : transpose(rw, op.getLoc(), r, after));
    return success();
  }
};

/// dense(flatten(T_nchw(x))) -> dense(flatten(x)) with `nhwc_input`: the dense reads the
/// NHWC tensor as it is and its weight's columns are permuted to match, once per
/// parameter version, instead of the activations on every call.
struct FoldFlattenedTransposeIntoDense : public OpRewritePattern<dl::DenseOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::DenseOp dense, PatternRewriter &rw) const override {
    if (dense.getNhwcInput()) return failure();
    auto flatten = dense.getInput().getDefiningOp<dl::ReshapeOp>();
    if (!flatten || !flatten->hasOneUse()) return failure();
    auto t = flatten.getInput().getDefiningOp<dl::TransposeOp>();
    if (!t || !t->hasOneUse() || t.getPerm() != ArrayRef<int64_t>(kToNCHW)) return failure();
    auto nchw = t.getResult().getType();
    auto flat = flatten.getResult().getType();
    // [N, C, H, W] -> [N, C*H*W] with N carried over (statically or as the input's dim 0).
    if (flat.getRank() != 2 || nchw.getDimSize(0) != flat.getDimSize(0)) return failure();
    if (flat.isDynamicDim(0) && flatten.getFrom() != ArrayRef<int64_t>{0, 1}) return failure();
    SmallVector<int64_t> chw(nchw.getShape().drop_front());
    if (ShapedType::isDynamicShape(chw) || flat.getDimSize(1) != chw[0] * chw[1] * chw[2]) return failure();
    Value flatNhwc = dl::ReshapeOp::create(rw, flatten.getLoc(), flat, t.getInput(), flatten.getFromAttr());
    rw.modifyOpInPlace(dense, [&] {
      dense.getInputMutable().assign(flatNhwc);
      dense.setNhwcInput(chw);
    });
    return success();
  }
};

} // namespace

LogicalResult sinkLayoutThroughElementwise(Operation *op, PatternRewriter &rw, function_ref<Value(Value)> unwrap,
                                           Type movedType, function_ref<Value(Value)> wrap) {
  SmallVector<Value> inputs;
  for (Value v : op->getOperands()) {
    Value inner = unwrap(v);
    if (!inner || !v.hasOneUse() ||
        cast<ShapedType>(v.getType()).getShape() != cast<ShapedType>(op->getResult(0).getType()).getShape())
      return failure();
    inputs.push_back(inner);
  }
  Operation *moved = rw.clone(*op);
  moved->setOperands(inputs);
  moved->getResult(0).setType(movedType);
  rw.replaceOp(op, wrap(moved->getResult(0)));
  return success();
}

void populateChannelsLast(RewritePatternSet &patterns) {
  patterns.add<ToChannelsLast<dl::Conv2DOp>, ToChannelsLast<dl::ConvTranspose2DOp>, ToChannelsLast<dl::Pool2DOp>,
               ComposeTransposes, SinkThroughElementwise, SinkThroughReduction<dl::SumOp>,
               SinkThroughReduction<dl::MeanOp>, SinkThroughReduction<dl::MaxOp>, FoldFlattenedTransposeIntoDense>(
      patterns.getContext());
}

} // namespace dlc
