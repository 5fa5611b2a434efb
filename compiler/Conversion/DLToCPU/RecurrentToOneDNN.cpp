//===- RecurrentToOneDNN.cpp - lstm/gru -> the runtime's oneDNN RNN kernel ===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

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
    auto xt = op.getInput().getType();
    auto rt = op.getResult().getType();
    auto dim = [&](int64_t i) -> Value {
      if (xt.isDynamicDim(i)) return tensor::DimOp::create(rw, loc, x, i);
      return arith::ConstantIndexOp::create(rw, loc, xt.getDimSize(i));
    };
    auto cst = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(rw, loc, v); };
    Value b = dim(0), t = dim(1);
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < rt.getRank(); ++i)
      if (rt.isDynamicDim(i)) dyn.push_back(i == 0 ? b : t);
    Value out = allocResult(rw, loc, rt, dyn);
    Value geom = i64ArrayPointer(rw, loc,
                                 {b, t, dim(2), cst(op.getHidden()), cst(op.getLayers()), cst(op.getIsGru() ? 1 : 0),
                                  cst(op.getSequences() ? 1 : 0)});
    // The weights' addresses travel as one array of words.
    SmallVector<Value> addresses;
    for (Value w : op.getWeights()) {
      auto wt = cast<RankedTensorType>(w.getType());
      Value buf = bufferization::ToBufferOp::create(rw, loc, MemRefType::get(wt.getShape(), wt.getElementType()), w,
                                                    /*read_only=*/true);
      addresses.push_back(memref::ExtractAlignedPointerAsIndexOp::create(rw, loc, buf));
    }
    callRuntime(rw, loc, op, "dlrt_k_rnn_f32",
                {runtimeContext(op), siteOf(rw, loc, op), geom, i64ArrayPointer(rw, loc, addresses),
                 bufferPointer(rw, loc, x), bufferPointer(rw, loc, out)});
    rw.replaceOp(op, asTensor(rw, loc, out, rt));
    return success();
  }
};

} // namespace

void populateRecurrentToOneDNN(RewritePatternSet &patterns) { patterns.add<RecurrentToOneDNN>(patterns.getContext()); }

} // namespace dlc
