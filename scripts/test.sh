#!/usr/bin/env bash
# Sets up (packages, build) and runs the whole test suite with CTest.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
# The backbone test makes its reference features with Debian's torchvision (random weights); the
# image tests make their files and PIL's decoding of them with PIL, numpy and TurboJPEG (YCCK);
# the robustness tests (tests/robustness/) make their inputs with numpy, h5py and PIL; the NIfTI test
# its volumes and expected slices with nibabel, and checks Colin27 from mricron-data; the store
# tests write stores as other tools do with h5py (tests/fixtures/make_h5py_stores.py); the IDX
# test reads the packaged Fashion-MNIST; the DICOM test makes its files and expected images with
# pydicom and numpy (pydicom recommends numpy only); the real-data test builds the demo's tasks
# (scripts/make_real_tasks.py) with scikit-learn's digits besides.
TASKFP_EXTRA_PACKAGES="python3-torchvision python3-h5py python3-pil python3-numpy libturbojpeg0 python3-nibabel mricron-data dataset-fashion-mnist python3-pydicom python3-sklearn ${TASKFP_EXTRA_PACKAGES:-}" \
  BUILD_DIR=$BUILD_DIR "$ROOT/scripts/setup.sh" -DTASKFP_BUILD_TESTS=ON
cd "$BUILD_DIR"
# The suite runs as a user's machine has it: OpenBLAS and OpenMP choose kernels and threads for
# themselves. A kernel the environment pinned is passed on to the one test that checks ranks and
# threads under the environment's kernel (tests/numerics/blas_kernels.sh).
export TASKFP_TEST_ENV_BLAS_KERNEL=${TASKFP_TEST_ENV_BLAS_KERNEL:-${OPENBLAS_CORETYPE:-}}
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS GOTO_NUM_THREADS OMP_NUM_THREADS
ctest --output-on-failure -j "$(nproc)" "$@"
