//===- Convolution.cpp - conv1d, conv2d, conv_transpose2d -----------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {
namespace {

/// PyTorch's output size of a convolution along one dim.
SymExpr convOut(const SymExpr &in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return floorDiv(in + SymExpr(2 * p - d * (k - 1) - 1), SymExpr(s)) + SymExpr(int64_t(1));
}

/// One value per spatial dim from an int-or-pair attribute.
std::vector<int64_t> perDim(const std::map<std::string, AttrValue> &attrs, const std::string &n, size_t spatial) {
  std::vector<int64_t> out = attrInts(attrs.at(n));
  out.resize(spatial, out.empty() ? 0 : out.back());
  return out;
}

/// conv1d runs as conv2d with H = 1: a [N, C, L] input is viewed as [N, C, 1, L].
mlir::Value emitConvolution(GenCall &c, size_t spatial) {
  std::vector<int64_t> k = perDim(c.attrs, "kernel", spatial), s = perDim(c.attrs, "stride", spatial),
                       d = perDim(c.attrs, "dilation", spatial);
  std::vector<int64_t> lo(spatial), hi(spatial);
  if (c.attrs.at("padding").kind == AttrValue::String) {
    // "same": PyTorch pads d*(k-1) in total, the odd element at the end.
    for (size_t i = 0; i < spatial; ++i) {
      lo[i] = d[i] * (k[i] - 1) / 2;
      hi[i] = d[i] * (k[i] - 1) - lo[i];
    }
  } else {
    lo = hi = perDim(c.attrs, "padding", spatial);
  }
  mlir::Value x = c.operands[0], w = c.operands[1];
  mlir::Value bias = c.operands.size() > 2 ? c.operands[2] : mlir::Value();
  TensorType xt = c.inputTypes[0], rt = c.resultSym;
  if (spatial == 1) {
    TensorType x4 = xt, r4 = rt;
    x4.shape.insert(x4.shape.begin() + 2, SymExpr(int64_t(1)));
    r4.shape.insert(r4.shape.begin() + 2, SymExpr(int64_t(1)));
    x = emitReshape(c.b, c.loc, x, xt.shape, x4);
    auto wType = llvm::cast<mlir::RankedTensorType>(w.getType());
    TensorType w3{xt.dtype, {}}, w4{xt.dtype, {}};
    for (int64_t dim : wType.getShape()) w3.shape.push_back(SymExpr(dim));
    w4 = w3;
    w4.shape.insert(w4.shape.begin() + 2, SymExpr(int64_t(1)));
    w = emitReshape(c.b, c.loc, w, w3.shape, w4);
    k.insert(k.begin(), 1), s.insert(s.begin(), 1), d.insert(d.begin(), 1);
    lo.insert(lo.begin(), 0), hi.insert(hi.begin(), 0);
    mlir::Value y = mlir::dl::Conv2DOp::create(
        c.b, c.loc, toMLIR(r4, c.b.getContext()), x, w, bias, mlir::ValueRange{}, mlir::Value(), c.b.getDenseI64ArrayAttr(s),
        c.b.getDenseI64ArrayAttr({lo[0], lo[1], hi[0], hi[1]}), c.b.getDenseI64ArrayAttr(d),
        c.b.getI64IntegerAttr(c.attrs.at("groups").i), nullptr, nullptr, nullptr, nullptr);
    return emitReshape(c.b, c.loc, y, r4.shape, rt);
  }
  return mlir::dl::Conv2DOp::create(c.b, c.loc, c.resultType, x, w, bias, mlir::ValueRange{}, mlir::Value(), c.b.getDenseI64ArrayAttr(s),
                                    c.b.getDenseI64ArrayAttr({lo[0], lo[1], hi[0], hi[1]}),
                                    c.b.getDenseI64ArrayAttr(d), c.b.getI64IntegerAttr(c.attrs.at("groups").i),
                                    nullptr, nullptr, nullptr, nullptr);
}

/// conv1d and conv2d share everything but the number of spatial dims.
LayerDef convolution(const std::string &name, size_t spatial) {
  LayerDef d;
  d.name = name;
  d.withParams = true;
  AttrType pairT = spatial == 1 ? AttrType::Int : AttrType::IntOrPair;
  d.attrs = {{"filters", AttrType::Int, std::nullopt, {"out_channels"}},
             {"kernel", pairT, std::nullopt, {"kernel_size"}},
             {"stride", pairT, AttrValue::ofInt(1)},
             {"padding", AttrType::PadOrSame, AttrValue::ofInt(0)},
             {"dilation", pairT, AttrValue::ofInt(1)},
             {"groups", AttrType::Int, AttrValue::ofInt(1)},
             {"bias", AttrType::Bool, AttrValue::ofBool(true)}};
  d.infer = [spatial](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() != spatial + 2)
      return c.error("expects a rank-" + std::to_string(spatial + 2) + " input " +
                     (spatial == 1 ? "[N, C, L]" : "[N, C, H, W]") + ", got " + x.str());
    auto cin = x.shape[1].constant();
    if (!cin) return c.error("the channel dim sizes the weight and must be constant, got " + x.str());
    int64_t filters = c.getInt("filters"), groups = c.getInt("groups");
    if (filters <= 0 || groups <= 0) return c.error("filters and groups must be positive");
    if (*cin % groups || filters % groups)
      return c.error("channels (" + std::to_string(*cin) + ") and filters (" + std::to_string(filters) +
                     ") must both be divisible by groups (" + std::to_string(groups) + ")");
    auto pick = [&](const std::string &n) {
      std::vector<int64_t> v = c.getInts(n);
      if (v.size() == 1) v.assign(spatial, v[0]);
      return v;
    };
    std::vector<int64_t> k = pick("kernel"), s = pick("stride"), dil = pick("dilation");
    bool same = c.attrs.at("padding").kind == AttrValue::String;
    std::vector<int64_t> p = same ? std::vector<int64_t>(spatial, 0) : pick("padding");
    c.result = TensorType{x.dtype, {x.shape[0], SymExpr(filters)}};
    int64_t fanIn = *cin / groups;
    for (size_t i = 0; i < spatial; ++i) {
      if (k[i] <= 0 || s[i] <= 0 || dil[i] <= 0 || p[i] < 0)
        return c.error("kernel, stride and dilation must be positive and padding non-negative");
      fanIn *= k[i];
      const SymExpr &in = x.shape[2 + i];
      if (same) {
        if (s[i] != 1) return c.error("padding = \"same\" needs stride 1, as in PyTorch");
        c.result.shape.push_back(in);
        continue;
      }
      SymExpr out = convOut(in, k[i], s[i], p[i], dil[i]);
      if (auto o = out.constant(); o && *o <= 0)
        return c.error("the kernel does not fit the input " + x.str() + " (output size " +
                       std::to_string(*o) + ")");
      if (!out.isConstant()) c.needs.push_back({out, 1, 1, "the kernel does not fit the input"});
      c.result.shape.push_back(out);
    }
    std::vector<SymExpr> wshape = {SymExpr(filters), SymExpr(*cin / groups)};
    for (int64_t kk : k) wshape.push_back(SymExpr(kk));
    c.params.push_back({"weight", TensorType{x.dtype, wshape}, fanInUniform(fanIn)});
    if (c.getBool("bias"))
      c.params.push_back({"bias", TensorType{x.dtype, {SymExpr(filters)}}, fanInUniform(fanIn)});
    return true;
  };
  d.build = [spatial](GenCall &c) { return emitConvolution(c, spatial); };
  return d;
}

} // namespace

