#!/usr/bin/env bash
# `taskfp distance` under mpirun with 1, 2, 3 and 5 ranks, and in one process with 1, 2 and 3
# threads whatever OpenBLAS's and OpenMP's environment says, writes the same matrices, bit for
# bit, as a plain single process (CSV numbers are written shortest-round-trip, so equal files
# mean equal doubles); rank errors stop the whole job with a message.
#
# KERNEL picks OpenBLAS's kernel for the whole check: `env` (whatever the environment chose),
# `unset` (OpenBLAS's own choice for this CPU, as on a user's machine), `alt1` / `alt2` (two
# kernels forced with OPENBLAS_CORETYPE among those this CPU can run), or a kernel name.
# Usage: distance_ranks.sh TASKFP MPIRUN WORKDIR [KERNEL]
set -euo pipefail
TASKFP=$1 MPIRUN=$2 WORK=$3 KERNEL=${4:-env}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../numerics/blas_kernels.sh
source "$HERE/../numerics/blas_kernels.sh"
select_blas_kernel "$KERNEL" || exit 0
rm -rf "$WORK" && mkdir -p "$WORK"
# Root in containers needs these; harmless otherwise. More ranks than cores is fine here.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPI=("$MPIRUN" --oversubscribe)

# 100 tasks: 4 source tiles of 32 rows (the last one short), so 2, 3 and 5 ranks own different
# numbers of tiles and one rank owns none.
"$TASKFP" -q synth -o "$WORK/features.h5" --families 5 --tasks-per-family 20 --samples 120 --dim 24
"$TASKFP" -q fingerprint -f "$WORK/features.h5" -o "$WORK/fp.h5" --scaling-subset all --bins 10,50
# Metrics of every kind: GEMM (KL family, weighted, inverted, with infinite entries; cosine),
# per pair, kernel MMD and the Sinkhorn divergence on raw features (three targets: O(n^2 d) per pair).
METRICS=(-m KLD-PP:NS-W:TS-50-BINS -m KLD-PP:NN-50-BINS -m KLD-C-I-PP:WS-W:BS-10-BINS -m KLD-PP:NN
         -m JS-PP:NN-10-BINS -m VDNA-PP:NN-50-BINS -m COS-PP:SS-10-BINS -m FID -m MMD-coral-1.0)
MMD=(-m MMD-gaussian-1.0 -m MMD-cauchy-1.0 -m MMD-geo-sinkhorn-0.05 --features "$WORK/features.h5" --targets fam0_task0,fam1_task3,fam4_task19)
run() {  # run NAME THREADS_OPTION [env assignments and launcher...]: both metric groups into $WORK/NAME/
  local name=$1 jopt=$2
  shift 2
  "$@" "$TASKFP" $jopt -q distance -f "$WORK/fp.h5" "${METRICS[@]}" --backend cpu --csv-dir "$WORK/$name" -o "$WORK/$name.h5" 2>/dev/null
  "$@" "$TASKFP" $jopt -q distance -f "$WORK/fp.h5" "${MMD[@]}" --backend cpu --csv-dir "$WORK/$name" 2>/dev/null
}
same_as_one() {  # same_as_one NAME WHAT
  local f
  for f in "$WORK"/one/*.csv; do
    if ! cmp -s "$f" "$WORK/$1/$(basename "$f")"; then
      echo "FAIL: $(basename "$f") differs between a plain process and $2 (OpenBLAS kernel: $BLAS_KERNEL)"
      diff <(tr ',' '\n' < "$f") <(tr ',' '\n' < "$WORK/$1/$(basename "$f")") | head -5
      exit 1
    fi
  done
}
run one "" env
count=$(ls "$WORK"/one/*.csv | wc -l)
[ "$count" -eq 12 ] || { echo "FAIL: expected 12 matrices, got $count"; exit 1; }

# Thread counts, whatever the environment asks of OpenMP and OpenBLAS: -j decides, and the bits
# do not depend on it.
run j1 "-j 1" env OMP_NUM_THREADS=3 OPENBLAS_NUM_THREADS=2
run j2 "-j 2" env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
run j3 "-j 3" env OPENBLAS_NUM_THREADS=3
for j in 1 2 3; do same_as_one "j$j" "-j $j"; done
echo "ok: -j 1, 2, 3 identical to a plain process ($count matrices, OpenBLAS kernel $BLAS_KERNEL)"

for n in 1 2 3 5; do
  threads=1
  [ "$n" -eq 2 ] && threads=2  # two ranks of two threads each
  run "ranks$n" "" env OMP_NUM_THREADS=$threads "${MPI[@]}" -n "$n"
  same_as_one "ranks$n" "$n ranks"
  [ -s "$WORK/ranks$n.h5" ] || { echo "FAIL: $n ranks wrote no store"; exit 1; }
  echo "ok: $n ranks, $count matrices identical"
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

# Ranks that read different stores (same task names, other features) stop before computing.
"$TASKFP" -q synth -o "$WORK/other.h5" --families 5 --tasks-per-family 20 --samples 120 --dim 24 --seed 7
"$TASKFP" -q fingerprint -f "$WORK/other.h5" -o "$WORK/fp1.h5" --scaling-subset all --bins 10,50
cp "$WORK/fp.h5" "$WORK/fp0.h5"
set +e
out=$("${MPI[@]}" -n 2 sh -c "exec '$TASKFP' -q distance -f '$WORK'/fp\$OMPI_COMM_WORLD_RANK.h5 -m KLD-PP:NS-50-BINS \
  --csv-dir '$WORK/mixed'" 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "read other inputs than rank 0" <<<"$out" ||
  { echo "FAIL: ranks reading different stores were not stopped (exit $rc): $out"; exit 1; }
[ ! -e "$WORK/mixed" ] || { echo "FAIL: ranks reading different stores wrote output"; exit 1; }
echo "ok: ranks reading different stores stop with a message"

# Other commands refuse to run on several ranks (they would write the same files N times).
set +e
out=$("${MPI[@]}" -n 2 "$TASKFP" -q fingerprint -f "$WORK/features.h5" -o "$WORK/fp2.h5" --scaling-subset all 2>&1)
rc=$?
set -e
[ $rc -ne 0 ] && grep -q "one process" <<<"$out" || { echo "FAIL: fingerprint ran under mpirun -n 2: $out"; exit 1; }
[ ! -e "$WORK/fp2.h5" ] || { echo "FAIL: fingerprint wrote a file under mpirun -n 2"; exit 1; }
echo "ok: single-process commands refuse several ranks"
