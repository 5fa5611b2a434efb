//===- ChannelsLast.cpp - run convolutions and pooling on NHWC ------------===//
//
// oneDNN's fastest f32 convolutions on this CPU (brgconv) work on NHWC activations, and
// its pooling vectorises over channels there too. Models are written in PyTorch's NCHW,
// so each conv2d / conv_transpose2d / pool2d, each of their gradients in a train step, and
// the training batch_norm between them with its gradient, is rewritten to the
// channels_last form with explicit transposes around it:
//
//   conv(x)  ->  T_nchw(conv_cl(T_nhwc(x)))
//
// Then transposes that meet cancel (T_nhwc(T_nchw(y)) = y), and the remaining ones move
// down through elementwise ops and reductions towards the next convolution or the model's
// boundary; a broadcast beside a transposed operand (a reduction's gradient) is computed
// in the transposed layout instead, so that gradients stay NHWC too. A transpose that is
// flattened into a dense layer (a CNN's classifier head) folds into the dense's weight
// instead, which the runtime permutes once. In a CNN only
// the input's transpose is left; an input with one channel turns into a reshape, which
// costs nothing (see ShapeToTensor).
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
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

/// The operands of an NCHW op that are activations (moved to NHWC with it); the others
/// (weights, biases, statistics) keep their layout.
template <typename Op> SmallVector<OpOperand *> activationOperands(Op op) {
  if constexpr (std::is_same_v<Op, dl::Conv2DBackwardDataOp>) return {&op.getGradMutable()};
  else if constexpr (std::is_same_v<Op, dl::Conv2DBackwardWeightsOp> || std::is_same_v<Op, dl::Pool2DBackwardOp> ||
                     std::is_same_v<Op, dl::BatchNormBackwardOp>)
    return {&op.getGradMutable(), &op.getInputMutable()};
  else {
    SmallVector<OpOperand *> r = {&op.getInputMutable()};
    if constexpr (std::is_same_v<Op, dl::Conv2DOp>)
      if (op.getResidual()) r.push_back(&op.getResidualMutable()[0]);
    return r;
  }
}
/// Whether result `i` of the op is an activation: not a weight's gradient, a batch
/// norm's statistics or its weight and bias gradients.
template <typename Op> bool isActivationResult(unsigned i) {
  if constexpr (std::is_same_v<Op, dl::Conv2DBackwardWeightsOp>) return false;
  else return i == 0;
}

/// Rewrites a 4-d NCHW op (a forward one or a gradient) to its channels_last form.
template <typename Op> struct ToChannelsLast : public OpRewritePattern<Op> {
  using OpRewritePattern<Op>::OpRewritePattern;
  LogicalResult matchAndRewrite(Op op, PatternRewriter &rw) const override {
    SmallVector<OpOperand *> activations = activationOperands(op);
    auto xt = cast<ShapedType>(activations[0]->get().getType());
    if (op.getChannelsLast() || !xt.getElementType().isF32() || xt.getRank() != 4) return failure();
    Location loc = op.getLoc();
    SmallVector<std::pair<unsigned, Value>> moved;
    for (OpOperand *use : activations)
      moved.push_back({use->getOperandNumber(), transpose(rw, loc, use->get(), kToNHWC)});
    Operation *nhwc = rw.clone(*op.getOperation());
    for (auto [i, v] : moved) nhwc->setOperand(i, v);
    nhwc->setAttr("channels_last", rw.getUnitAttr());
    SmallVector<Value> replacements;
    for (auto [i, r] : llvm::enumerate(nhwc->getResults())) {
      if (!isActivationResult<Op>(i)) {
        replacements.push_back(r);
        continue;
      }
      r.setType(permuted(cast<RankedTensorType>(r.getType()), kToNHWC));
      replacements.push_back(transpose(rw, loc, r, kToNCHW));
    }
    rw.replaceOp(op, replacements);
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

/// dim(transpose(x, p), i) -> dim(x, p[i]): a size read off a transpose (a gradient's init
/// takes its sizes so) must not count as a use that keeps the transpose from sinking.
struct DimOfTranspose : public OpRewritePattern<tensor::DimOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(tensor::DimOp op, PatternRewriter &rw) const override {
    auto t = op.getSource().getDefiningOp<dl::TransposeOp>();
    std::optional<int64_t> i = op.getConstantIndex();
    if (!t || !i || *i < 0 || *i >= int64_t(t.getPerm().size())) return failure();
    rw.replaceOpWithNewOp<tensor::DimOp>(op, t.getInput(), t.getPerm()[*i]);
    return success();
  }
};

/// f(transpose(a, p), transpose(b, p), ...) -> transpose(f(a, b, ...), p) for an
/// elementwise f (see sinkLayoutThroughElementwise), also where a transpose has other
/// readers: they usually move too (ResNet's residual stream is read by the next block's
/// add and by a relu's gradient, each waiting for the other), and a reader that cannot
/// keeps the transpose it had. On the samples the count only fell: ResNet-18's train step
/// 29 -> 1, its arena 398 -> 359 MiB.
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
    return sinkLayoutThroughElementwise(
        op, rw, unwrap, permuted(resultType, invertPermutationVector(perm)),
        [&](Value moved) { return transpose(rw, op->getLoc(), moved, perm); }, /*shared=*/true);
  }
};

