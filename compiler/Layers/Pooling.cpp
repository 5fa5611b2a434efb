//===- Pooling.cpp - max, average and global average pooling -------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {

static LayerDef pool2d(const std::string &name, bool isMax) {
  LayerDef d;
  d.name = name;
  d.attrs = {{"kernel", AttrType::IntOrPair, std::nullopt, {"kernel_size"}},
             {"stride", AttrType::IntOrPair, AttrValue::none()},
             {"padding", AttrType::IntOrPair, AttrValue::ofInt(0)}};
  d.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() != 4) return c.error("expects a rank-4 input [N, C, H, W], got " + x.str());
    std::vector<int64_t> k = c.getInts("kernel");
    std::vector<int64_t> s = c.has("stride") ? c.getInts("stride") : k;
    std::vector<int64_t> p = c.getInts("padding");
    c.result = TensorType{x.dtype, {x.shape[0], x.shape[1]}};
    for (size_t i = 0; i < 2; ++i) {
      if (k[i] <= 0 || s[i] <= 0) return c.error("kernel and stride must be positive");
      if (p[i] < 0 || 2 * p[i] > k[i])
        return c.error("padding must be at most half the kernel, as in PyTorch");
      SymExpr out = floorDiv(x.shape[2 + i] + SymExpr(2 * p[i] - k[i]), SymExpr(s[i])) + SymExpr(int64_t(1));
      if (auto o = out.constant(); o && *o <= 0)
        return c.error("the kernel does not fit the input " + x.str());
      if (!out.isConstant()) c.needs.push_back({out, 1, 1, "the kernel does not fit the input"});
      c.result.shape.push_back(out);
    }
    return true;
  };
  d.build = [isMax](GenCall &c) -> mlir::Value {
    std::vector<int64_t> k = attrInts(c.attrs.at("kernel"));
    std::vector<int64_t> s = c.attrs.at("stride").kind == AttrValue::None ? k : attrInts(c.attrs.at("stride"));
    std::vector<int64_t> p = attrInts(c.attrs.at("padding"));
    return mlir::dl::Pool2DOp::create(c.b, c.loc, c.resultType, c.operands[0], c.b.getBoolAttr(isMax),
                                      c.b.getDenseI64ArrayAttr(k), c.b.getDenseI64ArrayAttr(s),
                                      c.b.getDenseI64ArrayAttr({p[0], p[1], p[0], p[1]}), nullptr, nullptr);
  };
  return d;
}

void registerPoolingLayers(LayerRegistry &r) {
  r.add(pool2d("max_pool2d", true));
  r.add(pool2d("avg_pool2d", false));
  LayerDef g;
  g.name = "global_avg_pool2d";
  g.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() != 4) return c.error("expects a rank-4 input [N, C, H, W], got " + x.str());
    c.result = TensorType{x.dtype, {x.shape[0], x.shape[1]}};
    return true;
  };
  g.build = [](GenCall &c) -> mlir::Value {
    return mlir::dl::MeanOp::create(c.b, c.loc, c.resultType, c.operands[0], c.b.getDenseI64ArrayAttr({2, 3}),
                                    c.b.getBoolAttr(false));
  };
  r.add(g);
}

} // namespace dlc
