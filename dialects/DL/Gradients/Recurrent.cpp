//===- Recurrent.cpp - the gradient of lstm and gru -----------------------===//
//
// dl.recurrent's gradient is one dl.recurrent_backward, for the input and every weight
// at once: a target runs backpropagation through time as a whole (oneDNN's RNN backward
// batches each weight's gradient over all steps into one GEMM). A target without such a
// kernel unrolls the recurrence into dl ops before autodiff (dl-unroll-recurrent), and
// autodiff composes those ops' gradients instead.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"

using namespace mlir;
using namespace mlir::dl;

LogicalResult RecurrentOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                         SmallVectorImpl<Value> &grads) {
  SmallVector<Type> types{getInput().getType()};
  for (Value w : getWeights()) types.push_back(w.getType());
  auto back = RecurrentBackwardOp::create(b, getLoc(), types, resultGrads[0], getInput(), getWeights(), getIsGruAttr(),
                                          getHiddenAttr(), getLayersAttr(), getSequencesAttr());
  grads.push_back(needed[0] ? back.getInputGrad() : Value());
  for (auto [want, g] : llvm::zip(needed.drop_front(), back.getWeightGrads())) grads.push_back(want ? g : Value());
  return success();
}
