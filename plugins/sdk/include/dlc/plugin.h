//===- dlc/plugin.h - the one header a dlc plugin includes ------*- C++ -*-===//
//
// A plugin is one C++ file that the SDK's dlc_add_plugin() builds twice:
//  - its run-time part (lib<name>_rt.so): the kernels, compiled without MLIR and
//    linked against nothing of dlc; it sees dlrt/plugin.h only (the C kernel ABI);
//  - its compile-time part (lib<name>.so, loaded by dlc --plugin): the same file with
//    DLC_PLUGIN_COMPILER defined, which adds the layers' declarations (attributes,
//    shape rule, lowering, gradient) through compiler/Plugin/PluginAPI.h.
// Guard the compile-time part with #ifdef DLC_PLUGIN_COMPILER. docs/plugins.md walks
// through writing one.
//
//===----------------------------------------------------------------------===//
#ifndef DLC_PLUGIN_H
#define DLC_PLUGIN_H

#include "dlrt/plugin.h"

#ifdef DLC_PLUGIN_COMPILER
#include "compiler/Plugin/PluginAPI.h"
#endif

#endif
