"""Compares two score tables (taskfp's scores.csv and reference_evaluate.py's output) row by row.

  /usr/bin/python3 bench/compare_scores.py OURS.csv REFERENCE.csv
Prints JSON: rows compared, rows equal bit for bit, the largest absolute difference.
"""
import json
import sys

import numpy as np
import pandas as pd

keys = ["scenario", "distance", "metric", "aggregate", "target", "meta_metric"]
ours = pd.read_csv(sys.argv[1], float_precision="round_trip")
ref = pd.read_csv(sys.argv[2], float_precision="round_trip")
m = ours.merge(ref, on=keys, how="outer", suffixes=("_ours", "_ref"), indicator=True)
both = m[m["_merge"] == "both"]
a, b = both["score_ours"].to_numpy(), both["score_ref"].to_numpy()
same = (a == b) | (np.isnan(a) & np.isnan(b))
diff = np.abs(a - b)
print(json.dumps({"rows_ours": len(ours), "rows_reference": len(ref), "compared": int(len(both)),
                  "only_one_side": int((m["_merge"] != "both").sum()), "bitwise_equal": int(same.sum()),
                  "max_abs_diff": float(np.nanmax(diff)) if len(diff) else 0.0}))
worst = both.assign(d=diff).sort_values("d", ascending=False).head(5)
if not same.all():
    print(worst[keys + ["score_ours", "score_ref"]].to_string(), file=sys.stderr)
