#!/usr/bin/env bash
# Quick start, part 2: build if needed and run every test (lit, unit, end-to-end).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DLC_BUILD_DIR:-$root/build}
bash "$root/scripts/build.sh"
export OMP_WAIT_POLICY=passive
cd "$build"
ctest --output-on-failure -j2 "$@"
