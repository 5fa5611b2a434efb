//===- Sema.h - checks a parsed model and unrolls it into a graph -*- C++ -*-===//
#ifndef DLC_FRONTEND_SEMA_H
#define DLC_FRONTEND_SEMA_H

#include "compiler/Frontend/AST.h"
#include "compiler/Basic/Diagnostics.h"
#include "compiler/Frontend/ModelGraph.h"

#include <optional>

namespace dlc {

/// Resolves names, evaluates constants, unrolls `fn` calls and `repeat`, resolves every
/// call through the layer registry (attribute checks, shape and dtype rules), names
/// parameters by DSL.md's rule and checks the train block. Reports every error it finds
/// through `diags`; returns the graph only when there were none.
std::optional<ModelGraph> analyze(const Model &model, Diagnostics &diags,
                                  const LayerRegistry &registry = LayerRegistry::instance());

} // namespace dlc
#endif
