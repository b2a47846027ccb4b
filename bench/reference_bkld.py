"""Baseline (c) of bench/bench_distance.cpp: bKLD the way the paper's reference code computes it,
one (source, target) pair at a time with torch ops on one thread.

Per pair, as the reference's KLD distances do (method.md section 4):
    p = normalize(hist_t, p=1, dim=1);  q = softmax(hist_s, dim=1)
    w = softmax(mean_t) (float32; bKLD small)  or  ones (bKLD large)
    (p / q).log().mul(p).nan_to_num().sum(dim=1).mul(w).sum().div(w.sum()).item()
on random fingerprints of the paper's shape (127 tasks, d = 512; float64 histograms with about a
third of the bins empty, float32 means). Pairs run target by target (all sources, diagonal
skipped) until --budget seconds per metric are spent; the per-pair rate is then extrapolated to
the full 71 x 127 and 127 x 127 matrices (per-pair work does not depend on the pair). Prints JSON.

Run with Debian's Python (numpy 1.24, torch 1.13), not a virtual environment's:
  /usr/bin/python3 bench/reference_bkld.py [--budget 12] [--tasks 127] [--dim 512]
"""
import argparse
import json
import platform
import time

import numpy
import torch
import torch.nn.functional as F

METRICS = [("bkld_small", "KLD-PP:NS-W:TS-100-BINS", 100, True),
           ("bkld_large", "KLD-PP:NS-1000-BINS", 1000, False)]


def random_histograms(gen, tasks, dim, bins, empty_share):
    out = []
    for _ in range(tasks):
        h = torch.rand(dim, bins, generator=gen, dtype=torch.float64)
        h[torch.rand(dim, bins, generator=gen, dtype=torch.float64) < empty_share] = 0
        h[h.sum(dim=1) == 0, 0] = 1
        out.append(h / h.sum(dim=1, keepdim=True))
    return out


def kld_pair(hist_s, hist_t, mean_t, weighted):
    p = F.normalize(hist_t, p=1, dim=1)
    q = F.softmax(hist_s, dim=1)
    w = F.softmax(mean_t, dim=0) if weighted else torch.ones(hist_t.shape[0])
    return (p / q).log().mul(p).nan_to_num().sum(dim=1).mul(w).sum().div(w.sum()).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=127)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--budget", type=float, default=12.0,
                    help="seconds of timed pairs per metric (then extrapolated)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(a.seed)
    n = a.tasks
    full = {"71x127": 71 * n - 71, f"{n}x{n}": n * n - n}  # off-diagonal pairs
    result = {"python": platform.python_version(), "torch": torch.__version__,
              "numpy": numpy.__version__, "threads": torch.get_num_threads(), "tasks": n,
              "dim": a.dim, "budget_seconds": a.budget, "metrics": {}}
    for key, name, bins, weighted in METRICS:
        hists = random_histograms(gen, n, a.dim, bins, 0.35)
        means = [torch.rand(a.dim, generator=gen, dtype=torch.float32) + 0.05 for _ in range(n)]
        order = [(s, t) for t in range(n) for s in range(n) if s != t]
        for s, t in order[:3]:  # warm-up (first-call allocations), not timed
            kld_pair(hists[s], hists[t], means[t], weighted)
        checksum, timed = 0.0, 0
        start = time.perf_counter()
        for s, t in order:
            checksum += kld_pair(hists[s], hists[t], means[t], weighted)
            timed += 1
            if time.perf_counter() - start > a.budget:
                break
        seconds = time.perf_counter() - start
        per_pair = seconds / timed
        result["metrics"][key] = {
            "metric": name, "bins": bins, "weighted": weighted,
            "pairs_timed": timed, "pairs_full": full[f"{n}x{n}"], "seconds_timed": seconds,
            "seconds_per_pair": per_pair, "extrapolated": timed < len(order),
            "seconds": {shape: per_pair * pairs for shape, pairs in full.items()},
            "mean_value": checksum / timed}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
