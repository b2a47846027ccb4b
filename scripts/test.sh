#!/usr/bin/env bash
# Sets up (packages, build) and runs the whole test suite with CTest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
# The backbone test makes its reference features with Debian's torchvision (random weights); the
# robustness tests (tests/robustness/) make their inputs with numpy, h5py and PIL; the DICOM test
# makes its files and expected images with pydicom and numpy (pydicom recommends numpy only).
TASKFP_EXTRA_PACKAGES="python3-torchvision python3-h5py python3-pil python3-pydicom python3-numpy ${TASKFP_EXTRA_PACKAGES:-}" \
  BUILD_DIR=$BUILD_DIR "$ROOT/scripts/setup.sh" -DTASKFP_BUILD_TESTS=ON
cd "$BUILD_DIR"
# The suite runs as a user's machine has it: OpenBLAS and OpenMP choose kernels and threads for
# themselves. A kernel the environment pinned is passed on to the one test that checks ranks and
# threads under the environment's kernel (tests/numerics/blas_kernels.sh).
export TASKFP_TEST_ENV_BLAS_KERNEL=${TASKFP_TEST_ENV_BLAS_KERNEL:-${OPENBLAS_CORETYPE:-}}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS GOTO_NUM_THREADS OMP_NUM_THREADS
ctest --output-on-failure -j "$(nproc)" "$@"
