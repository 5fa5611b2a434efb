//===- RecurrentToOneDNN.cpp - lstm/gru -> the runtime's oneDNN RNN kernel ===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;

namespace dlc {
namespace {

struct RecurrentToOneDNN : public OpRewritePattern<dl::RecurrentOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::RecurrentOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto rt = op.getResult().getType();
    auto cst = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(rw, loc, v); };
    Value b = dimOf(rw, loc, x, 0), t = dimOf(rw, loc, x, 1);
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < rt.getRank(); ++i)
      if (rt.isDynamicDim(i)) dyn.push_back(i == 0 ? b : t);
    Value geom = i64Array(rw, loc,
                                 {b, t, dimOf(rw, loc, x, 2), cst(op.getHidden()), cst(op.getLayers()), cst(op.getIsGru() ? 1 : 0),
                                  cst(op.getSequences() ? 1 : 0)});
    rw.replaceOp(op, KernelCall(rw, loc, op, "dlrt_k_rnn_f32")
                         .in(geom)
                         .addresses(op.getWeights())
                         .in(x)
                         .out(rt, dyn)
                         .optional(Value()) // workspace: training form only
                         .emitResult());
    return success();
  }
};

} // namespace

void populateRecurrentToOneDNN(RewritePatternSet &patterns) { patterns.add<RecurrentToOneDNN>(patterns.getContext()); }

} // namespace dlc
