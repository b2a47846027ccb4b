#!/usr/bin/env bash
# `cmake --install` into a fresh prefix gives a taskfp that runs without the source tree: the
# executable in bin/, the plugins in lib/taskfp/, configs, Slurm templates and scripts in
# share/taskfp/; `evaluate`'s default task set and the experiment configs come from the prefix;
# no source path is compiled into the installed files; a transfer study trains through the
# installed training plugin.
# Usage: install_prefix.sh <build folder> <source folder> <work folder>
set -euo pipefail
BUILD=$1
SOURCE=$2
WORK=$3
rm -rf "$WORK"
mkdir -p "$WORK"
fail() { echo "FAIL: $*"; exit 1; }
P="$WORK/prefix"
cmake --install "$BUILD" --prefix "$P" > "$WORK/install.txt" || fail "cmake --install: $(cat "$WORK/install.txt")"
for f in bin/taskfp share/taskfp/configs/tasksets/paper.yaml share/taskfp/configs/experiments/paper.yaml \
  share/taskfp/slurm/submit-transfer.sh share/taskfp/scripts/export_zoo.py; do
  [ -e "$P/$f" ] || fail "$f was not installed"
done
for plugin in "$BUILD"/lib/taskfp/libtaskfp_*.so; do
  [ -e "$P/lib/taskfp/$(basename "$plugin")" ] || fail "plugin $(basename "$plugin") was not installed in lib/taskfp"
done
# No path of the source tree (nor of a build folder inside it) in what was installed.
for f in "$P"/bin/taskfp "$P"/lib/taskfp/*.so; do
  ! grep -aq "$SOURCE/" "$f" || fail "$f holds a path into the source tree ($(strings "$f" | grep "$SOURCE/" | head -1))"
done
"$P/bin/taskfp" evaluate --help > "$WORK/help.txt"
grep -q "$P/share/taskfp/configs/tasksets/paper.yaml" "$WORK/help.txt" ||
  fail "evaluate's default task set is not the installed one: $(grep -- --tasks "$WORK/help.txt")"
"$P/bin/taskfp" transfer plan -c "$P/share/taskfp/configs/experiments/paper.yaml" \
  --sizes "$P/share/taskfp/configs/tasksets/paper-sizes.yaml" > "$WORK/plan.txt"
grep -q "^jobs: 42336 in all" "$WORK/plan.txt" || fail "installed plan: $(cat "$WORK/plan.txt")"
if [ -e "$P/lib/taskfp/libtaskfp_train.so" ]; then
  "$P/bin/taskfp" -q synth-images -o "$WORK/tasks" --families 1 --tasks-per-family 2 --classes 2 \
    --images-per-class 20 --min-size 24
  printf 'seeds: [0]\ntraining: {architecture: tiny_cnn, pretrained: random, batch: 16, epochs: {max: 1, shrunk: 1}, images: {size: 16, pad: 18, crop: 14}}\nscenarios: {baseline: {targets: [full]}}\n' \
    > "$WORK/study.yaml"
  "$P/bin/taskfp" transfer run -c "$WORK/study.yaml" -t "$WORK/tasks/taskset.yaml" -s "$WORK/study" 2> "$WORK/run.txt" ||
    fail "installed transfer run: $(cat "$WORK/run.txt")"
  grep -q "2 trained" "$WORK/run.txt" || fail "installed transfer run: $(cat "$WORK/run.txt")"
fi
echo "ok: installed into $P; runs from there"
