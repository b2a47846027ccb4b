#!/usr/bin/env bash
# Verifies the CUDA backend on a GPU machine in one command: builds kernels/ on its own (only the
# CUDA toolkit and GoogleTest needed), runs every CUDA test and the CUDA benchmark, and prints a
# short table. Without a GPU the tests skip and the table says so.
#
#   scripts/gpu-check.sh              build into build-kernels/ and run
#   scripts/gpu-check.sh --bundle     (on a machine with Debian's googletest) copy the GoogleTest
#                                     sources into .gpu-bundle/ for a GPU machine that lacks them
# GoogleTest is taken from an installed package, else from GTEST_SOURCE_DIR, .gpu-bundle/googletest
# or /usr/src/googletest. BUILD_DIR overrides the build folder.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build-kernels}

if [ "${1:-}" = "--bundle" ]; then
  [ -d /usr/src/googletest ] || { echo "gpu-check: /usr/src/googletest missing (apt-get install googletest)"; exit 2; }
  mkdir -p "$ROOT/.gpu-bundle" && rm -rf "$ROOT/.gpu-bundle/googletest"
  cp -r /usr/src/googletest "$ROOT/.gpu-bundle/googletest"
  echo "gpu-check: GoogleTest sources in .gpu-bundle/googletest (git-ignored; carry that folder)"
  exit 0
fi

if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
command -v nvcc >/dev/null || { echo "gpu-check: nvcc not found: install the CUDA toolkit"; exit 2; }
gtest_src=${GTEST_SOURCE_DIR:-}
for candidate in "$ROOT/.gpu-bundle/googletest" /usr/src/googletest; do
  [ -z "$gtest_src" ] && [ -f "$candidate/CMakeLists.txt" ] && gtest_src=$candidate
done
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$ROOT/kernels" -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  ${gtest_src:+-DTASKFP_GTEST_SOURCE_DIR="$gtest_src"} > "$BUILD_DIR.configure.log" 2>&1 ||
  { cat "$BUILD_DIR.configure.log"; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)"

echo
echo "== CUDA tests"
status=0
if [ -x "$BUILD_DIR/taskfp_kernels_tests" ]; then
  "$BUILD_DIR/taskfp_kernels_tests" --gtest_brief=1 || status=$?
else
  echo "not built: GoogleTest missing (run scripts/gpu-check.sh --bundle where it is installed)"
  status=1
fi
echo
echo "== CUDA benchmark"
# The 10,000 x 10,000-task runs need about 45 GB of host memory; GPU_CHECK_QUICK=1 skips them.
bench_args=(--scale)
[ -n "${GPU_CHECK_QUICK:-}" ] && bench_args=()
"$BUILD_DIR/taskfp_kernels_bench" "${bench_args[@]}"
exit $status
