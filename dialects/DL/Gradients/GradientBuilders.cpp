//===- GradientBuilders.cpp - helpers the gradient rules share ------------===//
#include "dialects/DL/Gradients/GradientBuilders.h"
#include "dialects/DL/DLOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace mlir::dl {

Value floatConst(OpBuilder &b, Location loc, Type t, double v) {
  return arith::ConstantOp::create(b, loc, t, b.getFloatAttr(t, v));
}

SmallVector<int64_t> keptDimsOf(int64_t rank, ArrayRef<int64_t> axes) {
  SmallVector<int64_t> kept;
  for (int64_t d = 0; d < rank; ++d)
    if (!llvm::is_contained(axes, d)) kept.push_back(d);
  return kept;
}

SmallVector<int64_t> iota(int64_t n) { return keptDimsOf(n, {}); }

bool isFloatTensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && isa<FloatType>(t.getElementType());
}

SmallVector<Value> dynamicSizes(OpBuilder &b, Location loc, Value like) {
  auto type = cast<RankedTensorType>(like.getType());
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i)) sizes.push_back(tensor::DimOp::create(b, loc, like, i));
  return sizes;
}

Value buildBroadcastGeneric(OpBuilder &b, Location loc, RankedTensorType type, ValueRange dynSizes,
                            ValueRange operands, ScalarBody body, ArrayRef<SmallVector<int64_t>> dimMaps) {
  int64_t rank = type.getRank();
  Value init = tensor::EmptyOp::create(b, loc, type, dynSizes);
  SmallVector<AffineMap> maps;
  for (auto [k, o] : llvm::enumerate(operands)) {
    auto ot = cast<RankedTensorType>(o.getType());
    SmallVector<AffineExpr> exprs;
    for (int64_t i = 0; i < ot.getRank(); ++i) {
      int64_t d = dimMaps.empty() ? i + (rank - ot.getRank()) : dimMaps[k][i];
      bool broadcastDim = ot.getDimSize(i) == 1 && type.getDimSize(d) != 1;
      exprs.push_back(broadcastDim ? b.getAffineConstantExpr(0) : b.getAffineDimExpr(d));
    }
    maps.push_back(AffineMap::get(rank, 0, exprs, b.getContext()));
  }
  maps.push_back(b.getMultiDimIdentityMap(rank));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  auto generic = linalg::GenericOp::create(b, loc, type, operands, init, maps, iters,
                                           [&](OpBuilder &nb, Location l, ValueRange args) {
                                             linalg::YieldOp::create(nb, l, body(nb, l, args.drop_back()));
                                           });
  return generic.getResult(0);
}

Value mapLike(OpBuilder &b, Location loc, Value like, Type elt, ValueRange operands, ScalarBody body) {
  auto lt = cast<RankedTensorType>(like.getType());
  return buildBroadcastGeneric(b, loc, RankedTensorType::get(lt.getShape(), elt), dynamicSizes(b, loc, like),
                               operands, body);
}

Value expandReduced(OpBuilder &b, Location loc, Value v, Value like, ArrayRef<int64_t> removed, bool keptDims) {
  auto lt = cast<RankedTensorType>(like.getType());
  auto vt = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> map;
  if (keptDims) {
    for (int64_t i = 0; i < lt.getRank(); ++i) map.push_back(i);
  } else {
    map = keptDimsOf(lt.getRank(), removed);
  }
  SmallVector<SmallVector<int64_t>> maps{map};
  return buildBroadcastGeneric(b, loc, RankedTensorType::get(lt.getShape(), vt.getElementType()),
                               dynamicSizes(b, loc, like), v, [](OpBuilder &, Location, ValueRange a) { return a[0]; },
                               maps);
}

Value sumTo(OpBuilder &b, Location loc, Value g, RankedTensorType target) {
  auto gt = cast<RankedTensorType>(g.getType());
  Value cur = g;
  int64_t lead = gt.getRank() - target.getRank();
  if (lead > 0) {
    SmallVector<int64_t> axes;
    for (int64_t i = 0; i < lead; ++i) axes.push_back(i);
    auto t = RankedTensorType::get(gt.getShape().drop_front(lead), gt.getElementType());
    cur = SumOp::create(b, loc, t, cur, b.getDenseI64ArrayAttr(axes), b.getBoolAttr(false));
  }
  auto ct = cast<RankedTensorType>(cur.getType());
  SmallVector<int64_t> axes, shape(ct.getShape());
  for (int64_t i = 0; i < target.getRank(); ++i)
    if (target.getDimSize(i) == 1 && ct.getDimSize(i) != 1) {
      axes.push_back(i);
      shape[i] = 1;
    }
  if (!axes.empty())
    cur = SumOp::create(b, loc, RankedTensorType::get(shape, ct.getElementType()), cur,
                        b.getDenseI64ArrayAttr(axes), b.getBoolAttr(true));
  if (cur.getType() != target) cur = tensor::CastOp::create(b, loc, target, cur);
  return cur;
}

