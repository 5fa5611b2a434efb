//===- Diagnostics.h - located errors through MLIR's engine -----*- C++ -*-===//
#ifndef DLC_BASIC_DIAGNOSTICS_H
#define DLC_BASIC_DIAGNOSTICS_H

#include "compiler/Basic/SourceLocation.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace dlc {

/// Every error of the front end goes through MLIR's diagnostic engine with a
/// FileLineColLoc into the .dl file, so that errors found later (verifiers, lowering)
/// print the same way: file:line:col, the source line and a caret.
class Diagnostics {
public:
  Diagnostics(mlir::MLIRContext &ctx, llvm::StringRef filename);

  mlir::Location loc(SrcLoc l) const;
  mlir::InFlightDiagnostic error(SrcLoc l, const llvm::Twine &msg);
  mlir::InFlightDiagnostic warning(SrcLoc l, const llvm::Twine &msg);
  unsigned errorCount() const { return errors; }
  mlir::MLIRContext &context() const { return ctx; }

private:
  mlir::MLIRContext &ctx;
  std::string filename;
  unsigned errors = 0;
};

/// The .dl position inside `loc`: ops carry their layer's name around it (a NameLoc),
/// fused ops several; the first file position found, or null.
mlir::FileLineColLoc fileLineCol(mlir::Location loc);

/// "file:line:col" of fileLineCol(loc), or "" when `loc` has none.
std::string describeLocation(mlir::Location loc);

/// An op made inside a call of a `fn` carries the call's scope in its location, between
/// its layer's name and its position: NameLoc("dense", NameLoc("fn:block.3.", file:line:col)).
/// dl-share-fn-bodies finds the calls by it; profiles and messages skip it.
mlir::Location withFnScope(mlir::Location loc, llvm::StringRef scope);
bool isFnScopeName(llvm::StringRef name);
/// The fn scope `loc` names ("block.3."), or "" when it names none or, as a fused op
/// made of two calls' ops may, more than one.
std::string fnScopeOf(mlir::Location loc);
/// NameLoc(name, ...) around `at`'s position, keeping `at`'s fn scope.
mlir::Location renamedLoc(llvm::StringRef name, mlir::Location at);

/// The candidate closest to `word` by edit distance, or "" when nothing is close enough
/// to be a plausible typo.
std::string closestMatch(llvm::StringRef word, llvm::ArrayRef<std::string> candidates);

/// " (did you mean 'x'?)" or "".
std::string didYouMean(llvm::StringRef word, llvm::ArrayRef<std::string> candidates);

} // namespace dlc
#endif
