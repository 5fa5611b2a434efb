//===- GradientAccumulator.h - gradients summed per value ------*- C++ -*-===//
//
// Reverse mode sums the gradients that reach a value from each of its readers. dl-autodiff
// keeps one of these for a train step; a target's expansion of an op's gradient into finer
// ops (self_attention_backward on the portable path) runs the same reverse mode over its
// expansion and sums with the same rules, so that the slices' zero-padded gradients of a
// tensor read in slices are inserted rather than added at full size.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_DIALECTS_DL_GRADIENTS_GRADIENTACCUMULATOR_H
#define DLC_DIALECTS_DL_GRADIENTS_GRADIENTACCUMULATOR_H

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#include <vector>

namespace mlir::dl {

class GradientAccumulator {
public:
  /// The gradient summed for `v` so far; null where none reached it.
  Value lookup(Value v) const { return grads.lookup(v); }
  /// Starts the walk: `g` is the gradient of `v` (the loss's 1, a result's gradient).
  void seed(Value v, Value g) { grads[v] = g; }
  /// Adds `g` (one reader's contribution, of `operand`'s type or a static cast of it) to
  /// `operand`'s gradient.
  void accumulate(OpBuilder &b, Value operand, Value g);

private:
  /// The index ranges a slice covers, per dimension; a range with a dynamic bound is
  /// unknown, and overlaps everything.
  struct SliceBox {
    explicit SliceBox(tensor::InsertSliceOp insert) {
      for (auto [o, s, st] : llvm::zip(insert.getStaticOffsets(), insert.getStaticSizes(), insert.getStaticStrides())) {
        bool known = !ShapedType::isDynamic(o) && !ShapedType::isDynamic(s) && !ShapedType::isDynamic(st) && s > 0;
        dims.push_back({known, o, known ? o + (s - 1) * st : 0});
      }
    }
    /// Whether no element lies in both: some dimension's ranges are apart.
    bool disjoint(const SliceBox &other) const {
      for (auto [a, c] : llvm::zip(dims, other.dims))
        if (a.known && c.known && (a.last < c.first || c.last < a.first)) return true;
      return false;
    }
    struct Range {
      bool known;
      int64_t first, last;
    };
    SmallVector<Range, 4> dims;
  };

  llvm::DenseMap<Value, Value> grads;
  /// Gradients that are zero outside a list of slices (zeros given slices' gradients): the
  /// list's last entry in `slices`, whose entries link to the ones before them; one
  /// accumulator's successive values share their lists' common part.
  struct WrittenSlice {
    SliceBox box;
    int previous;
  };
  std::vector<WrittenSlice> slices;
  llvm::DenseMap<Value, int> written;

  int addSlice(SliceBox box, int previous) {
    slices.push_back({std::move(box), previous});
    return int(slices.size()) - 1;
  }
};

} // namespace mlir::dl
#endif
