//===- Embedding.cpp - embedding and position_embedding -------------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {

static bool checkIds(LayerCall &c) {
  if (!isInteger(c.inputs[0].dtype))
    return c.error("ids must be an i64 or i32 tensor, got " + c.inputs[0].str());
  return true;
}

void registerEmbeddingLayers(LayerRegistry &r) {
  LayerDef emb;
  emb.name = "embedding";
  emb.withParams = true;
  emb.attrs = {{"num", AttrType::Int, std::nullopt, {"num_embeddings"}},
               {"dim", AttrType::Int, std::nullopt, {"embedding_dim"}}};
  emb.infer = [](LayerCall &c) {
    if (!checkIds(c)) return false;
    int64_t num = c.getInt("num"), dim = c.getInt("dim");
    if (num <= 0 || dim <= 0) return c.error("num and dim must be positive");
    c.result = TensorType{DType::F32, c.inputs[0].shape};
    c.result.shape.push_back(SymExpr(dim));
    c.params.push_back({"weight", TensorType{DType::F32, {SymExpr(num), SymExpr(dim)}},
                        ParamInit{ParamInit::Normal, 0, 1}});
    return true;
  };
  emb.build = [](GenCall &c) -> mlir::Value {
    return mlir::dl::EmbeddingOp::create(c.b, c.loc, c.resultType, c.operands[0], c.operands[1]);
  };
  r.add(emb);

  LayerDef pos;
  pos.name = "position_embedding";
  pos.withParams = true;
  pos.attrs = {{"max_len", AttrType::Int, std::nullopt},
               {"dim", AttrType::Int, std::nullopt, {"embedding_dim"}}};
  pos.infer = [](LayerCall &c) {
    if (!checkIds(c)) return false;
    const TensorType &ids = c.inputs[0];
    if (ids.rank() != 2) return c.error("ids must be [B, T], got " + ids.str());
    int64_t maxLen = c.getInt("max_len"), dim = c.getInt("dim");
    if (maxLen <= 0 || dim <= 0) return c.error("max_len and dim must be positive");
    if (auto t = ids.shape[1].constant(); t && *t > maxLen)
      return c.error("sequence length " + std::to_string(*t) + " exceeds max_len " + std::to_string(maxLen));
    c.result = TensorType{DType::F32, {ids.shape[0], ids.shape[1], SymExpr(dim)}};
    c.params.push_back({"weight", TensorType{DType::F32, {SymExpr(maxLen), SymExpr(dim)}},
                        ParamInit{ParamInit::Normal, 0, 1}});
    return true;
  };
  pos.build = [](GenCall &c) -> mlir::Value {
    return mlir::dl::PositionEmbeddingOp::create(c.b, c.loc, c.resultType, c.operands[0], c.operands[1]);
  };
  r.add(pos);
}

} // namespace dlc
