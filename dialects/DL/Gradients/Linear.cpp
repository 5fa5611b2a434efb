//===- Linear.cpp - gradients of dense and matmul -------------------------===//
//
// Both as matmuls, so that they run on the same kernels as the forward pass (oneDNN's
// matmul, or linalg): dX = dY W, dW = dY^T X over every leading position, db = the sum
// of dY; for matmul, dA = dY B^T and dB = A^T dY, each summed over broadcast batch dims.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

using namespace mlir;
using namespace mlir::dl;

namespace {

RankedTensorType withShape(Value v, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, cast<RankedTensorType>(v.getType()).getElementType());
}

/// `v` as a matrix [positions, last dim]: leading dims merged (a 1-D vector is one row).
Value asRows(OpBuilder &b, Location loc, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  int64_t r = t.getRank();
  if (r == 2) return v;
  int64_t n = 1;
  bool dynamic = false;
  for (int64_t i = 0; i + 1 < r; ++i) {
    if (t.isDynamicDim(i)) dynamic = true;
    else n *= t.getDimSize(i);
  }
  SmallVector<int64_t> from;
  if (dynamic) from = {0, r - 1};
  return ReshapeOp::create(b, loc, withShape(v, {dynamic ? ShapedType::kDynamic : n, t.getShape().back()}), v,
                           b.getDenseI64ArrayAttr(from));
}

/// The last two dims swapped.
Value transposeLast(OpBuilder &b, Location loc, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  int64_t r = t.getRank();
  SmallVector<int64_t> perm, shape;
  for (int64_t i = 0; i < r; ++i) perm.push_back(i);
  std::swap(perm[r - 1], perm[r - 2]);
  for (int64_t p : perm) shape.push_back(t.getDimSize(p));
  return TransposeOp::create(b, loc, withShape(v, shape), v, b.getDenseI64ArrayAttr(perm));
}

/// lhs @ rhs with torch.matmul's batch broadcasting (both of rank >= 2).
Value matmul(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  auto lt = cast<RankedTensorType>(lhs.getType()), rt = cast<RankedTensorType>(rhs.getType());
  auto batch = broadcastShapes(lt.getShape().drop_back(2), rt.getShape().drop_back(2));
  SmallVector<int64_t> shape(*batch);
  shape.push_back(lt.getDimSize(lt.getRank() - 2));
  shape.push_back(rt.getDimSize(rt.getRank() - 1));
  return MatmulOp::create(b, loc, withShape(lhs, shape), lhs, rhs);
}

} // namespace

LogicalResult DenseOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                     SmallVectorImpl<Value> &grads) {
  // Fusion and layout choices come after autodiff: a dense seen here is plain.
  if (getActivation() != 0 || getNhwcInput())
    return emitOpError("has a fused activation or an NHWC input: autodiff must run before fusion");
  Location loc = getLoc();
  Value g = resultGrads[0], x = getInput(), w = getWeight();
  auto xt = getInput().getType();
  Value dx, dw, db;
  if (needed[0]) {
    if (xt.getRank() >= 2) {
      dx = MatmulOp::create(b, loc, xt, g, w);
    } else { // a vector: one row
      Value row = matmul(b, loc, asRows(b, loc, g), w);
      dx = ReshapeOp::create(b, loc, xt, row, b.getDenseI64ArrayAttr({}));
    }
  }
  if (needed[1]) dw = matmul(b, loc, transposeLast(b, loc, asRows(b, loc, g)), asRows(b, loc, x));
  if (getBias() && needed[2]) db = sumTo(b, loc, g, getBias().getType());
  grads.push_back(dx);
  grads.push_back(dw);
  if (getBias()) grads.push_back(db);
  return success();
}

LogicalResult MatmulOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                      SmallVectorImpl<Value> &grads) {
  Location loc = getLoc();
  Value g = resultGrads[0];
  grads.push_back(needed[0] ? sumTo(b, loc, matmul(b, loc, g, transposeLast(b, loc, getRhs())), getLhs().getType())
                            : Value());
  grads.push_back(needed[1] ? sumTo(b, loc, matmul(b, loc, transposeLast(b, loc, getLhs()), g), getRhs().getType())
                            : Value());
  return success();
}
