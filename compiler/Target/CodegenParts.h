//===- CodegenParts.h - a model's machine code, in parts ---------*- C++ -*-===//
#ifndef DLC_TARGET_CODEGENPARTS_H
#define DLC_TARGET_CODEGENPARTS_H

#include "compiler/Target/ObjectEmitter.h"

#include <string>
#include <vector>

namespace dlc {

/// Optimises `m` (optimiseModule) and emits it as objects (or assembly or LLVM IR texts)
/// that link together into model.so, one per hardware thread (up to 4), optimised and
/// generated side by side: the big straight-line entry functions in one at
/// code-generation level None, the rest spread over the others at the module's level.
/// `m` is changed: its local symbols become hidden globals when it is split.
mlir::LogicalResult emitCodeParts(llvm::Module &m, const CodegenOptions &opts, CodeKind kind,
                                  std::vector<std::string> &parts, std::string &error);

} // namespace dlc
#endif
