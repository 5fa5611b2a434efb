#!/usr/bin/env bash
# Builds the compiler, runtime and every test with AddressSanitizer and
# UndefinedBehaviorSanitizer (clang-22) in build-asan/, then runs the whole suite there
# (lit, unit, end-to-end). Any report fails the run: UBSan halts on its first error, LSan
# reports leaks at exit. Arguments go to ctest (e.g. -R e2e).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DLC_ASAN_BUILD_DIR:-$root/build-asan}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/dlc-ccache}
export CCACHE_BASEDIR=$root
export CCACHE_COMPILERCHECK=content
# fuzzer-no-link: coverage instrumentation everywhere, for the libFuzzer targets of
# tests/fuzz built here too (scripts/fuzz.sh runs them).
flags="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g1"
cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDLC_FUZZ=ON \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-clang.cmake" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" > /dev/null
ninja -C "$build"
export OMP_WAIT_POLICY=passive
# A 64 MB quarantine (freed memory held back from reuse, so that a use after free is
# caught) instead of 256: with 256, dlc's compiles fault in fresh pages for every
# allocation and e2e.linalg.test_train took 280 s, with 64 160 s (2-core AMD EPYC Zen 5).
# A use soon after the free is caught the same; one after 64 MB of later frees is not.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:quarantine_size_mb=64
export LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$build"
ctest --output-on-failure -j2 "$@"
