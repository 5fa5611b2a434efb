//===- SelfAttention.h - self_attention in finer dl ops ---------*- C++ -*-===//
//
// What dl.self_attention means, as dl ops: the layer emits this expansion itself where a
// step of it needs an op between the pieces (dropout on the attention weights in
// training), and targets without an attention kernel lower self_attention and its
// gradient through it.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_DIALECTS_DL_SELFATTENTION_H
#define DLC_DIALECTS_DL_SELFATTENTION_H

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::dl {

/// self_attention of `qkv` [B, T, 3E] as nn.MultiheadAttention computes it: q, k and v
/// sliced from the packed projection, heads split out of the last dim, q divided by
/// sqrt(head_dim), q k^T, the causal -inf mask, softmax along the keys, `onWeights`
/// (when given) applied to the attention weights, times v, heads merged: [B, T, E].
Value expandSelfAttention(OpBuilder &b, Location loc, Value qkv, int64_t heads, bool causal,
                          llvm::function_ref<Value(Value)> onWeights = {});

/// self_attention_backward in dl ops: the expansion above recomputed from `qkv`, then the
/// gradient rules of its ops in reverse order from `grad` [B, T, E]. Fails where a rule
/// does.
FailureOr<Value> expandSelfAttentionGradient(OpBuilder &b, Location loc, Value grad, Value qkv, int64_t heads,
                                             bool causal);

} // namespace mlir::dl
#endif
