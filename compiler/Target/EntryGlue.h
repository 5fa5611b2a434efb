//===- EntryGlue.h - model.so's big straight-line entry functions -*- C++ -*-===//
#ifndef DLC_TARGET_ENTRYGLUE_H
#define DLC_TARGET_ENTRYGLUE_H

#include "llvm/IR/Function.h"

namespace dlc {

/// Whether `f` is glue: one of model.so's entry functions (dl_entry_<fn>) with at least
/// `threshold` instructions and no loop. A deep model's entries are that: per layer they
/// load the parameters' pointers, allocate the activations and call the kernels and the
/// shared layer bodies, once per step, against milliseconds of kernels. They get a light
/// IR pipeline (ObjectEmitter.cpp) and code generation without optimisation
/// (CodegenParts.cpp), which is where the optimising pipelines spent their time.
bool isEntryGlue(const llvm::Function &f, unsigned threshold);

/// The decision, taken once (toLLVMIR) and carried by the function as an attribute, so
/// that it holds in the parts the module is cut into, however the light pipeline has
/// shrunk the function since.
void markEntryGlue(llvm::Function &f);
bool isMarkedEntryGlue(const llvm::Function &f);

} // namespace dlc
#endif
