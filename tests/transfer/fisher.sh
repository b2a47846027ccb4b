#!/usr/bin/env bash
# `taskfp fisher` and `taskfp distance -m FED` end to end on four procedural image tasks (two
# families) with the tiny_cnn probe. Asserts: every task (shrunk variants included) gets an
# embedding of the probe's kept parameters; a rerun reuses every part; a damaged part is found and
# redone alone; two shards, the Slurm template's job array and two MPI ranks give the same store
# as one process (bit for bit); the FED matrix is symmetric with a zero diagonal, and a shrunk
# variant's nearest task is the task it was cut from; stores of another probe are refused when
# read together; bad input exits 2 before any work.
# Usage: fisher.sh <taskfp> <work folder>
set -euo pipefail
TASKFP=$1
WORK=$2
rm -rf "$WORK"
mkdir -p "$WORK"
fail() { echo "FAIL: $*"; exit 1; }
[ -e "$(dirname "$TASKFP")/../lib/taskfp/libtaskfp_train.so" ] || { echo "skipped: taskfp was built without LibTorch (no training plugin)"; exit 0; }

"$TASKFP" -q synth-images -o "$WORK/tasks" --families 2 --tasks-per-family 2 --classes 3 --images-per-class 40 \
  --min-size 24
sed -i '0,/^    root: \(.*\)$/s//    root: \1\n    shrink: [45]/' "$WORK/tasks/taskset.yaml"
cat > "$WORK/protocol.yaml" <<'YAML'
name: fisher-test
training:
  images: {size: 16, pad: 18, crop: 14}
YAML
ARGS=(-t "$WORK/tasks/taskset.yaml" -c "$WORK/protocol.yaml" --probe tiny_cnn --random-weights
      --probe-samples 200 --probe-batch 50 --fisher-samples 120 --device cpu)

"$TASKFP" -j 2 fisher "${ARGS[@]}" -o "$WORK/one.h5" 2> "$WORK/one.log" || { cat "$WORK/one.log"; fail "fisher"; }
grep -q "5 tasks of this run: 5 computed" "$WORK/one.log" || { cat "$WORK/one.log"; fail "expected 5 tasks (one shrunk)"; }
/usr/bin/python3 - "$WORK/one.h5" <<'PY' || fail "store contents"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1]) as f:
    assert f.attrs["taskfp_kind"] == "fisher"
    names = [n.decode() if isinstance(n, bytes) else n for n in f["parameters/names"][:]]
    assert names == ["body.3.weight", "body.4.weight", "body.6.weight", "body.7.weight"], names
    tasks = sorted(f["tasks"].keys())
    assert len(tasks) == 5 and any("--shrink_train 45" in t for t in tasks), tasks
    for t in tasks:
        e = f["tasks"][t]["embedding"][:].ravel()
        assert e.shape == (32 * 16 + 32 + 64 * 32 + 64,), e.shape
        assert np.all(np.isfinite(e)) and np.all(e >= 0) and e.max() > 0, t
        assert f["tasks"][t].attrs["fisher_images"] == 120
PY

# A rerun reuses every part; a damaged part is redone alone.
"$TASKFP" -j 2 fisher "${ARGS[@]}" -o "$WORK/one.h5" 2> "$WORK/rerun.log"
grep -q "0 computed, 5 finished before" "$WORK/rerun.log" || { cat "$WORK/rerun.log"; fail "rerun recomputed"; }
head -c 3000 "$WORK/one.h5.parts/imgfam1_task0.h5" > "$WORK/cut" && mv "$WORK/cut" "$WORK/one.h5.parts/imgfam1_task0.h5"
"$TASKFP" -j 2 fisher "${ARGS[@]}" -o "$WORK/one.h5" 2> "$WORK/damaged.log"
grep -q "1 computed, 4 finished before" "$WORK/damaged.log" || { cat "$WORK/damaged.log"; fail "damaged part not redone alone"; }
grep -q "imgfam1_task0: .*its old part was unreadable" "$WORK/damaged.log" || { cat "$WORK/damaged.log"; fail "no note on the damaged part"; }

# Shards and MPI ranks give the same embeddings.
"$TASKFP" -j 2 fisher "${ARGS[@]}" -o "$WORK/shards.h5" --shard 0/2 2> "$WORK/s0.log"
[ ! -e "$WORK/shards.h5" ] || fail "shard 0 of 2 wrote the store before shard 1 ran"
grep -q "tasks have no embedding yet" "$WORK/s0.log" || { cat "$WORK/s0.log"; fail "shard 0 did not say what is missing"; }
"$TASKFP" -j 2 fisher "${ARGS[@]}" -o "$WORK/shards.h5" --shard 1/2 2> "$WORK/s1.log"
[ -e "$WORK/shards.h5" ] || { cat "$WORK/s1.log"; fail "the last shard did not write the store"; }
# The Slurm template (scripts/slurm/fisher.sbatch) as a job array of 3, run by a stand-in sbatch.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PATH="$ROOT/tests/slurm/stub-bin:$PATH" SBATCH_LOG="$WORK/sbatch.log" TASKFP=$TASKFP \
  TASKSET="$WORK/tasks/taskset.yaml" OUT="$WORK/slurm" SLURM_CPUS_PER_TASK=2 \
  FISHER_ARGS="-c $WORK/protocol.yaml --probe tiny_cnn --random-weights --probe-samples 200 --probe-batch 50 --fisher-samples 120 --device cpu" \
  sbatch --array=0-2 --export=ALL "$ROOT/scripts/slurm/fisher.sbatch" > /dev/null 2>&1 \
  || fail "the Slurm template"
