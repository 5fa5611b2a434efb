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
