#!/usr/bin/env bash
# Sets up (packages, build) and runs the main job: real image tasks from Debian packages
# (Fashion-MNIST, scikit-learn's digits, a T1 brain MRI cut by an anatomical atlas, DICOM files)
# -> ResNet34 features -> fingerprints -> bKLD, printing each task's closest tasks; then the
# paper's distances on synthetic task families, and, where the paper's cache folder is present
# (PAPER_CACHE, default ../shared/paper-cache), bKLD against the paper's baselines on its
# released transfer outcomes; finally the loop closed on real tasks: a transfer study of its own
# (configs/experiments/demo.yaml: training, outcome tables) scores bKLD against the other
# distances and a random choice. Output goes to ${DEMO_OUT:-demo-out}.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
OUT=${DEMO_OUT:-$ROOT/demo-out}
PAPER_CACHE=${PAPER_CACHE:-$ROOT/../shared/paper-cache}
# The real images come from Debian packages; the task builder runs on Debian's Python.
TASKFP_EXTRA_PACKAGES="dataset-fashion-mnist mricron-data python3-sklearn python3-pydicom python3-nibabel \
  python3-pil python3-numpy ${TASKFP_EXTRA_PACKAGES:-}" BUILD_DIR=$BUILD_DIR "$ROOT/scripts/setup.sh"
TASKFP="$BUILD_DIR/engine/taskfp"
mkdir -p "$OUT"

