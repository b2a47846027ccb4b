#!/usr/bin/env bash
# Sets up (packages, build) and runs the whole test suite with CTest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
BUILD_DIR=$BUILD_DIR "$ROOT/scripts/setup.sh" -DTASKFP_BUILD_TESTS=ON
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
