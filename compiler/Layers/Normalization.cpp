//===- Normalization.cpp - batch_norm and layer_norm -----------------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"
#include "dialects/DL/Gradients/GradientBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

namespace dlc {
namespace {

/// batch_norm in training, as torch.nn.BatchNorm*d.train(): dl.batch_norm_train normalises
/// with the batch's mean and biased variance over every dim but 1 and returns them; the
/// buffers are updated with momentum m: running_mean = (1 - m) running_mean + m mean,
/// running_var likewise with the unbiased variance (times n / (n - 1), n the values per
/// channel), num_batches_tracked + 1.
mlir::Value buildBatchNormTraining(GenCall &c) {
  mlir::OpBuilder &b = c.b;
  mlir::Location loc = c.loc;
  // PyTorch refuses batch statistics of a single value per channel.
  mlir::Value x = mlir::dl::ChannelCountCheckOp::create(b, loc, c.operands[0].getType(), c.operands[0],
                                                        b.getI64IntegerAttr(2), b.getStringAttr("batch_norm"));
  auto xt = mlir::cast<mlir::RankedTensorType>(x.getType());
  mlir::Type elt = xt.getElementType();
  auto vecType = mlir::cast<mlir::RankedTensorType>(c.operands[3].getType());
  double eps = c.attrs.at("eps").f, m = c.attrs.at("momentum").f;
  auto bn = mlir::dl::BatchNormTrainOp::create(b, loc, mlir::TypeRange{xt, vecType, vecType}, x, c.operands[1],
                                               c.operands[2], /*residual=*/mlir::Value(), b.getF64FloatAttr(eps));
  if (c.bufferUpdates) {
    llvm::SmallVector<int64_t> axes = {0};
    for (int64_t d = 2; d < xt.getRank(); ++d) axes.push_back(d);
    mlir::Value n = mlir::dl::countOf(b, loc, x, axes, elt);
    mlir::Value unbias = mlir::arith::DivFOp::create(
        b, loc, n, mlir::arith::SubFOp::create(b, loc, n, mlir::dl::floatConst(b, loc, elt, 1.0)));
    auto blend = [&](mlir::Value running, mlir::Value batch, mlir::Value factor) {
      return mlir::dl::mapLike(b, loc, running, elt, {running, batch},
                               [&](mlir::OpBuilder &nb, mlir::Location l, mlir::ValueRange a) -> mlir::Value {
                                 mlir::Value stat = factor ? mlir::arith::MulFOp::create(nb, l, a[1], factor) : a[1];
                                 mlir::Value keep = mlir::arith::MulFOp::create(
                                     nb, l, a[0], mlir::dl::floatConst(nb, l, elt, 1.0 - m));
                                 mlir::Value add =
                                     mlir::arith::MulFOp::create(nb, l, stat, mlir::dl::floatConst(nb, l, elt, m));
                                 return mlir::arith::AddFOp::create(nb, l, keep, add);
                               });
    };
    mlir::Value tracked = c.operands[5];
    mlir::Type i64 = b.getI64Type();
    c.bufferUpdates->push_back({c.operands[3], blend(c.operands[3], bn.getMean(), {})});
    c.bufferUpdates->push_back({c.operands[4], blend(c.operands[4], bn.getVar(), unbias)});
    c.bufferUpdates->push_back(
        {tracked, mlir::dl::mapLike(b, loc, tracked, i64, {tracked},
                                    [&](mlir::OpBuilder &nb, mlir::Location l, mlir::ValueRange a) -> mlir::Value {
                                      return mlir::arith::AddIOp::create(
                                          nb, l, a[0], mlir::arith::ConstantOp::create(nb, l, nb.getI64IntegerAttr(1)));
                                    })});
  }
  return bn.getResult();
}

} // namespace

void registerNormalizationLayers(LayerRegistry &r) {
  LayerDef bn;
  bn.name = "batch_norm";
  bn.withParams = true;
  bn.trainOnlyBehaviour = true;
  bn.attrs = {{"momentum", AttrType::Float, AttrValue::ofFloat(0.1)},
              {"eps", AttrType::Float, AttrValue::ofFloat(1e-5)}};
  bn.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() < 2 || x.rank() > 5)
      return c.error("expects [N, C], [N, C, L] or [N, C, H, W], got " + x.str());
    auto ch = x.shape[1].constant();
    if (!ch) return c.error("the channel dim (1) sizes the parameters and must be constant, got " + x.str());
    if (c.getFloat("eps") <= 0) return c.error("eps must be positive");
    c.result = x;
    TensorType vec{x.dtype, {SymExpr(*ch)}};
    c.params = {{"weight", vec, {ParamInit::Ones}},
                {"bias", vec, {ParamInit::Zeros}},
                {"running_mean", vec, {ParamInit::Zeros}, true},
                {"running_var", vec, {ParamInit::Ones}, true},
                {"num_batches_tracked", TensorType{DType::I64, {}}, {ParamInit::Zeros}, true}};
    return true;
  };
  // Operands: x, weight, bias, running_mean, running_var, num_batches_tracked. Inference
  // normalises with the running statistics; training with the batch's, and updates them.
  bn.build = [](GenCall &c) -> mlir::Value {
    if (c.training) return buildBatchNormTraining(c);
    return mlir::dl::BatchNormOp::create(c.b, c.loc, c.resultType, c.operands[0], c.operands[1], c.operands[2],
                                         c.operands[3], c.operands[4], c.b.getF64FloatAttr(c.attrs.at("eps").f));
  };
  r.add(bn);

  LayerDef ln;
  ln.name = "layer_norm";
  ln.withParams = true;
  ln.attrs = {{"eps", AttrType::Float, AttrValue::ofFloat(1e-5)}};
  ln.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() == 0) return c.error("expects a tensor of rank >= 1");
    auto d = x.shape.back().constant();
    if (!d) return c.error("the last dim sizes the parameters and must be constant, got " + x.str());
    if (c.getFloat("eps") <= 0) return c.error("eps must be positive");
    c.result = x;
    TensorType vec{x.dtype, {SymExpr(*d)}};
    c.params = {{"weight", vec, {ParamInit::Ones}}, {"bias", vec, {ParamInit::Zeros}}};
    return true;
  };
  ln.build = [](GenCall &c) -> mlir::Value {
    return mlir::dl::LayerNormOp::create(c.b, c.loc, c.resultType, c.operands[0], c.operands[1], c.operands[2],
                                         c.b.getF64FloatAttr(c.attrs.at("eps").f));
  };
  r.add(ln);
}

} // namespace dlc
