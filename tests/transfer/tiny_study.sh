#!/usr/bin/env bash
# A tiny transfer study end to end (`taskfp transfer plan|run|collect`, then `taskfp evaluate`):
# four procedural image tasks (taskfp synth-images, 240 images each), 16 x 16 images, two tiny
# networks, two seeds, every scenario. Asserts: the plan's counts (by hand below); a run stopped
# after 5 jobs resumes without redoing them; a damaged result file is found and redone, alone;
# two Slurm-style shards and two MPI ranks give result files equal to one process's (scores,
# losses, policies: bit for bit); collect writes the paper's table files with the planned rows,
# and `taskfp evaluate --cache` scores a bKLD matrix of the same tasks on them; bad input fails
# with exit 2 before any training.
# Usage: tiny_study.sh <taskfp> <work folder>
set -euo pipefail
TASKFP=$1
WORK=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rm -rf "$WORK"
mkdir -p "$WORK"
fail() { echo "FAIL: $*"; exit 1; }
[ -e "$(dirname "$TASKFP")/../lib/taskfp/libtaskfp_train.so" ] || { echo "skipped: taskfp was built without LibTorch (no training plugin)"; exit 0; }

"$TASKFP" -q synth-images -o "$WORK/tasks" --families 2 --tasks-per-family 2 --classes 3 --images-per-class 80 \
  --min-size 24
# Fingerprints of the shrunk targets too, as the paper has them ("<task> --shrink_train 60").
sed -i 's/^    root: \(.*\)$/    root: \1\n    shrink: [60]/' "$WORK/tasks/taskset.yaml"
cat > "$WORK/study.yaml" <<'YAML'
name: tiny
shrink: {size: 60, min_per_class: 5, max_classes: 39, min_samples: 200}
seeds: [0, 1]
training:
  architecture: tiny_cnn
  pretrained: random
  batch: 32
  epochs: {max: 2, steps: 4000, shrunk: 2}
  images: {size: 16, pad: 18, crop: 14}
scenarios:
  baseline: {targets: [full, shrunk]}
  architecture: {targets: [shrunk], candidates: [tiny_cnn, small_cnn]}
  pretraining: {targets: [shrunk]}
  augmentation: {targets: [shrunk], search: {candidates: 2, epochs: 1, keep: 0.5}}
  cotraining: {targets: [shrunk]}
YAML
STUDY=(-c "$WORK/study.yaml" -t "$WORK/tasks/taskset.yaml")

# Plan, by hand: 4 tasks, all shrinkable, 2 seeds. Trainings: 2 candidates x (4 full + 4 shrunk)
# x 2 = 32 (the baselines are tiny_cnn's); policy searches 4 x 2 = 8; pairs 4 x 3 = 12 per seed:
# pretrain 24, augment 24, cotrain 24. In all 112; stage 2 (pretrain, augment) 48.
"$TASKFP" transfer plan "${STUDY[@]}" -o "$WORK/plan.json" > "$WORK/plan.txt"
grep -q "^jobs: 112 in all (64 in stage 1, which needs nothing; 48 in stage 2" "$WORK/plan.txt" ||
  fail "plan counts: $(cat "$WORK/plan.txt")"
for kind in "train 32" "policy-search 8" "augment 24" "pretrain 24" "cotrain 24"; do
  set -- $kind
  grep -Eq "^  $1 +$2 jobs" "$WORK/plan.txt" || fail "plan: expected $2 $1 jobs: $(cat "$WORK/plan.txt")"
done

# Run 5 jobs, then the rest: nothing is done twice.
"$TASKFP" transfer run "${STUDY[@]}" -s "$WORK/one" --max-jobs 5 2> "$WORK/run1.txt"
grep -q "5 trained (0 of them redone), 0 finished before" "$WORK/run1.txt" || fail "first run: $(cat "$WORK/run1.txt")"
"$TASKFP" transfer run "${STUDY[@]}" -s "$WORK/one" 2> "$WORK/run2.txt"
grep -q "112 jobs of this run: 107 trained (0 of them redone), 5 finished before, 0 waiting" "$WORK/run2.txt" ||
  fail "resumed run: $(cat "$WORK/run2.txt")"
