//===- Recurrent.cpp - lstm and gru with PyTorch's parameters -------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

namespace dlc {
namespace {

/// The recurrence of the train step, unrolled over a static sequence length into dl ops
/// (PyTorch's formulas, gate order i, f, g, o for LSTM and r, z, n for GRU; zero initial
/// states), so that autodiff composes the ops' gradients into backpropagation through
/// time on every kernel path. The input projections of all steps are one dense per layer;
/// each step adds its hidden projection. Inference keeps the fused dl.recurrent kernel.
mlir::Value buildUnrolled(GenCall &c, bool gru) {
  namespace dl = mlir::dl;
  mlir::OpBuilder &b = c.b;
  mlir::Location loc = c.loc;
  mlir::Value seq = c.operands[0];
  auto xt = mlir::cast<mlir::RankedTensorType>(seq.getType());
  mlir::Type elt = xt.getElementType();
  int64_t batch = xt.getDimSize(0), steps = xt.getDimSize(1);
  int64_t h = c.attrs.at("hidden").i, layers = c.attrs.at("layers").i, gates = gru ? 3 : 4;
  auto type = [&](int64_t t, int64_t width) { return mlir::RankedTensorType::get({batch, t, width}, elt); };
  auto part = [&](mlir::Value v, int64_t k) -> mlir::Value { // gate k of a [B, 1, G*H] or [G*H] value
    auto vt = mlir::cast<mlir::RankedTensorType>(v.getType());
    int64_t axis = vt.getRank() - 1;
    llvm::SmallVector<int64_t> shape(vt.getShape());
    shape[axis] = h;
    return dl::SliceOp::create(b, loc, mlir::RankedTensorType::get(shape, elt), v, axis, k * h, (k + 1) * h);
  };
  auto sigmoid = [&](mlir::Value v) -> mlir::Value { return dl::SigmoidOp::create(b, loc, v.getType(), v); };
  auto tanh = [&](mlir::Value v) -> mlir::Value { return dl::TanhOp::create(b, loc, v.getType(), v); };
  auto add = [&](mlir::Value x, mlir::Value y) -> mlir::Value { return dl::AddOp::create(b, loc, x, y); };
  auto sub = [&](mlir::Value x, mlir::Value y) -> mlir::Value { return dl::SubOp::create(b, loc, x, y); };
  auto mul = [&](mlir::Value x, mlir::Value y) -> mlir::Value { return dl::MulOp::create(b, loc, x, y); };
  mlir::Value hidden, cell;
  for (int64_t l = 0; l < layers; ++l) {
    mlir::Value wih = c.operands[1 + 4 * l], whh = c.operands[2 + 4 * l], bih = c.operands[3 + 4 * l],
                bhh = c.operands[4 + 4 * l];
    mlir::Value projected = dl::DenseOp::create(b, loc, type(steps, gates * h), seq, wih, bih);
    llvm::SmallVector<mlir::Value> outputs;
    for (int64_t t = 0; t < steps; ++t) {
      mlir::Value xs = dl::SliceOp::create(b, loc, type(1, gates * h), projected, 1, t, t + 1);
      // The hidden projection; at t = 0 the state is zero and only its bias remains. A
      // one-step sequence still projects the zero state, as PyTorch's kernel does: the
      // hidden weight then gets a zero gradient rather than none, so that weight decay
      // and momentum update it as torch.optim does (a parameter without a gradient is
      // skipped).
      mlir::Value hs = bhh;
      if (t || steps == 1)
        hs = dl::DenseOp::create(b, loc, type(1, gates * h), t ? hidden : dl::zerosLike(b, loc, part(xs, 0)), whh, bhh);
      if (gru) {
        mlir::Value r = sigmoid(add(part(xs, 0), part(hs, 0)));
        mlir::Value z = sigmoid(add(part(xs, 1), part(hs, 1)));
        mlir::Value n = tanh(add(part(xs, 2), mul(r, part(hs, 2))));
        // h' = (1 - z) n + z h = n + z (h - n)
        hidden = t ? add(n, mul(z, sub(hidden, n))) : sub(n, mul(z, n));
      } else {
        mlir::Value pre = add(xs, hs);
        mlir::Value i = sigmoid(part(pre, 0)), f = sigmoid(part(pre, 1)), g = tanh(part(pre, 2)),
                    o = sigmoid(part(pre, 3));
        cell = t ? add(mul(f, cell), mul(i, g)) : mul(i, g);
        hidden = mul(o, tanh(cell));
      }
      outputs.push_back(hidden);
    }
    bool needSequence = l + 1 < layers || c.attrs.at("sequences").b;
    if (needSequence)
      seq = steps == 1 ? outputs[0] : mlir::Value(dl::ConcatOp::create(b, loc, type(steps, h), outputs, 1));
  }
  if (c.attrs.at("sequences").b) return seq;
  // The last step's state, [B, 1, H] -> [B, H].
  return dl::ReshapeOp::create(b, loc, c.resultType, hidden,
                               b.getDenseI64ArrayAttr(mlir::ShapedType::isDynamic(batch) ? llvm::ArrayRef<int64_t>{0, 1}
                                                                                         : llvm::ArrayRef<int64_t>{}));
}

} // namespace

/// LSTM (4 gates) and GRU (3 gates) share the shape rule and parameter layout of
/// torch.nn.LSTM/GRU(batch_first=True): weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k},
/// bias_hh_l{k}, all drawn from U(-1/sqrt(hidden), 1/sqrt(hidden)).
static LayerDef recurrent(const std::string &name, int64_t gates) {
  LayerDef d;
  d.name = name;
  d.withParams = true;
  d.attrs = {{"hidden", AttrType::Int, std::nullopt, {"hidden_size"}},
             {"layers", AttrType::Int, AttrValue::ofInt(1), {"num_layers"}},
             {"sequences", AttrType::Bool, AttrValue::ofBool(true)}};
  d.infer = [gates](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() != 3) return c.error("expects a batch-first sequence [B, T, D], got " + x.str());
    auto in = x.shape[2].constant();
    if (!in) return c.error("the feature dim sizes the weights and must be constant, got " + x.str());
    int64_t h = c.getInt("hidden"), layers = c.getInt("layers");
    if (h <= 0 || layers <= 0) return c.error("hidden and layers must be positive");
    ParamInit init = fanInUniform(h);
    for (int64_t l = 0; l < layers; ++l) {
      std::string k = std::to_string(l);
      int64_t width = l == 0 ? *in : h;
      c.params.push_back({"weight_ih_l" + k, TensorType{x.dtype, {SymExpr(gates * h), SymExpr(width)}}, init});
      c.params.push_back({"weight_hh_l" + k, TensorType{x.dtype, {SymExpr(gates * h), SymExpr(h)}}, init});
      c.params.push_back({"bias_ih_l" + k, TensorType{x.dtype, {SymExpr(gates * h)}}, init});
      c.params.push_back({"bias_hh_l" + k, TensorType{x.dtype, {SymExpr(gates * h)}}, init});
    }
    c.result = c.getBool("sequences") ? TensorType{x.dtype, {x.shape[0], x.shape[1], SymExpr(h)}}
                                      : TensorType{x.dtype, {x.shape[0], SymExpr(h)}};
    return true;
  };
  d.build = [gates](GenCall &c) -> mlir::Value {
    // Training unrolls a static-length recurrence (see buildUnrolled); a dynamic length
    // keeps the kernel, which has no gradient, and autodiff says so.
    auto xt = mlir::cast<mlir::RankedTensorType>(c.operands[0].getType());
    if (c.training && !xt.isDynamicDim(1) && xt.getDimSize(1) > 0) return buildUnrolled(c, gates == 3);
    std::vector<mlir::Value> weights(c.operands.begin() + 1, c.operands.end());
    return mlir::dl::RecurrentOp::create(c.b, c.loc, c.resultType, c.operands[0], weights, c.b.getBoolAttr(gates == 3),
                                         c.b.getI64IntegerAttr(c.attrs.at("hidden").i),
                                         c.b.getI64IntegerAttr(c.attrs.at("layers").i),
                                         c.b.getBoolAttr(c.attrs.at("sequences").b));
  };
  return d;
}

void registerRecurrentLayers(LayerRegistry &r) {
  r.add(recurrent("lstm", 4));
  r.add(recurrent("gru", 3));
}

} // namespace dlc
