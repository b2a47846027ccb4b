"""Baseline for bench/: the evaluation as the paper's reference code does it, with pandas/scipy.

Same semantics as mml_tf's get_evaluations (calc_top_k / calc_corr per target), restated here:
affinities = -zscore(distances with zeros as NaN), top-k by nlargest(keep='all'), regret, rank,
gain, delta and scipy's weightedtau. Writes every score as CSV (same columns as taskfp's
scores.csv) and prints the time taken as JSON.

Run with Debian's Python (numpy 1.24, pandas 1.5, scipy 1.10):
  /usr/bin/python3 bench/reference_evaluate.py CACHE_DIR TASKSET_YAML OUT_CSV [--split development]
"""
import argparse
import json
import time

import numpy as np
import pandas as pd
import scipy.stats
import yaml

DISTANCES = ["KLD-PP:NS-W:TS-100-BINS", "KLD-PP:NS-1000-BINS", "SEMANTIC", "VDNA-PP:NN-1000-BINS",
             "FID", "FED", "MMD-geo-sinkhorn-0.01", "KLD-PP:NN"]
SCENARIOS = {"Model Architecture": "load_arch_experiment%{m}%True%{v}",
             "Pretraining Data": "load_pretrain_experiment%{m}%{v}",
             "Augmentation Policy": "load_augmentation_experiment%{m}%{v}",
             "Co-Training Data": "load_multi_task_experiment%{m}%True%{v}"}
AGGREGATES = {"seed1": 0, "seed2": 1, "seed3": 2}
META = ["regret", "rank", "gain", "delta", "weightedtau"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cache")
    ap.add_argument("taskset")
    ap.add_argument("out")
    ap.add_argument("--split", default="validation")
    a = ap.parse_args()
    start = time.perf_counter()
    ts = yaml.safe_load(open(a.taskset))
    train, test = ts["development"], ts["validation"]
    all_tasks = train + test
    info = pd.read_csv(f"{a.cache}/task_infos.csv", index_col=0).set_index("name")
    shrink = {t: (t if t in ts["not_shrinkable"] else t + " --shrink_train 800") for t in all_tasks}
    validation = a.split == "validation"
    targets = test if validation else [t for t in train if info.num_classes[t] < 40]

    def valid_sources(t):
        pool = train if t in train else all_tasks
        for members in ts["groups"].values():
            if t in members:
                pool = [s for s in pool if s not in members]
                break
        return [s for s in pool if s != t and info.num_samples[s] >= 1]

    def affinity(name):
        df = pd.read_csv(f"{a.cache}/distances/{name}.csv", index_col=0, header=0)
        df.replace([np.inf, -np.inf], np.nan, inplace=True)
        d = df.to_numpy().astype(float)
        d[d == 0] = np.nan
        d = scipy.stats.zscore(d, axis=None, nan_policy="omit")
        return pd.DataFrame(-1 * d, columns=df.columns, index=df.index)

    rows = []
    affinities = {name: affinity(name) for name in DISTANCES}
    for agg, seed in AGGREGATES.items():
        for metric in ["AUROC", "BA"]:
            base_s = pd.read_csv(f"{a.cache}/exp/load_baseline_experiment%{metric}%True%{validation}.csv", index_col=0).loc[seed]
            base_f = pd.read_csv(f"{a.cache}/exp/load_baseline_experiment%{metric}%False%{validation}.csv", index_col=0).loc[seed]
            for scenario, pattern in SCENARIOS.items():
                raw = pd.read_csv(f"{a.cache}/exp/{pattern.format(m=metric, v=validation)}.csv", index_col=0)
                raw = raw[raw["r"] == seed]
                exp = raw.drop(["r"], axis="columns").groupby(by=["s", "t"]).max().unstack().droplevel(level=0, axis=1)
                for name in DISTANCES:
                    aff = affinities[name]
                    for t in targets:
                        if t not in exp.columns:
                            continue
                        baseline = base_s[t] if t in shrink and shrink[t] != t else base_f[t]
                        vs = valid_sources(t)
                        column = aff[shrink[t]]
                        chosen = column.loc[vs].nlargest(n=3, keep="all").index.tolist()
                        assert len(chosen) == 3
                        outcomes = exp[t].loc[vs]
                        oracle = outcomes.max()
                        perf = exp[t].loc[chosen]
                        regret = []
                        for p in perf:
                            gap = abs(oracle - p)
                            room = 1 - min(oracle, p)
                            regret.append(0. if room == 0. == gap else 1 - gap / room)
                        scores = {
                            "regret": np.mean(regret),
                            "rank": outcomes.rank(ascending=True, method="average", pct=True).loc[chosen].mean(),
                            "gain": np.mean([int(p > baseline) for p in perf]),
                            "delta": np.mean([p - baseline for p in perf]),
                            "weightedtau": column.loc[vs].corr(outcomes, method=lambda x, y: scipy.stats.weightedtau(x, y)[0]),
                        }
                        for mm in META:
                            rows.append((scenario, name, metric, agg, t, mm, scores[mm]))
    elapsed = time.perf_counter() - start
    out = pd.DataFrame(rows, columns=["scenario", "distance", "metric", "aggregate", "target", "meta_metric", "score"])
    out.to_csv(a.out, index=False, float_format="%.17g")
    print(json.dumps({"scores": len(rows), "seconds": elapsed}))


if __name__ == "__main__":
    main()
