#!/usr/bin/env bash
# The demo's real-data path end to end, small: scripts/make_real_tasks.py builds its ten tasks
# from Debian packages (Fashion-MNIST IDX, scikit-learn digits, Colin27 MRI cubes as NIfTI, DICOM
# files by modality), taskfp extracts 8 images per task at 32 x 32, fingerprints them and
# computes bKLD. Asserts what the pipeline must give whatever the backbone: every task, 8 rows of
# 512 features each, the NIfTI and DICOM mappings in the provenance, a full finite matrix.
# Usage: real_tasks.sh <taskfp> <work folder>
set -euo pipefail
TASKFP=$1
WORK=$2
rm -rf "$WORK"
mkdir -p "$WORK"
for need in /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz /usr/share/mricron/templates/ch2.nii.gz; do
  [ -e "$need" ] || { echo "skipped: $need is missing (scripts/test.sh installs dataset-fashion-mnist and mricron-data)"; exit 0; }
done
/usr/bin/python3 -c 'import sklearn, pydicom, nibabel, PIL' 2>/dev/null ||
  { echo "skipped: /usr/bin/python3 lacks sklearn, pydicom, nibabel or PIL"; exit 0; }
fail() { echo "FAIL: $*"; exit 1; }

/usr/bin/python3 "$(dirname "$0")/../../scripts/make_real_tasks.py" "$WORK/real" --patches 2
"$TASKFP" -q extract -t "$WORK/real/taskset.yaml" -o "$WORK/f.h5" --random-weights -n 8 --size 32 --batch 8 \
  2>&1 | grep -v "NOT PRETRAINED" || true
[ -s "$WORK/f.h5" ] || fail "extract wrote no features store"
"$TASKFP" inspect "$WORK/f.h5" > "$WORK/inspect.txt"
tasks=$(grep -c "n=8 features\[8x512\]" "$WORK/inspect.txt" || true)
[ "$tasks" = 10 ] || fail "expected 10 tasks of 8 x 512 features, found $tasks: $(cat "$WORK/inspect.txt")"
for t in fashion-all fashion-footwear fashion-tops fashion-other digits-all digits-0-4 mri-lobe mri-hemisphere \
  mri-structure dicom-modality; do
  grep -q "^    $t " "$WORK/inspect.txt" || fail "task $t missing from the features"
done
grep -q "task 'mri-lobe': nifti: .*axial slices (central fraction 0.5)" "$WORK/inspect.txt" ||
  fail "the NIfTI mapping is not in the provenance"
grep -q "task 'dicom-modality': dicom: window file" "$WORK/inspect.txt" || fail "the DICOM window is not in the provenance"
"$TASKFP" -q fingerprint -f "$WORK/f.h5" -o "$WORK/fp.h5" --bins 100 --scaling-subset all
"$TASKFP" -q distance -f "$WORK/fp.h5" -m bkld-small --csv-dir "$WORK/csv"
csv="$WORK/csv/KLD-PP:NS-W:TS-100-BINS.csv"
awk -F, 'NR > 1 { for (c = 2; c <= NF; c++) if ($c == "" || $c ~ /nan|inf/ || ($1 != h[c] && $c + 0 <= 0)) bad++ }
         NR == 1 { for (c = 2; c <= NF; c++) h[c] = $c }
         END { exit (NR != 11 || bad > 0) }' "$csv" || fail "the bKLD matrix is not 10 x 10 finite and positive off the diagonal"
echo "ok: 10 real tasks extracted, fingerprinted and compared"
