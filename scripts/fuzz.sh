#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz (built by scripts/sanitize.sh in build-asan/,
# with ASan and UBSan) for SECONDS each (default 60), from the committed corpora, in a
# scratch copy: CI's bounded run. By hand, longer: scripts/fuzz.sh 1800 frontend.
# A crash fails the run and leaves its input in build-asan/fuzz-artifacts/; add it to
# tests/fuzz/corpus/<target>/ with the fix (named crash-*). DLC_FUZZ_MERGE=1 (long runs
# by hand) merges what a run found into the committed corpus afterwards, kept small: the
# named inputs (make_corpus.py's seeds, crash-* regressions) stay, and of the found ones
# (named by their SHA-1) a set that reaches every edge the old and new ones reach, in
# inputs of at most 64 KiB. `scripts/fuzz.sh minimize [targets]` does only that.
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

# minimize TARGET BIN FOUND_DIR: rewrites tests/fuzz/corpus/TARGET as described above.
minimize() {
  local corpus=$root/tests/fuzz/corpus/$1 keep old
  keep=$(mktemp -d /tmp/dlc-fuzz-keep.XXXXXX)
  old=$(mktemp -d /tmp/dlc-fuzz-old.XXXXXX)
  find "$corpus" -maxdepth 1 -regextype posix-extended -type f ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$keep" \;
  find "$corpus" -maxdepth 1 -regextype posix-extended -type f -regex '.*/[0-9a-f]{40}' -exec mv {} "$old" \;
  # -use_counters=0: edges, not every hit count of them, or the corpus grows without end.
  "$2" -merge=1 -use_counters=0 -max_len=65536 "$keep" "$old" "$3" > "$keep.log" 2>&1 ||
    { tail -n 20 "$keep.log"; mv "$old"/* "$corpus"/; return 1; }
  cp -n "$keep"/* "$corpus"/
  echo "corpus: $(ls "$corpus" | wc -l) inputs in tests/fuzz/corpus/$1"
  rm -rf "$keep" "$keep.log" "$old"
}
if [ "$seconds" = minimize ]; then
  for t in "${targets[@]}"; do
    empty=$(mktemp -d /tmp/dlc-fuzz-none.XXXXXX)
    minimize "$t" "$build/bin/fuzz-$t" "$empty" || status=1
    rm -rf "$empty"
  done
  exit $status
fi
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
    minimize "$t" "$bin" "$work" || status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$work.log" | tr '\n' ' '
  echo
  rm -rf "$work" "$work.log"
done
exit $status
