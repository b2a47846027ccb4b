#!/usr/bin/env bash
# Extraction on a GPU in one command, for a GPU machine that has CUDA, CMake and PyTorch but none
# of taskfp's other libraries (HDF5, yaml-cpp, libpng, ...):
#
#   scripts/gpu-extract-check.sh --bundle   here, after scripts/setup.sh: scripts/gpu-verify.sh
#                                           --bundle, which packs the taskfp executable, the
#                                           libraries it needs beyond glibc and libstdc++, and
#                                           fmt's headers into .gpu-verify/ (git-ignored: carry
#                                           that folder)
#   scripts/gpu-extract-check.sh            on the GPU machine: builds the LibTorch plugin against
#                                           PyTorch's (CUDA) LibTorch, writes JPEG image tasks,
#                                           checks GPU features against CPU ones and a second GPU
#                                           run, and measures images/s (fp32, bf16) against the
#                                           PyTorch pipeline on the same GPU
#
# GPU_EXTRACT_IMAGES (default 32768) sets the images per measured run, GPU_EXTRACT_BATCH (256)
# the batch, GPU_EXTRACT_CHECK_DRAWS (256) the draws per task compared, GPU_EXTRACT_DEVICE (cuda)
# the device measured (cpu: a dry run of this script on a machine without a GPU). The plugin's
# build folder is build-torch-plugin/. scripts/gpu-verify.sh runs this script as one of its steps,
# with the plugin it has built already (GPU_EXTRACT_PREBUILT=1); GPU_EXTRACT_BUNDLE names another
# bundle folder.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUNDLE=${GPU_EXTRACT_BUNDLE:-$ROOT/.gpu-verify}

[ "${1:-}" = "--bundle" ] && exec "$ROOT/scripts/gpu-verify.sh" --bundle
[ -x "$BUNDLE/bin/taskfp" ] || { echo "gpu-extract-check: no .gpu-verify/ (run --bundle on a Debian build machine)"; exit 2; }
[ -d "$BUNDLE/libs/lib" ] || { mkdir -p "$BUNDLE/libs" && tar -xJf "$BUNDLE/libs.tar.xz" -C "$BUNDLE/libs"; }
# The bundled libraries for taskfp alone (cmake and python keep the machine's own).
taskfp() { LD_LIBRARY_PATH="$BUNDLE/libs/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$BUNDLE/bin/taskfp" "$@"; }
PY=${PYTHON:-python3}
N=${GPU_EXTRACT_IMAGES:-32768}
BATCH=${GPU_EXTRACT_BATCH:-256}
DEV=${GPU_EXTRACT_DEVICE:-cuda}
WORK=${GPU_EXTRACT_WORK:-/tmp/taskfp-gpu-extract}
rm -rf "$WORK" && mkdir -p "$WORK"

echo "== LibTorch plugin against $($PY -c 'import torch; print(torch.__version__)')"
if [ -z "${GPU_EXTRACT_PREBUILT:-}" ]; then
prefix=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$ROOT/engine/torch_plugin" -B "$ROOT/build-torch-plugin" "${generator[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DTASKFP_FMT_INCLUDE_DIR="$BUNDLE/include" > "$WORK/plugin-configure.log" 2>&1 ||
  { cat "$WORK/plugin-configure.log"; exit 1; }
cmake --build "$ROOT/build-torch-plugin" -j "$(nproc)" > "$WORK/plugin-build.log" 2>&1 ||
  { tail -50 "$WORK/plugin-build.log"; exit 1; }
fi
export TASKFP_TORCH_PLUGIN=$ROOT/build-torch-plugin/libtaskfp_torch.so
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

# 16 JPEG tasks of 256 images, 200-440 pixels high.
taskfp -q synth-images -o "$WORK/img" --jpeg-only --families 4 --tasks-per-family 4 --classes 4 \
  --images-per-class 64 --min-size 200
tasks=16 per=$((N / 16))
E=(extract -t "$WORK/img/taskset.yaml" --random-weights --batch "$BATCH")

echo
CHECK=${GPU_EXTRACT_CHECK_DRAWS:-256}
echo "== Correctness: the same 2 x $CHECK draws on CPU and on $DEV, twice on $DEV"
few=(--tasks imgfam0_task0,imgfam1_task0 -n "$CHECK")
taskfp -q "${E[@]}" "${few[@]}" --device cpu -o "$WORK/cpu.h5"
taskfp -q "${E[@]}" "${few[@]}" --device "$DEV" -o "$WORK/gpu.h5"
taskfp -q "${E[@]}" "${few[@]}" --device "$DEV" -o "$WORK/gpu2.h5"
taskfp -q "${E[@]}" "${few[@]}" --device "$DEV" --precision bf16 -o "$WORK/gpu-bf16.h5"
$PY - "$WORK" "$DEV" <<'PY'
import sys, h5py, numpy as np
w, dev = sys.argv[1], sys.argv[2]
def feats(name):
    with h5py.File(f"{w}/{name}.h5") as f:
        return np.concatenate([f["tasks"][t]["features"][:] for t in sorted(f["tasks"])])
cpu, gpu, gpu2, bf16 = (feats(n) for n in ("cpu", "gpu", "gpu2", "gpu-bf16"))
rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())
print(f"  {dev} fp32 vs CPU: largest difference {rel(gpu, cpu):.2e} of the largest feature")
print(f"  {dev} fp32 run twice: {'bit for bit identical' if np.array_equal(gpu, gpu2) else 'DIFFERENT'}")
print(f"  {dev} bf16 vs CPU fp32: largest difference {rel(bf16, cpu):.2e} of the largest feature")
PY

echo
echo "== Throughput: $N JPEG images ($tasks tasks x $per draws) at 256 x 256, batch $BATCH"
for precision in fp32 bf16; do
  taskfp -v "${E[@]}" -n "$per" --device "$DEV" --precision "$precision" -o "$WORK/run-$precision.h5" 2>&1 |
    grep -E "images/s" | sed "s/^/  taskfp $precision: /"
done
$PY "$ROOT/bench/reference_extract.py" "$WORK/img/taskset.yaml" --images "$N" --batch "$BATCH" \
  --workers "$(nproc)" --device "$DEV" > "$WORK/reference.json"
$PY - "$WORK/reference.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"  PyTorch {r['torch']} pipeline (DataLoader, {r['threads']} threads): {r['pipeline_images_per_s']:.0f} images/s; "
      f"inference alone {r['inference_images_per_s']:.0f} images/s")
PY
