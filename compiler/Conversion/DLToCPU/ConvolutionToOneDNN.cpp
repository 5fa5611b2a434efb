//===- ConvolutionToOneDNN.cpp - conv2d and pool2d -> oneDNN kernels ------===//
//
// The geometry (sizes, strides, paddings, dilations, groups, layout) travels as one i64 array;
// output sizes are computed here with PyTorch's formula so dynamic H and W work too.
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/DLToCPU/Patterns.h"
#include "compiler/Conversion/DLToCPU/RuntimeCalls.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;

namespace dlc {
namespace {

Value idx(OpBuilder &b, Location loc, int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

/// (in + lo + hi - dilation * (k - 1) - 1) / stride + 1
Value outSize(OpBuilder &b, Location loc, Value in, int64_t k, int64_t s, int64_t lo, int64_t hi, int64_t d) {
  Value num = arith::AddIOp::create(b, loc, in, idx(b, loc, lo + hi - d * (k - 1) - 1));
  return arith::AddIOp::create(b, loc, arith::DivSIOp::create(b, loc, num, idx(b, loc, s)), idx(b, loc, 1));
}

/// The dynamic sizes of a result given in NCHW order, for a result laid out NCHW or NHWC.
SmallVector<Value> resultDynSizes(RankedTensorType rt, ArrayRef<Value> nchw, bool channelsLast) {
  SmallVector<Value> sizes(nchw);
  if (channelsLast) sizes = {nchw[0], nchw[2], nchw[3], nchw[1]};
  SmallVector<Value> dyn;
  for (int64_t i = 0; i < rt.getRank(); ++i)
    if (rt.isDynamicDim(i)) dyn.push_back(sizes[i]);
  return dyn;
}

/// N, C, H, W of an activation laid out NCHW or NHWC.
std::array<Value, 4> nchwSizes(OpBuilder &b, Location loc, Value x, bool channelsLast) {
  if (channelsLast) return {dimOf(b, loc, x, 0), dimOf(b, loc, x, 3), dimOf(b, loc, x, 1), dimOf(b, loc, x, 2)};
  return {dimOf(b, loc, x, 0), dimOf(b, loc, x, 1), dimOf(b, loc, x, 2), dimOf(b, loc, x, 3)};
}

struct Conv2DToOneDNN : public OpRewritePattern<dl::Conv2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::Conv2DOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    Value x = op.getInput(), w = op.getWeight();
    auto wt = op.getWeight().getType();
    auto s = op.getStride(), p = op.getPadding(), d = op.getDilation();
    int64_t kh = wt.getDimSize(2), kw = wt.getDimSize(3);
    bool cl = op.getChannelsLast();
    auto [n, c, h, wd] = nchwSizes(rw, loc, x, cl);
    Value oc = idx(rw, loc, wt.getDimSize(0));
    Value oh = outSize(rw, loc, h, kh, s[0], p[0], p[2], d[0]);
    Value ow = outSize(rw, loc, wd, kw, s[1], p[1], p[3], d[1]);
    auto rt = op.getResult().getType();
    Value out = allocResult(rw, loc, rt, resultDynSizes(rt, {n, oc, oh, ow}, cl));
    Value geom = i64ArrayPointer(rw, loc,
                                 {n, c, h, wd, oc, idx(rw, loc, kh), idx(rw, loc, kw), oh, ow, idx(rw, loc, s[0]),
                                  idx(rw, loc, s[1]), idx(rw, loc, p[0]), idx(rw, loc, p[1]), idx(rw, loc, p[2]),
                                  idx(rw, loc, p[3]), idx(rw, loc, d[0]), idx(rw, loc, d[1]), idx(rw, loc, op.getGroups()),
                                  idx(rw, loc, op.getFusedRelu() ? 1 : 0), idx(rw, loc, cl ? 1 : 0)});
    Value bias = op.getBias() ? bufferPointer(rw, loc, op.getBias())
                              : LLVM::ZeroOp::create(rw, loc, LLVM::LLVMPointerType::get(rw.getContext())).getResult();
    // A folded batch_norm: its four vectors' addresses and eps.
    Value bn = LLVM::ZeroOp::create(rw, loc, LLVM::LLVMPointerType::get(rw.getContext()));
    if (!op.getBn().empty()) {
      SmallVector<Value> addresses;
      for (Value v : op.getBn()) {
        auto vt = cast<RankedTensorType>(v.getType());
        Value buf = bufferization::ToBufferOp::create(rw, loc, MemRefType::get(vt.getShape(), vt.getElementType()), v,
                                                      /*read_only=*/true);
        addresses.push_back(memref::ExtractAlignedPointerAsIndexOp::create(rw, loc, buf));
      }
      bn = i64ArrayPointer(rw, loc, addresses);
    }
    Value eps = arith::ConstantOp::create(rw, loc, rw.getF64Type(),
                                          rw.getF64FloatAttr(op.getBnEps() ? op.getBnEps()->convertToDouble() : 0.0));
    Value residual = op.getResidual() ? bufferPointer(rw, loc, op.getResidual())
                                      : LLVM::ZeroOp::create(rw, loc, LLVM::LLVMPointerType::get(rw.getContext())).getResult();
    callRuntime(rw, loc, op, "dlrt_k_conv2d_f32",
                {runtimeContext(op), siteOf(rw, loc, op), geom, bufferPointer(rw, loc, x), bufferPointer(rw, loc, w),
                 bias, bufferPointer(rw, loc, out), bn, eps, residual});
    rw.replaceOp(op, asTensor(rw, loc, out, rt));
    return success();
  }
};

struct ConvTranspose2DToOneDNN : public OpRewritePattern<dl::ConvTranspose2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::ConvTranspose2DOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    Value x = op.getInput(), w = op.getWeight();
    auto wt = op.getWeight().getType();
    auto s = op.getStride(), p = op.getPadding(), d = op.getDilation();
    int64_t kh = wt.getDimSize(2), kw = wt.getDimSize(3);
    bool cl = op.getChannelsLast();
    auto [n, c, h, wd] = nchwSizes(rw, loc, x, cl);
    Value oc = idx(rw, loc, wt.getDimSize(1) * op.getGroups());
    // (in - 1) * stride - lo - hi + dilation * (k - 1) + 1
    auto out = [&](Value in, int64_t k, int64_t st, int64_t lo, int64_t hi, int64_t dl) -> Value {
      Value m = arith::MulIOp::create(rw, loc, arith::SubIOp::create(rw, loc, in, idx(rw, loc, 1)), idx(rw, loc, st));
      return arith::AddIOp::create(rw, loc, m, idx(rw, loc, dl * (k - 1) + 1 - lo - hi));
    };
    Value oh = out(h, kh, s[0], p[0], p[2], d[0]), ow = out(wd, kw, s[1], p[1], p[3], d[1]);
    auto rt = op.getResult().getType();
    Value res = allocResult(rw, loc, rt, resultDynSizes(rt, {n, oc, oh, ow}, cl));
    Value geom = i64ArrayPointer(rw, loc,
                                 {n, c, h, wd, oc, idx(rw, loc, kh), idx(rw, loc, kw), oh, ow, idx(rw, loc, s[0]),
                                  idx(rw, loc, s[1]), idx(rw, loc, p[0]), idx(rw, loc, p[1]), idx(rw, loc, p[2]),
                                  idx(rw, loc, p[3]), idx(rw, loc, d[0]), idx(rw, loc, d[1]), idx(rw, loc, op.getGroups()),
                                  idx(rw, loc, 0), idx(rw, loc, cl ? 1 : 0)});
    Value bias = op.getBias() ? bufferPointer(rw, loc, op.getBias())
                              : LLVM::ZeroOp::create(rw, loc, LLVM::LLVMPointerType::get(rw.getContext())).getResult();
    callRuntime(rw, loc, op, "dlrt_k_deconv2d_f32",
                {runtimeContext(op), siteOf(rw, loc, op), geom, bufferPointer(rw, loc, x), bufferPointer(rw, loc, w),
                 bias, bufferPointer(rw, loc, res)});
    rw.replaceOp(op, asTensor(rw, loc, res, rt));
    return success();
  }
};

