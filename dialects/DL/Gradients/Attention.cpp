//===- Attention.cpp - the gradient of self_attention ---------------------===//
//
// One backward op from the result's gradient and the forward's packed projection: a
// target recomputes the attention weights (as FlashAttention's backward does) rather than
// keep a [B, heads, T, T] tensor alive from the forward to the backward pass, or expands
// the op into matmul, softmax and their gradients.
//
//===----------------------------------------------------------------------===//
#include "dialects/DL/DLOps.h"

using namespace mlir;
using namespace mlir::dl;

LogicalResult SelfAttentionOp::buildGradient(OpBuilder &b, ValueRange resultGrads, ArrayRef<bool> needed,
                                             SmallVectorImpl<Value> &grads) {
  grads.push_back(needed[0] ? Value(SelfAttentionBackwardOp::create(b, getLoc(), getQkv().getType(), resultGrads[0],
                                                                    getQkv(), getHeadsAttr(), getCausalAttr()))
                            : Value());
  return success();
}
