#!/usr/bin/env bash
# Runs on a machine with an NVIDIA GPU, from the repository root, in one call:
#   1. every end-to-end test of tests/gpu/tests.txt on the GPU (dlrun --device cuda)
#      against PyTorch: inference, and the train steps (test_train: one step per model,
#      test_samples: the five samples);
#   2. the benchmark against PyTorch eager on the same GPU (tests/gpu/bench_gpu.py),
#      with the bit-equality of reruns.
# The models come from the bundle tests/gpu/prepare.sh made (no dlc here). PyTorch's
# references run on the CPU in float32/float64 as in the CPU suite; the benchmark's
# PyTorch runs on the GPU with TF32 off.
#
# GPU tolerance: |got - ref| <= 10 x (1e-6 + 1e-5 |ref|), ten times the CPU suite's
# (DLC_TOLERANCE_SCALE): the GPU kernels sum in other orders than the CPU's vectorised
# loops and use the driver's PTX math (fused multiply-adds).
#
#   bash tests/gpu/run.sh [BUNDLE]     (default build/gpu-bundle.tar.xz); logs in $OUT or /tmp
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUNDLE=${1:-$ROOT/build/gpu-bundle.tar.xz}
LOGS=${OUT:-/tmp}/dlc-gpu-logs
PY=${DLC_TEST_PYTHON:-python3}
WORK=$(mktemp -d /tmp/dlc-gpu.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$LOGS"
tar -C "$WORK" -xJf "$BUNDLE" || { echo "run.sh: cannot unpack $BUNDLE" >&2; exit 1; }
export LD_LIBRARY_PATH=$WORK/lib:${LD_LIBRARY_PATH:-}
export DLC_BIN=$WORK/bin DLC_SOURCE=$ROOT DLC_PRECOMPILED=$WORK/models DLC_DEVICE=cuda
export DLC_FLAGS="--target cuda -mcpu=x86-64-v2" DLC_TOLERANCE_SCALE=${DLC_TOLERANCE_SCALE:-10}
export OMP_WAIT_POLICY=passive
cd "$ROOT"
# cuBLAS may exist only inside PyTorch's pip packages (nvidia/*/lib): point the runtime
# at those folders too.
export DLRT_CUDA_LIBRARY_PATH=$("$PY" - <<'PY' 2>/dev/null
import glob, os, site
dirs = []
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    dirs += glob.glob(os.path.join(sp, "nvidia", "*", "lib"))
try:
    import torch
    dirs.append(os.path.join(os.path.dirname(torch.__file__), "lib"))
except ImportError:
    pass
print(":".join(dirs))
PY
)
echo "DLRT_CUDA_LIBRARY_PATH=$DLRT_CUDA_LIBRARY_PATH"
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not available"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

failed=0
for t in $(grep -v '^#' "$WORK/tests.txt"); do
  start=$SECONDS
  if timeout 150 "$PY" "tests/e2e/$t.py" > "$LOGS/$t.log" 2>&1; then
    echo "PASS $t ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    echo "FAIL $t ($((SECONDS - start)) s): $(grep -m3 FAIL "$LOGS/$t.log" | tr '\n' ' ')"
    tail -5 "$LOGS/$t.log"
  fi
done
start=$SECONDS
timeout 150 "$PY" tests/gpu/bench_gpu.py 2>&1 | tee "$LOGS/bench.log"
[ "${PIPESTATUS[0]}" = 0 ] || failed=$((failed + 1))
echo "bench ($((SECONDS - start)) s)"
echo "$failed failed"
[ "$failed" = 0 ]
