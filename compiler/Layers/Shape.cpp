//===- Shape.cpp - flatten, reshape, transpose, concat, slice -------------===//
#include "compiler/Layers/LayerRegistry.h"
#include "dialects/DL/DLOps.h"

namespace dlc {

mlir::Value emitReshape(mlir::OpBuilder &b, mlir::Location loc, mlir::Value in,
                        const std::vector<SymExpr> &from, const TensorType &to) {
  llvm::SmallVector<int64_t> ranges;
  for (const SymExpr &d : to.shape) {
    if (d.isConstant()) continue;
    bool found = false;
    for (size_t lo = 0; lo < from.size() && !found; ++lo) {
      SymExpr prod(int64_t(1));
      for (size_t hi = lo; hi < from.size(); ++hi) {
        prod = prod * from[hi];
        if (prod == d) {
          ranges.append({int64_t(lo), int64_t(hi + 1)});
          found = true;
          break;
        }
      }
    }
    if (!found) ranges.append({-1, -1});
  }
  return mlir::dl::ReshapeOp::create(b, loc, toMLIR(to, b.getContext()), in,
                                     b.getDenseI64ArrayAttr(ranges));
}

static bool reshapeRule(LayerCall &c, std::vector<SymExpr> out) {
  c.result = TensorType{c.inputs[0].dtype, std::move(out)};
  return true;
}

// Along a symbolic dim n, the bounds as Python's slicing takes them while they lie
// inside it (a negative one counts from the end): start and end of one sign (or an empty
// slice), and n large enough that neither clamps, which the signature asks of each call
// (LayerCall::needs): x[:, :-1] over f32[B, T, C] is f32[B, (T+-1), C] and needs T >= 1.
// Where n is smaller Python would clamp (to an empty slice, say); the call fails instead.
static bool symbolicSlice(LayerCall &c, int64_t a) {
  const TensorType &x = c.inputs[0];
  const SymExpr &n = x.shape[a];
  int64_t s = c.getInt("start"), e = c.getInt("end");
  const std::string clamps = "the dim is shorter than the slice's bounds (which Python's slicing would clamp)";
  c.result = x;
  c.axes = {a, s, e};
  if (s >= 0 && e < 0) { // the size follows n's
    c.result.shape[a] = n + SymExpr(e - s);
    c.needs.push_back({c.result.shape[a], 0, 1, clamps});
    return true;
  }
  if (s < 0 && e >= 0)
    return c.error("slicing the symbolic dim " + n.str() + " from " + std::to_string(s) + " (counted from its end) to " +
                   std::to_string(e) + " (from its start) is not supported: the size would shrink as " + n.str() +
                   " grows");
  if (e <= s) { // empty for every size
    c.result.shape[a] = SymExpr(int64_t(0));
    c.axes = {a, 0, 0};
    return true;
  }
  c.result.shape[a] = SymExpr(e - s);
  c.needs.push_back({n, s >= 0 ? e : -s, 1, clamps});
  return true;
}

void registerShapeLayers(LayerRegistry &r) {
  using namespace mlir::dl;

  LayerDef flatten;
  flatten.name = "flatten";
  flatten.attrs = {{"start", AttrType::Int, AttrValue::ofInt(1), {"start_dim"}}};
  flatten.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    if (x.rank() == 0) {
      c.result = TensorType{x.dtype, {SymExpr(int64_t(1))}};
      return true;
    }
    auto start = c.axis(c.getInt("start"), x.rank(), "start");
    if (!start) return false;
    std::vector<SymExpr> out(x.shape.begin(), x.shape.begin() + *start);
    SymExpr prod(int64_t(1));
    for (size_t i = *start; i < x.rank(); ++i) prod = prod * x.shape[i];
    out.push_back(prod);
    return reshapeRule(c, out);
  };
  flatten.build = [](GenCall &c) -> mlir::Value {
    return emitReshape(c.b, c.loc, c.operands[0], c.inputTypes[0].shape, c.resultSym);
  };
  r.add(flatten);

