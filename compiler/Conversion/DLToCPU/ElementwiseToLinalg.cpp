//===- ElementwiseToLinalg.cpp - elementwise dl ops -> linalg.generic -----===//
//
// One pattern serves every elementwise op: the op supplies its scalar body through
// ScalarElementwiseOpInterface, the pattern supplies the loops and the broadcasting.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace dlc {

SmallVector<OpFoldResult> tensorSizes(OpBuilder &b, Location loc, Value t) {
  auto type = cast<RankedTensorType>(t.getType());
  SmallVector<OpFoldResult> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i) {
    if (type.isDynamicDim(i)) sizes.push_back(tensor::DimOp::create(b, loc, t, i).getResult());
    else sizes.push_back(b.getIndexAttr(type.getDimSize(i)));
  }
  return sizes;
}

Value dimOf(OpBuilder &b, Location loc, Value t, int64_t i) {
  auto type = cast<RankedTensorType>(t.getType());
  if (type.isDynamicDim(i)) return tensor::DimOp::create(b, loc, t, i);
  return arith::ConstantIndexOp::create(b, loc, type.getDimSize(i));
}

SmallVector<Value> broadcastDynamicSizes(OpBuilder &b, Location loc, RankedTensorType result,
                                         ValueRange operands) {
  SmallVector<Value> sizes;
  int64_t rank = result.getRank();
  for (int64_t d = 0; d < rank; ++d) {
    if (!result.isDynamicDim(d)) continue;
    Value size;
    for (Value o : operands) {
      auto ot = cast<RankedTensorType>(o.getType());
      int64_t od = d - (rank - ot.getRank());
      if (od < 0 || !ot.isDynamicDim(od)) continue;
      size = tensor::DimOp::create(b, loc, o, od);
      break;
    }
    // Every dynamic result dim lines up with a dynamic operand dim: static dims other than 1
    // would have made the result static.
    assert(size && "dynamic result dim without a dynamic operand dim");
    sizes.push_back(size);
  }
  return sizes;
}

Value reductionInit(OpBuilder &b, Location loc, Type elt, bool isMax) {
  if (auto ft = dyn_cast<FloatType>(elt)) {
    APFloat v = isMax ? APFloat::getInf(ft.getFloatSemantics(), /*Negative=*/true)
                      : APFloat::getZero(ft.getFloatSemantics());
    return arith::ConstantOp::create(b, loc, elt, b.getFloatAttr(elt, v));
  }
  unsigned w = elt.getIntOrFloatBitWidth();
  APInt v = isMax ? APInt::getSignedMinValue(w) : APInt::getZero(w);
  return arith::ConstantOp::create(b, loc, elt, b.getIntegerAttr(elt, v));
}

namespace {

struct ElementwiseToGeneric : public OpInterfaceRewritePattern<dl::ScalarElementwiseOpInterface> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(dl::ScalarElementwiseOpInterface iface,
                                PatternRewriter &rewriter) const override {
    Operation *op = iface.getOperation();
    Location loc = op->getLoc();
    auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
    ValueRange operands = op->getOperands();

    Value result = dl::buildBroadcastGeneric(rewriter, loc, resultType,
                                             broadcastDynamicSizes(rewriter, loc, resultType, operands), operands,
                                             [&](OpBuilder &b, Location l, ValueRange args) {
                                               return iface.buildScalar(b, l, args);
                                             });
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void populateElementwiseToLinalg(RewritePatternSet &patterns) {
  patterns.add<ElementwiseToGeneric>(patterns.getContext());
}

} // namespace dlc
