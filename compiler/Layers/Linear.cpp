//===- Linear.cpp - dense and matmul --------------------------------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {

static bool requireFloat(LayerCall &c, size_t i, const char *what) {
  if (isFloat(c.inputs[i].dtype)) return true;
  return c.error(std::string(what) + " must be a floating-point tensor, got " + c.inputs[i].str());
}

void registerLinearLayers(LayerRegistry &r) {
  using namespace mlir::dl;

  LayerDef dense;
  dense.name = "dense";
  dense.withParams = true;
  dense.attrs = {{"units", AttrType::Int, std::nullopt, {"out_features"}},
                 {"bias", AttrType::Bool, AttrValue::ofBool(true)}};
  dense.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!requireFloat(c, 0, "the input")) return false;
    if (x.rank() == 0) return c.error("expects a tensor of rank >= 1, got a scalar");
    int64_t units = c.getInt("units");
    if (units <= 0) return c.error("units must be positive, got " + std::to_string(units));
    auto in = x.shape.back().constant();
    if (!in)
      return c.error("the last dim of the input sizes the weight and must be constant, got " +
                     x.shape.back().str() + " in " + x.str());
    c.result = x;
    c.result.shape.back() = SymExpr(units);
    c.params.push_back({"weight", TensorType{x.dtype, {SymExpr(units), SymExpr(*in)}}, fanInUniform(*in)});
    if (c.getBool("bias"))
      c.params.push_back({"bias", TensorType{x.dtype, {SymExpr(units)}}, fanInUniform(*in)});
    return true;
  };
  dense.build = [](GenCall &c) -> mlir::Value {
    mlir::Value bias = c.operands.size() > 2 ? c.operands[2] : mlir::Value();
    return DenseOp::create(c.b, c.loc, c.resultType, c.operands[0], c.operands[1], bias);
  };
  r.add(dense);

  LayerDef matmul;
  matmul.name = "matmul";
  matmul.numInputs = 2;
  matmul.infer = [](LayerCall &c) {
    if (!requireFloat(c, 0, "the left operand") || !requireFloat(c, 1, "the right operand"))
      return false;
    TensorType a = c.inputs[0], b = c.inputs[1];
    if (a.dtype != b.dtype)
      return c.error("operands have different dtypes: " + a.str() + " and " + b.str());
    if (a.rank() == 0 || b.rank() == 0) return c.error("operands must not be scalars");
    bool aVec = a.rank() == 1, bVec = b.rank() == 1;
    if (aVec) a.shape.insert(a.shape.begin(), SymExpr(int64_t(1)));
    if (bVec) b.shape.push_back(SymExpr(int64_t(1)));
    const SymExpr &k1 = a.shape.back(), &k2 = b.shape[b.rank() - 2];
    if (k1 != k2)
      return c.error("inner dims differ: " + c.inputs[0].str() + " @ " + c.inputs[1].str() +
                     " (" + k1.str() + " vs " + k2.str() + ")");
    std::vector<SymExpr> ba(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
    auto batch = broadcast(ba, bb);
    if (!batch)
      return c.error("batch dims of " + c.inputs[0].str() + " and " + c.inputs[1].str() +
                     " do not broadcast");
    std::vector<SymExpr> out = *batch;
    if (!aVec) out.push_back(a.shape[a.rank() - 2]);
    if (!bVec) out.push_back(b.shape.back());
    c.result = TensorType{a.dtype, out};
    return true;
  };
  matmul.build = [](GenCall &c) -> mlir::Value {
    TensorType a = c.inputTypes[0], b = c.inputTypes[1];
    mlir::Value lhs = c.operands[0], rhs = c.operands[1];
    bool aVec = a.rank() == 1, bVec = b.rank() == 1;
    // torch.matmul's 1-D rules: a vector on the left is a row, on the right a column, and
    // the added dim is dropped from the result.
    if (aVec) {
      std::vector<SymExpr> from = a.shape;
      a.shape.insert(a.shape.begin(), SymExpr(int64_t(1)));
      lhs = emitReshape(c.b, c.loc, lhs, from, a);
    }
    if (bVec) {
      std::vector<SymExpr> from = b.shape;
      b.shape.push_back(SymExpr(int64_t(1)));
      rhs = emitReshape(c.b, c.loc, rhs, from, b);
    }
    TensorType full = c.resultSym;
    if (aVec) full.shape.insert(full.shape.end() - (bVec ? 0 : 1), SymExpr(int64_t(1)));
    if (bVec) full.shape.push_back(SymExpr(int64_t(1)));
    mlir::Value prod = MatmulOp::create(c.b, c.loc, toMLIR(full, c.b.getContext()), lhs, rhs);
    if (!aVec && !bVec) return prod;
    return emitReshape(c.b, c.loc, prod, full.shape, c.resultSym);
  };
  r.add(matmul);
}

} // namespace dlc
