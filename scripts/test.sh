#!/usr/bin/env bash
# Sets up (packages, build) and runs the whole test suite with CTest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
# The backbone test makes its reference features with Debian's torchvision (random weights); the
# robustness tests (tests/robustness/) make their inputs with numpy, h5py and PIL.
TASKFP_EXTRA_PACKAGES="python3-torchvision python3-h5py python3-pil ${TASKFP_EXTRA_PACKAGES:-}" \
  BUILD_DIR=$BUILD_DIR "$ROOT/scripts/setup.sh" -DTASKFP_BUILD_TESTS=ON
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
