#!/usr/bin/env bash
# The whole GPU verification in one command, for a GPU machine that has CUDA, CMake and PyTorch
# but none of taskfp's other libraries (HDF5, yaml-cpp, OpenBLAS, ...):
#
#   scripts/gpu-verify.sh --bundle   here, after a build with CUDA (scripts/setup.sh): packs the
#                                    taskfp executable, the engine's test binary, the CUDA plugin,
#                                    the kernel tests and benchmark, the libraries they need beyond
#                                    glibc and libstdc++, and fmt's headers into .gpu-verify/
#                                    (git-ignored, about 20 MB: carry that folder)
#   scripts/gpu-verify.sh            on the GPU machine: every step below with its own timeout,
#                                    each step's output in $GPU_VERIFY_OUT/verify.log (default
#                                    $OUT, else build-gpu-verify/), and a summary at the end
#
# Steps: (1) the LibTorch plugins (extraction and training) are built against the machine's
# PyTorch, in the background; (2) the CUDA kernel tests and (3) the engine's CUDA tests against the
# CPU oracles; (4) the CUDA benchmark (DGEMM rate, bKLD terms; GPU_VERIFY_SCALE=1 adds 10,000 x
# 10,000 tasks, about 45 GB of host memory); (5) the pipeline on 128 synthetic tasks of 10,000 x
# 512 features: fingerprints and bKLD matrices on CPU and GPU, compared and timed; (6) extraction
# (scripts/gpu-extract-check.sh); (7) one training job of the paper's protocol (ResNet34, batch
# 300, 224 x 224 crops) in fp32 and bf16 against the same training in PyTorch on the same GPU;
# (8) FED's Fisher embeddings of two tasks (ResNet34, 2,000 probe and 500 Fisher images at 224 px
# crops; GPU_VERIFY_FED_*) on the GPU in both modes against the CPU and PyTorch, and the Sinkhorn
# divergence on the GPU: one pair of 10,000 points against the CPU, 15 pairs timed.
# Without a GPU the CUDA steps skip and the others run on the CPU (a dry run: GPU_VERIFY_DEVICE=cpu).
#
# Step names, for GPU_VERIFY_STEPS (a regular expression; only the steps whose names match run):
#   "CUDA kernel tests", "engine CUDA tests", "CUDA benchmark", "pipeline CPU vs GPU",
#   "LibTorch plugins built", "extraction", "training ResNet34 fp32/bf16", "FED and Sinkhorn"
#   e.g. GPU_VERIFY_STEPS='engine|LibTorch|FED' scripts/gpu-verify.sh (extraction, training and
#   FED need the plugins that "LibTorch plugins built" makes, or GPU_VERIFY_TRAIN_PLUGIN)
# Settings (environment): GPU_VERIFY_OUT (results folder), GPU_VERIFY_WORK (scratch, default
# /tmp/taskfp-gpu-verify), GPU_VERIFY_DEVICE (cuda, or cpu for a dry run), PYTHON (a Python with
# torch, numpy and h5py; default python3), GPU_VERIFY_SAMPLES (pipeline points per task, 10000),
# GPU_VERIFY_SCALE (1: the benchmark's 10,000 x 10,000 tasks), GPU_VERIFY_EXTRACT_IMAGES (32768),
# GPU_VERIFY_TRAIN_IMAGES (750) and GPU_VERIFY_EPOCHS (3) for training, GPU_VERIFY_FED_PROBE
# (2000), GPU_VERIFY_FED_FISHER (500) and GPU_VERIFY_FED_SIZE (256 px images) for FED,
# GPU_VERIFY_SINKHORN_POINTS (10000), GPU_VERIFY_TRAIN_PLUGIN (a training plugin already built).
# Each comparison prints its largest difference; the tests in the steps assert their tolerances
# (FED: 1e-4 relative with the head as initialised; the Sinkhorn divergence: 1e-10 relative).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUNDLE=$ROOT/.gpu-verify

case "${1:-}" in
  -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  ""|--bundle) ;;
  *) echo "gpu-verify: unknown argument '$1' (--bundle, --help, or none)"; exit 2 ;;
