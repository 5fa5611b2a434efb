//===- SourceLocation.h - a position in a .dl file --------------*- C++ -*-===//
//
// Below the parser, the layers and the plugins alike (as Clang's Basic sits below its
// parser): a layer's shape rule reports errors at the call it checks without knowing
// anything of tokens or syntax.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_BASIC_SOURCELOCATION_H
#define DLC_BASIC_SOURCELOCATION_H

namespace dlc {

/// A position in the source: 1-based line and column, as printed in diagnostics.
struct SrcLoc {
  unsigned line = 0, col = 0;
};

} // namespace dlc
#endif
