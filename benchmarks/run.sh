#!/usr/bin/env bash
# Runs the benchmark: dlc against PyTorch (eager, jit-optimised) and ONNX Runtime, 1 and 2
# threads, on the five workloads. Not a test: nothing depends on its timings.
#   bash benchmarks/run.sh [--quick] [--train] [--cases mlp,cnn,...]
# --train: train steps against PyTorch eager instead of inference.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bash "$root/scripts/build.sh" > /dev/null
if [ ! -d "$here/node_modules/onnxruntime-node" ]; then
  # The plain install tries to download GPU binaries; the CPU library is in the package.
  (cd "$here" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --no-save onnxruntime-node@1.30 > /dev/null)
fi
# A fair PyTorch baseline needs OpenBLAS's SkylakeX kernels on the Intel CPU, which OpenBLAS
# 0.3.21 does not recognise; on a CPU without AVX-512 they crash ("Illegal instruction"), so
# the core follows the CPU's flags, and a value already in the environment stays
# (notes/TOOLCHAIN.md). PyTorch and dlc share GNU OpenMP: both get dlrun's short spin (its
# default spin stalls 2 threads on these VMs; ONNX Runtime has its own spinning pool).
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell
  fi
fi
export GOMP_SPINCOUNT=10000
exec /usr/bin/python3 "$here/run.py" --bin "${DLC_BUILD_DIR:-$root/build}/bin" "$@"
