#!/usr/bin/env bash
# `taskfp distance` under mpirun with 1, 2 and 3 ranks writes the same matrices, bit for bit, as
# a single process (CSV numbers are written shortest-round-trip, so equal files mean equal
# doubles), and rank errors stop the whole job with a message.
# Usage: distance_ranks.sh TASKFP MPIRUN WORKDIR
set -euo pipefail
TASKFP=$1 MPIRUN=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
# Root in containers needs these; harmless otherwise. More ranks than cores is fine here.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1
MPI=("$MPIRUN" --oversubscribe)

"$TASKFP" -q synth -o "$WORK/features.h5" --families 5 --tasks-per-family 8 --samples 300 --dim 24
"$TASKFP" -q fingerprint -f "$WORK/features.h5" -o "$WORK/fp.h5" --scaling-subset all --bins 10,50
# Metrics of every kind: GEMM (KL family, weighted, inverted, with infinite entries), per pair.
METRICS=(-m KLD-PP:NS-W:TS-50-BINS -m KLD-PP:NN-50-BINS -m KLD-C-I-PP:WS-W:BS-10-BINS -m JS-PP:NN-10-BINS
         -m VDNA-PP:NN-50-BINS -m COS-PP:SS-10-BINS -m FID -m MMD-coral-1.0)
"$TASKFP" -q distance -f "$WORK/fp.h5" "${METRICS[@]}" --backend cpu --csv-dir "$WORK/one" -o "$WORK/one.h5" 2>/dev/null
# Thread count does not change a bit either (OpenMP and OpenBLAS threads).
OMP_NUM_THREADS=2 "$TASKFP" -q distance -f "$WORK/fp.h5" "${METRICS[@]}" --backend cpu --csv-dir "$WORK/threads2" 2>/dev/null
for f in "$WORK"/one/*.csv; do
  cmp -s "$f" "$WORK/threads2/$(basename "$f")" || { echo "FAIL: $(basename "$f") differs with 2 threads"; exit 1; }
done
echo "ok: 1 and 2 threads identical"
for n in 1 2 3 5; do
  "${MPI[@]}" -n "$n" "$TASKFP" -q distance -f "$WORK/fp.h5" "${METRICS[@]}" --backend cpu \
    --csv-dir "$WORK/ranks$n" -o "$WORK/ranks$n.h5" 2>/dev/null
  for f in "$WORK"/one/*.csv; do
    if ! cmp -s "$f" "$WORK/ranks$n/$(basename "$f")"; then
      echo "FAIL: $(basename "$f") differs between 1 process and $n ranks"
      diff <(tr ',' '\n' < "$f") <(tr ',' '\n' < "$WORK/ranks$n/$(basename "$f")") | head -5
      exit 1
    fi
  done
  [ -s "$WORK/ranks$n.h5" ] || { echo "FAIL: $n ranks wrote no store"; exit 1; }
  echo "ok: $n ranks, $(ls "$WORK"/one/*.csv | wc -l) matrices identical"
done
# More ranks than sources: the idle ranks contribute empty blocks.
"${MPI[@]}" -n 4 "$TASKFP" -q distance -f "$WORK/fp.h5" -m KLD-PP:NS-50-BINS --sources fam0_task0,fam1_task1 \
  --csv-dir "$WORK/few" 2>/dev/null
"$TASKFP" -q distance -f "$WORK/fp.h5" -m KLD-PP:NS-50-BINS --sources fam0_task0,fam1_task1 --csv-dir "$WORK/few1" 2>/dev/null
for f in "$WORK"/few1/*.csv; do
  cmp -s "$f" "$WORK/few/$(basename "$f")" || { echo "FAIL: 4 ranks for 2 sources differ"; exit 1; }
done
echo "ok: 4 ranks for 2 sources"

# A bad input fails on every rank: non-zero exit, a message, no output written.
set +e
out=$("${MPI[@]}" -n 2 "$TASKFP" -q distance -f "$WORK/fp.h5" -m KLD-PP:NS-50-BINS --sources nosuchtask \
  --csv-dir "$WORK/bad" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] || { echo "FAIL: an unknown task under mpirun exited 0"; exit 1; }
grep -q "nosuchtask" <<<"$out" || { echo "FAIL: no message naming the task: $out"; exit 1; }
[ -z "$(ls -A "$WORK/bad" 2>/dev/null)" ] || { echo "FAIL: files written after an error"; exit 1; }
echo "ok: errors stop all ranks (exit $rc)"

# Other commands refuse to run on several ranks (they would write the same files N times).
set +e
out=$("${MPI[@]}" -n 2 "$TASKFP" -q fingerprint -f "$WORK/features.h5" -o "$WORK/fp2.h5" --scaling-subset all 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "one process" <<<"$out" || { echo "FAIL: fingerprint ran under mpirun -n 2: $out"; exit 1; }
[ ! -e "$WORK/fp2.h5" ] || { echo "FAIL: fingerprint wrote a file under mpirun -n 2"; exit 1; }
echo "ok: single-process commands refuse several ranks"