esac
if [ "${1:-}" = "--bundle" ]; then
  B=${BUILD_DIR:-$ROOT/build}
  [ -x "$B/engine/taskfp" ] || { echo "gpu-verify: build taskfp first (scripts/setup.sh)"; exit 2; }
  rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/bin" "$BUNDLE/lib/taskfp" "$BUNDLE/include" "$BUNDLE/stage/lib"
  cp "$B/engine/taskfp" "$BUNDLE/bin/"
  # The CUDA parts where the build has them (a build without nvcc bundles for extraction only).
  for f in tests/taskfp_tests kernels/taskfp_kernels_tests kernels/taskfp_kernels_bench; do
    if [ -x "$B/$f" ]; then cp "$B/$f" "$BUNDLE/bin/"; else echo "gpu-verify: no $f in $B: its step will be skipped"; fi
  done
  [ -e "$B/lib/taskfp/libtaskfp_cuda.so" ] && cp "$B/lib/taskfp/libtaskfp_cuda.so" "$BUNDLE/lib/taskfp/"
  # Everything they link beyond the C and C++ runtimes and CUDA's own (the machine's CUDA serves).
  for exe in "$BUNDLE"/bin/taskfp*; do ldd "$exe"; done | awk '$3 ~ /^\// { print $3 }' | sort -u |
    grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libpthread|libdl|librt|ld-linux-x86-64)\.so|/libcu' |
    while read -r lib; do cp -L "$lib" "$BUNDLE/stage/lib/"; done
  tar -cJf "$BUNDLE/libs.tar.xz" -C "$BUNDLE/stage" lib && rm -rf "$BUNDLE/stage"
  cp -r /usr/include/fmt "$BUNDLE/include/"
  echo "gpu-verify: $(du -sh "$BUNDLE" | cut -f1) in .gpu-verify/ (git-ignored; carry that folder)"
  exit 0
fi

