#!/usr/bin/env bash
# The SDK as a user meets it: `cmake --install` dlc into a fresh prefix, then build
# samples/custom_layer (a plugin, a model using it, an application) and samples/mlp out
# of tree against it, train the custom-layer model with the installed dlrun, and run
# both applications. Usage: run.sh <dlc build folder> <dlc source folder>
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/dlc-sdk.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
cc=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix"
    -DCMAKE_TOOLCHAIN_FILE="$src/cmake/toolchain-clang.cmake")
if command -v ccache >/dev/null; then cc+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

echo "== samples/custom_layer against $prefix"
cmake -S "$src/samples/custom_layer" -B "$work/custom" "${cc[@]}" >/dev/null
cmake --build "$work/custom" >/dev/null
# The run-time part links against nothing of dlc or MLIR.
if ldd "$work/custom/libswiglu_rt.so" | grep -Ei "mlir|llvm|dlrt|dnnl"; then
  echo "FAIL: libswiglu_rt.so links against the above"; exit 1
fi
"$prefix/bin/dlc" --list-plugins --plugin "$work/custom/libswiglu.so" | grep -q "swiglu (kernel, gradient)"
"$work/custom/custom-layer-demo" data "$work"
# Only the model's folder is searched for libswiglu_rt.so here (dlc_add_model put it there).
env -u DLRT_PLUGIN_PATH "$prefix/bin/dlrun" train "$work/custom/spirals.so" --input x="$work/x.npy" \
  --input label="$work/label.npy" --epochs 40 --batch 64 --seed 1 --save "$work/w.safetensors" | tail -n 3
out=$("$work/custom/custom-layer-demo" predict "$work/custom/spirals.so" "$work/w.safetensors")
echo "$out"
python3 - "$out" <<'PY'
import sys
acc = float(sys.argv[1].split()[1])
# The spirals are learnable: a model whose gated layers did not train stays near 1/3.
assert acc >= 0.9, "accuracy %.4f < 0.9" % acc
PY

echo "== samples/mlp against $prefix"
cmake -S "$src/samples/mlp" -B "$work/mlp" "${cc[@]}" >/dev/null
cmake --build "$work/mlp" >/dev/null
"$work/mlp/mlp-demo" | tee "$work/mlp.txt"
grep -q "sample 3: class" "$work/mlp.txt"
echo "sdk: ok"
