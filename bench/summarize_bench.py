"""Summary of one scripts/bench.sh run: reads the Google Benchmark JSON files and the Python
baseline's JSON from the results folder and prints the raw numbers and the ratios that the
targets in bench/RESULTS.md are about. Standard library only.

  /usr/bin/python3 bench/summarize_bench.py RESULTS_DIR distance|fingerprint
"""
import json
import os
import sys


def load_benchmarks(path):
    """name -> {stat: entry}: stat is 'median', 'min', ... for repeated runs, 'run' otherwise."""
    out = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "aggregate":
            out.setdefault(b["run_name"], {})[b["aggregate_name"]] = b
        elif b.get("repetitions", 1) <= 1:
            out.setdefault(b["name"], {})["run"] = b
    return out


def seconds(entry):
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[entry.get("time_unit", "ns")]
    return entry["real_time"] * unit


def find(benchmarks, prefix, stat="median"):
    for name, stats in benchmarks.items():
        if name.startswith(prefix):
            return stats.get(stat) or stats.get("run") or next(iter(stats.values()))
    raise KeyError(f"no benchmark {prefix!r} in the results")


def verdict(ok):
    return "met" if ok else "MISSED"


def distance(out):
    ours = load_benchmarks(os.path.join(out, "distance.json"))
    pairs = load_benchmarks(os.path.join(out, "distance_per_pair.json"))
    py = json.load(open(os.path.join(out, "reference_bkld.json")))
    print(f"torch {py['torch']}, numpy {py['numpy']}, {py['threads']} thread(s); medians of 3")
    rows = []
    for key, bins in [("bkld_small", 100), ("bkld_large", 1000)]:
        dgemm = seconds(find(ours, f"BM_BareDgemm/bins:{bins}/"))
        dgemm_min = seconds(find(ours, f"BM_BareDgemm/bins:{bins}/", "min"))
        pp = find(pairs, f"BM_PerPairReference/{key}/")
        pp_rate = seconds(pp) / pp["pairs"]
        ref = py["metrics"][key]
        print(f"\n{key} ({ref['metric']}), d = {py['dim']}")
        print(f"  bare DGEMM 127 x {512 * bins} x 127: {dgemm:.3f} s (min {dgemm_min:.3f} s)")
        print(f"  per-pair C++ reference: {pp_rate * 1e3:.2f} ms/pair "
              f"({int(pp['pairs'])} pairs timed, max rel diff vs GEMM path "
              f"{pp['max_rel_diff_vs_gemm']:.1e})")
        print(f"  per-pair torch: {ref['seconds_per_pair'] * 1e3:.2f} ms/pair "
              f"({ref['pairs_timed']} pairs timed{', extrapolated' if ref['extrapolated'] else ''})")
        for sources in (71, 127):
            shape = f"{sources}x127"
            b = find(ours, f"BM_GemmPath/{key}/sources:{sources}/")
            bmin = find(ours, f"BM_GemmPath/{key}/sources:{sources}/", "min")
            total, prep, gemm = seconds(b), b["prepare_s"], b["gemm_s"]
            torch_s = ref["seconds"][shape]
            cpp_s = pp_rate * (sources * 127 - sources)
            print(f"  {shape}: ours {total:.3f} s (min {seconds(bmin):.3f}; prepare {prep:.3f} s, "
                  f"GEMM {gemm:.3f} s) | per-pair torch {torch_s:.1f} s | per-pair C++ {cpp_s:.1f} s")
            print(f"    torch/ours {torch_s / total:.0f}x, per-pair C++/ours {cpp_s / total:.0f}x, "
                  f"ours/bare DGEMM {total / dgemm:.2f}, GEMM phase/bare DGEMM {gemm / dgemm:.2f}, "
                  f"prepare/GEMM phase {prep / gemm:.2f}")
            rows.append((key, shape, total, prep, gemm, dgemm, torch_s, cpp_s))
    print("\ntargets (bKLD large, 127 x 127):")
    key, shape, total, prep, gemm, dgemm, torch_s, _ = rows[-1]
    print(f"  per-pair torch / ours >= 100:     {torch_s / total:7.1f}  {verdict(torch_s / total >= 100)}")
    print(f"  GEMM phase / bare DGEMM <= 1.5:   {gemm / dgemm:7.2f}  {verdict(gemm / dgemm <= 1.5)}")
    print(f"  prepare / GEMM phase <= 1:        {prep / gemm:7.2f}  {verdict(prep / gemm <= 1.0)}")