/// Whether `op` is a generic of one result and at least one input whose loops are all
/// parallel, whose init is a tensor.empty it does not read, and whose body does not read
/// its indices: a map from its inputs that the layout patterns may rebuild in another
/// iteration order.
bool isParallelMap(linalg::GenericOp op) {
  return op.getNumDpsInits() == 1 && op.getNumDpsInputs() != 0 && op.getNumParallelLoops() == op.getNumLoops() &&
         op.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>() &&
         !op.payloadUsesValueFromOperand(op.getDpsInitOperand(0)) && op.getBody()->getOps<linalg::IndexOp>().empty();
}

/// An elementwise generic: a parallel map reading every operand at the loop's own index.
bool isElementwiseGeneric(linalg::GenericOp op) {
  return isParallelMap(op) && llvm::all_of(op.getIndexingMapsArray(), [](AffineMap m) { return m.isIdentity(); });
}

/// The same sinking (shared transposes too) for the elementwise linalg.generic ops that
/// gradients are built of (a relu's backward, say). The generic runs over the
/// untransposed operands, its init permuted to match.
struct SinkThroughElementwiseGeneric : public OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(linalg::GenericOp op, PatternRewriter &rw) const override {
    if (!isElementwiseGeneric(op)) return failure();
    auto first = op.getDpsInputs()[0].getDefiningOp<dl::TransposeOp>();
    if (!first) return failure();
    ArrayRef<int64_t> perm = first.getPerm();
    SmallVector<Value> inputs;
    for (Value v : op.getDpsInputs()) {
      auto t = v.getDefiningOp<dl::TransposeOp>();
      if (!t || t.getPerm() != perm) return failure();
      inputs.push_back(t.getInput());
    }
    Location loc = op.getLoc();
    auto resultType = cast<RankedTensorType>(op.getResult(0).getType());
    auto movedType = permuted(resultType, invertPermutationVector(perm));
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < movedType.getRank(); ++i)
      if (movedType.isDynamicDim(i)) dyn.push_back(tensor::DimOp::create(rw, loc, inputs[0], i));
    Value init = tensor::EmptyOp::create(rw, loc, movedType, dyn);
    auto moved = linalg::GenericOp::create(rw, loc, TypeRange{movedType}, inputs, ValueRange{init},
                                           op.getIndexingMapsArray(), op.getIteratorTypesArray());
    rw.inlineRegionBefore(op.getRegion(), moved.getRegion(), moved.getRegion().begin());
    rw.replaceOp(op, transpose(rw, loc, moved.getResult(0), perm));
    return success();
  }
};

/// check(transpose(x, p)) -> transpose(check(x), p), the check counting around x's dim
/// p[axis]: batch_norm's run-time check stands between a convolution and the batch norm
/// and would otherwise hold the transposes between them apart.
struct SinkThroughChannelCountCheck : public OpRewritePattern<dl::ChannelCountCheckOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ChannelCountCheckOp op, PatternRewriter &rw) const override {
    auto t = op.getInput().getDefiningOp<dl::TransposeOp>();
    if (!t || !t->hasOneUse()) return failure();
    auto moved = dl::ChannelCountCheckOp::create(rw, op.getLoc(), t.getInput().getType(), t.getInput(), op.getMinAttr(),
                                                 op.getLayerAttr(), rw.getI64IntegerAttr(t.getPerm()[op.getAxis()]));
    rw.replaceOp(op, transpose(rw, op.getLoc(), moved.getResult(), t.getPerm()));
    return success();
  }
};