[ -x "$BUNDLE/bin/taskfp" ] || { echo "gpu-verify: no .gpu-verify/ (run --bundle on a Debian build machine)"; exit 2; }
[ -d "$BUNDLE/libs/lib" ] || { mkdir -p "$BUNDLE/libs" && tar -xJf "$BUNDLE/libs.tar.xz" -C "$BUNDLE/libs"; }
OUTDIR=${GPU_VERIFY_OUT:-${OUT:-$ROOT/build-gpu-verify}}
mkdir -p "$OUTDIR"
LOG=$OUTDIR/verify.log
WORK=${GPU_VERIFY_WORK:-/tmp/taskfp-gpu-verify}
rm -rf "$WORK" && mkdir -p "$WORK"
PY=${PYTHON:-python3}
DEV=${GPU_VERIFY_DEVICE:-cuda}
CUDA_LIBS=$(ls -d /usr/local/cuda/lib64 /usr/local/cuda/lib 2>/dev/null | paste -sd:)
export LD_LIBRARY_PATH="$BUNDLE/libs/lib${CUDA_LIBS:+:$CUDA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec > >(tee -a "$LOG") 2>&1
declare -a SUMMARY=()
step() {  # step <name> <seconds> <command...>: runs it with a timeout, records the outcome
  local name=$1 limit=$2 start rc; shift 2
  [[ "$name" =~ ${GPU_VERIFY_STEPS:-.} ]] || return 0
  if [[ "$1" == */* && ! -x "$1" ]]; then
    SUMMARY+=("$(printf '%-34s %-18s' "$name" "skipped (not bundled)")"); return 0
  fi
  echo; echo "=== $name (limit ${limit} s)"; start=$(date +%s)
  timeout --kill-after=10 "$limit" bash -c '"$@"' step "$@"; rc=$?
  local took=$(( $(date +%s) - start ))
  local what=ok; [ $rc -eq 0 ] || what="FAILED (exit $rc)"; [ $rc -eq 124 ] && what="TIMED OUT"
  echo "=== $name: $what in ${took} s"; SUMMARY+=("$(printf '%-34s %-18s %5s s' "$name" "$what" "$took")")
}
echo "gpu-verify at $(date -u '+%F %H:%M UTC'), $(nproc) cores"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
echo "PyTorch $($PY -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1)"

# (1) The LibTorch plugins against the machine's PyTorch, while the CUDA steps run.
prefix=$($PY -c 'import torch; print(torch.utils.cmake_prefix_path)')
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
build_plugin() {  # build_plugin <source folder> <build folder>
  cmake -S "$ROOT/$1" -B "$ROOT/$2" "${generator[@]}" -DCMAKE_PREFIX_PATH="$prefix" \
    -DTASKFP_FMT_INCLUDE_DIR="$BUNDLE/include" > "$WORK/$2.log" 2>&1 &&
    cmake --build "$ROOT/$2" -j 8 >> "$WORK/$2.log" 2>&1
}
if [[ "LibTorch plugins built" =~ ${GPU_VERIFY_STEPS:-.} ]]; then
  (build_plugin engine/torch_plugin build-torch-plugin; echo $? > "$WORK/torch-plugin.rc") &
  (build_plugin experiments/train_plugin build-train-plugin; echo $? > "$WORK/train-plugin.rc") &
fi

step "CUDA kernel tests" 120 "$BUNDLE/bin/taskfp_kernels_tests" --gtest_brief=0
step "engine CUDA tests" 120 "$BUNDLE/bin/taskfp_tests" \
  --gtest_filter='*Cuda*:*Gpu*:Histc.*:Kld*:*BackendOps*:BackendSelect.*:Sinkhorn.*' --gtest_brief=0
bench_args=(); [ -n "${GPU_VERIFY_SCALE:-}" ] && bench_args=(--scale)
step "CUDA benchmark" 240 "$BUNDLE/bin/taskfp_kernels_bench" "${bench_args[@]}"
# A benchmark binary of an earlier revision, when the bundle carries one: the baseline of the
# same run (copy it to .gpu-verify/bin/taskfp_kernels_bench_before after --bundle).
if [ -x "$BUNDLE/bin/taskfp_kernels_bench_before" ]; then
  step "CUDA benchmark, baseline build" 240 "$BUNDLE/bin/taskfp_kernels_bench_before" "${bench_args[@]}"
fi

# (5) The pipeline at the paper's scale, CPU against GPU.
pipeline() {
  local T="$BUNDLE/bin/taskfp" P="$WORK/pipeline" s
  mkdir -p "$P"
  "$T" -q synth -o "$P/features.h5" --families 16 --tasks-per-family 8 --samples "${GPU_VERIFY_SAMPLES:-10000}" --dim 512 || return 1
  for b in cpu "$DEV"; do
    s=$(date +%s%N)
    "$T" -q fingerprint -f "$P/features.h5" -o "$P/fp-$b.h5" --backend "$b" --no-covariance --scaling-subset all || return 1
    echo "fingerprint --backend $b: $(( ($(date +%s%N) - s) / 1000000 )) ms (128 tasks x ${GPU_VERIFY_SAMPLES:-10000} x 512, bins 100 and 1000)"
  done
  for b in cpu "$DEV"; do
    s=$(date +%s%N)
    "$T" -q distance -f "$P/fp-cpu.h5" -m bkld-small -m bkld-large --backend "$b" --csv-dir "$P/d-$b" || return 1
    echo "distance bkld-small + bkld-large --backend $b: $(( ($(date +%s%N) - s) / 1000000 )) ms (128 x 128)"
  done
  "$PY" - "$P" "$DEV" <<'PYEOF'
import sys, glob, os, h5py, numpy as np
p, dev = sys.argv[1], sys.argv[2]
def counts(name):
    with h5py.File(f"{p}/{name}") as f:
        out = []
        f.visititems(lambda k, v: out.append((k, v[()])) if isinstance(v, h5py.Dataset) and "hist" in k else None)
        return dict(out)
a, b = counts("fp-cpu.h5"), counts(f"fp-{dev}.h5")
same = sum(np.array_equal(a[k], b[k]) for k in a if k in b)
print(f"fingerprint histograms: {same} of {len(a)} datasets bit for bit equal ({dev} vs cpu)")
for f in sorted(glob.glob(f"{p}/d-cpu/*.csv")):
    x = np.genfromtxt(f, delimiter=",", skip_header=1)[:, 1:]
    y = np.genfromtxt(f.replace("d-cpu", f"d-{dev}"), delimiter=",", skip_header=1)[:, 1:]
    m = np.isfinite(x)
    rel = np.abs(x - y)[m] / np.maximum(1.0, np.abs(x[m]))
    print(f"{os.path.basename(f)}: largest difference {rel.max():.2e} (relative, 1e-9 allowed), "
          f"NaN where the CPU has NaN: {np.array_equal(np.isnan(x), np.isnan(y))}")
PYEOF
}
export -f pipeline
export BUNDLE WORK PY DEV ROOT
step "pipeline CPU vs GPU" 240 pipeline

wait_plugin() { while [ ! -e "$WORK/$1.rc" ]; do sleep 2; done; [ "$(cat "$WORK/$1.rc")" = 0 ] || { tail -40 "$WORK/build-$1.log"; return 1; }; }
plugins_built() { wait_plugin torch-plugin && wait_plugin train-plugin; }
export -f wait_plugin plugins_built
step "LibTorch plugins built" 300 plugins_built

# (6) Extraction: scripts/gpu-extract-check.sh with this bundle and the plugin just built.
step "extraction" 240 env GPU_EXTRACT_BUNDLE="$BUNDLE" GPU_EXTRACT_PREBUILT=1 GPU_EXTRACT_DEVICE="$DEV" \
  GPU_EXTRACT_IMAGES="${GPU_VERIFY_EXTRACT_IMAGES:-32768}" bash "$ROOT/scripts/gpu-extract-check.sh"

# (7) One training job of the paper's protocol, fp32 and bf16, against PyTorch.
training() {
  local T="$BUNDLE/bin/taskfp" W="$WORK/train" n=${GPU_VERIFY_TRAIN_IMAGES:-750} e=${GPU_VERIFY_EPOCHS:-3} precision
  export TASKFP_TRAIN_PLUGIN=$ROOT/build-train-plugin/libtaskfp_train.so
  "$T" -q synth-images -o "$W/tasks" --jpeg-only --families 1 --tasks-per-family 1 --classes 4 \
    --images-per-class "$n" --min-size 200 || return 1
  for precision in fp32 auto; do
    printf 'name: gpu\nseeds: [0]\ntraining: {architecture: resnet34, pretrained: random, batch: 300, precision: %s, epochs: {max: %s, steps: 100000, shrunk: %s}, images: {size: 256, pad: 288, crop: 224}}\nscenarios: {baseline: {targets: [full]}}\n' \
      "$precision" "$e" "$e" > "$W/$precision.yaml"
    "$T" transfer run -c "$W/$precision.yaml" -t "$W/tasks/taskset.yaml" -s "$W/study-$precision" --device "$DEV" \
      --job-threads 8 || return 1
  done
  for precision in fp32 bf16; do
    "$PY" "$ROOT/bench/reference_train.py" "$W/tasks/imgfam0_task0" --model resnet34 --size 256 --crop 224 \
      --batch 300 --epochs "$e" --threads 8 --device "$DEV" --precision "$precision" > "$W/reference-$precision.json" || return 1
  done
  "$PY" - "$W" <<'PYEOF'
import glob, json, sys
w = sys.argv[1]
for ours, ref in (("fp32", "fp32"), ("auto", "bf16")):
    r = json.load(open(glob.glob(f"{w}/study-{ours}/jobs/**/*.json", recursive=True)[0]))
    p = json.load(open(f"{w}/reference-{ref}.json"))
    a = r["images"] / r["seconds"]
    print(f"training {ref}: taskfp {a:.0f} images/s ({r['images']} images, {r['seconds']:.1f} s), PyTorch "
          f"{p['torch']} {p['images_per_s']:.0f} images/s; ratio {a / p['images_per_s']:.2f}")
PYEOF
}
export -f training
step "training ResNet34 fp32/bf16" 300 training

# (8) FED's Fisher embeddings on the device (ResNet34, random weights; batched and per-image)
# against the CPU and against PyTorch (and the engine's test Fisher.DeviceAgreesWithTheCpu), and
# the Sinkhorn divergence with its cost matrices and soft-min passes on the device: one pair of
# 10,000 points against the CPU, and 6 tasks (15 pairs) timed for the 127 x 127 estimate.
fed_sinkhorn() {
  local T="$BUNDLE/bin/taskfp" W="$WORK/fed" m b s
  local probe=${GPU_VERIFY_FED_PROBE:-2000} fisher=${GPU_VERIFY_FED_FISHER:-500} size=${GPU_VERIFY_FED_SIZE:-256}
  export TASKFP_TRAIN_PLUGIN=${GPU_VERIFY_TRAIN_PLUGIN:-$ROOT/build-train-plugin/libtaskfp_train.so}
  if [ -x "$BUNDLE/bin/taskfp_tests" ]; then
    "$BUNDLE/bin/taskfp_tests" --gtest_filter='Fisher.DeviceAgreesWithTheCpu' --gtest_brief=0 || return 1
  fi
  "$T" -q synth-images -o "$W/tasks" --jpeg-only --families 1 --tasks-per-family 2 --classes 4 \
    --images-per-class 100 --min-size "$size" || return 1
  printf 'name: fed\ntraining:\n  images: {size: %d, pad: %d, crop: %d}\n' "$size" "$((size + 32))" "$((size - 32))" \
    > "$W/protocol.yaml"
  # The CPU's batched embeddings are the reference; the device's in both modes.
  for run in "cpu batched reference" "$DEV batched $DEV-batched" "$DEV per-image $DEV-per-image"; do
    set -- $run
    "$T" -q -j 16 fisher -t "$W/tasks/taskset.yaml" -c "$W/protocol.yaml" --random-weights --probe-samples "$probe" \
      --fisher-samples "$fisher" --device "$1" --fisher-mode "$2" -o "$W/$3.h5" || return 1
  done
  "$PY" "$ROOT/bench/reference_fed.py" --images 320 --size "$size" --crop "$((size - 32))" --classes 4 \
    --probe-samples "$probe" --fisher-samples "$fisher" --threads 16 --device "$DEV" > "$W/torch.json" || return 1
  "$PY" - "$W" "$DEV" <<'PYEOF'
import json, sys, h5py, numpy as np
w, dev = sys.argv[1], sys.argv[2]
def load(name):
    with h5py.File(f"{w}/{name}.h5") as f:
        return {t: (f["tasks"][t]["embedding"][:].ravel(), dict(f["tasks"][t].attrs)) for t in f["tasks"]}
cpu = load("reference")
for mode in ("batched", "per-image"):
    gpu = load(f"{dev}-{mode}")
    for t, (e, a) in gpu.items():
        c = cpu[t][0]
        rel = np.abs(e - c).max() / np.abs(c).max()
        print(f"fisher {dev} {mode} {t}: probe {a['probe_seconds']:.2f} s, Fisher {a['seconds'] - a['probe_seconds']:.2f} s; "
              f"largest difference to the CPU {rel:.2e} of the largest value")
r = json.load(open(f"{w}/torch.json"))
print(f"PyTorch on {dev}: probe {r['probe_seconds']:.2f} s, Fisher (per image) {r['fisher_seconds']:.2f} s")
PYEOF
  [ $? -eq 0 ] || return 1
  "$T" -q synth -o "$W/clouds.h5" --families 2 --tasks-per-family 1 --samples "${GPU_VERIFY_SINKHORN_POINTS:-10000}" \
    --dim 512 || return 1
  for b in cpu "$DEV"; do
    s=$(date +%s%N)
    "$T" -q distance -m MMD-geo-sinkhorn-0.01 --features "$W/clouds.h5" --backend "$b" --csv-dir "$W/sk-$b" || return 1
    echo "Sinkhorn, one pair of ${GPU_VERIFY_SINKHORN_POINTS:-10000} points, --backend $b: $(( ($(date +%s%N) - s) / 1000000 )) ms"
  done
  "$PY" -c "import numpy as np; a = np.genfromtxt('$W/sk-cpu/MMD-geo-sinkhorn-0.01.csv', delimiter=',', skip_header=1)[:, 1:]; b = np.genfromtxt('$W/sk-$DEV/MMD-geo-sinkhorn-0.01.csv', delimiter=',', skip_header=1)[:, 1:]; print(f'Sinkhorn: largest relative difference $DEV vs cpu {np.abs(a - b).max() / np.abs(a).max():.2e}')" \
    || return 1
  # Pairs of the same size on the device alone: per pair, and 127 x 127 (8,001 pairs) estimated.
  "$T" -q synth -o "$W/clouds6.h5" --families 3 --tasks-per-family 2 --samples "${GPU_VERIFY_SINKHORN_POINTS:-10000}" \
    --dim 512 || return 1
  s=$(date +%s%N)
  "$T" -q distance -m MMD-geo-sinkhorn-0.01 --features "$W/clouds6.h5" --backend "$DEV" --csv-dir "$W/sk6" || return 1
  local ms=$(( ($(date +%s%N) - s) / 1000000 ))
  echo "Sinkhorn, 6 tasks (15 pairs) of ${GPU_VERIFY_SINKHORN_POINTS:-10000} points, --backend $DEV: $ms ms," \
    "$(( ms / 15 )) ms per pair; 127 x 127 (8,001 pairs) about $(( ms * 8001 / 15 / 1000 )) s"
}
export -f fed_sinkhorn
step "FED and Sinkhorn" 420 fed_sinkhorn

echo; echo "=== summary"
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 ||
  echo "(no GPU visible: the CUDA cases were skipped, as the log says; ok means nothing failed)"
printf '%s\n' "${SUMMARY[@]}"
cp "$WORK"/build-*.log "$OUTDIR/" 2>/dev/null || true
