#!/usr/bin/env bash
# ThreadSanitizer on the concurrency test: the runtime and tests/unit/ConcurrencyTest.cpp
# built with -fsanitize=thread (clang-22) in build-tsan/, the models compiled by the plain
# build's dlc (a model is native code that runs uninstrumented whichever dlc made it, so
# the compiler is not rebuilt). One thread per session: libgomp is not instrumented, and
# TSan would report its barriers falsely. Arguments go to the test binary (Catch2), e.g.
# DLC_CONCURRENCY_CALLS=1000 scripts/tsan.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DLC_TSAN_BUILD_DIR:-$root/build-tsan}
dlc=${DLC_TSAN_MODEL_COMPILER:-$root/build/bin/dlc}
[ -x "$dlc" ] || { echo "tsan: $dlc is missing: run scripts/build.sh first"; exit 2; }
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/dlc-ccache}
export CCACHE_BASEDIR=$root
export CCACHE_COMPILERCHECK=content
flags="-fsanitize=thread -fno-omit-frame-pointer -g1"
cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DDLC_BUILD_COMPILER=OFF -DDLC_TEST_MODEL_COMPILER="$dlc" \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-clang.cmake" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" > /dev/null
ninja -C "$build" concurrency-tests
export OMP_WAIT_POLICY=passive
export TSAN_OPTIONS="halt_on_error=1:abort_on_error=0:second_deadlock_stack=1"
"$build/bin/concurrency-tests" "$@"
