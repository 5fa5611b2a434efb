//===- DLOps.cpp - verifiers and type inference of dl ops -----------------===//
#include "dialects/DL/DLOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::dl;

#include "dialects/DL/DLInterfaces.cpp.inc"

FailureOr<SmallVector<int64_t>> mlir::dl::broadcastShapes(ArrayRef<int64_t> a,
                                                          ArrayRef<int64_t> b) {
  size_t rank = std::max(a.size(), b.size());
  SmallVector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da == 1) out[i] = db;
    else if (db == 1) out[i] = da;
    else if (ShapedType::isDynamic(da)) out[i] = db;
    else if (ShapedType::isDynamic(db) || da == db) out[i] = da;
    else return failure();
  }
  return out;
}

static std::string shapeStr(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

/// Two dims agree unless both are static and differ.
static bool dimsAgree(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static LogicalResult verifyShape(Operation *op, ArrayRef<int64_t> expected) {
  auto rt = cast<RankedTensorType>(op->getResult(0).getType());
  if (rt.getRank() != (int64_t)expected.size())
    return op->emitOpError("result rank ") << rt.getRank() << " should be " << expected.size();
  for (auto [got, want] : llvm::zip(rt.getShape(), expected))
    if (!dimsAgree(got, want))
      return op->emitOpError("result type ") << rt << " does not match the computed shape";
  return success();
}

//===----------------------------------------------------------------------===//
// Broadcasting binary ops
//===----------------------------------------------------------------------===//

static LogicalResult inferBinary(MLIRContext *, std::optional<Location> loc,
                                 ValueRange operands, SmallVectorImpl<Type> &types) {
  auto lt = dyn_cast<RankedTensorType>(operands[0].getType());
  auto rt = dyn_cast<RankedTensorType>(operands[1].getType());
  if (!lt || !rt) return failure();
  auto shape = broadcastShapes(lt.getShape(), rt.getShape());
  if (failed(shape)) {
    if (loc) emitError(*loc) << "cannot broadcast " << lt << " with " << rt;
    return failure();
  }
  types.push_back(RankedTensorType::get(*shape, lt.getElementType()));
  return success();
}

static LogicalResult verifyBinary(Operation *op) {
  if (getElementTypeOrSelf(op->getOperand(0).getType()) !=
      getElementTypeOrSelf(op->getOperand(1).getType()))
    return op->emitOpError("operands must have one element type, got ")
           << op->getOperand(0).getType() << " and " << op->getOperand(1).getType();
  return success();
}

#define DL_BINARY_OP_IMPL(OP)                                                             \
  LogicalResult OP::inferReturnTypes(MLIRContext *ctx, std::optional<Location> loc,      \
                                     ValueRange operands, DictionaryAttr, OpaqueProperties, \
                                     RegionRange, SmallVectorImpl<Type> &types) {          \
    return inferBinary(ctx, loc, operands, types);                                          \
  }                                                                                         \
  LogicalResult OP::verify() { return verifyBinary(getOperation()); }
DL_BINARY_OP_IMPL(AddOp)
DL_BINARY_OP_IMPL(SubOp)
DL_BINARY_OP_IMPL(MulOp)
DL_BINARY_OP_IMPL(DivOp)
DL_BINARY_OP_IMPL(PowOp)
#undef DL_BINARY_OP_IMPL

LogicalResult CastOp::verify() {
  if (getInput().getType().getShape() != getResult().getType().getShape())
    return emitOpError("cast must keep the shape");
  return success();
}

//===----------------------------------------------------------------------===//
// dense and matmul
//===----------------------------------------------------------------------===//

LogicalResult DenseOp::verify() {
  auto x = getInput().getType();
  auto w = getWeight().getType();
  if (x.getRank() < 1) return emitOpError("input must have rank >= 1");
  if (w.getRank() != 2) return emitOpError("weight must be [units, in], got ") << w;
  if (!dimsAgree(x.getShape().back(), w.getDimSize(1)))
    return emitOpError("input ") << x << " and weight " << w << " disagree on the inner dim";
  if (getBias()) {
    auto b = getBias().getType();
    if (b.getRank() != 1 || !dimsAgree(b.getDimSize(0), w.getDimSize(0)))
      return emitOpError("bias ") << b << " must be [units] for weight " << w;
  }
  if (auto chw = getNhwcInput()) {
    if ((chw->size() != 3 && chw->size() != 4) || w.isDynamicDim(1) ||
        (*chw)[0] * (*chw)[1] * (*chw)[2] != w.getDimSize(1))
      return emitOpError("nhwc_input must be [C, H, W] or [C, H, W, B] with C*H*W the weight's inner dim ") << w;
    if (chw->size() == 4 && ((*chw)[3] <= 0 || (*chw)[0] % (*chw)[3] != 0))
      return emitOpError("nhwc_input's channel block ") << (*chw)[3] << " must divide its " << (*chw)[0] << " channels";
  }
  SmallVector<int64_t> expected(x.getShape());
  expected.back() = w.getDimSize(0);
  return verifyShape(getOperation(), expected);
}

LogicalResult MatmulOp::verify() {
  auto a = getLhs().getType();
  auto b = getRhs().getType();
  if (a.getRank() < 2 || b.getRank() < 2)
    return emitOpError("operands must have rank >= 2 (the front end expands 1-D operands)");
  if (!dimsAgree(a.getShape().back(), b.getShape()[b.getRank() - 2]))
    return emitOpError("inner dims disagree: ") << shapeStr(a) << " @ " << shapeStr(b);
  auto batch = broadcastShapes(a.getShape().drop_back(2), b.getShape().drop_back(2));
  if (failed(batch)) return emitOpError("batch dims do not broadcast");
  SmallVector<int64_t> expected(*batch);
  expected.push_back(a.getShape()[a.getRank() - 2]);
  expected.push_back(b.getShape().back());
  return verifyShape(getOperation(), expected);
}

LogicalResult SelfAttentionOp::verify() {
  auto x = getQkv().getType();
  if (x.getRank() != 3) return emitOpError("qkv must be [B, T, 3E], got ") << x;
  int64_t packed = x.getDimSize(2), heads = getHeads();
  if (ShapedType::isDynamic(packed) || packed % 3 != 0 || heads <= 0 || (packed / 3) % heads != 0)
    return emitOpError("qkv's last dim must be 3E, E a multiple of ") << heads << " heads, got " << x;
  return verifyShape(getOperation(), {x.getDimSize(0), x.getDimSize(1), packed / 3});
}

//===----------------------------------------------------------------------===//
// Axis ops, reductions, shape ops
//===----------------------------------------------------------------------===//

static LogicalResult verifyAxis(Operation *op, int64_t axis, int64_t rank) {
  if (axis < 0 || axis >= rank)
    return op->emitOpError("axis ") << axis << " out of range for rank " << rank;
  return success();
}
LogicalResult SoftmaxOp::verify() {
  return verifyAxis(getOperation(), getAxis(), getInput().getType().getRank());
}
LogicalResult LogSoftmaxOp::verify() {
  return verifyAxis(getOperation(), getAxis(), getInput().getType().getRank());
}

static LogicalResult verifyReduce(Operation *op, ArrayRef<int64_t> axes, bool keepdims) {
  auto in = cast<RankedTensorType>(op->getOperand(0).getType());
  int64_t prev = -1;
  for (int64_t a : axes) {
    if (failed(verifyAxis(op, a, in.getRank()))) return failure();
    if (a <= prev) return op->emitOpError("axes must be sorted and unique");
    prev = a;
  }
  SmallVector<int64_t> expected;
  for (int64_t i = 0; i < in.getRank(); ++i) {
    if (!llvm::is_contained(axes, i)) expected.push_back(in.getDimSize(i));
    else if (keepdims) expected.push_back(1);
  }
  return verifyShape(op, expected);
}
LogicalResult SumOp::verify() { return verifyReduce(*this, getAxes(), getKeepdims()); }
LogicalResult MeanOp::verify() { return verifyReduce(*this, getAxes(), getKeepdims()); }
LogicalResult MaxOp::verify() { return verifyReduce(*this, getAxes(), getKeepdims()); }

LogicalResult ReshapeOp::verify() {
  auto in = getInput().getType();
  auto out = getResult().getType();
  if (in.getElementType() != out.getElementType())
    return emitOpError("reshape keeps the element type");
  int64_t dynamic = out.getNumDynamicDims();
  if ((int64_t)getFrom().size() != 2 * dynamic)
    return emitOpError("needs a (lo, hi) pair in 'from' for each of the ")
           << dynamic << " dynamic result dims";
  for (size_t i = 0; i + 1 < getFrom().size(); i += 2) {
    int64_t lo = getFrom()[i], hi = getFrom()[i + 1];
    bool quotient = lo == -1 && hi == -1;
    if (!quotient && !(0 <= lo && lo < hi && hi <= in.getRank()))
      return emitOpError("bad input dim range [") << lo << ", " << hi << ")";
  }
  if (in.hasStaticShape() && out.hasStaticShape() &&
      in.getNumElements() != out.getNumElements())
    return emitOpError("element count changes: ") << in << " -> " << out;
  return success();
}

bool TransposeOp::keepsElementOrder() {
  SmallVector<int64_t> moved;
  for (int64_t p : getPerm())
    if (getInput().getType().getDimSize(p) != 1) moved.push_back(p);
  return llvm::is_sorted(moved);
}

LogicalResult TransposeOp::verify() {
  auto in = getInput().getType();
  auto perm = getPerm();
  if ((int64_t)perm.size() != in.getRank())
    return emitOpError("perm has ") << perm.size() << " entries for rank " << in.getRank();
  SmallVector<bool> seen(perm.size(), false);
  SmallVector<int64_t> expected;
  for (int64_t p : perm) {
    if (p < 0 || p >= in.getRank() || seen[p]) return emitOpError("perm is not a permutation");
    seen[p] = true;
    expected.push_back(in.getDimSize(p));
  }
  return verifyShape(getOperation(), expected);
}

#define GET_OP_CLASSES
#include "dialects/DL/DLOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Losses
//===----------------------------------------------------------------------===//

static LogicalResult verifyClassLoss(Operation *op, RankedTensorType scores, RankedTensorType labels) {
  if (scores.getRank() < 2) return op->emitOpError("scores need rank >= 2 (classes last), got ") << scores;
  if (labels.getRank() != scores.getRank() - 1)
    return op->emitOpError("labels ") << labels << " must have the scores' shape without the class dim";
  for (int64_t i = 0; i < labels.getRank(); ++i)
    if (!dimsAgree(labels.getDimSize(i), scores.getDimSize(i)))
      return op->emitOpError("labels ") << labels << " do not match scores " << scores;
  if (cast<RankedTensorType>(op->getResult(0).getType()).getRank() != 0)
    return op->emitOpError("the loss is a scalar");
  return success();
}
static LogicalResult verifyPairLoss(Operation *op, RankedTensorType x, RankedTensorType t) {
  if (x.getRank() != t.getRank()) return op->emitOpError("input ") << x << " and target " << t << " differ in rank";
  for (int64_t i = 0; i < x.getRank(); ++i)
    if (!dimsAgree(x.getDimSize(i), t.getDimSize(i)))
      return op->emitOpError("input ") << x << " and target " << t << " differ in shape";
  if (cast<RankedTensorType>(op->getResult(0).getType()).getRank() != 0)
    return op->emitOpError("the loss is a scalar");
  return success();
}
LogicalResult CrossEntropyOp::verify() { return verifyClassLoss(*this, getInput().getType(), getTarget().getType()); }
LogicalResult NllOp::verify() { return verifyClassLoss(*this, getInput().getType(), getTarget().getType()); }
LogicalResult MseOp::verify() { return verifyPairLoss(*this, getInput().getType(), getTarget().getType()); }
LogicalResult BceWithLogitsOp::verify() { return verifyPairLoss(*this, getInput().getType(), getTarget().getType()); }
