"""Baseline for bench/: bKLD matrices computed as the paper's reference code does, one
(source, target) pair at a time with torch ops on one thread.

Per pair, as mml_tf's KLDDistances: p = normalize(hist_t, p=1, dim=1), q = softmax(hist_s, dim=1),
(p / q).log().mul(p).nan_to_num().sum(dim=1).mul(w).sum().div(w.sum()).item(), with w the softmax
of the target's float32 mean features (bKLD small) or ones (bKLD large). Random fingerprints of
the paper's shape (127 tasks, d = 512). Prints JSON: seconds per pair and per full matrix.

Run with Debian's Python (torch 1.13): /usr/bin/python3 bench/reference_distance.py [--pairs N]
"""
import argparse
import json
import time

import torch

torch.set_num_threads(1)
ap = argparse.ArgumentParser()
ap.add_argument("--tasks", type=int, default=127)
ap.add_argument("--dim", type=int, default=512)
ap.add_argument("--pairs", type=int, default=200, help="pairs timed per metric (then extrapolated)")
a = ap.parse_args()
gen = torch.Generator().manual_seed(1)


def fingerprint(bins):
    h = torch.rand(a.dim, bins, generator=gen, dtype=torch.float64)
    h[torch.rand(a.dim, bins, generator=gen) < 0.35] = 0
    return h / h.sum(dim=1, keepdim=True)


results = {}
for name, bins, weighted in [("bkld_small", 100, True), ("bkld_large", 1000, False)]:
    hists = [fingerprint(bins) for _ in range(a.tasks)]
    means = [torch.rand(1, a.dim, generator=gen, dtype=torch.float32) for _ in range(a.tasks)]
    pairs = [(s, t) for t in range(a.tasks) for s in range(a.tasks) if s != t][: a.pairs]
    start = time.perf_counter()
    for s, t in pairs:
        p = torch.nn.functional.normalize(hists[t], p=1, dim=1)
        q = torch.nn.functional.softmax(hists[s], dim=1)
        w = torch.nn.functional.softmax(means[t], dim=1).squeeze(0) if weighted else torch.ones(a.dim)
        (p / q).log().mul(p).nan_to_num().sum(dim=1).mul(w).sum().div(w.sum()).item()
    per_pair = (time.perf_counter() - start) / len(pairs)
    results[name] = {"pairs_timed": len(pairs), "seconds_per_pair": per_pair,
                     "seconds_71x127": per_pair * 71 * 127, "seconds_127x127": per_pair * 127 * 127}
print(json.dumps(results))
