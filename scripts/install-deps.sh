#!/usr/bin/env bash
# Installs every Debian package dlc needs to build, test and benchmark. Idempotent: packages
# already present are skipped by apt, and nothing is downloaded outside Debian's archive.
set -euo pipefail
pkgs=(
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools clang-22 lld-22
  liblld-22-dev                    # lld links model.so inside dlc (compiler/Target/Linker.cpp)
  binutils                         # ld.bfd links model.so where dlc has no lld
  libdnnl-dev ocl-icd-opencl-dev libfmt-dev catch2 nlohmann-json3-dev ninja-build ccache cmake
  zlib1g-dev libzstd-dev libedit-dev libcurl4-openssl-dev libclang-rt-22-dev
  python3-torch python3-numpy python3-sklearn libopenblas0-openmp
  dataset-fashion-mnist fortunes   # the real-data training tests
  graphviz                         # dlc --emit svg
  libtcmalloc-minimal4             # dlc's allocator (compiler/tools/dlc/CMakeLists.txt)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q \
  --no-install-recommends "${missing[@]}"