struct Pool2DToOneDNN : public OpRewritePattern<dl::Pool2DOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(dl::Pool2DOp op, PatternRewriter &rw) const override {
    if (!op.getInput().getType().getElementType().isF32())
      return rw.notifyMatchFailure(op, "the oneDNN kernel takes f32");
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto k = op.getKernel(), s = op.getStride(), p = op.getPadding();
    bool cl = op.getChannelsLast();
    auto [n, c, h, w] = nchwSizes(rw, loc, x, cl);
    Value oh = outSize(rw, loc, h, k[0], s[0], p[0], p[2], 1);
    Value ow = outSize(rw, loc, w, k[1], s[1], p[1], p[3], 1);
    auto rt = op.getResult().getType();
    Value out = allocResult(rw, loc, rt, resultDynSizes(rt, {n, c, oh, ow}, cl));
    Value geom = i64ArrayPointer(rw, loc,
                                 {n, c, h, w, oh, ow, idx(rw, loc, k[0]), idx(rw, loc, k[1]), idx(rw, loc, s[0]),
                                  idx(rw, loc, s[1]), idx(rw, loc, p[0]), idx(rw, loc, p[1]), idx(rw, loc, p[2]),
                                  idx(rw, loc, p[3]), idx(rw, loc, op.getIsMax() ? 1 : 0), idx(rw, loc, cl ? 1 : 0)});
    callRuntime(rw, loc, op, "dlrt_k_pool2d_f32",
                {runtimeContext(op), siteOf(rw, loc, op), geom, bufferPointer(rw, loc, x), bufferPointer(rw, loc, out)});
    rw.replaceOp(op, asTensor(rw, loc, out, rt));
    return success();
  }
};

