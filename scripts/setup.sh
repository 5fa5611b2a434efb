#!/usr/bin/env bash
# Quick start, part 1: install the packages, build, compile samples/mlp and run it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DLC_BUILD_DIR:-$root/build}
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
echo "== dlc samples/mlp/mlp.dl -o $build/mlp.so"
"$build/bin/dlc" "$root/samples/mlp/mlp.dl" -o "$build/mlp.so"
echo "== dlrun info"
"$build/bin/dlrun" info "$build/mlp.so"
echo "== mlp-demo (the runtime embedded in a C++ program)"
OMP_WAIT_POLICY=passive "$build/bin/mlp-demo" "$build/mlp.so"