Value zerosLike(OpBuilder &b, Location loc, Value like) {
  auto t = cast<RankedTensorType>(like.getType());
  Value empty = tensor::EmptyOp::create(b, loc, t, dynamicSizes(b, loc, like));
  Value zero = floatConst(b, loc, t.getElementType(), 0.0);
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

Value reshapeLike(OpBuilder &b, Location loc, Value v, Value like) {
  auto lt = cast<RankedTensorType>(like.getType());
  if (v.getType() == lt && lt.hasStaticShape()) return v;
  SmallVector<Value> dims;
  for (int64_t i = 0; i < lt.getRank(); ++i) {
    Value d = lt.isDynamicDim(i) ? Value(tensor::DimOp::create(b, loc, like, i))
                                 : Value(arith::ConstantIndexOp::create(b, loc, lt.getDimSize(i)));
    dims.push_back(arith::IndexCastOp::create(b, loc, b.getI64Type(), d));
  }
  Value shape = tensor::FromElementsOp::create(b, loc, RankedTensorType::get({lt.getRank()}, b.getI64Type()), dims);
  auto rt = RankedTensorType::get(lt.getShape(), cast<RankedTensorType>(v.getType()).getElementType());
  return tensor::ReshapeOp::create(b, loc, rt, v, shape);
}

Value countOf(OpBuilder &b, Location loc, Value t, ArrayRef<int64_t> axes, Type elt) {
  auto tt = cast<RankedTensorType>(t.getType());
  int64_t fixed = 1;
  Value n;
  for (int64_t d : axes) {
    if (!tt.isDynamicDim(d)) {
      fixed *= tt.getDimSize(d);
      continue;
    }
    Value dim = tensor::DimOp::create(b, loc, t, d);
    n = n ? Value(arith::MulIOp::create(b, loc, n, dim)) : dim;
  }
  if (!n) return floatConst(b, loc, elt, double(fixed));
  n = arith::MulIOp::create(b, loc, n, arith::ConstantIndexOp::create(b, loc, fixed));
  Value i64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), n);
  return arith::SIToFPOp::create(b, loc, elt, i64);
}

Value normalizedInputGrad(OpBuilder &b, Location loc, Value dxhat, Value xhat, Value rstd,
                          llvm::function_ref<Value(Value)> mean) {
  Value inner = SubOp::create(b, loc, SubOp::create(b, loc, dxhat, mean(dxhat)),
                              MulOp::create(b, loc, xhat, mean(MulOp::create(b, loc, dxhat, xhat))));
  return MulOp::create(b, loc, rstd, inner);
}

static RankedTensorType withShape(Value v, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, cast<RankedTensorType>(v.getType()).getElementType());
}

Value asRows(OpBuilder &b, Location loc, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  int64_t r = t.getRank();
  if (r == 2) return v;
  int64_t n = 1;
  bool dynamic = false;
  for (int64_t i = 0; i + 1 < r; ++i) {
    if (t.isDynamicDim(i)) dynamic = true;
    else n *= t.getDimSize(i);
  }
  SmallVector<int64_t> from;
  if (dynamic) from = {0, r - 1};
  return ReshapeOp::create(b, loc, withShape(v, {dynamic ? ShapedType::kDynamic : n, t.getShape().back()}), v,
                           b.getDenseI64ArrayAttr(from));
}

Value transposeLast(OpBuilder &b, Location loc, Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  int64_t r = t.getRank();
  SmallVector<int64_t> perm, shape;
  for (int64_t i = 0; i < r; ++i) perm.push_back(i);
  std::swap(perm[r - 1], perm[r - 2]);
  for (int64_t p : perm) shape.push_back(t.getDimSize(p));
  return TransposeOp::create(b, loc, withShape(v, shape), v, b.getDenseI64ArrayAttr(perm));
}

Value matmul(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  auto lt = cast<RankedTensorType>(lhs.getType()), rt = cast<RankedTensorType>(rhs.getType());
  auto batch = broadcastShapes(lt.getShape().drop_back(2), rt.getShape().drop_back(2));
  SmallVector<int64_t> shape(*batch);
  shape.push_back(lt.getDimSize(lt.getRank() - 2));
  shape.push_back(rt.getDimSize(rt.getRank() - 1));
  return MatmulOp::create(b, loc, withShape(lhs, shape), lhs, rhs);
}

} // namespace mlir::dl
