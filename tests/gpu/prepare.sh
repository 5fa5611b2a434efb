#!/usr/bin/env bash
# Prepares what tests/gpu/run.sh needs on a GPU machine, which has no dlc (nor MLIR):
# every model of the end-to-end tests in tests/gpu/tests.txt and of the GPU benchmark,
# compiled here with --target cuda for a portable x86-64 host, with dlrun, libdlrt and
# the libraries the GPU machine lacks (oneDNN, OpenCL's loader), as one .tar.xz
# (oneDNN alone is 40 MB, 7 MB compressed). No weights: the tests make them there.
#
#   bash tests/gpu/prepare.sh [BUNDLE]        (default build/gpu-bundle.tar.xz)
#
# The tests run here once to collect their models, through dlrun against the stand-in
# driver (build/lib/libfake_cuda.so): their numbers are not checked here (no kernel
# runs), but every launch, copy and free of every model is, and any violation the
# stand-in finds (a host pointer handed to a kernel, a copy outside device memory, a bad
# free) fails this script.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
OUT=${1:-$BUILD/gpu-bundle.tar.xz}
PY=${DLC_TEST_PYTHON:-/usr/bin/python3}
FAKE=$BUILD/lib/libfake_cuda.so
[ -x "$BUILD/bin/dlc" ] && [ -f "$FAKE" ] || { echo "prepare.sh: build first (scripts/build.sh)" >&2; exit 1; }

STAGE=$(mktemp -d /tmp/dlc-gpu-bundle.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/models"
export DLC_FLAGS="--target cuda -mcpu=x86-64-v2" DLC_COLLECT=$STAGE/models DLC_BIN=$BUILD/bin DLC_SOURCE=$ROOT
export DLC_DEVICE=cuda DLRT_CUDA_DRIVER=$FAKE DLRT_CUBLAS=$FAKE DLRT_CUDNN=$FAKE OMP_WAIT_POLICY=passive FAKE_CUDA_VIOLATIONS=$STAGE/violations
cd "$ROOT"
for t in $(grep -v '^#' tests/gpu/tests.txt); do
  start=$SECONDS
  "$PY" "tests/e2e/$t.py" > "$STAGE/collect-$t.log" 2>&1 || true
  echo "collected $t: $(ls "$STAGE/models" | wc -l) models so far ($((SECONDS - start)) s)"
done
"$PY" tests/gpu/bench_gpu.py --collect
if [ -s "$STAGE/violations" ]; then
  echo "prepare.sh: the stand-in driver found $(wc -l < "$STAGE/violations") violations:" >&2
  sort "$STAGE/violations" | uniq -c | sort -rn | head -20 >&2
  exit 1
fi
cp "$BUILD/bin/dlrun" "$STAGE/bin/"
cp -L "$BUILD"/lib/libdlrt.so.1 "$STAGE/lib/"
for lib in libdnnl.so.2 libOpenCL.so.1; do
  cp -L "$(ldd "$BUILD/lib/libdlrt.so.1" | awk -v l=$lib '$1 == l { print $3 }')" "$STAGE/lib/$lib"
done
cp tests/gpu/tests.txt "$STAGE/"
rm -f "$STAGE"/collect-*.log
tar -C "$STAGE" -cJf "$OUT" .
echo "wrote $OUT ($(du -h "$OUT" | cut -f1); $(ls "$STAGE/models" | wc -l) models)"
