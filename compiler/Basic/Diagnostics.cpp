//===- Diagnostics.cpp - located errors through MLIR's engine -------------===//
#include "compiler/Basic/Diagnostics.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/MLIRContext.h"

namespace dlc {

Diagnostics::Diagnostics(mlir::MLIRContext &ctx, llvm::StringRef filename)
    : ctx(ctx), filename(filename.str()) {}

mlir::Location Diagnostics::loc(SrcLoc l) const {
  return mlir::FileLineColLoc::get(&ctx, filename, l.line, l.col);
}

mlir::InFlightDiagnostic Diagnostics::error(SrcLoc l, const llvm::Twine &msg) {
  ++errors;
  return mlir::emitError(loc(l), msg);
}

mlir::InFlightDiagnostic Diagnostics::warning(SrcLoc l, const llvm::Twine &msg) {
  return mlir::emitWarning(loc(l), msg);
}

mlir::FileLineColLoc fileLineCol(mlir::Location loc) { return loc->findInstanceOf<mlir::FileLineColLoc>(); }

std::string describeLocation(mlir::Location loc) {
  mlir::FileLineColLoc fl = fileLineCol(loc);
  if (!fl) return "";
  return (fl.getFilename().getValue() + ":" + llvm::Twine(fl.getLine()) + ":" + llvm::Twine(fl.getColumn())).str();
}

static constexpr llvm::StringLiteral kFnScopePrefix = "fn:";

mlir::Location withFnScope(mlir::Location loc, llvm::StringRef scope) {
  if (scope.empty()) return loc;
  return mlir::NameLoc::get(mlir::StringAttr::get(loc.getContext(), (kFnScopePrefix + scope).str()), loc);
}

bool isFnScopeName(llvm::StringRef name) { return name.starts_with(kFnScopePrefix); }

static mlir::NameLoc fnScopeLoc(mlir::Location loc, bool &ambiguous) {
  mlir::NameLoc found;
  ambiguous = false;
  loc->walk([&](mlir::Location l) {
    auto named = llvm::dyn_cast<mlir::NameLoc>(l);
    if (!named || !isFnScopeName(named.getName().getValue())) return mlir::WalkResult::advance();
    if (found && found.getName() != named.getName()) ambiguous = true;
    found = named;
    return mlir::WalkResult::advance();
  });
  return found;
}

std::string fnScopeOf(mlir::Location loc) {
  bool ambiguous;
  mlir::NameLoc found = fnScopeLoc(loc, ambiguous);
  if (!found || ambiguous) return "";
  return found.getName().getValue().drop_front(kFnScopePrefix.size()).str();
}

mlir::Location renamedLoc(llvm::StringRef name, mlir::Location at) {
  mlir::FileLineColLoc file = fileLineCol(at);
  mlir::Location inner = file ? mlir::Location(file) : at;
  bool ambiguous;
  if (mlir::NameLoc scope = fnScopeLoc(at, ambiguous); scope && !ambiguous)
    inner = mlir::NameLoc::get(scope.getName(), inner);
  return mlir::NameLoc::get(mlir::StringAttr::get(at.getContext(), name), inner);
}

std::string closestMatch(llvm::StringRef word, llvm::ArrayRef<std::string> candidates) {
  std::string best;
  unsigned bestDist = ~0u;
  for (const std::string &c : candidates) {
    unsigned d = word.edit_distance(c, /*AllowReplacements=*/true, /*MaxEditDistance=*/8);
    // A swap of two neighbouring characters (f23 for f32) is one typo, not two.
    if (d == 2 && c.size() == word.size())
      for (size_t i = 0; i + 1 < c.size(); ++i)
        if (word[i] == c[i + 1] && word[i + 1] == c[i] && word.substr(0, i) == llvm::StringRef(c).substr(0, i) &&
            word.substr(i + 2) == llvm::StringRef(c).substr(i + 2))
          d = 1;
    if (d < bestDist) { bestDist = d; best = c; }
  }
  // A suggestion must be closer than a rewrite: at most a third of the word changed.
  if (best.empty() || bestDist == 0 || bestDist > std::max<size_t>(1, (word.size() + 2) / 3))
    return "";
  return best;
}

std::string didYouMean(llvm::StringRef word, llvm::ArrayRef<std::string> candidates) {
  std::string best = closestMatch(word, candidates);
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

} // namespace dlc
