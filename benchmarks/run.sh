#!/usr/bin/env bash
# Runs the benchmark: dlc against PyTorch (eager, jit-optimised) and ONNX Runtime, 1 and 2
# threads, on the five workloads. Not a test: nothing depends on its timings.
#   bash benchmarks/run.sh [--quick] [--train] [--cases mlp,cnn,...] [--isa avx2]
# --train: train steps against PyTorch eager instead of inference.
# --isa avx2: every system held to AVX2 and FMA, as on the AMD EPYC machines without AVX-512:
#   dlc's generated code (-mcpu=x86-64-v3) and oneDNN (ONEDNN_MAX_CPU_ISA, which also caps
#   dlc's native kernels), PyTorch (ATEN_CPU_CAPABILITY, its oneDNN, OpenBLAS's Haswell
#   core) and ONNX Runtime (on a CPU with AVX-512, a copy of its library whose AVX-512
#   checks answer "absent": ort_avx2.py). Results go to results/latest-avx2*.
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
isa=native prev=
for a in "$@"; do
  case "$prev:$a" in --isa:*) isa=$a ;; *:--isa=*) isa=${a#--isa=} ;; esac
  prev=$a
done
if [ "$isa" = avx2 ]; then
  grep -qw avx2 /proc/cpuinfo || { echo "run.sh: --isa avx2 needs a CPU with AVX2" >&2; exit 2; }
  export DLC_FLAGS="--mcpu=x86-64-v3 ${DLC_FLAGS:-}" ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
  export OPENBLAS_CORETYPE=Haswell
  if grep -qw avx512f /proc/cpuinfo; then
    DLC_BENCH_ORT_LIB_DIR=$(/usr/bin/python3 "$here/ort_avx2.py")
    export DLC_BENCH_ORT_LIB_DIR
  fi
fi
exec /usr/bin/python3 "$here/run.py" --bin "${DLC_BUILD_DIR:-$root/build}/bin" "$@"