void registerConvolutionLayers(LayerRegistry &r) {
  r.add(convolution("conv1d", 1));
  r.add(convolution("conv2d", 2));

  LayerDef d;
  d.name = "conv_transpose2d";
  d.withParams = true;
  d.attrs = {{"filters", AttrType::Int, std::nullopt, {"out_channels"}},
             {"kernel", AttrType::IntOrPair, std::nullopt, {"kernel_size"}},
             {"stride", AttrType::IntOrPair, AttrValue::ofInt(1)},
             {"padding", AttrType::IntOrPair, AttrValue::ofInt(0)},
             {"output_padding", AttrType::IntOrPair, AttrValue::ofInt(0)},
             {"dilation", AttrType::IntOrPair, AttrValue::ofInt(1)},
             {"groups", AttrType::Int, AttrValue::ofInt(1)},
             {"bias", AttrType::Bool, AttrValue::ofBool(true)}};
  d.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (!isFloat(x.dtype)) return c.error("expects a floating-point input, got " + x.str());
    if (x.rank() != 4) return c.error("expects a rank-4 input [N, C, H, W], got " + x.str());
    auto cin = x.shape[1].constant();
    if (!cin) return c.error("the channel dim sizes the weight and must be constant, got " + x.str());
    int64_t filters = c.getInt("filters"), groups = c.getInt("groups");
    if (filters <= 0 || groups <= 0) return c.error("filters and groups must be positive");
    if (*cin % groups || filters % groups)
      return c.error("channels and filters must both be divisible by groups");
    std::vector<int64_t> k = c.getInts("kernel"), s = c.getInts("stride"), p = c.getInts("padding"),
                         op = c.getInts("output_padding"), dil = c.getInts("dilation");
    c.result = TensorType{x.dtype, {x.shape[0], SymExpr(filters)}};
    for (size_t i = 0; i < 2; ++i) {
      if (op[i] >= std::max(s[i], dil[i]))
        return c.error("output_padding must be smaller than stride or dilation, as in PyTorch");
      SymExpr out = (x.shape[2 + i] - SymExpr(int64_t(1))) * SymExpr(s[i]) +
                    SymExpr(-2 * p[i] + dil[i] * (k[i] - 1) + op[i] + 1);
      if (auto o = out.constant(); o && *o <= 0) return c.error("the output would be empty");
      c.result.shape.push_back(out);
    }
    // torch computes fan_in from weight.size(1) = filters / groups.
    int64_t fanIn = filters / groups * k[0] * k[1];
    c.params.push_back({"weight", TensorType{x.dtype, {SymExpr(*cin), SymExpr(filters / groups), SymExpr(k[0]), SymExpr(k[1])}},
                        fanInUniform(fanIn)});
    if (c.getBool("bias"))
      c.params.push_back({"bias", TensorType{x.dtype, {SymExpr(filters)}}, fanInUniform(fanIn)});
    return true;
  };
  d.build = [](GenCall &c) -> mlir::Value {
    std::vector<int64_t> s = perDim(c.attrs, "stride", 2), p = perDim(c.attrs, "padding", 2),
                         op = perDim(c.attrs, "output_padding", 2), dil = perDim(c.attrs, "dilation", 2);
    mlir::Value bias = c.operands.size() > 2 ? c.operands[2] : mlir::Value();
    return mlir::dl::ConvTranspose2DOp::create(
        c.b, c.loc, c.resultType, c.operands[0], c.operands[1], bias, c.b.getDenseI64ArrayAttr(s),
        c.b.getDenseI64ArrayAttr({p[0], p[1], p[0] - op[0], p[1] - op[1]}), c.b.getDenseI64ArrayAttr(dil),
        c.b.getI64IntegerAttr(c.attrs.at("groups").i));
  };
  r.add(d);
}

} // namespace dlc
