#!/usr/bin/env bash
# Configures (once) and builds dlc with clang-22, lld, libMLIR.so and ccache.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DLC_BUILD_DIR:-$root/build}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/dlc-ccache}
export CCACHE_BASEDIR=$root
export CCACHE_COMPILERCHECK=content
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-clang.cmake"
fi
ninja -C "$build"
