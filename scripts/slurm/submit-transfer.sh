#!/usr/bin/env bash
# Submits a transfer study as dependent Slurm jobs:
#   stage 1 (job array: baselines, architecture candidates, policy searches, co-training)
#   -> stage 2 (job array: pretraining and augmentation, which need stage 1's models and policies)
#   -> collect (the outcome tables in $STUDY/cache)
# each starting only when the previous one succeeded (--dependency=afterok).
#
#   TASKFP=$PWD/build/engine/taskfp CONFIG=configs/experiments/paper.yaml STUDY=/scratch/study1 \
#     TASKSET=/data/paper-images.yaml RUN_ARGS="--weights /data/resnet34-imagenet.h5 --device cuda" \
#     STAGE_SBATCH="--gres=gpu:1" scripts/slurm/submit-transfer.sh 64 32
#
# TASKSET (optional) overrides the config's image task set; RUN_ARGS are further options of
# `taskfp transfer run`. Arguments: the array sizes of stage 1 and stage 2 (default 16 each). `taskfp transfer plan`
# prints how many jobs each stage has. Extra sbatch options for every job go in SBATCH_EXTRA, for
# the two arrays alone in STAGE_SBATCH.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARDS1=${1:-16}
SHARDS2=${2:-16}
: "${TASKFP:?set TASKFP to the taskfp binary (on a shared file system)}"
: "${CONFIG:?set CONFIG to the experiment config (YAML)}"
: "${STUDY:?set STUDY to the study folder (shared file system)}"
mkdir -p "$STUDY/logs"
export TASKFP CONFIG STUDY TASKSET="${TASKSET:-}" RUN_ARGS="${RUN_ARGS:-}"
submit() { sbatch --parsable --export=ALL --output="$STUDY/logs/%x-%A_%a.out" ${SBATCH_EXTRA:-} "$@"; }
stage1=$(STAGE=1 submit --array="0-$((SHARDS1 - 1))" ${STAGE_SBATCH:-} "$HERE/transfer.sbatch")
stage2=$(STAGE=2 submit --dependency="afterok:$stage1" --array="0-$((SHARDS2 - 1))" ${STAGE_SBATCH:-} \
  "$HERE/transfer.sbatch")
collect=$(submit --dependency="afterok:$stage2" "$HERE/collect.sbatch")
echo "submitted: stage 1 $stage1 (array of $SHARDS1) -> stage 2 $stage2 (array of $SHARDS2) -> collect $collect"
echo "logs in $STUDY/logs; a failed array task can be resubmitted alone: it redoes only unfinished jobs"
