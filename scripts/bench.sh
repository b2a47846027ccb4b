#!/usr/bin/env bash
# Builds and runs the benchmarks next to their Python baselines, in one run, and prints the
# ratios that bench/RESULTS.md records. Installs the baselines' Debian packages if missing.
# Usage: scripts/bench.sh [distance|fingerprint|evaluate ...]   (default: all)
# PAPER_CACHE (default ../shared/paper-cache) is needed by the evaluation benchmark.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
PAPER_CACHE=${PAPER_CACHE:-$ROOT/../shared/paper-cache}
OUT=${BENCH_OUT:-$BUILD_DIR/bench-results}
PY=/usr/bin/python3
WHAT=("$@")
[ ${#WHAT[@]} -gt 0 ] || WHAT=(distance fingerprint evaluate)

missing=()
for p in python3-torch python3-numpy python3-pandas python3-scipy python3-yaml; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
BUILD_DIR=$BUILD_DIR "$ROOT/scripts/setup.sh" -DTASKFP_BUILD_BENCH=ON >/dev/null
mkdir -p "$OUT"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%F)"

json() { $PY -c "import json,sys; d=json.load(open('$1')); print($2)"; }

for w in "${WHAT[@]}"; do
  case "$w" in
    distance)
      echo "== distance: 127 x 127 tasks, d = 512"
      "$BUILD_DIR/bench/bench_distance" --benchmark_min_time=1 --benchmark_format=json > "$OUT/distance.json"
      $PY "$ROOT/bench/reference_distance.py" > "$OUT/reference_distance.json"
      $PY - "$OUT/distance.json" "$OUT/reference_distance.json" <<'PYEOF'
import json, sys
cpp = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
ref = json.load(open(sys.argv[2]))
ms = lambda n: cpp[n]["real_time"] / 1000.0  # benchmarks report milliseconds
for key, bins in [("bkld_small", 100), ("bkld_large", 1000)]:
    ours = ms(f"BM_GemmPath/{key}/real_time")
    per_pair = ms(f"BM_PerPairReference/{key}_one_column/real_time") * 127  # 127 columns
    dgemm = ms(f"BM_BareDgemm/{bins}/real_time")
    b = cpp[f"BM_GemmPath/{key}/real_time"]
    py = ref[key]["seconds_127x127"]
    print(f"{key}: ours {ours:.3f} s (prepare {b['prepare_s']:.3f} s, GEMM {b['gemm_s']:.3f} s) | "
          f"bare DGEMM {dgemm:.3f} s | per-pair C++ {per_pair:.1f} s | per-pair torch {py:.1f} s "
          f"(71 x 127: {ref[key]['seconds_71x127']:.1f} s)")
    print(f"  ratios: torch/ours {py / ours:.0f}x, per-pair C++/ours {per_pair / ours:.0f}x, "
          f"GEMM phase/bare DGEMM {b['gemm_s'] / dgemm:.2f}, prepare/GEMM {b['prepare_s'] / b['gemm_s']:.2f}")
PYEOF
      ;;
    fingerprint)
      echo "== fingerprint: ranges over 28 x 10,000 x 512, histograms of 127 x 10,000 x 512"
      "$BUILD_DIR/bench/bench_fingerprint" --benchmark_format=json > "$OUT/fingerprint.json"
      $PY - "$OUT/fingerprint.json" <<'PYEOF'
import json, sys
cpp = {b["name"].split("/")[0] + ("/" + b["name"].split("/")[1] if b["name"].count("/") > 2 else ""): b
       for b in json.load(open(sys.argv[1]))["benchmarks"]}
for name, b in cpp.items():
    print(f"{name}: {b['real_time'] / 1000:.2f} s")
PYEOF
      ;;
    evaluate)
      echo "== evaluate: 8 distances x 4 scenarios x 2 metrics x 3 seeds x 43 targets x 5 meta-metrics"
      if [ ! -d "$PAPER_CACHE/exp" ]; then echo "  skipped: PAPER_CACHE ($PAPER_CACHE) has no exp/"; continue; fi
      TASKFP_PAPER_CACHE=$PAPER_CACHE "$BUILD_DIR/bench/bench_evaluate" --benchmark_format=json > "$OUT/evaluate.json"
      $PY "$ROOT/bench/reference_evaluate.py" "$PAPER_CACHE" "$ROOT/configs/tasksets/paper.yaml" "$OUT/reference_scores.csv" > "$OUT/reference_evaluate.json"
      "$BUILD_DIR/engine/taskfp" evaluate -q -c "$PAPER_CACHE" -o "$OUT/evaluation" --aggregates seed1,seed2,seed3
      $PY "$ROOT/bench/compare_scores.py" "$OUT/evaluation/scores.csv" "$OUT/reference_scores.csv" > "$OUT/compare.json"
      ours=$(json "$OUT/evaluate.json" "d['benchmarks'][0]['real_time']/1000")
      py=$(json "$OUT/reference_evaluate.json" "d['seconds']")
      echo "  ours $ours s | pandas/scipy $py s | ratio $($PY -c "print(f'{$py/$ours:.0f}x')")"
      echo "  scores compared with the reference: $(cat "$OUT/compare.json")"
      ;;
    *) echo "unknown benchmark '$w' (distance, fingerprint, evaluate)"; exit 2 ;;
  esac
done