[ "$(find "$WORK/one/jobs" -name '*.json' | wc -l)" = 112 ] || fail "expected 112 result files"
# A damaged result file (cut short, as by a full disk) is redone, and only it.
victim=$(find "$WORK/one/jobs/cotrain" -name '*.json' | sort | head -1)
cp "$victim" "$WORK/victim.json"
head -c 300 "$WORK/victim.json" > "$victim"
"$TASKFP" transfer run "${STUDY[@]}" -s "$WORK/one" 2> "$WORK/run3.txt"
grep -q "1 trained (1 of them redone), 111 finished before" "$WORK/run3.txt" || fail "damaged file: $(cat "$WORK/run3.txt")"

# A changed policy search redoes the policy searches and augmentation jobs only (8 + 24), and
# changing it back redoes them again, to the same bits (compared with the other runs below).
sed 's/search: {candidates: 2/search: {candidates: 3/' "$WORK/study.yaml" > "$WORK/search3.yaml"
"$TASKFP" transfer run -c "$WORK/search3.yaml" -t "$WORK/tasks/taskset.yaml" -s "$WORK/one" 2> "$WORK/run4.txt"
grep -q "32 trained (32 of them redone), 80 finished before" "$WORK/run4.txt" || fail "changed search: $(cat "$WORK/run4.txt")"
"$TASKFP" -q transfer run "${STUDY[@]}" -s "$WORK/one"

# The same jobs as two shards per stage, and under two MPI ranks: equal results.
for stage in 1 2; do
  for shard in 0/2 1/2; do
    "$TASKFP" -q transfer run "${STUDY[@]}" -s "$WORK/shards" --stage "$stage" --shard "$shard"
  done
done
# And as Slurm would run scripts/slurm/submit-transfer.sh (stand-ins for sbatch: array tasks one
# after another): stage 1 in 3 array tasks, stage 2 in 2, then collect.
PATH="$ROOT/tests/slurm/stub-bin:$PATH" TASKFP=$TASKFP CONFIG="$WORK/study.yaml" TASKSET="$WORK/tasks/taskset.yaml" \
  STUDY="$WORK/slurm" SBATCH_LOG="$WORK/sbatch.log" SLURM_CPUS_PER_TASK=1 RUN_ARGS=-q \
  bash "$ROOT/scripts/slurm/submit-transfer.sh" 3 2 > "$WORK/submit.txt" 2>&1 || fail "submit-transfer.sh: $(cat "$WORK/submit.txt")"
grep -q -- "--dependency=afterok:.*--array=0-1 .*transfer.sbatch" "$WORK/sbatch.log" ||
  fail "stage 2 does not wait for stage 1: $(cat "$WORK/sbatch.log")"
others=("$WORK/shards" "$WORK/slurm")
if command -v mpirun >/dev/null; then
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun -np 2 --oversubscribe \
    "$TASKFP" -q transfer run "${STUDY[@]}" -s "$WORK/ranks"
  others+=("$WORK/ranks")
fi
for other in "${others[@]}"; do
  /usr/bin/python3 - "$WORK/one" "$other" <<'PY' || fail "results of $other differ from one process's"
import glob, json, os, sys
one, other = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(f"{one}/jobs/**/*.json", recursive=True))
assert len(glob.glob(f"{other}/jobs/**/*.json", recursive=True)) == 112, other
assert len(files) == 112, len(files)
for f in files:
    a, b = json.load(open(f)), json.load(open(f.replace(one, other, 1)))
    for key in ("scores_float32_base64", "labels_int32_base64", "epoch_loss", "p", "policy", "data"):
        if a[key] != b[key]:
            sys.exit(f"{f}: {key} differs")
PY
done

