//===- ConcatInsertChains.cpp - long insert_slice chains as one tensor.concat ===//
//
// A value assembled from many pieces (an unrolled recurrence's output sequence, the
// gradient of the slices it read one step at a time) is a chain of tensor.insert_slice
// ops, each writing the previous one's result. One-shot bufferization's analysis takes
// time cubic in such a chain's length: each insert reads its destination (the part it
// does not overwrite), and each in-place decision walks every read of the chain's alias
// set back through the chain. 128 inserts took 8 s, 256 took 100 s, and a train step
// with a 640-step LSTM did not compile in 5 minutes. A tensor.concat of the same pieces
// is one op, analysed in linear time, at the price of one copy of each piece into the
// result (which a short chain avoids: dl-eliminate-empty-tensors has its producers
// write into their slices directly). So chains of kMinChain inserts or more whose
// slices tile one axis become a concat; the gaps between them are slices of what the
// chain started from (a new fill or empty tensor where it started from one).
//
//===----------------------------------------------------------------------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLCONCATINSERTCHAINS
#include "compiler/Conversion/Passes.h.inc"

namespace {

/// A chain this long or longer becomes a concat (16 inserts: about 15 ms of analysis).
constexpr size_t kMinChain = 16;

/// The sizes of what a chain starts from, where it is known: a tensor.empty's, or that of
/// a fill of one.
std::optional<SmallVector<OpFoldResult>> rootSizes(Value root) {
  if (auto fill = root.getDefiningOp<linalg::FillOp>()) root = fill.getOutputs()[0];
  if (auto empty = root.getDefiningOp<tensor::EmptyOp>()) return empty.getMixedSizes();
  return std::nullopt;
}

/// Whether `size` is the whole of dimension `dim` of the chain's tensors: a static size
/// equal to the type's, the root's own dynamic size, or a tensor.dim of a value on the
/// chain (they all have the root's shape).
bool isWholeDim(OpFoldResult size, int64_t dim, RankedTensorType type, ArrayRef<Value> chainValues,
                const std::optional<SmallVector<OpFoldResult>> &sizes) {
  if (!type.isDynamicDim(dim)) return isConstantIntValue(size, type.getDimSize(dim));
  if (sizes && isEqualConstantIntOrValue(size, (*sizes)[dim])) return true;
  auto dimOp = dyn_cast_if_present<Value>(size) ? cast<Value>(size).getDefiningOp<tensor::DimOp>() : nullptr;
  if (!dimOp || !isConstantIntValue(dimOp.getDimension(), dim)) return false;
  return llvm::is_contained(chainValues, dimOp.getSource());
}

struct Piece {
  int64_t offset, size;
  Value source; // null for a gap
};

/// Replaces the chain ending in `last` by a concat, when it is long enough and its
/// slices tile one axis.
void concatChain(tensor::InsertSliceOp last) {
  SmallVector<tensor::InsertSliceOp> chain{last};
  while (auto prev = chain.back().getDest().getDefiningOp<tensor::InsertSliceOp>()) {
    if (!prev->hasOneUse()) break;
    chain.push_back(prev);
  }
  if (chain.size() < kMinChain) return;
  Value root = chain.back().getDest();
  auto type = cast<RankedTensorType>(last.getType());
  SmallVector<Value> chainValues{root};
  for (tensor::InsertSliceOp op : chain) chainValues.push_back(op.getResult());
  std::optional<SmallVector<OpFoldResult>> sizes = rootSizes(root);

  // The axis: the one dimension some slice does not cover whole; every slice must cover
  // every other one whole, with unit strides, from a static offset of a static size along it.
  std::optional<int64_t> axis;
  for (tensor::InsertSliceOp op : chain) {
    if (op.getSourceType().getRank() != type.getRank()) return; // rank-reducing
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (!isConstantIntValue(op.getMixedStrides()[d], 1)) return;
      bool whole = isConstantIntValue(op.getMixedOffsets()[d], 0) &&
                   isWholeDim(op.getMixedSizes()[d], d, type, chainValues, sizes);
      if (whole) continue;
      if (axis && *axis != d) return;
      axis = d;
    }
  }
  if (!axis || type.isDynamicDim(*axis)) return;
  SmallVector<Piece> pieces;
  for (tensor::InsertSliceOp op : chain) {
    std::optional<int64_t> offset = getConstantIntValue(op.getMixedOffsets()[*axis]);
    std::optional<int64_t> size = getConstantIntValue(op.getMixedSizes()[*axis]);
    if (!offset || !size || *size <= 0) return;
    pieces.push_back({*offset, *size, op.getSource()});
  }
  llvm::sort(pieces, [](const Piece &a, const Piece &b) { return a.offset < b.offset; });
  // Overlapping slices would need the chain's order (the last write wins): left as they are.
  SmallVector<Piece> tiled;
  int64_t at = 0, extent = type.getDimSize(*axis);
  for (const Piece &p : pieces) {
    if (p.offset < at) return;
    if (p.offset > at) tiled.push_back({at, p.offset - at, Value()});
    tiled.push_back(p);
    at = p.offset + p.size;
  }
  if (at > extent) return;
  if (at < extent) tiled.push_back({at, extent - at, Value()});

  OpBuilder b(last);
  Location loc = last.getLoc();
  auto fill = root.getDefiningOp<linalg::FillOp>();
  SmallVector<Value> operands;
  for (const Piece &p : tiled) {
    if (p.source) {
      operands.push_back(p.source);
      continue;
    }
    // A gap holds what the chain started from.
    SmallVector<OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0)), strides(type.getRank(), b.getIndexAttr(1));
    SmallVector<OpFoldResult> gapSizes = sizes ? *sizes : tensor::getMixedSizes(b, loc, root);
    offsets[*axis] = b.getIndexAttr(p.offset);
    gapSizes[*axis] = b.getIndexAttr(p.size);
    if (sizes) {
      Value gap = tensor::EmptyOp::create(b, loc, gapSizes, type.getElementType());
      if (fill) gap = linalg::FillOp::create(b, loc, fill.getInputs()[0], gap).getResult(0);
      operands.push_back(gap);
    } else {
      operands.push_back(tensor::ExtractSliceOp::create(b, loc, root, offsets, gapSizes, strides));
    }
  }
  Value concat = tensor::ConcatOp::create(b, loc, type, *axis, operands);
  last.getResult().replaceAllUsesWith(concat);
  for (tensor::InsertSliceOp op : chain) op->erase();
  if (root.use_empty() && fill) {
    Value init = fill.getOutputs()[0];
    fill->erase();
    if (init.use_empty()) init.getDefiningOp()->erase();
  } else if (root.use_empty() && root.getDefiningOp<tensor::EmptyOp>()) {
    root.getDefiningOp()->erase();
  }
}

struct ConcatInsertChainsPass : public impl::DLConcatInsertChainsBase<ConcatInsertChainsPass> {
  void runOnOperation() override {
    // A chain's last insert: its result is not the destination of a single next insert.
    SmallVector<tensor::InsertSliceOp> ends;
    getOperation()->walk([&](tensor::InsertSliceOp op) {
      Value r = op.getResult();
      if (r.hasOneUse()) {
        auto next = dyn_cast<tensor::InsertSliceOp>(*r.getUsers().begin());
        if (next && next.getDest() == r) return;
      }
      ends.push_back(op);
    });
    for (tensor::InsertSliceOp op : ends) concatChain(op);
  }
};

} // namespace
} // namespace dlc
