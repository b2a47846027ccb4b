#!/usr/bin/env bash
# A full disk: every command that writes stops with status 2 and one line naming its output,
# and leaves nothing on the disk (no partial store, no temporary file, no half of a folder of
# images or tables). The disk is a small tmpfs in a private mount namespace (unshare; for a user
# other than root, inside a user namespace); where neither is allowed the test is skipped.
# Usage: full_disk.sh TASKFP WORKDIR [PAPER_CACHE]
set -euo pipefail
TASKFP=$1 WORK=$2 CACHE=${3:-}
rm -rf "$WORK" && mkdir -p "$WORK/small"
# A private mount namespace: as root directly (in a chroot, where / is no mount point, without
# changing propagation), otherwise inside a user namespace. Each run unmounts its tmpfs itself.
probe() { "$@" sh -c "mount -t tmpfs -o size=64k none '$WORK/small' && umount '$WORK/small'" 2>/dev/null; }
UNSHARE=()
for candidate in "unshare -m" "unshare -m --propagation unchanged" "unshare -rm"; do
  read -r -a try <<<"$candidate"
  if probe "${try[@]}"; then UNSHARE=("${try[@]}"); break; fi
done
if [ ${#UNSHARE[@]} -eq 0 ]; then
  echo "skipped: cannot mount a small tmpfs in a private mount namespace here (unshare -m / -rm)"; exit 0
fi
# 50 tasks: their matrices (CSV and store) need more than the disk holds.
"$TASKFP" -q synth -o "$WORK/f.h5" --families 10 --tasks-per-family 5 --samples 200 --dim 16
"$TASKFP" -q fingerprint -f "$WORK/f.h5" -o "$WORK/fp.h5" --scaling-subset all --bins 100

# check NAME OUTPUT ARGS...: runs taskfp ARGS on a 160 KB disk mounted at $WORK/small.
check() {
  local name=$1 output=$2
  shift 2
  set +e
  out=$("${UNSHARE[@]}" bash -c 'mount -t tmpfs -o size=160k none "$1" || exit 99; shift
                             "$@" 2>&1; rc=$?
                             echo "left: $(find "'"$WORK/small"'" -mindepth 1 | head -3 | tr "\n" " ")"
                             umount "'"$WORK/small"'"
                             exit $rc' \
        full "$WORK/small" "$TASKFP" -q "$@")
  rc=$?
  set -e
  [ $rc -eq 2 ] || { echo "FAIL: $name on a full disk: status $rc: $out"; exit 1; }
  [ "$(grep -c '^taskfp: error: ' <<<"$out")" -eq 1 ] || { echo "FAIL: $name: not one error line: $out"; exit 1; }
  grep -q "$output" <<<"$out" || { echo "FAIL: $name: the message does not name $output: $out"; exit 1; }
  grep -qx "left: " <<<"$out" || { echo "FAIL: $name left files on the full disk: $out"; exit 1; }
  echo "ok: $name on a full disk: status 2 naming $output, nothing left"
}
check "synth" "$WORK/small/s.h5" synth -o "$WORK/small/s.h5" --families 2 --tasks-per-family 2 --samples 500 --dim 64
check "fingerprint" "$WORK/small/fp.h5" fingerprint -f "$WORK/f.h5" -o "$WORK/small/fp.h5" --scaling-subset all --bins 100,1000
check "distance" "$WORK/small/csv" distance -f "$WORK/fp.h5" -m bkld-small -m KLD-PP:NN-100-BINS -m JS-PP:NN-100-BINS \
  -m VDNA-PP:NN-100-BINS -m FID -m COS-PP:NN-100-BINS --csv-dir "$WORK/small/csv" -o "$WORK/small/d.h5"
check "synth-images" "$WORK/small/img" synth-images -o "$WORK/small/img" --families 2 --tasks-per-family 2 --classes 2 \
  --images-per-class 8 --min-size 64
if [ -n "$CACHE" ] && [ -d "$CACHE/exp" ]; then
  check "evaluate" "$WORK/small/ev" evaluate -c "$CACHE" -o "$WORK/small/ev" --split development -d SEMANTIC \
    -d bkld-small --bootstrap 20
else
  echo "evaluate: not checked (no paper cache at '$CACHE')"
fi
