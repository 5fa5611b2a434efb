//===- BatchSeparable.cpp - which ops keep a batch's samples apart --------===//
//
// BatchSeparableOpInterface's answers (DLInterfaces.td). Each rule names the operands
// that may hold the batch and the attributes under which row i of the result comes from
// row i of those alone. A "yes" lets the runtime split a call's batch across threads, so
// each rule holds for every shape the op's verifier accepts; where that would take an
// argument the rule does not make, it says no.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"

using namespace mlir;
using namespace mlir::dl;

namespace {

int64_t rankOf(Value v) { return cast<ShapedType>(v.getType()).getRank(); }

/// Whether no operand but those at `allowed` is batched.
bool onlyBatched(ArrayRef<bool> batched, std::initializer_list<size_t> allowed) {
  for (size_t i = 0; i < batched.size(); ++i)
    if (batched[i] && !llvm::is_contained(allowed, i)) return false;
  return true;
}

/// The rule of ops that compute each row of their single input's dim 0 from that row
/// (pooling, a layout change, an RNN over a batch-first sequence): the input must be
/// batched, with a rank that leaves rows something to hold.
bool rowsOfInput(ArrayRef<bool> batched, Value input, int64_t minRank) {
  return !batched.empty() && batched[0] && onlyBatched(batched, {0}) && rankOf(input) >= minRank;
}

/// Ops along one axis or a set of axes (softmax, reductions, slices): dim 0 untouched.
bool leavesDim0(ArrayRef<bool> batched, Value input, ArrayRef<int64_t> axes) {
  return rowsOfInput(batched, input, 1) && !llvm::is_contained(axes, 0);
}

} // namespace

bool mlir::dl::broadcastKeepsSamplesApart(Operation *op, ArrayRef<bool> batched) {
  int64_t rank = rankOf(op->getResult(0));
  if (rank == 0) return false;
  for (auto [i, v] : llvm::enumerate(op->getOperands())) {
    // NumPy broadcasting aligns trailing dims: a batched operand's dim 0 is the result's
    // only at the same rank. An operand the same for every sample either lacks dim 0 or
    // broadcasts it from 1; any other size would have to equal the batch's.
    if (batched[i] ? rankOf(v) != rank : rankOf(v) == rank && cast<ShapedType>(v.getType()).getDimSize(0) != 1)
      return false;
  }
  return true;
}

// y = x W^T + b over the last dim: each row of x alone, for x of rank 2 or more.
bool DenseOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getInput(), 2); }

bool MatmulOp::keepsSamplesApart(ArrayRef<bool> batched) {
  int64_t a = rankOf(getLhs()), b = rankOf(getRhs()), r = rankOf(getResult());
  // A vector operand is contracted or dropped: its dim 0 is no batch.
  if (a < 2 || b < 2) return false;
  // [N, K] x [K, M]: the rows of the left operand; the right's dim 0 is summed over.
  if (r == 2) return batched[0] && !batched[1];
  // Otherwise dim 0 is a broadcast batch dim of both, aligned as elementwise broadcasting
  // aligns dims.
  return broadcastKeepsSamplesApart(getOperation(), batched);
}

// Every sample's queries attend to that sample's keys alone.
bool SelfAttentionOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getQkv(), 3); }
bool SoftmaxOp::keepsSamplesApart(ArrayRef<bool> batched) { return leavesDim0(batched, getInput(), {int64_t(getAxis())}); }
bool LogSoftmaxOp::keepsSamplesApart(ArrayRef<bool> batched) { return leavesDim0(batched, getInput(), {int64_t(getAxis())}); }
bool SumOp::keepsSamplesApart(ArrayRef<bool> batched) { return leavesDim0(batched, getInput(), getAxes()); }
bool MeanOp::keepsSamplesApart(ArrayRef<bool> batched) { return leavesDim0(batched, getInput(), getAxes()); }
bool MaxOp::keepsSamplesApart(ArrayRef<bool> batched) { return leavesDim0(batched, getInput(), getAxes()); }
bool SliceOp::keepsSamplesApart(ArrayRef<bool> batched) { return leavesDim0(batched, getInput(), {int64_t(getAxis())}); }
// The index of the largest value along the last dim.
bool ArgmaxOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getInput(), 2); }

// A row-major reshape keeps each sample's elements together, in order, exactly when the
// result's dim 0 is the input's dim 0: `from` maps it to the input range [0, 1). A dim 0
// of any other make (a quotient of the total, a product with other dims) regroups rows.
bool ReshapeOp::keepsSamplesApart(ArrayRef<bool> batched) {
  auto out = cast<ShapedType>(getResult().getType());
  ArrayRef<int64_t> from = getFrom();
  if (!rowsOfInput(batched, getInput(), 1) || out.getRank() == 0 || !out.isDynamicDim(0) || from.size() < 2 ||
      from[0] != 0 || from[1] != 1)
    return false;
  // No other dynamic dim may be a quotient of the total, which counts the whole batch.
  for (size_t i = 2; i + 1 < from.size(); i += 2)
    if (from[i] < 1) return false;
  return true;
}

bool TransposeOp::keepsSamplesApart(ArrayRef<bool> batched) {
  return rowsOfInput(batched, getInput(), 1) && getPerm()[0] == 0;
}

// Normalised over the last dim; batch norm's inference form uses running statistics.
bool LayerNormOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getInput(), 2); }
bool BatchNormOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getInput(), 2); }

// Rows of the table gathered by ids: result [ids..., D].
bool EmbeddingOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getIds(), 1); }
// Rows 0..T-1 of the table for ids [B, T]: the same for every sample.
bool PositionEmbeddingOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getIds(), 2); }

// Along another axis, every operand needs the batch's rows; one the same for every sample
// would need a dim 0 the size of the batch.
bool ConcatOp::keepsSamplesApart(ArrayRef<bool> batched) {
  return getAxis() != 0 && llvm::all_of(batched, [](bool b) { return b; });
}

// -inf above the diagonal of the last two dims.
bool CausalMaskOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getInput(), 3); }

// Each image of the batch convolved alone. The residual added after has the result's
// shape, so it holds the batch too; weight, bias and folded batch norm are the same for
// every sample.
bool Conv2DOp::keepsSamplesApart(ArrayRef<bool> batched) {
  if (batched.empty() || !batched[0] || rankOf(getInput()) != 4) return false;
  for (OpOperand &use : getOperation()->getOpOperands())
    if (batched[use.getOperandNumber()] != (use.get() == getInput() || use.get() == getResidual())) return false;
  return true;
}
bool ConvTranspose2DOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getInput(), 4); }
bool Pool2DOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getInput(), 4); }
// [N][C/16][H][W][16]: each image's blocks stay its own.
bool BlockChannelsOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getInput(), 4); }

// A batch-first sequence: each sample's recurrence runs over its own steps.
bool RecurrentOp::keepsSamplesApart(ArrayRef<bool> batched) { return rowsOfInput(batched, getInput(), 3); }
