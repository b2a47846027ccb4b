#!/usr/bin/env bash
# Installs the Debian packages taskfp needs (idempotent, non-interactive), then configures and
# builds into ${BUILD_DIR:-build}. Usage: scripts/setup.sh [extra cmake -D options]
# TASKFP_EXTRA_PACKAGES adds Debian packages; TASKFP_PACKAGES_ONLY=1 stops after installing.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libhdf5-dev libopenblas-dev libeigen3-dev
  libcli11-dev libyaml-cpp-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin libpng-dev libjpeg62-turbo-dev libtiff-dev zlib1g-dev libtorch-dev libxxhash-dev
  libnifti2-dev libgdcm-dev
  # h5py's LZF filter (id 32000) for stores written with compression="lzf": the plugin, in
  # libhdf5's default plugin folder, and the liblzf it uses without linking it (io/hdf5.cpp
  # loads that where a store needs the filter).
  hdf5-plugin-lzf liblzf1
)
# Callers add their own (scripts/test.sh: what the tests' reference scripts import).
read -r -a extra <<< "${TASKFP_EXTRA_PACKAGES:-}"
PACKAGES+=("${extra[@]}")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "${TASKFP_PACKAGES_ONLY:-0}" = 1 ] && exit 0

# The CUDA toolkit, where installed, builds the CUDA backend (kernels/); without it the build is
# CPU-only.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "setup: built $BUILD_DIR/engine/taskfp"
