//===- FinalPlace.h - values dl-eliminate-empty-tensors computes in place --*- C++ -*-===//
#ifndef DLC_CONVERSION_BUFFERIZE_FINALPLACE_H
#define DLC_CONVERSION_BUFFERIZE_FINALPLACE_H

#include "mlir/IR/Operation.h"
#include "mlir/Interfaces/SubsetOpInterface.h"

#include "llvm/ADT/STLExtras.h"

namespace dlc {

/// Whether a result of `op` ends in a final place: an output buffer
/// (materialize_in_destination) or a concat's slice (insert_slice). dl-eliminate-empty-
/// tensors computes such a value there from its tensor.empty, so a pass that would put a
/// reshape or another init in between leaves the op alone.
inline bool endsInFinalPlace(mlir::Operation *op) {
  return llvm::any_of(op->getUsers(),
                      [](mlir::Operation *user) { return mlir::isa<mlir::SubsetInsertionOpInterface>(user); });
}

} // namespace dlc
#endif