/// An elementwise generic that reads transposed operands and a broadcast (a reduction's
/// gradient: a global average pool's spreads [N, C] over [N, C, H, W]) computes the
/// broadcast in the transposes' layout instead, as transpose(broadcast'), where
/// broadcast' reads its input through the map composed with the permutation. All its
/// operands are then transposed alike and SinkThroughElementwiseGeneric moves it, so a
/// ResNet's gradient stays NHWC from the pooling back.
struct TransposeBroadcastOperand : public OpRewritePattern<linalg::GenericOp> {
  using OpRewritePattern::OpRewritePattern;
  /// A parallel map of one input read through a projected permutation other than the
  /// identity, the output through the identity.
  static bool isBroadcast(linalg::GenericOp op) {
    if (!isParallelMap(op) || op.getNumDpsInputs() != 1) return false;
    auto maps = op.getIndexingMapsArray();
    return maps[0].isProjectedPermutation() && !maps[0].isIdentity() && maps[1].isIdentity();
  }
  LogicalResult matchAndRewrite(linalg::GenericOp op, PatternRewriter &rw) const override {
    if (!isElementwiseGeneric(op)) return failure();
    std::optional<SmallVector<int64_t>> perm;
    linalg::GenericOp broadcast;
    for (Value v : op.getDpsInputs()) {
      if (auto t = v.getDefiningOp<dl::TransposeOp>()) {
        if (perm && ArrayRef<int64_t>(*perm) != t.getPerm()) return failure();
        perm = llvm::to_vector(t.getPerm());
      } else if (auto b = v.getDefiningOp<linalg::GenericOp>(); b && isBroadcast(b) && v.hasOneUse() && !broadcast) {
        broadcast = b;
      } else {
        return failure();
      }
    }
    if (!perm || !broadcast) return failure();
    Location loc = broadcast.getLoc();
    auto resultType = cast<RankedTensorType>(broadcast.getResult(0).getType());
    SmallVector<int64_t> inverse = invertPermutationVector(*perm);
    auto movedType = permuted(resultType, inverse);
    // moved[j] = result[i] with i_k = j_{perm[k]}: the input map composed with that.
    AffineMap inputMap =
        broadcast.getIndexingMapsArray()[0].compose(AffineMap::getPermutationMap(*perm, rw.getContext()));
    SmallVector<Value> dyn; // dim j of moved is the result's dim inverse[j], read off its init
    for (int64_t j = 0; j < movedType.getRank(); ++j)
      if (movedType.isDynamicDim(j))
        dyn.push_back(tensor::DimOp::create(rw, loc, broadcast.getDpsInits()[0], inverse[j]));
    Value init = tensor::EmptyOp::create(rw, loc, movedType, dyn);
    auto moved = linalg::GenericOp::create(
        rw, loc, TypeRange{movedType}, broadcast.getDpsInputs(), ValueRange{init},
        SmallVector<AffineMap>{inputMap, rw.getMultiDimIdentityMap(movedType.getRank())},
        broadcast.getIteratorTypesArray());
    rw.inlineRegionBefore(broadcast.getRegion(), moved.getRegion(), moved.getRegion().begin());
    rw.replaceOp(broadcast, transpose(rw, loc, moved.getResult(0), *perm));
    return success();
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
                                           Type movedType, function_ref<Value(Value)> wrap, bool shared) {
  SmallVector<Value> inputs;
  for (Value v : op->getOperands()) {
    Value inner = unwrap(v);
    if (!inner || (!shared && !v.hasOneUse()) ||
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
               ToChannelsLast<dl::Conv2DBackwardDataOp>, ToChannelsLast<dl::Conv2DBackwardWeightsOp>,
               ToChannelsLast<dl::Pool2DBackwardOp>, ToChannelsLast<dl::BatchNormTrainOp>,
               ToChannelsLast<dl::BatchNormBackwardOp>, ComposeTransposes, DimOfTranspose, SinkThroughElementwise,
               SinkThroughElementwiseGeneric, TransposeBroadcastOperand, SinkThroughChannelCountCheck,
               SinkThroughReduction<dl::SumOp>,
               SinkThroughReduction<dl::MeanOp>, SinkThroughReduction<dl::MaxOp>, FoldFlattenedTransposeIntoDense>(
      patterns.getContext());
}

} // namespace dlc
