//===- Parser.h - recursive-descent parser for .dl --------------*- C++ -*-===//
#ifndef DLC_FRONTEND_PARSER_H
#define DLC_FRONTEND_PARSER_H

#include "compiler/Frontend/AST.h"
#include "compiler/Basic/Diagnostics.h"

#include <optional>
#include <string_view>

namespace dlc {

/// Parses one model. Syntax errors are reported through `diags`; the parser recovers at
/// the next statement so that one run reports several errors. Returns nullopt only when
/// nothing usable was parsed.
std::optional<Model> parseModel(std::string_view src, Diagnostics &diags);

} // namespace dlc
#endif
