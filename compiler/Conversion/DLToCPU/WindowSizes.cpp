//===- WindowSizes.cpp - output sizes of convolutions and pooling ---------===//
//
// PyTorch's formulas, as index arithmetic so that dynamic H and W work too. Both CPU
// lowerings (oneDNN calls and linalg) size their results with them.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;

namespace dlc {

static Value index(OpBuilder &b, Location loc, int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

Value windowOutputSize(OpBuilder &b, Location loc, Value in, int64_t k, int64_t stride, int64_t lo, int64_t hi,
                       int64_t dilation) {
  Value num = arith::AddIOp::create(b, loc, in, index(b, loc, lo + hi - dilation * (k - 1) - 1));
  return arith::AddIOp::create(b, loc, arith::DivSIOp::create(b, loc, num, index(b, loc, stride)), index(b, loc, 1));
}

Value transposedOutputSize(OpBuilder &b, Location loc, Value in, int64_t k, int64_t stride, int64_t lo, int64_t hi,
                           int64_t dilation) {
  Value m = arith::MulIOp::create(b, loc, arith::SubIOp::create(b, loc, in, index(b, loc, 1)), index(b, loc, stride));
  return arith::AddIOp::create(b, loc, m, index(b, loc, dilation * (k - 1) + 1 - lo - hi));
}

} // namespace dlc
