#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz (built by scripts/sanitize.sh in build-asan/,
# with ASan and UBSan) for SECONDS each (default 60), from the committed corpora, in a
# scratch copy: CI's bounded run. By hand, longer: scripts/fuzz.sh 1800 frontend.
# A crash fails the run and leaves its input in build-asan/fuzz-artifacts/; add it to
# tests/fuzz/corpus/<target>/ with the fix. DLC_FUZZ_MERGE=1 (long runs by hand) merges
# the inputs that reached new coverage into the committed corpus afterwards.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DLC_ASAN_BUILD_DIR:-$root/build-asan}
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frontend safetensors npy signature checkpoint)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_WAIT_POLICY=passive
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"
status=0
for t in "${targets[@]}"; do
  bin=$build/bin/fuzz-$t
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin is missing: build it with scripts/sanitize.sh"; exit 2
  fi
  work=$(mktemp -d /tmp/dlc-fuzz-$t.XXXXXX)
  extra=()
  case $t in
    frontend) extra=(-dict="$root/tests/fuzz/dl.dict" -max_len=4096 -timeout=20) ;;
    checkpoint) extra=(-max_len=300000 -timeout=20) ;;
    *) extra=(-max_len=65536 -timeout=20) ;;
  esac
  echo "== fuzz-$t for ${seconds}s"
  if ! "$bin" "$work" "$root/tests/fuzz/corpus/$t" -max_total_time="$seconds" -rss_limit_mb=3072 \
       -artifact_prefix="$artifacts/$t-" -print_final_stats=1 "${extra[@]}" 2> "$work.log"; then
    status=1
    tail -n 60 "$work.log"
  fi
  if [ "${DLC_FUZZ_MERGE:-0}" = 1 ] && [ $status = 0 ]; then
    "$bin" -merge=1 "$root/tests/fuzz/corpus/$t" "$work" "${extra[@]}" 2>> "$work.log" >/dev/null
    echo "merged: $(ls "$root/tests/fuzz/corpus/$t" | wc -l) inputs in tests/fuzz/corpus/$t"
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$work.log" | tr '\n' ' '
  echo
  rm -rf "$work" "$work.log"
done
exit $status
