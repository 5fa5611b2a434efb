//===- ObjectEmitter.h - LLVM dialect -> LLVM IR -> object code -*- C++ -*-===//
#ifndef DLC_TARGET_OBJECTEMITTER_H
#define DLC_TARGET_OBJECTEMITTER_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"

#include <memory>
#include <string>

namespace dlc {

struct CodegenOptions {
  unsigned optLevel = 3;
  std::string cpu = "native"; // or an -mcpu name; "x86-64-v3" for portable code
  /// Entry functions at least this big (LLVM instructions) and loop-free are glue
  /// (EntryGlue.h): a light IR pipeline instead of -O3, code generated at level None.
  unsigned glueThreshold = 4000;
};

/// The name of the CPU that `opts` generates code for ("native": this machine's).
std::string targetCPUName(const CodegenOptions &opts);
/// Whether LLVM knows the CPU that `opts` names, for this machine's architecture.
bool targetCPUIsKnown(const CodegenOptions &opts);
/// Whether that CPU has any of the LLVM subtarget features `features` ("avx512bf16").
bool targetHasAnyFeature(const CodegenOptions &opts, llvm::ArrayRef<llvm::StringRef> features);

/// Gives `m` the target triple and data layout of `opts`' CPU.
bool setTarget(llvm::Module &m, const CodegenOptions &opts, std::string &error);

/// Translates to LLVM IR and runs what of LLVM's optimisation at `optLevel` needs the
/// whole module (interprocedural constants, unused arguments; glue's light pipeline).
/// optimiseModule runs the rest, on the whole module or on each part of it.
std::unique_ptr<llvm::Module> toLLVMIR(mlir::ModuleOp module, llvm::LLVMContext &ctx,
                                       const CodegenOptions &opts);

/// LLVM's optimisation pipeline at `optLevel` over what toLLVMIR made, or a part of it
/// (the glue toLLVMIR marked sits it out); then the entries' argument loads are sunk to
/// their uses (SinkEntryArgLoads.h), at every level.
mlir::LogicalResult optimiseModule(llvm::Module &m, const CodegenOptions &opts, std::string &error);

/// What a module is emitted as.
enum class CodeKind { Object, Assembly, LLVMIR };

/// Emits `m` in memory as an object file, assembly or LLVM IR text.
mlir::LogicalResult emitCode(llvm::Module &m, const CodegenOptions &opts, CodeKind kind, std::string &out,
                             std::string &error);

} // namespace dlc
#endif
