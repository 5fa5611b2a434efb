//===- ExpandStridedCopies.cpp - keep memrefCopy out of model.so ----------===//
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;

namespace dlc {

#define GEN_PASS_DEF_DLEXPANDSTRIDEDCOPIES
#include "compiler/Conversion/Passes.h.inc"

namespace {

struct ExpandStridedCopiesPass : public impl::DLExpandStridedCopiesBase<ExpandStridedCopiesPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp c) {
      // A buffer copied onto itself: an output computed in its own buffer, still copied
      // there by its materialization (a memcpy with equal pointers, which C leaves
      // undefined).
      if (c.getSource() == c.getTarget()) {
        c.erase();
        return;
      }
      auto src = cast<MemRefType>(c.getSource().getType()), dst = cast<MemRefType>(c.getTarget().getType());
      if (!src.getLayout().isIdentity() || !dst.getLayout().isIdentity()) copies.push_back(c);
    });
    for (memref::CopyOp c : copies) {
      OpBuilder b(c);
      linalg::CopyOp::create(b, c.getLoc(), c.getSource(), c.getTarget());
      c.erase();
    }
  }
};

} // namespace
} // namespace dlc
