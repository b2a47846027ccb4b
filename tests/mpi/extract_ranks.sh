#!/usr/bin/env bash
# `taskfp extract` gives the same features, bit for bit, in one process, under mpirun with 2 and
# 3 ranks, as two --shard jobs joined by `taskfp merge`, and after being killed (SIGKILL, SIGTERM)
# and started again (the rerun reuses the finished chunks; no temporary file survives). Needs /usr/bin/python3 with h5py to compare.
# Usage: extract_ranks.sh TASKFP MPIRUN WORKDIR
set -euo pipefail
TASKFP=$1 MPIRUN=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1
if ! "$TASKFP" extract --help >/dev/null 2>&1 || ! /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  echo "skipped: needs taskfp extract and /usr/bin/python3 with h5py"; exit 0
fi
same() {  # same features in two stores?
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
assert list(a["tasks"]) == list(b["tasks"]), "different tasks"
for t in a["tasks"]:
    x, y = a["tasks"][t]["features"][:], b["tasks"][t]["features"][:]
    assert x.shape == y.shape and np.array_equal(x, y), f"{t}: features differ"
PY
}
"$TASKFP" -q synth-images -o "$WORK/img" --families 2 --tasks-per-family 2 --classes 2 --images-per-class 4
X=(extract -t "$WORK/img/taskset.yaml" --random-weights --size 32 --batch 4 --chunk 8)
E=("${X[@]}" -n 24)
"$TASKFP" -q "${E[@]}" -o "$WORK/one.h5" 2>/dev/null
[ ! -e "$WORK/one.h5.parts" ] || { echo "FAIL: parts folder left behind"; exit 1; }
OMP_NUM_THREADS=2 "$TASKFP" -q "${E[@]}" -o "$WORK/threads2.h5" 2>/dev/null
same "$WORK/one.h5" "$WORK/threads2.h5" && echo "ok: 1 and 2 threads identical"
for n in 2 3; do
  "$MPIRUN" --oversubscribe -n "$n" "$TASKFP" -q "${E[@]}" -o "$WORK/ranks$n.h5" 2>/dev/null
  same "$WORK/one.h5" "$WORK/ranks$n.h5" && echo "ok: $n ranks identical to one process"
done
# The ranks take chunks from a shared counter: each of the 12 chunks (4 tasks x 24 draws / 8)
# computed by exactly one rank.
out=$("$MPIRUN" --oversubscribe -n 3 "$TASKFP" -v "${E[@]}" -o "$WORK/counted.h5" 2>&1)
lines=$(grep -o "[0-9]* chunks computed" <<<"$out" | wc -l)
sum=$(grep -o "[0-9]* chunks computed" <<<"$out" | awk '{ s += $1 } END { print s + 0 }')
[ "$lines" -eq 3 ] && [ "$sum" -eq 12 ] || { echo "FAIL: $lines ranks reported $sum chunks computed, not 12: $out"; exit 1; }
# The counter over point-to-point messages (OpenMPI's pt2pt one-sided component, as on
# networks without hardware atomics): rank 0 answers between its batches.
if "$MPIRUN" --version 2>&1 | grep -q "Open MPI"; then
  "$MPIRUN" --oversubscribe -n 3 --mca osc pt2pt --mca btl self,vader "$TASKFP" -q "${E[@]}" -o "$WORK/pt2pt.h5" 2>/dev/null
  same "$WORK/one.h5" "$WORK/pt2pt.h5" && echo "ok: 3 ranks with one-sided operations over messages identical"