  LayerDef reshape;
  reshape.name = "reshape";
  reshape.attrs = {{"shape", AttrType::IntTuple, std::nullopt}};
  reshape.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    std::vector<int64_t> dims = c.getInts("shape");
    int inferred = -1;
    SymExpr known(int64_t(1));
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] == -1) {
        if (inferred >= 0) return c.error("at most one dim may be -1");
        inferred = int(i);
      } else if (dims[i] < 0) {
        return c.error("dim " + std::to_string(dims[i]) + " is invalid (only -1 may be negative)");
      } else {
        known = known * SymExpr(dims[i]);
      }
    }
    SymExpr total = x.numel();
    std::vector<SymExpr> out;
    for (int64_t d : dims) out.push_back(SymExpr(d));
    if (inferred >= 0) {
      if (known.constant() == 0) return c.error("cannot infer -1 when another dim is 0");
      if (total.constant() && *total.constant() % *known.constant() != 0)
        return c.error("cannot reshape " + x.str() + " (" + total.str() + " elements) into a multiple of " +
                       known.str());
      out[inferred] = floorDiv(total, known);
      // A symbolic size that the other dims do not divide (B*T elements into rows of 4):
      // PyTorch raises; a floor would drop the remainder.
      if (!total.constant() && out[inferred] * known != total)
        c.needs.push_back({total, 0, *known.constant(), "the input's size is not a multiple of " + known.str()});
    } else if (total.constant() && *total.constant() != *known.constant()) {
      return c.error("cannot reshape " + x.str() + " (" + total.str() + " elements) into " +
                     c.attrs.at("shape").str() + " (" + known.str() + " elements)");
    } else if (!total.constant()) {
      return c.error("the input " + x.str() + " has a symbolic size: use -1 for the dim that follows it");
    }
    return reshapeRule(c, out);
  };
  reshape.build = flatten.build;
  r.add(reshape);

  LayerDef transpose;
  transpose.name = "transpose";
  transpose.attrs = {{"perm", AttrType::IntTuple, std::nullopt, {"dims"}}};
  transpose.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    std::vector<int64_t> perm = c.getInts("perm");
    if (perm.size() != x.rank())
      return c.error("perm " + c.attrs.at("perm").str() + " has " + std::to_string(perm.size()) +
                     " entries for the rank-" + std::to_string(x.rank()) + " input " + x.str());
    std::vector<bool> seen(x.rank(), false);
    c.result = TensorType{x.dtype, {}};
    for (int64_t p : perm) {
      auto a = c.axis(p, x.rank(), "perm entry");
      if (!a) return false;
      if (seen[*a]) return c.error("perm " + c.attrs.at("perm").str() + " repeats dim " + std::to_string(*a));
      seen[*a] = true;
      c.axes.push_back(*a);
      c.result.shape.push_back(x.shape[*a]);
    }
    return true;
  };
  transpose.build = [](GenCall &c) -> mlir::Value {
    return TransposeOp::create(c.b, c.loc, c.resultType, c.operands[0],
                               c.b.getDenseI64ArrayAttr(c.normalisedAxes));
  };
  r.add(transpose);

  LayerDef concat;
  concat.name = "concat";
  concat.tupleInput = true;
  concat.promotesOperands = true;
  concat.attrs = {{"axis", AttrType::Int, std::nullopt, {"dim"}}};
  concat.infer = [](LayerCall &c) {
    if (c.inputs.empty()) return c.error("needs at least one tensor");
    const TensorType &first = c.inputs[0];
    auto a = c.axis(c.getInt("axis"), first.rank());
    if (!a) return false;
    c.axes = {*a};
    SymExpr total(int64_t(0));
    DType dt = first.dtype;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      const TensorType &t = c.inputs[i];
      if (t.rank() != first.rank())
        return c.error("tensor " + std::to_string(i) + " " + t.str() + " has another rank than " + first.str());
      for (size_t d = 0; d < t.rank(); ++d)
        if (int64_t(d) != *a && t.shape[d] != first.shape[d])
          return c.error("tensor " + std::to_string(i) + " " + t.str() + " differs from " + first.str() +
                         " in dim " + std::to_string(d));
      dt = promote(dt, false, t.dtype, false);
      total = total + t.shape[*a];
    }
    c.result = TensorType{dt, first.shape};
    c.result.shape[*a] = total;
    return true;
  };
  concat.build = [](GenCall &c) -> mlir::Value {
    return ConcatOp::create(c.b, c.loc, c.resultType, c.operands, c.b.getI64IntegerAttr(c.normalisedAxes[0]));
  };
  r.add(concat);

  LayerDef slice;
  slice.name = "slice";
  slice.attrs = {{"axis", AttrType::Int, std::nullopt, {"dim"}},
                 {"start", AttrType::Int, std::nullopt},
                 {"end", AttrType::Int, std::nullopt}};
  slice.infer = [](LayerCall &c) {
    const TensorType &x = c.inputs[0];
    auto a = c.axis(c.getInt("axis"), x.rank());
    if (!a) return false;
    auto size = x.shape[*a].constant();
    if (!size) return symbolicSlice(c, *a);
    // Python's slicing: negative bounds count from the end, out-of-range ones clamp.
    auto clampIdx = [&](int64_t v) {
      if (v < 0) v += *size;
      return std::clamp<int64_t>(v, 0, *size);
    };
    int64_t s = clampIdx(c.getInt("start")), e = std::max(s, clampIdx(c.getInt("end")));
    c.result = x;
    c.result.shape[*a] = SymExpr(e - s);
    c.axes = {*a, s, e}; // the resolved bounds travel to the lowering
    return true;
  };
  slice.build = [](GenCall &c) -> mlir::Value {
    return SliceOp::create(c.b, c.loc, c.resultType, c.operands[0], c.b.getI64IntegerAttr(c.normalisedAxes[0]),
                           c.b.getI64IntegerAttr(c.normalisedAxes[1]), c.b.getI64IntegerAttr(c.normalisedAxes[2]));
  };
  r.add(slice);
}

} // namespace dlc
