#!/usr/bin/env bash
# What docs/numerics.md promises across machines: fingerprints and distance matrices made with
# different OpenBLAS kernels (each CPU picks its own) agree to 1e-12 relative, entry by entry.
# Runs the pipeline (fingerprint, then every metric kind) under each kernel this CPU can run and
# under OpenBLAS's own choice, and compares every matrix with the first kernel's.
# Usage: kernel_agreement.sh TASKFP WORKDIR
set -euo pipefail
TASKFP=$1 WORK=$2
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/blas_kernels.sh"
if ! /usr/bin/python3 -c "import numpy" 2>/dev/null; then
  echo "skipped: needs /usr/bin/python3 with numpy (apt-get install python3-numpy)"; exit 0
fi
mapfile -t kernels < <(supported_blas_kernels)
kernels+=(unset)
[ ${#kernels[@]} -ge 2 ] || { echo "skipped: only one OpenBLAS kernel runs on this CPU"; exit 0; }
rm -rf "$WORK" && mkdir -p "$WORK"
"$TASKFP" -q synth -o "$WORK/features.h5" --families 4 --tasks-per-family 10 --samples 200 --dim 48
for k in "${kernels[@]}"; do
  (
    select_blas_kernel "$k" >/dev/null || { echo "FAIL: cannot select OpenBLAS kernel $k"; exit 1; }
    "$TASKFP" -q fingerprint -f "$WORK/features.h5" -o "$WORK/fp-$k.h5" --scaling-subset all --bins 10,100,1000
    "$TASKFP" -q distance -f "$WORK/fp-$k.h5" --backend cpu --csv-dir "$WORK/$k" -m bkld-small -m bkld-large \
      -m KLD-PP:NN -m KLD-C-I-PP:WS-W:BS-10-BINS -m JS-PP:NN-10-BINS -m VDNA-PP:NN-100-BINS \
      -m COS-PP:NN-100-BINS -m FID -m MMD-coral-1.0 2>/dev/null
    "$TASKFP" -q distance -f "$WORK/fp-$k.h5" --backend cpu --csv-dir "$WORK/$k" -m MMD-gaussian-1.0 \
      --features "$WORK/features.h5" --targets fam0_task0,fam3_task9 2>/dev/null
  )
done
/usr/bin/python3 - "$WORK" "${kernels[@]}" <<'PY'
import glob, os, sys
import numpy as np
work, kernels = sys.argv[1], sys.argv[2:]
def read(path):
    return np.genfromtxt(path, delimiter=",", skip_header=1)[:, 1:]
first = kernels[0]
files = sorted(glob.glob(os.path.join(work, first, "*.csv")))
assert len(files) == 10, files
worst = 0.0
for f in files:
    a = read(f)
    for k in kernels[1:]:
        b = read(os.path.join(work, k, os.path.basename(f)))
        assert a.shape == b.shape
        both_nan = np.isnan(a) & np.isnan(b)
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = np.where(both_nan | (a == b), 0.0, np.abs(a - b) / np.where(scale > 0, scale, 1.0))
        worst = max(worst, float(np.nanmax(rel)))
        if not (rel <= 1e-12).all() or (np.isnan(a) != np.isnan(b)).any():
            print(f"FAIL: {os.path.basename(f)}: kernels {first} and {k} differ by {np.nanmax(rel):.3g} relative")
            sys.exit(1)
print(f"ok: {len(files)} matrices agree across OpenBLAS kernels {', '.join(kernels)} "
      f"(largest relative difference {worst:.2g}, bound 1e-12)")
PY
