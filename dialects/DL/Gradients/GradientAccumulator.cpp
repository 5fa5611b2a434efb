//===- GradientAccumulator.cpp - gradients summed per value ---------------===//
#include "dialects/DL/Gradients/GradientAccumulator.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;
using namespace mlir::dl;

namespace {

/// A gradient that is zero outside one slice (a slice's gradient: the slice's gradient
/// inserted into zeros): the insert_slice, else null.
tensor::InsertSliceOp zeroOutsideSlice(Value g) {
  auto insert = g.getDefiningOp<tensor::InsertSliceOp>();
  if (!insert) return {};
  auto fill = insert.getDest().getDefiningOp<linalg::FillOp>();
  if (!fill) return {};
  auto zero = fill.getInputs()[0].getDefiningOp<arith::ConstantOp>();
  auto value = zero ? dyn_cast<FloatAttr>(zero.getValue()) : FloatAttr();
  return value && value.getValue().isZero() ? insert : tensor::InsertSliceOp();
}

} // namespace

void GradientAccumulator::accumulate(OpBuilder &b, Value operand, Value g) {
  if (g.getType() != operand.getType()) g = tensor::CastOp::create(b, g.getLoc(), operand.getType(), g);
  Value &slot = grads[operand];
  if (!slot) {
    slot = g;
    if (tensor::InsertSliceOp insert = zeroOutsideSlice(g)) written[g] = addSlice(SliceBox(insert), -1);
    return;
  }
  // Adding a gradient that is zero outside a slice touches only the slice: an unrolled
  // recurrence reads each step's slice of one tensor, and adding full-size zero-padded
  // gradients would cost steps x the tensor's size.
  Value full = slot, part = g;
  tensor::InsertSliceOp insert = zeroOutsideSlice(part);
  if (!insert) {
    std::swap(full, part);
    insert = zeroOutsideSlice(part);
  }
  if (insert) {
    Location loc = g.getLoc();
    // Where `full` is known to be zero in the slice (it is zero outside slices it was
    // given, and this one misses them all: the steps of a recurrence, the gates of a
    // cell), the sum is the part itself, inserted without reading `full` first. Beside
    // saving the read and the add, this keeps one-shot bufferization linear in the
    // steps: every read of an accumulator in the middle of its chain of inserts made
    // the analysis walk the chain again (a 128-step LSTM's train step spent 24 s there).
    SliceBox box(insert);
    auto known = written.find(full);
    bool untouched = known != written.end();
    for (int i = untouched ? known->second : -1; i >= 0 && untouched; i = slices[i].previous)
      untouched = slices[i].box.disjoint(box);
    Value sum = insert.getSource();
    if (!untouched) {
      Value current = tensor::ExtractSliceOp::create(b, loc, insert.getSourceType(), full,
                                                     insert.getMixedOffsets(), insert.getMixedSizes(),
                                                     insert.getMixedStrides());
      sum = dl::AddOp::create(b, loc, current, sum);
    }
    Value result = tensor::InsertSliceOp::create(b, loc, sum, full, insert.getMixedOffsets(),
                                                 insert.getMixedSizes(), insert.getMixedStrides());
    if (known != written.end()) written[result] = addSlice(box, known->second);
    slot = result;
    return;
  }
  slot = dl::AddOp::create(b, g.getLoc(), slot, g);
}
