//===- ReuseDeadInputs.cpp - elementwise results into a dying operand -----===//
//
// An elementwise linalg.generic computes into a tensor.empty, which one-shot
// bufferization turns into a new buffer, so its input and its result are alive at
// once. Where an input of the result's type is read by nothing else, the result can
// take that input's buffer: this pass makes that input the generic's init, and
// bufferization writes in place (it still copies where its analysis finds a later
// reader). A relu after a convolution (not a oneDNN post-op, see FuseActivations)
// otherwise doubled that activation's memory: ResNet-18's inference arena at batch 16
// was 98 MiB where the fused relu needed 61.
//
// Only operands made by ops of this function qualify: an input or parameter arrives
// through a read-only to_tensor, which bufferization would copy first. A result that
// ends in an output buffer or a concat slice keeps its tensor.empty, which
// dl-eliminate-empty-tensors replaces by that place.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Bufferize/FinalPlace.h"
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLREUSEDEADINPUTS
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// The op that made the buffer `v` views, and whether nothing but `v`'s one use reads
/// that buffer: dl-collapse-loop-dims hands an elementwise generic its operands reshaped,
/// and a reshape used once may view a tensor that is read again later (a dense layer's
/// result that GELU's gradient reads in a train step). Writing there in place makes
/// bufferization copy the tensor first: a serial memcpy of the whole operand (2 MiB per
/// GELU in TinyGpt's train step at batch 16) where a new buffer costs nothing.
std::pair<Operation *, bool> viewedProducer(Value v) {
  while (true) {
    if (!v.hasOneUse()) return {v.getDefiningOp(), false};
    Operation *producer = v.getDefiningOp();
    if (!isa_and_nonnull<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(producer)) return {producer, true};
    v = producer->getOperand(0);
  }
}

/// The input of `op` whose buffer its result can take, if any.
Value dyingInput(linalg::GenericOp op) {
  if (op.getNumDpsInits() != 1 || op.getNumParallelLoops() != op.getNumLoops()) return {};
  OpOperand *init = op.getDpsInitOperand(0);
  Value empty = init->get();
  // dl-collapse-loop-dims leaves the empty tensor reshaped.
  if (auto reshape = empty.getDefiningOp<tensor::CollapseShapeOp>()) empty = reshape.getSrc();
  if (!empty.getDefiningOp<tensor::EmptyOp>() || op.payloadUsesValueFromOperand(init)) return {};
  Type resultType = op.getResult(0).getType();
  if (!op.getMatchingIndexingMap(init).isIdentity()) return {};
  if (endsInFinalPlace(op)) return {};
  for (OpOperand *in : op.getDpsInputOperands()) {
    Value v = in->get();
    auto [producer, dying] = viewedProducer(v);
    if (v.getType() != resultType || !dying || !op.getMatchingIndexingMap(in).isIdentity() || !producer ||
        isa<bufferization::ToTensorOp, arith::ConstantOp>(producer))
      continue;
    return v;
  }
  return {};
}

struct ReuseDeadInputsPass : public impl::DLReuseDeadInputsBase<ReuseDeadInputsPass> {
  void runOnOperation() override {
    getOperation()->walk([](linalg::GenericOp op) {
      if (Value v = dyingInput(op)) op.getDpsInitOperand(0)->set(v);
    });
  }
};

} // namespace
} // namespace dlc
