#!/usr/bin/env bash
# Runs scripts/slurm/submit.sh against stand-ins for sbatch and srun that execute each job at
# once (array tasks one after another, with Slurm's array variables): the job scripts, their
# variables and their order are checked without a cluster. The result must equal a plain run.
# Usage: pipeline_stub.sh TASKFP WORKDIR
set -euo pipefail
TASKFP=$1 WORK=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rm -rf "$WORK" && mkdir -p "$WORK"
if ! "$TASKFP" extract --help >/dev/null 2>&1; then echo "skipped: no taskfp extract"; exit 0; fi
"$TASKFP" -q synth-images -o "$WORK/img" --families 2 --tasks-per-family 2 --classes 2 --images-per-class 3
args="--random-weights -n 16 --size 32 --batch 4 --chunk 4"
PATH="$ROOT/tests/slurm/stub-bin:$PATH" TASKFP=$TASKFP TASKSET="$WORK/img/taskset.yaml" OUT="$WORK/run" \
  EXTRACT_ARGS="$args" METRICS="-m KLD-PP:NS-W:TS-100-BINS" OMP_NUM_THREADS=1 \
  EXTRACT_SBATCH="--gres=gpu:1" SBATCH_LOG="$WORK/sbatch.log" \
  bash "$ROOT/scripts/slurm/submit.sh" 3 2>/dev/null
# EXTRACT_SBATCH reaches the extract array alone.
[ "$(grep -c -- '--gres=gpu:1' "$WORK/sbatch.log")" -eq 1 ] && grep -- '--gres=gpu:1' "$WORK/sbatch.log" | grep -q extract.sbatch ||
  { echo "FAIL: EXTRACT_SBATCH not given to the extract array alone: $(cat "$WORK/sbatch.log")"; exit 1; }
for f in features.h5 fingerprints.h5 distances.h5 "csv/KLD-PP:NS-W:TS-100-BINS.csv"; do
  [ -s "$WORK/run/$f" ] || { echo "FAIL: $f not written"; exit 1; }
done
# The same pipeline by hand, in one process: the same matrix.
OMP_NUM_THREADS=1 "$TASKFP" -q extract -t "$WORK/img/taskset.yaml" $args -o "$WORK/plain.h5" 2>/dev/null
"$TASKFP" -q fingerprint -f "$WORK/plain.h5" -o "$WORK/plain-fp.h5" --bins 100,1000 --scaling-subset all
"$TASKFP" -q distance -f "$WORK/plain-fp.h5" -m KLD-PP:NS-W:TS-100-BINS --csv-dir "$WORK/plain-csv"
cmp "$WORK/run/csv/KLD-PP:NS-W:TS-100-BINS.csv" "$WORK/plain-csv/KLD-PP:NS-W:TS-100-BINS.csv" ||
  { echo "FAIL: the Slurm pipeline's matrix differs from the plain run's"; exit 1; }
echo "ok: extract array of 3 -> merge -> fingerprint -> distance equals the plain pipeline"
