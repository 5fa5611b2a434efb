//===- SinkEntryArgLoads.h - argument loads next to their uses -*- C++ -*-===//
#ifndef DLC_TARGET_SINKENTRYARGLOADS_H
#define DLC_TARGET_SINKENTRYARGLOADS_H

#include "llvm/IR/Module.h"

namespace dlc {

/// In every dl_entry_<fn>(ctx, descriptors), moves the loads of the argument table and of
/// the memref descriptors it points to from the top of the entry block to just before
/// their first use.
void sinkEntryArgLoads(llvm::Module &m);

} // namespace dlc
#endif
