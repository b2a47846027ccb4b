#!/usr/bin/env bash
# The model zoo's TorchScript members: scripts/export_zoo.py exports two of torchvision's models
# (classifier replaced by the identity), and `taskfp transfer run` trains them as architecture
# candidates next to a native network: every job gives a result with AUROC and BA in [0, 1]. A
# candidate that was not exported is refused before training, naming the script.
# Usage: zoo.sh <taskfp> <work folder>
set -euo pipefail
TASKFP=$1
WORK=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rm -rf "$WORK"
mkdir -p "$WORK"
fail() { echo "FAIL: $*"; exit 1; }
[ -e "$(dirname "$TASKFP")/../lib/taskfp/libtaskfp_train.so" ] || { echo "skipped: taskfp was built without LibTorch (no training plugin)"; exit 0; }
/usr/bin/python3 -c 'import torchvision' 2>/dev/null || { echo "skipped: /usr/bin/python3 lacks torchvision"; exit 0; }

/usr/bin/python3 "$ROOT/scripts/export_zoo.py" "$WORK/zoo" mobilenet_v2 regnet_x_400mf > "$WORK/export.txt"
"$TASKFP" -q synth-images -o "$WORK/tasks" --families 1 --tasks-per-family 2 --classes 2 --images-per-class 60 \
  --min-size 24
cat > "$WORK/study.yaml" <<'YAML'
name: zoo
seeds: [0]
training: {architecture: tiny_cnn, pretrained: random, batch: 32, epochs: {max: 1, shrunk: 1},
           images: {size: 32, pad: 36, crop: 28}}
scenarios:
  architecture: {targets: [full], candidates: [tiny_cnn, mobilenet_v2, regnet_x_400mf]}
YAML
"$TASKFP" transfer run -c "$WORK/study.yaml" -t "$WORK/tasks/taskset.yaml" -s "$WORK/study" --zoo "$WORK/zoo" \
  2> "$WORK/run.txt" || fail "run: $(cat "$WORK/run.txt")"
grep -q "6 jobs of this run: 6 trained" "$WORK/run.txt" || fail "run: $(cat "$WORK/run.txt")"
for arch in mobilenet_v2 regnet_x_400mf; do
  for f in "$WORK"/study/jobs/train/$arch/*/r0.json; do
    /usr/bin/python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['architecture'] == sys.argv[2] and 0 <= d['p']['AUROC'] <= 1 and 0 <= d['p']['BA'] <= 1, d['p']
assert len(d['epoch_loss']) == 1 and d['epoch_loss'][0] > 0, d['epoch_loss']" "$f" "$arch" || fail "result $f"
  done
done
sed 's/regnet_x_400mf\]/efficientnet_b0]/' "$WORK/study.yaml" > "$WORK/missing.yaml"
set +e
"$TASKFP" transfer run -c "$WORK/missing.yaml" -t "$WORK/tasks/taskset.yaml" -s "$WORK/missing" --zoo "$WORK/zoo" \
  > "$WORK/err.txt" 2>&1
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "efficientnet_b0.*export_zoo.py" "$WORK/err.txt" || fail "missing zoo model: exit $rc, $(cat "$WORK/err.txt")"
echo "ok: TorchScript zoo models exported and trained as candidates"