if command -v mpirun > /dev/null; then
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 \
    mpirun -n 2 "$TASKFP" -j 2 fisher "${ARGS[@]}" -o "$WORK/mpi.h5" 2> "$WORK/mpi.log" \
    || { cat "$WORK/mpi.log"; fail "fisher under mpirun"; }
  MPI="$WORK/mpi.h5"
else
  MPI=""
fi
/usr/bin/python3 - "$WORK/one.h5" "$WORK/shards.h5" "$WORK/slurm/fisher.h5" $MPI <<'PY' || fail "shards, the Slurm array or ranks differ from one process"
import sys, h5py, numpy as np
ref = h5py.File(sys.argv[1])
for other in sys.argv[2:]:
    with h5py.File(other) as f:
        assert sorted(f["tasks"]) == sorted(ref["tasks"]), other
        for t in ref["tasks"]:
            assert np.array_equal(f["tasks"][t]["embedding"][:], ref["tasks"][t]["embedding"][:]), (other, t)
PY

# FED: symmetric, zero diagonal, the nearest other task of the same family.
"$TASKFP" -q distance -m FED --fisher "$WORK/one.h5" --csv-dir "$WORK/d" -o "$WORK/d.h5"
# The distance store carries the probe's provenance (its random weights' warning included).
"$TASKFP" inspect "$WORK/d.h5" | grep -q "backbone  *tiny_cnn" && "$TASKFP" inspect "$WORK/d.h5" | grep -q "NOT PRETRAINED" \
  || { "$TASKFP" inspect "$WORK/d.h5"; fail "the FED matrix lost the probe's provenance"; }
/usr/bin/python3 - "$WORK/d/FED.csv" <<'PY' || fail "FED matrix"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
names = rows[0][1:]
m = {(r[0], names[j]): float(v) for r in rows[1:] for j, v in enumerate(r[1:])}
for a in names:
    assert m[(a, a)] == 0.0
    for b in names:
        assert m[(a, b)] == m[(b, a)], (a, b)
        if a != b:
            assert 0.0 < m[(a, b)] < 1.0, (a, b, m[(a, b)])
shrunk = [n for n in names if "shrink" in n][0]
nearest = min((m[(s, shrunk)], s) for s in names if s != shrunk)[1]
assert nearest == shrunk.split(" --")[0], (shrunk, nearest)
PY

# Another probe's store is refused next to this one, naming both files.
"$TASKFP" -q -j 2 fisher "${ARGS[@]}" --weight-seed 1 --tasks imgfam0_task0 -o "$WORK/other.h5" \
  2> /dev/null
set +e
"$TASKFP" -q distance -m FED --fisher "$WORK/one.h5" --fisher "$WORK/other.h5" --csv-dir "$WORK/e" 2> "$WORK/err.log"
rc=$?
set -e
[ $rc -eq 2 ] || fail "stores of other weights: exit $rc"
grep -q "other.h5" "$WORK/err.log" && grep -q "weights" "$WORK/err.log" || { cat "$WORK/err.log"; fail "message"; }

# A FED whose store lacks the tasks fails before another metric of the same run is computed.
"$TASKFP" -q synth -o "$WORK/clouds.h5" --families 2 --tasks-per-family 1 --samples 40 --dim 6
set +e
"$TASKFP" distance -m MMD-geo-sinkhorn-0.05 -m FED --features "$WORK/clouds.h5" --fisher "$WORK/other.h5" \
  --csv-dir "$WORK/g" > "$WORK/g.log" 2>&1
rc=$?
set -e
[ $rc -eq 2 ] && grep -q "missing from the Fisher embeddings" "$WORK/g.log" || { cat "$WORK/g.log"; fail "exit $rc"; }
! grep -q "MMD-geo-sinkhorn-0.05: " "$WORK/g.log" || { cat "$WORK/g.log"; fail "Sinkhorn computed before FED's check"; }

# Bad input: exit 2 before any work.
expect_2() {
  set +e
  "$TASKFP" -q fisher "$@" > /dev/null 2> "$WORK/bad.log"
  local rc=$?
  set -e
  [ $rc -eq 2 ] || { cat "$WORK/bad.log"; fail "exit $rc for: $*"; }
}
expect_2 -t "$WORK/tasks/taskset.yaml" -o "$WORK/x.h5" --probe tiny_cnn  # neither weights nor random
expect_2 -t "$WORK/tasks/taskset.yaml" -o "$WORK/x.h5" --random-weights --tasks nope
expect_2 -t "$WORK/tasks/taskset.yaml" -o "$WORK/x.h5" --random-weights --probe resnet50
expect_2 -t "$WORK/tasks/taskset.yaml" -o "$WORK/x.h5" --random-weights --keep-fraction 0
set +e
"$TASKFP" -q distance -m FED --csv-dir "$WORK/f" 2> "$WORK/bad.log"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q -- "--fisher" "$WORK/bad.log" || fail "FED without --fisher: exit $rc"
[ ! -e "$WORK/x.h5" ] || fail "bad input left a store"
echo "fisher: ok"
