#!/usr/bin/env python3
"""Checks the checker: a stand-in for taskfp misbehaves in every way the contract forbids, and
each must be caught (and a well-behaved stand-in must pass); the image fuzzer's bisection must
find the one crashing image in a batch.

  selftest.py --work DIR
"""
from __future__ import annotations

import argparse
import shutil
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    import h5py  # noqa: F401
    import numpy  # noqa: F401
    import PIL  # noqa: F401
except ImportError as e:  # pragma: no cover
    print(f"skipped: the robustness tests need python3-numpy, python3-h5py and python3-pil ({e})")
    sys.exit(77)

from contract import Run, Runner

FAKE = r'''#!/usr/bin/env python3
import os, signal, sys, time
mode = os.environ.get("FAKE_MODE", "ok")
args = sys.argv[1:]
out = args[args.index("-o") + 1] if "-o" in args else None
def error(msg):
    sys.stderr.write("taskfp: error: " + msg + "\n")
if mode == "ok":
    open(out, "w").write("x"); sys.exit(0)
if mode == "named":
    error("'in/x.h5' is broken"); sys.exit(2)
if mode == "segv":
    os.kill(os.getpid(), signal.SIGSEGV)
if mode == "abort":
    os.abort()
if mode == "exit3":
    sys.stderr.write("taskfp: internal error: boom\nThis is a bug in taskfp\n"); sys.exit(3)
if mode == "exit106":
    sys.stderr.write("--output is required\n"); sys.exit(106)
if mode == "hang":
    time.sleep(100)
if mode == "two-errors":
    error("'in/x.h5' one"); error("'in/x.h5' two"); sys.exit(2)
if mode == "unnamed":
    error("HDF5: opening dataset features failed"); sys.exit(2)
if mode == "stray":
    error("'in/x.h5' is broken"); sys.stderr.write("HDF5-DIAG: Error detected\n"); sys.exit(2)
if mode == "bad-alloc":
    error("'in/x.h5': std::bad_alloc"); sys.exit(2)
if mode == "leave-output":
    open(out, "w").write("half"); error("'in/x.h5' is broken"); sys.exit(2)
if mode == "leave-tmp":
    open(out + ".tmp-4242", "w").write("half"); error("'in/x.h5' is broken"); sys.exit(2)
if mode == "tmp-after-success":
    open(out, "w").write("x"); open(out + ".tmp-4242", "w").write("half"); sys.exit(0)
if mode == "no-output":
    sys.exit(0)
if mode == "change-input":
    open("in/x.h5", "a").write("more"); error("'in/x.h5' is broken"); sys.exit(2)
if mode == "memory":
    block = bytearray(300 << 20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    sys.exit(0)
sys.exit(0)
'''

# The stand-in's extract: crashes when an image holds b"CRASH", else writes n feature rows.
FAKE_EXTRACT = r'''#!/usr/bin/env python3
import os, signal, sys
args = sys.argv[1:]
out = args[args.index("-o") + 1]
n = int(args[args.index("-n") + 1])
root = os.path.join(os.path.dirname(args[args.index("-t") + 1]), "images", "c0")
for name in os.listdir(root):
    if b"CRASH" in open(os.path.join(root, name), "rb").read():
        os.kill(os.getpid(), signal.SIGSEGV)
import h5py, numpy as np
with h5py.File(out, "w") as f:
    f.create_dataset("tasks/mutants/features", data=np.zeros((n, 4), dtype="f4"))
sys.exit(0)
'''

EXPECTED = {  # mode -> a text the violations must contain ('' = must pass)
    "ok": "", "named": "", "segv": "crash: signal SIGSEGV", "abort": "crash: signal SIGABRT",
    "exit3": "internal error", "exit106": "status 106", "hang": "hang", "two-errors": "2 lines start",
    "unnamed": "names none", "stray": "stray stderr line", "bad-alloc": "runaway allocation",
    "leave-output": "left behind", "leave-tmp": "left behind", "tmp-after-success": "temporary file left",
    "no-output": "no output", "change-input": "changed by a failed run", "memory": "peak resident memory",
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    work = Path(ap.parse_args().work).resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    fake = work / "fake-taskfp"
    fake.write_text(FAKE.replace("#!/usr/bin/env python3", "#!" + sys.executable, 1))
    fake.chmod(0o755)
    runner = Runner(str(fake), rss_limit=100 << 20)
    failures = []
    for mode, want in EXPECTED.items():
        d = work / mode
        (d / "in").mkdir(parents=True)
        (d / "in" / "x.h5").write_text("input")
        run = Run(args=["cmd", "-o", str(d / "out" / "x.h5")], out_dir=d / "out", cwd=d, names=["x.h5"],
                  outputs=[d / "out" / "x.h5"], env={"FAKE_MODE": mode}, timeout=2, label=mode)
        o = runner.run(run)
        caught = "; ".join(o.violations)
        ok = (not o.violations) if not want else (want in caught)
        print(f"{'ok  ' if ok else 'FAIL'} {mode:<18} status {o.status}: {caught or 'kept the contract'}")
        if not ok:
            failures.append(mode)

    # Bisection: ten images in one --skip-bad run, one of which crashes the stand-in.
    import fuzz
    extract = work / "fake-extract"
    extract.write_text(FAKE_EXTRACT.replace("#!/usr/bin/env python3", "#!" + sys.executable, 1))
    extract.chmod(0o755)
    args = types.SimpleNamespace(taskfp=str(extract), work=str(work / "fuzz"), seed="1", jobs=1, mutants=10,
                                 budget=60, keep_all=False, address_space_gib=4.0, rss_limit_gib=1.0,
                                 timeout_scale=1.0, paper_cache=None)
    ctx = fuzz.Context(args)
    kind = fuzz.Images(ctx)
    kind.dir.mkdir(parents=True)
    kind.mutants_made = {i: (b"\x89PNG fine" if i != 6 else b"\x89PNG CRASH", f"image {i}") for i in range(10)}
    kind.reset_stats()
    found = kind.exercise(list(range(10)), "batch")
    ids = [r["id"] for r in found]
    ok = ids == ["m0006"] and "crash" in found[0]["failures"][0]["violations"][0]
    print(f"{'ok  ' if ok else 'FAIL'} bisection finds the crashing image: {ids} in {kind.stats['runs']} runs")
    if not ok:
        failures.append("bisection")
    if failures:
        print(f"\nthe contract checker missed: {', '.join(failures)}")
        return 1
    print("\nevery violation was caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