fi
same "$WORK/one.h5" "$WORK/counted.h5" && echo "ok: 3 ranks computed the 12 chunks once each ($(grep -o 'rank [0-9] of 3[^,]*computed' <<<"$out" | tr '\n' ';'))"
"$TASKFP" -q "${E[@]}" --shard 0/2 -o "$WORK/shards.h5" 2>/dev/null
[ ! -e "$WORK/shards.h5" ] || { echo "FAIL: a shard wrote the store"; exit 1; }
set +e; out=$("$TASKFP" -q merge "$WORK/shards.h5.parts" -o "$WORK/shards.h5" 2>&1); rc=$?; set -e
[ $rc -ne 0 ] && grep -q "incomplete" <<<"$out" || { echo "FAIL: merge of half the shards: $out"; exit 1; }
SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=2 "$TASKFP" -q "${E[@]}" -o "$WORK/shards.h5" 2>/dev/null
"$TASKFP" -q merge "$WORK/shards.h5.parts" -o "$WORK/shards.h5"
same "$WORK/one.h5" "$WORK/shards.h5" && echo "ok: --shard 0/2 + Slurm array task 1/2 + merge identical"

# start_stopped OUT SIGNAL: starts an extraction into OUT and sends it SIGNAL once its first two
# chunks are written.
start_stopped() {
  "$TASKFP" -q "${X[@]}" -n 96 -o "$1" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 600); do
    [ "$(ls "$1.parts"/task*.h5 2>/dev/null | wc -l)" -ge 2 ] && break
    sleep 0.1
  done
  kill "-$2" "$pid" 2>/dev/null || true
}

# Killed in the middle (SIGKILL once the first chunks are written), then run again.
start_stopped "$WORK/resumed.h5" KILL
wait "$pid" 2>/dev/null || true
[ ! -e "$WORK/resumed.h5" ] || { echo "FAIL: the killed run finished before it was killed"; exit 1; }
done_before=$(ls "$WORK/resumed.h5.parts"/task*.h5 | wc -l)
out=$("$TASKFP" -v "${X[@]}" -n 96 -o "$WORK/resumed.h5" 2>&1)
grep -q "reused from an earlier run" <<<"$out" || { echo "FAIL: no reuse reported: $out"; exit 1; }
reused=$(sed -n 's/.* \([0-9]*\) reused from an earlier run.*/\1/p' <<<"$out")
[ "$reused" -ge 2 ] || { echo "FAIL: only $reused chunks reused (had $done_before)"; exit 1; }
"$TASKFP" -q "${X[@]}" -n 96 -o "$WORK/fresh.h5" 2>/dev/null
same "$WORK/fresh.h5" "$WORK/resumed.h5" && echo "ok: killed after $done_before chunks, resumed reusing $reused, identical"
# What the killed process was writing when it died was removed by the rerun.
left=$(find "$WORK" -name '*.tmp-*' | head -3)
[ -z "$left" ] || { echo "FAIL: the killed run's temporary files outlived the rerun: $left"; exit 1; }

# Stopped by SIGTERM (Slurm's time limit), as Ctrl-C would: the process ends by the signal, the
# finished chunks stay, no temporary file is left behind, and the rerun resumes.
start_stopped "$WORK/term.h5" TERM
set +e; wait "$pid"; rc=$?; set -e
[ ! -e "$WORK/term.h5" ] || { echo "FAIL: the stopped run finished before SIGTERM"; exit 1; }
[ "$rc" -eq 143 ] || { echo "FAIL: SIGTERM ended the run with status $rc, not 143"; exit 1; }
left=$(find "$WORK" -name '*.tmp-*' | head -3)
[ -z "$left" ] || { echo "FAIL: temporary files left behind: $left"; exit 1; }
"$TASKFP" -q "${X[@]}" -n 96 -o "$WORK/term.h5" 2>/dev/null
same "$WORK/fresh.h5" "$WORK/term.h5" && echo "ok: stopped by SIGTERM (status 143), nothing temporary left, resumed identical"

# Parts of another extraction are not mixed in.
mkdir -p "$WORK/other.parts" && printf 'key\tsomething else\n' > "$WORK/other.parts/plan.txt" && touch "$WORK/other.parts/task00000-000000000.h5"
set +e; out=$("$TASKFP" -q "${E[@]}" --parts "$WORK/other.parts" -o "$WORK/other.h5" 2>&1); rc=$?; set -e
[ $rc -ne 0 ] && grep -q "different extraction" <<<"$out" || { echo "FAIL: foreign parts accepted: $out"; exit 1; }
echo "ok: parts of a different extraction refused"
