#!/usr/bin/env bash
# Submits the whole pipeline as dependent Slurm jobs:
#   extract (job array, one shard per array task) -> merge -> fingerprint -> distance (MPI ranks)
# each starting only when the previous one succeeded (--dependency=afterok).
#
#   TASKFP=$PWD/build/engine/taskfp TASKSET=/data/tasks.yaml OUT=/scratch/run1 \
#     EXTRACT_ARGS="--weights /data/resnet34-imagenet.h5" scripts/slurm/submit.sh 32
#
# Argument: the number of extract shards (array tasks; default 16). Extra sbatch options (account,
# partition) go in SBATCH_EXTRA, e.g. SBATCH_EXTRA="--account=abc --partition=gpu"; options for
# the extract array alone in EXTRACT_SBATCH, e.g. a GPU per array task:
#   EXTRACT_SBATCH="--gres=gpu:1" EXTRACT_ARGS="--device cuda --weights ..." scripts/slurm/submit.sh 8
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARDS=${1:-16}
: "${TASKFP:?set TASKFP to the taskfp binary (on a shared file system)}"
: "${TASKSET:?set TASKSET to the image task set (YAML)}"
: "${OUT:?set OUT to the output folder (shared file system)}"
mkdir -p "$OUT/logs"
export TASKFP TASKSET OUT EXTRACT_ARGS="${EXTRACT_ARGS:-}" SCALING="${SCALING:-all}"
submit() { sbatch --parsable --export=ALL --output="$OUT/logs/%x-%A_%a.out" ${SBATCH_EXTRA:-} "$@"; }
extract=$(submit --array="0-$((SHARDS - 1))" ${EXTRACT_SBATCH:-} "$HERE/extract.sbatch")
merge=$(submit --dependency="afterok:$extract" "$HERE/merge.sbatch")
fingerprint=$(submit --dependency="afterok:$merge" "$HERE/fingerprint.sbatch")
distance=$(submit --dependency="afterok:$fingerprint" "$HERE/distance.sbatch")
echo "submitted: extract $extract (array of $SHARDS) -> merge $merge -> fingerprint $fingerprint -> distance $distance"
echo "logs in $OUT/logs; a failed extract array task can be resubmitted alone: it resumes"