# Per matrix: for how many targets is the closest other task a sibling (same name prefix up to
# the separator $2)?
family_summary() {
  for csv in "$1"/*.csv; do
    awk -F, -v metric="$(basename "$csv" .csv)" -v sep="$2" '
      NR == 1 { for (c = 2; c <= NF; c++) target[c] = $c; ncol = NF; next }
      { for (c = 2; c <= ncol; c++) if ($1 != target[c] && $c != "" && (!(c in best) || $c + 0 < best[c])) { best[c] = $c + 0; src[c] = $1 } }
      END {
        hits = 0
        for (c = 2; c <= ncol; c++) { split(target[c], t, sep); split(src[c], s, sep); hits += (t[1] == s[1]) }
        printf "  %-28s closest source in the same family for %d of %d targets\n", metric, hits, ncol - 1
      }' "$csv"
  done
}

echo "== 1. real image tasks from Debian packages (scripts/make_real_tasks.py)"
echo "   Fashion-MNIST (4 tasks), scikit-learn digits (2), Colin27 brain MRI cubes labelled by the"
echo "   AAL atlas, read as NIfTI axial slices (3), pydicom's and nibabel's DICOM files by modality (1)"
/usr/bin/python3 "$ROOT/scripts/make_real_tasks.py" "$OUT/real" --transfer 1200

echo
echo "== 2. features: ResNet34, 128 images per task at 64 x 64"
echo "   The backbone's weights are RANDOM (no Debian package ships ImageNet weights, and the demo"
echo "   downloads nothing): random convolutional features still tell image statistics apart"
echo "   (grey levels, textures, sizes), so tasks from one source tend to be close, but they are"
echo "   not the paper's features. Where there is internet, scripts/export_backbone.py writes the"
echo "   ImageNet weights once; give them with --weights (see README)."
"$TASKFP" extract -t "$OUT/real/taskset.yaml" -o "$OUT/real-features.h5" --random-weights \
  -n 128 --size 64 --batch 32 2>&1 | grep -v "NOT PRETRAINED" || true
[ -s "$OUT/real-features.h5" ] || { echo "demo: extraction failed"; exit 1; }
"$TASKFP" -q fingerprint -f "$OUT/real-features.h5" -o "$OUT/real-fingerprints.h5" --bins 100 \
  --scaling-subset all
"$TASKFP" -q distance -f "$OUT/real-fingerprints.h5" -m bkld-small -o "$OUT/real-distances.h5" \
  --csv-dir "$OUT/real-csv"

echo
echo "== 3. each real task's closest tasks (bKLD, smaller is closer)"
"$TASKFP" inspect "$OUT/real-distances.h5" --top 3 | sed -n '/closest sources per target/,$p'
family_summary "$OUT/real-csv" "-"
echo "   (families: fashion, digits, mri, dicom; dicom-modality has no sibling task, so at most 9 of"
echo "   10 can hit; with random weights, small grey images such as fashion and digits may mix)"

echo
echo "== 4. synthetic features: 8 families x 4 related tasks, 2,000 samples x 256 features each"
"$TASKFP" synth --families 8 --tasks-per-family 4 --samples 2000 --dim 256 -o "$OUT/features.h5"

echo "== 5. fingerprints: ranges from the first task of each family, 100 and 1000 bins"
"$TASKFP" fingerprint -f "$OUT/features.h5" -o "$OUT/fingerprints.h5" --bins 100,1000 \
  --scaling-subset "fam0_task0,fam1_task0,fam2_task0,fam3_task0,fam4_task0,fam5_task0,fam6_task0,fam7_task0"

echo "== 6. distances: bKLD small and large, and the paper's baselines (the Sinkhorn divergence on 300"
echo "   points drawn from each task's features)"
"$TASKFP" distance -f "$OUT/fingerprints.h5" -o "$OUT/distances.h5" --csv-dir "$OUT/csv" \
  -m bkld-small -m bkld-large -m KLD-PP:NN -m VDNA-PP:NN-1000-BINS -m FID -m COS-PP:NN-100-BINS \
  -m MMD-geo-sinkhorn-0.01-300-SAMPLES-0-SEED --features "$OUT/features.h5"

echo "== 7. summary: is each target's closest source one of its own family? (synthetic truth)"
family_summary "$OUT/csv" "_"
echo
"$TASKFP" inspect "$OUT/distances.h5" --top 3 | grep -A 8 "closest sources per target (KLD-PP:NS-W:TS-100-BINS)"
echo "  ..."
echo
echo "Matrices (rows = sources, columns = targets) in $OUT/csv/; read them with"
echo "  pandas.read_csv('$OUT/csv/KLD-PP:NS-W:TS-100-BINS.csv', index_col=0)"

echo
if [ -d "$PAPER_CACHE/exp" ]; then
  echo "== 8. the paper's evaluation: its distances against its released transfer outcomes"
  echo "   (validation targets, AUROC and BA, mean over seeds, top-3 sources)"
  "$TASKFP" evaluate --cache "$PAPER_CACHE" --output "$OUT/evaluation"
  echo "Tables, report.md and figures in $OUT/evaluation/"
else
  echo "== 8. (skipped) the paper's evaluation needs its released outcomes: clone the public"
  echo "   repository IMSY-DKFZ/task-fingerprinting and run"
  echo "   PAPER_CACHE=/path/to/task-fingerprinting/cache scripts/demo.sh"
fi


echo
echo "== 9. the loop closed: a transfer study of our own on 7 small real tasks (configs/experiments/demo.yaml)"
echo "   Fashion-MNIST subsets (1,200 images each), digits, MRI slices: 32 x 32 images, two tiny CNNs,"
echo "   a few epochs, one seed, every scenario; random initial weights (the paper's start from ImageNet)."
TASKS="$OUT/real/transfer-taskset.yaml"
"$TASKFP" transfer plan -c "$ROOT/configs/experiments/demo.yaml" -t "$TASKS"
"$TASKFP" -q extract -t "$TASKS" -o "$OUT/transfer-features.h5" --random-weights -n 128 --size 64 --batch 32 \
  2>&1 | grep -v "NOT PRETRAINED" || true
"$TASKFP" -q fingerprint -f "$OUT/transfer-features.h5" -o "$OUT/transfer-fingerprints.h5" --bins 100,1000 \
  --scaling-subset all
# FED's Fisher embeddings: the paper probes with ResNet34 (ImageNet weights, 8,000 + 2,000 images
# at 224 x 224 per task); the demo with the tiny CNN of its study, 800 + 200 images at 28 x 28.
echo "   Fisher embeddings for FED (probe: tiny_cnn, random weights; 800 probe and 200 Fisher images per task):"
"$TASKFP" fisher -t "$TASKS" -c "$ROOT/configs/experiments/demo.yaml" -o "$OUT/transfer-fisher.h5" \
  --probe tiny_cnn --random-weights --probe-samples 800 --fisher-samples 200 2>&1 | grep -v "NOT PRETRAINED" || true
"$TASKFP" -q distance -f "$OUT/transfer-fingerprints.h5" -o "$OUT/transfer-distances.h5" \
  --csv-dir "$OUT/transfer-csv" -m bkld-small -m bkld-large -m VDNA-PP:NN-1000-BINS -m FID -m COS-PP:NN-100-BINS \
  -m MMD-geo-sinkhorn-0.01 --features "$OUT/transfer-features.h5" -m FED --fisher "$OUT/transfer-fisher.h5"
# One seeded random choice of sources, as a distance matrix of random numbers.
/usr/bin/python3 - "$OUT/transfer-csv/KLD-PP:NS-W:TS-100-BINS.csv" "$OUT/transfer-csv/RANDOM.csv" <<'PY'
import sys
import numpy as np
rows = [line.rstrip("\n").split(",") for line in open(sys.argv[1])]
rng = np.random.default_rng(0)
with open(sys.argv[2], "w") as f:
    f.write(",".join(rows[0]) + "\n")
    for r in rows[1:]:
        f.write(",".join([r[0]] + [f"{v:.6f}" for v in rng.random(len(r) - 1)]) + "\n")
PY
echo "   training the study's jobs (one result file each; a rerun continues where a run stopped):"
"$TASKFP" transfer run -c "$ROOT/configs/experiments/demo.yaml" -t "$TASKS" -s "$OUT/transfer-study" \
  --job-threads "$(nproc)"
"$TASKFP" transfer collect -c "$ROOT/configs/experiments/demo.yaml" -t "$TASKS" -s "$OUT/transfer-study" \
  -o "$OUT/transfer-cache"
echo
echo "   How well each distance picked the best source for each target (top-1; regret 0: the best"
echo "   source was picked; RANDOM: sources picked at random). 7 tasks and random backbone weights"
echo "   make this a demonstration of the loop, not evidence for or against a distance:"
DISTS=()
# P2L (KLD-PP:NN on mean features) is left out here: with random backbone weights some features
# are zero over a whole task, which makes its KL divergence infinite; step 8 scores the paper's.
for m in KLD-PP:NS-W:TS-100-BINS KLD-PP:NS-1000-BINS VDNA-PP:NN-1000-BINS FID COS-PP:NN-100-BINS \
         MMD-geo-sinkhorn-0.01 FED RANDOM; do
  DISTS+=(-d "$OUT/transfer-csv/$m.csv")
done
"$TASKFP" evaluate --cache "$OUT/transfer-cache" --tasks "$OUT/transfer-cache/tasks.yaml" "${DISTS[@]}" -k 1 \
  --bootstrap 100 -o "$OUT/transfer-evaluation"
echo "Outcome tables in $OUT/transfer-cache/exp/ (the paper's format), result files with every"
echo "score in $OUT/transfer-study/jobs/, the evaluation in $OUT/transfer-evaluation/report.md"