def fingerprint(out):
    fp = load_benchmarks(os.path.join(out, "fingerprint.json"))
    ranges = seconds(find(fp, "BM_Ranges28Tasks"))
    hist = {b: seconds(find(fp, f"BM_Histograms127Tasks/bins:{b}/")) for b in (100, 1000)}
    read28 = find(fp, "BM_ReadRaw/tasks:28/cold:1/")
    read127 = find(fp, "BM_ReadRaw/tasks:127/cold:1/")
    warm127 = find(fp, "BM_ReadRaw/tasks:127/cold:0/")
    print(f"read() cold, 28 tasks ({read28['bytes'] / 1e9:.2f} GB): {seconds(read28):.3f} s "
          f"({read28['bytes'] / seconds(read28) / 1e9:.2f} GB/s; pages resident after the drop: "
          f"{read28['resident_after_drop']:.0%})")
    print(f"read() cold, 127 tasks ({read127['bytes'] / 1e9:.2f} GB): {seconds(read127):.3f} s "
          f"({read127['bytes'] / seconds(read127) / 1e9:.2f} GB/s)")
    print(f"read() warm (page cache), 127 tasks: {seconds(warm127):.3f} s")
    loaders = {}
    for name, label in [("BM_ReadNpyCold", ".npy files -> matrices (read_npy_matrix), cold"),
                        ("BM_ReadStoreCold", "HDF5 features store (read_features_store), cold")]:
        try:
            loaders[name] = seconds(find(fp, name))
            print(f"{label}, 127 tasks: {loaders[name]:.2f} s")
        except KeyError:
            pass
    print("medians of 3:")
    checks = [("quantile ranges, 28 x 10,000 x 512", ranges, seconds(read28), 28),
              ("histograms 127 x 10,000 x 512, 100 bins", hist[100], seconds(read127), 127),
              ("histograms 127 x 10,000 x 512, 1000 bins", hist[1000], seconds(read127), 127)]
    for label, t, read, tasks in checks:
        # "Well under" the cold read of the same bytes: at most half of it.
        line = (f"  {label}: {t:.3f} s = {t / read:.2f} x the cold read() of the same features "
                f"{verdict(t <= 0.5 * read)}")
        if "BM_ReadNpyCold" in loaders:  # the loader's time for the same tasks, pro rata
            line += f"; {t / (loaders['BM_ReadNpyCold'] * tasks / 127):.2f} x the .npy loader"
        print(line)


def robustness(out):
    r = load_benchmarks(os.path.join(out, "robustness.json"))
    own, syrk = seconds(find(r, "BM_CovarianceOwnKernel")), seconds(find(r, "BM_CovarianceBlasSyrk"))
    read = find(r, "BM_ReadFingerprintStore")
    check = seconds(find(r, "BM_ValidateFingerprintStore"))
    print("medians of 3:")
    print(f"  covariance of 10,000 x 512: own fixed-order kernel {own * 1e3:.1f} ms, OpenBLAS dsyrk "
          f"{syrk * 1e3:.1f} ms: own / dsyrk {own / syrk:.2f}")
    print(f"  fingerprint store of 127 tasks ({read['MB']:.0f} MB): read {seconds(read):.3f} s, "
          f"check in a child process {check:.3f} s: check / read {check / seconds(read):.2f}")


def main():
    out, what = sys.argv[1], sys.argv[2]
    {"distance": distance, "fingerprint": fingerprint, "robustness": robustness}[what](out)


if __name__ == "__main__":
    main()
