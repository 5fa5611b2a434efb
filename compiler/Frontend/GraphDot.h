//===- GraphDot.h - the model as a Graphviz picture -------------*- C++ -*-===//
//
// dlc --emit dot prints the model a user wrote, not MLIR's operation graph: one box per
// layer call (its op, its name under the naming rule, its parameter count), edges
// labelled with the shapes that flow along them, inputs and outputs marked, the loss
// of a train block set apart. dlc --emit svg renders it with Graphviz's dot.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_FRONTEND_GRAPHDOT_H
#define DLC_FRONTEND_GRAPHDOT_H

#include "compiler/Frontend/ModelGraph.h"

#include "llvm/Support/raw_ostream.h"

namespace dlc {

void printModelDot(const ModelGraph &g, llvm::raw_ostream &os);

} // namespace dlc
#endif
