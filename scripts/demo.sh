#!/usr/bin/env bash
# Sets up (packages, build) and runs the main job on built-in data: synthetic features of
# related task families -> fingerprints -> the paper's distances -> CSV matrices, then prints
# each target's closest sources. Where the paper's cache folder is present (PAPER_CACHE, default
# ../shared/paper-cache), it also evaluates bKLD against the paper's baselines on the released
# transfer outcomes. Output goes to ${DEMO_OUT:-demo-out}.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
OUT=${DEMO_OUT:-$ROOT/demo-out}
PAPER_CACHE=${PAPER_CACHE:-$ROOT/../shared/paper-cache}
BUILD_DIR=$BUILD_DIR "$ROOT/scripts/setup.sh"
TASKFP="$BUILD_DIR/engine/taskfp"
mkdir -p "$OUT"

echo "== 1. features: 8 families x 4 related tasks, 2,000 samples x 256 features each"
"$TASKFP" synth --families 8 --tasks-per-family 4 --samples 2000 --dim 256 -o "$OUT/features.h5"

echo "== 2. fingerprints: ranges from the first task of each family, 100 and 1000 bins"
"$TASKFP" fingerprint -f "$OUT/features.h5" -o "$OUT/fingerprints.h5" --bins 100,1000 \
  --scaling-subset "fam0_task0,fam1_task0,fam2_task0,fam3_task0,fam4_task0,fam5_task0,fam6_task0,fam7_task0"

echo "== 3. distances: bKLD small and large, and the paper's baselines"
"$TASKFP" distance -f "$OUT/fingerprints.h5" -o "$OUT/distances.h5" --csv-dir "$OUT/csv" \
  -m bkld-small -m bkld-large -m KLD-PP:NN -m VDNA-PP:NN-1000-BINS -m FID -m COS-PP:NN-100-BINS

# Per matrix: for how many targets is the closest other task a sibling (same family prefix)?
family_summary() {
  for csv in "$1"/*.csv; do
    awk -F, -v metric="$(basename "$csv" .csv)" '
      NR == 1 { for (c = 2; c <= NF; c++) target[c] = $c; ncol = NF; next }
      { for (c = 2; c <= ncol; c++) if ($1 != target[c] && $c != "" && (!(c in best) || $c + 0 < best[c])) { best[c] = $c + 0; src[c] = $1 } }
      END {
        hits = 0
        for (c = 2; c <= ncol; c++) { split(target[c], t, "_"); split(src[c], s, "_"); hits += (t[1] == s[1]) }
        printf "  %-28s closest source in the same family for %d of %d targets\n", metric, hits, ncol - 1
      }' "$csv"
  done
}

echo "== 4. summary: is each target's closest source one of its own family? (synthetic truth)"
family_summary "$OUT/csv"
echo
"$TASKFP" inspect "$OUT/distances.h5" --top 3 | grep -A 8 "closest sources per target (KLD-PP:NS-W:TS-100-BINS)"
echo "  ..."
echo
echo "Matrices (rows = sources, columns = targets) in $OUT/csv/; read them with"
echo "  pandas.read_csv('$OUT/csv/KLD-PP:NS-W:TS-100-BINS.csv', index_col=0)"

echo
if [ -d "$PAPER_CACHE/exp" ]; then
  echo "== 5. the paper's evaluation: its distances against its released transfer outcomes"
  echo "   (validation targets, AUROC and BA, mean over seeds, top-3 sources)"
  "$TASKFP" evaluate --cache "$PAPER_CACHE" --output "$OUT/evaluation"
  echo "Tables, report.md and figures in $OUT/evaluation/"
else
  echo "== 5. (skipped) the paper's evaluation needs its released outcomes: clone the public"
  echo "   repository IMSY-DKFZ/task-fingerprinting and run"
  echo "   PAPER_CACHE=/path/to/task-fingerprinting/cache scripts/demo.sh"
fi

echo
echo "== 6. images: procedural image tasks -> ResNet34 features -> fingerprints -> bKLD"
echo "   (random backbone weights, NOT pretrained: this shows the pipeline, not the method;"
echo "   give --weights from scripts/export_backbone.py for real features)"
"$TASKFP" -q synth-images -o "$OUT/images" --families 4 --tasks-per-family 3 --classes 3 --images-per-class 8
"$TASKFP" extract -t "$OUT/images/taskset.yaml" -o "$OUT/image-features.h5" --random-weights \
  -n 48 --size 96 --batch 16 2>&1 | grep -v "NOT PRETRAINED" || true
[ -s "$OUT/image-features.h5" ] || { echo "demo: extraction failed"; exit 1; }
"$TASKFP" -q fingerprint -f "$OUT/image-features.h5" -o "$OUT/image-fingerprints.h5" --bins 100 \
  --scaling-subset all
"$TASKFP" -q distance -f "$OUT/image-fingerprints.h5" -m bkld-small --csv-dir "$OUT/image-csv"
family_summary "$OUT/image-csv"