/// The NCHW <-> NHWC transposes of the layout pass -> oneDNN's reorder, which copies on
/// all the call's threads. One that only moves a size-1 dim stays a view (ShapeToTensor).
struct LayoutTransposeToOneDNN : public OpRewritePattern<dl::TransposeOp> {
  LayoutTransposeToOneDNN(MLIRContext *ctx) : OpRewritePattern(ctx, /*benefit=*/2) {}
  LogicalResult matchAndRewrite(dl::TransposeOp op, PatternRewriter &rw) const override {
    auto xt = op.getInput().getType();
    ArrayRef<int64_t> perm = op.getPerm();
    if (!xt.getElementType().isF32() || xt.getRank() != 4 ||
        (perm != ArrayRef<int64_t>{0, 2, 3, 1} && perm != ArrayRef<int64_t>{0, 3, 1, 2}))
      return rw.notifyMatchFailure(op, "not an f32 layout transpose");
    SmallVector<int64_t> moved;
    for (int64_t p : perm)
      if (xt.getDimSize(p) != 1) moved.push_back(p);
    if (llvm::is_sorted(moved)) return rw.notifyMatchFailure(op, "a view");
    Location loc = op.getLoc();
    auto rt = op.getResult().getType();
    SmallVector<Value> dims, dyn, perms;
    for (int64_t i = 0; i < 4; ++i) {
      dims.push_back(dimOf(rw, loc, op.getInput(), i));
      perms.push_back(idx(rw, loc, perm[i]));
    }
    for (int64_t i = 0; i < 4; ++i)
      if (rt.isDynamicDim(i)) dyn.push_back(dims[perm[i]]);
    Value out = allocResult(rw, loc, rt, dyn);
    callRuntime(rw, loc, op, "dlrt_k_transpose_f32",
                {runtimeContext(op), siteOf(rw, loc, op),
                 arith::ConstantIntOp::create(rw, loc, rw.getI64Type(), 4).getResult(), i64ArrayPointer(rw, loc, dims),
                 i64ArrayPointer(rw, loc, perms), bufferPointer(rw, loc, op.getInput()), bufferPointer(rw, loc, out)});
    rw.replaceOp(op, asTensor(rw, loc, out, rt));
    return success();
  }
};

} // namespace

void populateLayoutTransposeToOneDNN(RewritePatternSet &patterns) {
  patterns.add<LayoutTransposeToOneDNN>(patterns.getContext());
}

void populateConvolutionToOneDNN(RewritePatternSet &patterns) {
  patterns.add<Conv2DToOneDNN, ConvTranspose2DToOneDNN, Pool2DToOneDNN>(patterns.getContext());
}

} // namespace dlc