# Collect: the paper's file names, the planned rows; then evaluate a bKLD matrix on them.
"$TASKFP" transfer collect "${STUDY[@]}" -s "$WORK/one" -o "$WORK/cache" 2> "$WORK/collect.txt"
for f in "load_arch_experiment%AUROC%True%True.csv" "load_pretrain_experiment%BA%True.csv" \
  "load_augmentation_experiment%AUROC%True.csv" "load_multi_task_experiment%BA%True%True.csv"; do
  [ -s "$WORK/cache/exp/$f" ] || fail "collect wrote no $f"
  rows=$(($(wc -l < "$WORK/cache/exp/$f") - 1))
  [ "$rows" = 24 ] || fail "$f has $rows rows, expected 24 (12 pairs x 2 seeds)"
done
for f in "$WORK"/cache/exp/*.csv; do
  cmp -s "$f" "$WORK/slurm/cache/exp/$(basename "$f")" || fail "Slurm's collect differs in $(basename "$f")"
done
head -1 "$WORK/cache/exp/load_baseline_experiment%AUROC%True%True.csv" | grep -q "^,imgfam0_task0,imgfam0_task1,imgfam1_task0,imgfam1_task1$" ||
  fail "baseline table header: $(for f in "$WORK"/cache/exp/*.csv; do
  cmp -s "$f" "$WORK/slurm/cache/exp/$(basename "$f")" || fail "Slurm's collect differs in $(basename "$f")"
done
head -1 "$WORK/cache/exp/load_baseline_experiment%AUROC%True%True.csv")"
"$TASKFP" -q extract -t "$WORK/tasks/taskset.yaml" -o "$WORK/f.h5" --random-weights -n 16 --size 32 --batch 16 \
  2>&1 | grep -v "NOT PRETRAINED" || true
"$TASKFP" -q fingerprint -f "$WORK/f.h5" -o "$WORK/fp.h5" --bins 100 --scaling-subset all
"$TASKFP" -q distance -f "$WORK/fp.h5" -m bkld-small -o "$WORK/d.h5"
"$TASKFP" evaluate --cache "$WORK/cache" --tasks "$WORK/cache/tasks.yaml" -d "$WORK/d.h5" -o "$WORK/eval" -k 1 \
  --bootstrap 20 > "$WORK/eval.txt" || fail "evaluate on the collected tables failed"
grep -q "^KLD-PP:NS-W:TS-100-BINS" "$WORK/eval.txt" || fail "evaluate printed no bKLD row: $(cat "$WORK/eval.txt")"

# Bad input: exit 2, one error line, nothing trained.
expect_error() {
  local words=$1
  shift
  set +e
  "$@" > "$WORK/err.txt" 2>&1
  local rc=$?
  set -e
  [ "$rc" = 2 ] || fail "exit $rc (expected 2) for: $* ($(cat "$WORK/err.txt"))"
  grep -q "$words" "$WORK/err.txt" || fail "expected '$words' in: $(cat "$WORK/err.txt")"
}
sed 's/^seeds:/seedz:/' "$WORK/study.yaml" > "$WORK/bad.yaml"
expect_error "unknown key 'seedz'" "$TASKFP" transfer run -c "$WORK/bad.yaml" -t "$WORK/tasks/taskset.yaml" -s "$WORK/bad"
sed 's/candidates: \[tiny_cnn, small_cnn\]/candidates: [tiny_cnn, alexnet]/' "$WORK/study.yaml" > "$WORK/bad.yaml"
expect_error "'alexnet', which is not in the model zoo" "$TASKFP" transfer plan -c "$WORK/bad.yaml" -t "$WORK/tasks/taskset.yaml"
expect_error "jobs have no usable result" "$TASKFP" transfer collect "${STUDY[@]}" -s "$WORK/tasks" -o "$WORK/nothing"
[ ! -e "$WORK/nothing" ] || fail "a failed collect left its output folder"
[ ! -e "$WORK/bad/jobs" ] || fail "a refused run trained jobs"
echo "ok: tiny study planned, run (resumed, repaired, sharded, over ranks), collected and evaluated"
