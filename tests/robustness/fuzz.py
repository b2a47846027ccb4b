#!/usr/bin/env python3
"""Mutation fuzzing of every input kind taskfp reads, against the exit-status contract.

For each kind: make a small valid seed input (with taskfp itself or numpy/h5py/PIL), check that
the seed passes (exit 0), then apply seeded mutations (bytes, tokens, structure) and run the
commands that read that kind, each under a time and address-space limit. Every run must keep
the contract of contract.py: status 0 or 2, one 'taskfp: error: ' line naming the input, nothing
left behind.

  fuzz.py --taskfp build/engine/taskfp --work /tmp/fz --kind npy --kind features
  fuzz.py --taskfp ... --work ... --kind all --mutants 3000 --seed 7 --jobs 8   # a longer campaign

Deterministic for a given --seed: mutant i of kind K comes from random.Random('seed/K/i').
(HDF5 seeds carry object timestamps, the only bytes that change from run to run.)
A failing mutant's folder is kept under <work>/<kind>/mutants/ with a README holding the
mutation and a one-line reproducer; passing ones are removed. Exit status: 0 all kept the
contract, 1 violations, 77 skipped (a required piece is missing: python modules, `extract` in
a build without LibTorch, the paper's cache).
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import random
import re
import shutil
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

SKIP = 77
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    import h5py  # noqa: F401
    import numpy as np
    import PIL  # noqa: F401
except ImportError as e:  # pragma: no cover
    print(f"skipped: the robustness tests need python3-numpy, python3-h5py and python3-pil ({e})")
    sys.exit(SKIP)

import contract
import h5mutate
import mutate
import seeds
from contract import Outcome, Run, Runner

SOURCE_ROOT = HERE.parent.parent
DEFAULT_CACHE = (SOURCE_ROOT.parent / "shared" / "paper-cache")


class Context:
    def __init__(self, args):
        self.taskfp = str(Path(args.taskfp).resolve())
        self.work = Path(args.work).resolve()
        self.seed = args.seed
        self.jobs = args.jobs
        self.mutants = args.mutants
        self.budget = args.budget
        self.keep_all = args.keep_all
        self.runner = Runner(self.taskfp, address_space=int(args.address_space_gib * (1 << 30)),
                             timeout_scale=args.timeout_scale, rss_limit=int(args.rss_limit_gib * (1 << 30)))
        cache = Path(args.paper_cache) if args.paper_cache else DEFAULT_CACHE
        self.cache_wanted = cache
        self.cache = cache.resolve() if (cache / "exp").is_dir() and (cache / "distances" / "FID.csv").exists() else None
        self._extract: bool | None = None

    def has_extract(self) -> bool:
        if self._extract is None:
            import subprocess
            p = subprocess.run([self.taskfp, "extract", "--help"], capture_output=True)
            self._extract = p.returncode == 0
        return self._extract


# ------------------------------------------------------------------------------------ kinds

class Kind:
    """One input kind: its seed, its mutations and the commands that read it."""

    name = ""
    mutants = 300
    needs_extract = False
    needs_cache = False
    timeout = contract.DEFAULT_TIMEOUT_S
    names: list[str] = []   # what an error message may name (files, tasks), besides inputs

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.dir = ctx.work / self.name
        self.seed_dir = self.dir / "seed"
        self.lock = threading.Lock()

    def skip_reason(self) -> str | None:
        if self.needs_extract and not self.ctx.has_extract():
            return "this taskfp has no `extract` (built without LibTorch)"
        if self.needs_cache and self.ctx.cache is None:
            return f"the paper's cache is absent ({self.ctx.cache_wanted}; --paper-cache names another)"
        return None

    # to implement
    def make_seed(self) -> None:
        raise NotImplementedError

    def mutate(self, rng: random.Random, d: Path) -> str:
        raise NotImplementedError

    def runs(self, d: Path) -> list[Run]:
        raise NotImplementedError

    def post(self, o: Outcome) -> list[str]:
        """Checks of a successful run's output (accepted input must give sane results)."""
        return []

    # helpers
    def run(self, d: Path, label: str, args: list[str], outputs: tuple[str, ...] = (),
            names: list[str] | None = None, timeout: float | None = None,
            allowed: tuple[int, ...] = (0, 2), auto_names: bool = True) -> Run:
        out = f"out-{label}"
        args = [out + a[3:] if a.startswith("OUT") else a for a in ["-q", *args]]
        names = list(names if names is not None else self.names)
        if auto_names:
            names.append("'in/")  # an input the mutated file names (a manifest, a root, a list)
        for a in args if auto_names else []:  # the input files on the command line
            p = Path(a.lstrip("@").split("#")[0])
            if not a.startswith(("-", "out-")) and p.suffix in (".h5", ".csv", ".yaml", ".txt", ".npy"):
                names.append(p.name)
                if p.suffix == ".csv":  # a distance matrix is named after its CSV file
                    names.append(p.stem)
        return Run(args=args, out_dir=d / out, cwd=d, label=label, allowed=allowed,
                   outputs=[d / (out + o[3:]) for o in outputs], resumable_parts="extract" in args,
                   names=names,
                   timeout=timeout or self.timeout)

    def rng(self, i: int) -> random.Random:
        return random.Random(f"{self.ctx.seed}/{self.name}/{i}")

    def fresh(self, d: Path) -> None:
        if d.exists():
            shutil.rmtree(d)
        shutil.copytree(self.seed_dir, d, symlinks=True)

    # the campaign
    def prepare(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.seed_dir.mkdir(parents=True)
        self.make_seed()
        d = self.dir / "seed-check"
        self.fresh(d)
        for r in self.runs(d):
            r.allowed = (0,)
            o = self.ctx.runner.run(r)
            if not o.ok:
                raise seeds.SeedError(f"the unmutated seed fails: {' '.join(r.args)} -> {o.status}: "
                                      f"{'; '.join(o.violations)}\n{o.stderr_tail()}\nreproduce: {o.reproducer}")
        shutil.rmtree(d)

    def one(self, i: int, deadline: float) -> dict | None:
        if time.monotonic() > deadline:
            return None
        d = self.dir / "mutants" / f"m{i:04d}"
        self.fresh(d)
        try:
            desc = self.mutate(self.rng(i), d)
        except Exception as e:  # a mutator that cannot apply here: not a finding
            desc = f"(mutation failed: {type(e).__name__}: {e})"
        outcomes = [self.ctx.runner.run(r) for r in self.runs(d)]
        for o in outcomes:
            if o.ok and o.status == 0:
                try:
                    o.violations.extend(self.post(o))
                except Exception as e:  # an output h5py cannot read after status 0
                    o.violations.append(f"accepted and wrong: output unreadable ({type(e).__name__}: {e})")
        return self.record(i, d, desc, outcomes)

    def record(self, i, d: Path, desc: str, outcomes: list[Outcome]) -> dict:
        failed = [o for o in outcomes if not o.ok]
        rec = {"kind": self.name, "id": f"m{i:04d}" if isinstance(i, int) else str(i), "mutation": desc,
               "dir": str(d), "runs": len(outcomes), "failures": [failure_dict(o) for o in failed],
               "statuses": [o.status for o in outcomes], "seconds": sum(o.seconds for o in outcomes)}
        if failed:
            write_readme(d, rec)
        elif not self.ctx.keep_all:
            shutil.rmtree(d, ignore_errors=True)
        return rec

    def campaign(self, count: int) -> list[dict]:
        deadline = time.monotonic() + self.ctx.budget
        with cf.ThreadPoolExecutor(self.ctx.jobs) as ex:
            results = list(ex.map(lambda i: self.one(i, deadline), range(count)))
        return [r for r in results if r is not None]


def failure_dict(o: Outcome) -> dict:
    return {"label": o.run.label, "args": o.run.args, "status": o.status, "violations": o.violations,
            "stderr_tail": o.stderr_tail(), "error_line": o.error_line(), "reproducer": o.reproducer,
            "seconds": round(o.seconds, 3)}


def write_readme(d: Path, rec: dict) -> None:
    lines = [f"kind: {rec['kind']}", f"mutant: {rec['id']}", f"mutation: {rec['mutation']}", ""]
    for f in rec["failures"]:
        lines += [f"command: taskfp {' '.join(f['args'])}", f"status: {f['status']}",
                  "violations: " + "; ".join(f["violations"]), "stderr (tail):",
                  *("  " + line for line in f["stderr_tail"].splitlines()), "reproduce:",
                  "  " + f["reproducer"], ""]
    (d / "README.txt").write_text("\n".join(lines))


def h5_or_bytes(path: Path, rng: random.Random, structure: float = 0.65) -> str:
    """A structure-aware edit (h5py) or byte havoc aimed at HDF5's own structures."""
    if rng.random() < structure:
        return "h5: " + h5mutate.mutate_store(str(path), rng)
    data = path.read_bytes()
    new, what = mutate.mutate_bytes(data, rng, hot=mutate.hdf5_hot_offsets(data))
    path.write_bytes(new)
    return "bytes: " + what


def nonfinite_outputs(path: Path, exempt: tuple[str, ...] = ("KLD-PP:NN",)) -> list[str]:
    """Non-finite numbers in a store a successful run wrote: the distance matrices (except the
    metrics documented to report NaN) or a fingerprint store's ranges, means and histograms."""
    out = []
    with h5py.File(path, "r") as f:
        kind = f.attrs.get("taskfp_kind")
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "distances":
            for m in f["matrices"]:
                if m in exempt:
                    continue
                v = f["matrices"][m]["values"][()]
                if not np.isfinite(v).all():
                    out.append(f"accepted and wrong: {m} has {int((~np.isfinite(v)).sum())} non-finite values")
        elif kind == "fingerprints":
            lo, hi = f["ranges/lo"][()], f["ranges/hi"][()]
            if np.shape(lo) != np.shape(hi):
                out.append(f"accepted and wrong: bin ranges lo {np.shape(lo)} and hi {np.shape(hi)} written")
            elif not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo <= hi).all()):
                out.append("accepted and wrong: non-finite or inverted bin ranges written")
            for t in f["tasks"]:
                for name, ds in f["tasks"][t].items():
                    v = ds[()]
                    if not np.isfinite(v).all() or (name.startswith("hist_") and (v < 0).any()):
                        out.append(f"accepted and wrong: task {t} {name} has non-finite or negative values")
                        break
    return out


def text_or_bytes(path: Path, rng: random.Random, extra: list[str] | None = None, text: float = 0.85) -> str:
    data = path.read_bytes()
    if rng.random() < text:
        new, what = mutate.mutate_text(data.decode("utf-8", "surrogateescape"), rng, extra)
        path.write_bytes(new.encode("utf-8", "surrogateescape"))
        return "text: " + what
    new, what = mutate.mutate_bytes(data, rng)
    path.write_bytes(new)
    return "bytes: " + what


class Npy(Kind):
    name = "npy"
    names = ["features_0001.npy", "in/npy", *seeds.NPY_TASKS]

    def make_seed(self):
        seeds.npy_folder(self.seed_dir / "in" / "npy")

    def mutate(self, rng, d):
        task = mutate.pick(rng, seeds.NPY_TASKS)
        f = d / "in" / "npy" / task / "features_0001.npy"
        r = rng.random()
        if r < 0.85:
            data, what = mutate.mutate_npy(f.read_bytes(), rng)
        elif r < 0.95:
            data, what = mutate.mutate_bytes(f.read_bytes(), rng, hot=list(range(0, 128, 8)))
        else:
            what = mutate.pick(rng, ["empty file", "a folder instead of the file", "a symlink loop"])
            f.unlink()
            if what == "empty file":
                f.write_bytes(b"")
            elif what.startswith("a folder"):
                f.mkdir()
            else:
                f.symlink_to(f.name)
            return f"{task}: {what}"
        f.write_bytes(data)
        return f"{task}: {what}"

    def post(self, o):
        if o.run.label != "import":
            return []
        out = []
        with h5py.File(o.run.outputs[0], "r") as f:
            for name in f["tasks"]:
                n, dim = f["tasks"][name]["features"].shape
                npy = o.run.cwd / "in" / "npy" / name / "features_0001.npy"
                # Each value takes at least the dtype's size in the file (1 to 8 bytes).
                m = re.search(rb"'descr':\s*'[<>|=][fiu](\d)'", npy.read_bytes()[:4096])
                width = int(m.group(1)) if m else 1
                if n * dim * width > npy.stat().st_size:
                    out.append(f"accepted and wrong: task {name} imported as {n} x {dim} from {npy.stat().st_size} bytes")
        return out

    def runs(self, d):
        return [self.run(d, "import", ["import", "in/npy", "-o", "OUT/f.h5"], outputs=("OUT/f.h5",)),
                self.run(d, "fingerprint", ["fingerprint", "-f", "in/npy", "-o", "OUT/fp.h5", "--bins", "10",
                                            "--scaling-subset", "all", "--backend", "cpu"], outputs=("OUT/fp.h5",))]


class Features(Kind):
    name = "features"
    mutants = 200
    names = ["features.h5", *seeds.SYNTH_TASKS]

    def make_seed(self):
        seeds.features_store(self.ctx.taskfp, self.seed_dir / "in" / "features.h5")

    def mutate(self, rng, d):
        return h5_or_bytes(d / "in" / "features.h5", rng)

    def post(self, o):
        return nonfinite_outputs(o.run.outputs[0]) if o.run.outputs else []

    def runs(self, d):
        return [self.run(d, "fingerprint", ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "10",
                                            "--scaling-subset", "all", "--backend", "cpu"], outputs=("OUT/fp.h5",)),
                self.run(d, "inspect", ["inspect", "in/features.h5"]),
                self.run(d, "mmd", ["distance", "--features", "in/features.h5", "-m", "MMD-gaussian-1",
                                    "-o", "OUT/d.h5"], outputs=("OUT/d.h5",))]


class Fingerprints(Kind):
    name = "fingerprints"
    mutants = 200
    names = ["fp.h5", *seeds.SYNTH_TASKS]

    def make_seed(self):
        s = self.seed_dir / "in"
        seeds.features_store(self.ctx.taskfp, s / "features.h5")
        seeds.fingerprint_store(self.ctx.taskfp, s / "features.h5", s / "fp.h5")

    def mutate(self, rng, d):
        return h5_or_bytes(d / "in" / "fp.h5", rng)

    def post(self, o):
        return nonfinite_outputs(o.run.outputs[0]) if o.run.outputs else []

    def runs(self, d):
        kl = ["-m", "bkld-small", "-m", "bkld-large", "-m", "p2l", "-m", "JS-PP:NN-100-BINS", "-m", "vdna"]
        other = ["-m", "FID", "-m", "MMD-coral-1", "-m", "EMD-AVG-PP:NN", "-m", "COS-PP:NN-100-BINS"]
        return [self.run(d, "distance-kl", ["distance", "-f", "in/fp.h5", *kl, "-o", "OUT/d.h5", "--csv-dir",
                                            "OUT/csv", "--backend", "cpu"], outputs=("OUT/d.h5",)),
                self.run(d, "distance-cov", ["distance", "-f", "in/fp.h5", *other, "-o", "OUT/d.h5", "--csv-dir",
                                             "OUT/csv", "--backend", "cpu"], outputs=("OUT/d.h5",)),
                self.run(d, "inspect", ["inspect", "in/fp.h5"]),
                self.run(d, "ranges", ["fingerprint", "-f", "in/features.h5", "--ranges", "in/fp.h5", "-o", "OUT/fp.h5",
                                       "--bins", "100", "--backend", "cpu"], outputs=("OUT/fp.h5",))]


class Distances(Kind):
    name = "distances"
    names = ["d.h5"]

    def make_seed(self):
        s = self.seed_dir / "in"
        seeds.features_store(self.ctx.taskfp, s / "features.h5")
        seeds.fingerprint_store(self.ctx.taskfp, s / "features.h5", s / "fp.h5", bins="100")
        seeds.distance_store(self.ctx.taskfp, s / "fp.h5", s / "d.h5")
        (s / "features.h5").unlink()
        (s / "fp.h5").unlink()

    def mutate(self, rng, d):
        return h5_or_bytes(d / "in" / "d.h5", rng)

    def runs(self, d):
        return [self.run(d, "inspect-top", ["inspect", "in/d.h5", "--top", "3"])]


class Parts(Kind):
    name = "parts"
    needs_extract = True
    names = ["in/parts", "plan.txt", ".h5"]

    def make_seed(self):
        seeds.parts_folder(self.ctx.taskfp, self.seed_dir / "work")
        shutil.move(str(self.seed_dir / "work" / "parts"), str(self.seed_dir / "in" / "parts"))
        shutil.rmtree(self.seed_dir / "work")

    def mutate(self, rng, d):
        parts = d / "in" / "parts"
        files = sorted(p for p in parts.iterdir() if p.suffix == ".h5")
        r = rng.random()
        if r < 0.3:
            return "plan.txt " + text_or_bytes(parts / "plan.txt", rng, extra=["task", "chunk", "key", "\t"])
        part = mutate.pick(rng, files)
        if r < 0.85:
            return f"{part.name}: " + h5_or_bytes(part, rng, structure=0.75)
        what = mutate.pick(rng, ["part removed", "plan.txt removed", "plan.txt empty", "part is a folder",
                                 "stray part", "part duplicated under another chunk's name"])
        if what == "part removed":
            part.unlink()
        elif what == "plan.txt removed":
            (parts / "plan.txt").unlink()
        elif what == "plan.txt empty":
            (parts / "plan.txt").write_text("")
        elif what == "part is a folder":
            part.unlink()
            part.mkdir()
        elif what == "stray part":
            shutil.copy(part, parts / "task00007-000000000.h5")
        else:
            other = mutate.pick(rng, [f for f in files if f != part] or files)
            if other != part:
                shutil.copy(part, other)
        return f"{part.name}: {what}"

    def post(self, o):
        """After a successful merge, every part of the plan holds one feature row per draw of
        its chunk (less the images it lists as skipped), rows of the store's feature size, and
        each task has the rows of its parts."""
        parts = o.run.cwd / "in" / "parts"
        tasks, chunks = [], []
        for line in (parts / "plan.txt").read_text(errors="replace").split("\n"):
            kind, _, rest = line.partition("\t")
            if kind == "task":
                tasks.append(rest)
            elif kind == "chunk":  # read as the engine's stream does: three integers, the rest ignored
                nums = []
                for tok in rest.split()[:3]:
                    m = re.match(r"\d+", tok)
                    if not m:
                        break
                    nums.append(int(m.group()))
                    if m.group() != tok:
                        break
                chunks.append(tuple(nums + [0] * (3 - len(nums))))
        out, per_task = [], defaultdict(int)
        with h5py.File(o.run.outputs[0], "r") as f:
            dim = None
            for t, first, count in chunks:
                name = parts / f"task{t:05d}-{first:09d}.h5"
                try:
                    with h5py.File(name, "r") as part:
                        shape = part["features"].shape
                        skipped = len(part["skipped"][()]) if "skipped" in part else 0
                except (OSError, KeyError, TypeError, ValueError):
                    continue
                rows = shape[0] if len(shape) >= 1 else 1
                per_task[t] += rows
                if rows + skipped != count:
                    out.append(f"accepted and wrong: {name.name} holds {rows} rows and {skipped} skipped "
                               f"images for a chunk of {count} draws")
                if t < len(tasks) and tasks[t] in f["tasks"]:
                    dim = f["tasks"][tasks[t]]["features"].shape[1]
                    if len(shape) != 2 or shape[1] != dim:
                        out.append(f"accepted and wrong: {name.name} has shape {shape}, the store {dim} features")
            for t, name in enumerate(tasks):
                if name in f["tasks"] and f["tasks"][name]["features"].shape[0] != per_task[t]:
                    out.append(f"accepted and wrong: task {name!r} merged with {f['tasks'][name]['features'].shape[0]}"
                               f" rows, its parts hold {per_task[t]}")
        return out[:3]

    def runs(self, d):
        return [self.run(d, "merge", ["merge", "in/parts", "-o", "OUT/m.h5", "--keep-parts"], outputs=("OUT/m.h5",))]


class DistanceCsv(Kind):
    name = "distance-csv"
    names = ["bkld.csv", "bom-crlf.csv", "FID.csv"]

    def make_seed(self):
        s = self.seed_dir / "in"
        seeds.features_store(self.ctx.taskfp, s / "features.h5")
        seeds.fingerprint_store(self.ctx.taskfp, s / "features.h5", s / "fp.h5", bins="100")
        csv = seeds.distance_csv(self.ctx.taskfp, s / "fp.h5", s / "csv")
        csv.rename(s / "bkld.csv")
        seeds.bom_crlf_matrix_csv(s / "bkld.csv", s / "bom-crlf.csv")
        for p in [s / "features.h5", s / "fp.h5"]:
            p.unlink()
        shutil.rmtree(s / "csv")
        if self.ctx.cache:
            shutil.copy(self.ctx.cache / "distances" / "FID.csv", s / "FID.csv")

    def mutate(self, rng, d):
        r = rng.random()
        target = "FID.csv" if self.ctx.cache and r < 0.4 else "bom-crlf.csv" if r < 0.7 else "bkld.csv"
        return f"{target} " + text_or_bytes(d / "in" / target, rng, extra=["nan", "", "\"\"", "\"a,b\"", "NA", "Inf",
                                                                           "\r\n", "\r", "\ufeff"])

    def runs(self, d):
        out = [self.run(d, "inspect", ["inspect", "in/bkld.csv", "--top", "2"]),
               self.run(d, "inspect-bom-crlf", ["inspect", "in/bom-crlf.csv", "--top", "2"])]
        if self.ctx.cache:
            out.append(self.run(d, "evaluate", ["evaluate", "-c", str(self.ctx.cache), "-o", "OUT/ev", "-d", "in/FID.csv",
                                                "--bootstrap", "2", "--scenarios", "arch", "--metrics", "AUROC"],
                                outputs=("OUT/ev/report.md",)))
        return out


class TaskInfo(Kind):
    name = "task-info"
    mutants = 200
    names = ["task_infos.csv", "paper_task_infos.csv", "'FID'", *seeds.SYNTH_TASKS]

    def make_seed(self):
        s = self.seed_dir / "in"
        s.mkdir(parents=True)
        seeds.task_info_csv(s / "task_infos.csv", bom_crlf=True)
        if self.ctx.cache:
            shutil.copy(self.ctx.cache / "task_infos.csv", s / "paper_task_infos.csv")

    def mutate(self, rng, d):
        target = "paper_task_infos.csv" if self.ctx.cache and rng.random() < 0.4 else "task_infos.csv"
        return f"{target} " + text_or_bytes(d / "in" / target, rng, extra=["['a']", "[]", "\"['x', 'y']\"", "[''"])

    def runs(self, d):
        out = [self.run(d, "semantic", ["distance", "-m", "SEMANTIC", "--task-info", "in/task_infos.csv", "-o", "OUT/d.h5",
                                        "--csv-dir", "OUT/csv"], outputs=("OUT/d.h5", "OUT/csv/SEMANTIC.csv"))]
        if self.ctx.cache:
            out.append(self.run(d, "evaluate", ["evaluate", "-c", str(self.ctx.cache), "--task-info",
                                                "in/paper_task_infos.csv", "-o", "OUT/ev", "-d", "FID", "--bootstrap",
                                                "2", "--scenarios", "arch", "--metrics", "AUROC"],
                                outputs=("OUT/ev/report.md",)))
        return out


class ImageTaskset(Kind):
    name = "taskset"
    mutants = 150
    needs_extract = True
    timeout = 60
    names = ["set.yaml", "listed.csv", "imgfam", "listed_task"]
    target = "set.yaml"
    extra = ["name", "root", "manifest", "split", "shrink", "tasks", "[2]", "[0]", "[-1]", "[a]", "5", "{}",
             "a/b", "..", "''", "images", "train", "test"]

    def make_seed(self):
        seeds.image_taskset(self.ctx.taskfp, self.seed_dir / "in")

    def mutate(self, rng, d):
        return text_or_bytes(d / "in" / self.target, rng, extra=self.extra, text=0.9)

    def runs(self, d):
        return [self.run(d, "extract", ["extract", "-t", "in/set.yaml", "--random-weights", "-n", "2", "--size", "32",
                                        "--batch", "2", "-o", "OUT/f.h5"], outputs=("OUT/f.h5",))]


class Manifest(ImageTaskset):
    name = "manifest"
    mutants = 50
    target = "listed.csv"
    extra = ["path", "label", "split", "train", "test", "images", "class0", "/", "..", "\"a,b\"", "x.png"]


class TaskList(Kind):
    name = "task-list"
    mutants = 200
    names = ["names.txt", "sets.yaml", *seeds.SYNTH_TASKS]

    def make_seed(self):
        s = self.seed_dir / "in"
        seeds.features_store(self.ctx.taskfp, s / "features.h5")
        seeds.fingerprint_store(self.ctx.taskfp, s / "features.h5", s / "fp.h5", bins="100")
        seeds.npy_from_store(s / "features.h5", s / "npy")
        (s / "names.txt").write_text("# tasks to compare\nfam0_task0\n\nfam1_task1   # the second one\n")
        (s / "sets.yaml").write_text("groups:\n  a: [fam0_task0, fam0_task1]\n  b:\n    - fam1_task0\n"
                                     "    - fam1_task1\ndev:\n  - fam0_task0\n  - fam1_task0\n")

    def mutate(self, rng, d):
        target = mutate.pick(rng, ["names.txt", "sets.yaml"])
        return f"{target} " + text_or_bytes(d / "in" / target, rng, extra=seeds.SYNTH_TASKS + ["groups", "a", "b", "dev",
                                                                                              "&x", "*x", "<<"])

    def runs(self, d):
        return [self.run(d, "fingerprint", ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "10",
                                            "--scaling-subset", "in/sets.yaml#groups.a", "--tasks", "@in/names.txt",
                                            "--backend", "cpu"], outputs=("OUT/fp.h5",)),
                self.run(d, "distance", ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "--sources", "@in/names.txt",
                                         "--targets", "in/sets.yaml#dev", "-o", "OUT/d.h5", "--backend", "cpu"],
                         outputs=("OUT/d.h5",)),
                self.run(d, "import", ["import", "in/npy", "--tasks", "in/sets.yaml#groups.b", "-o", "OUT/f.h5"],
                         outputs=("OUT/f.h5",))]


class EvalTaskset(Kind):
    name = "eval-taskset"
    needs_cache = True
    names = ["paper.yaml", "'FID'"]

    def make_seed(self):
        (self.seed_dir / "in").mkdir(parents=True)
        shutil.copy(SOURCE_ROOT / "configs" / "tasksets" / "paper.yaml", self.seed_dir / "in" / "paper.yaml")

    def mutate(self, rng, d):
        return text_or_bytes(d / "in" / "paper.yaml", rng, extra=["development", "validation", "groups",
                                                                  "not_shrinkable", "shrunk_suffix", "svhn", "mnist_digit_classification"])

    def runs(self, d):
        return [self.run(d, "evaluate", ["evaluate", "-c", str(self.ctx.cache), "--tasks", "in/paper.yaml", "-o", "OUT/ev",
                                         "-d", "FID", "--bootstrap", "2", "--scenarios", "arch", "--metrics", "AUROC"],
                         outputs=("OUT/ev/report.md",))]


# ------------------------------------------------------------------------------------ options

LONG = {"-o": "--output", "-f": ["--features", "--fingerprints"], "-m": "--metric", "-t": "--taskset",
        "-n": "--samples", "-c": "--cache", "-d": "--distances", "-j": "--threads", "-k": "--top-k",
        "-q": "--quiet", "-v": "--verbose"}
# Paths for options that take files or folders. Nothing outside the mutant's folder that a run
# could write to (as root, "/" would be): /proc refuses new files.
PATH_VALUES = ["", ".", "/proc", "OUT", "OUT/", "OUT/no/such/dir/x.h5", "in/features.h5/x.h5", "/proc/taskfp-x.h5",
               "OUT/" + "n" * 300 + ".h5", "in/missing.h5", "in", "in/fp.h5", "in/task_infos.csv", "@in/missing.txt",
               "in/sets.yaml#nokey", "in/fp.h5#x"]
# Option values: edges and nonsense, but no mid-sized counts (65536 families is slow, not wrong).
OPTION_VALUES = ["0", "-0", "1", "-1", "2", "2147483647", "2147483648", "-2147483649", "4294967296",
                 "9223372036854775807", "9223372036854775808", "18446744073709551616", "1e9", "1e308", "1e309",
                 "1e-320", "nan", "-nan", "inf", "-inf", "0x10", "1.5", "1,5", "+1", "", " ", "abc", "-", "a,b",
                 "1,2,3", ",", "fam0_task0,fam0_task0", "cuda", "gpu", "fp16", "bf16", "0/1", "1/1", "2/1", "5/3",
                 "-1/2", "all", "none", "0.9,0.1", "0.5,0.5", "nan,1", "-1,2", "x" * 300]
METRIC_SPECS = ["KLD-PP:NS-W:TS-100-BINS", "KLD-PP:NS-1000-BINS", "KLD-PP:NN", "KLD-C-I-PP:NN-W:BS-100-BINS",
                "KLD-PP:UU-A:0.5-100-BINS", "JS-C-PP:NN-100-BINS", "VDNA-PP:SS-W:TN-1000-BINS", "EMD-AVG-PP:SS",
                "COS-PP:NN-100-BINS", "FID", "MMD-coral-1", "MMD-cauchy-1", "MMD-gaussian-1", "SEMANTIC",
                "bkld-small", "p2l"]


def mutate_metric(spec: str, rng: random.Random) -> tuple[str, str]:
    parts = re.split(r"([-:])", spec)
    op = rng.randrange(5)
    words = [i for i, p in enumerate(parts) if p not in ("-", ":") and p]
    if op == 0 and words:
        i = mutate.pick(rng, words)
        parts[i] = mutate.pick(rng, ["0", "-1", "1", "nan", "inf", "1e309", "4294967297", "99999999999", "2147483648",
                                     "0.0", "-0.5", "", "XX", "NN", "SS", "UU", "WW", "TT", "BB", "A", "W", "PP", "BINS"])
    elif op == 1 and words:
        del parts[mutate.pick(rng, words)]
    elif op == 2 and words:
        i = mutate.pick(rng, words)
        parts.insert(i, parts[i] + "-")
    elif op == 3:
        parts.append(mutate.pick(rng, ["-A:0", "-A:-1", "-A:nan", "-C", "-I", "-W:TS", "-0-BINS", "-100-BINS", "-", ":"]))
    else:
        return mutate.pick(rng, ["MMD-cauchy-0", "MMD-gaussian-0", "MMD-coral-0", "MMD-coral-nan", "MMD-cauchy-inf",
                                 "KLD-PP:NS-1-BINS", "KLD-PP:UU-A:0-100-BINS", "KLD-PP:UU-A:nan-100-BINS",
                                 "KLD-PP:NS-W:TS-0-BINS", "MMD-gaussian--1", "MMD-coral-1e-320", "FED",
                                 "MMD-geo-sinkhorn-0.01"]), "metric from the edge list"
    new = "".join(parts)
    return new, f"metric {spec} -> {new}"


class Options(Kind):
    name = "options"
    names: list[str] = []

    def make_seed(self):
        s = self.seed_dir / "in"
        seeds.features_store(self.ctx.taskfp, s / "features.h5")
        seeds.fingerprint_store(self.ctx.taskfp, s / "features.h5", s / "fp.h5", bins="100,1000")
        seeds.distance_store(self.ctx.taskfp, s / "fp.h5", s / "d.h5")
        seeds.npy_from_store(s / "features.h5", s / "npy")
        seeds.task_info_csv(s / "task_infos.csv")
        (s / "names.txt").write_text("fam0_task0\nfam1_task1\n")
        (s / "sets.yaml").write_text("dev: [fam0_task0, fam1_task0]\n")
        if self.ctx.has_extract():
            seeds.image_taskset(self.ctx.taskfp, s / "img")

    def bases(self) -> list[tuple[str, float, list[str]]]:
        """(label, weight, argv) of valid command lines; OUT is the run's output folder."""
        b = [("synth", 1, ["synth", "-o", "OUT/f.h5", "--families", "2", "--tasks-per-family", "2", "--samples", "20",
                           "--dim", "6", "--seed", "3", "--family-spread", "4", "--task-spread", "1"]),
             ("fingerprint", 1.5, ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "10,100",
                                   "--scaling-subset", "all", "--quantiles", "0.05,0.95", "--min-samples", "2",
                                   "--tasks", "fam0_task0,fam1_task1", "--backend", "cpu"]),
             ("fingerprint-ranges", 1, ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "100", "--ranges",
                                        "in/fp.h5", "--no-covariance", "--backend", "cpu"]),
             ("distance", 1.5, ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "-m", "FID", "-o", "OUT/d.h5",
                                "--csv-dir", "OUT/csv", "--sources", "fam0_task0,fam0_task1", "--targets",
                                "@in/names.txt", "--backend", "cpu"]),
             ("metric", 2, ["distance", "-f", "in/fp.h5", "--features", "in/features.h5", "--task-info",
                            "in/task_infos.csv", "-m", "MMD-gaussian-1", "-o", "OUT/d.h5", "--backend", "cpu"]),
             ("semantic", 0.5, ["distance", "-m", "SEMANTIC", "--task-info", "in/task_infos.csv", "--csv-dir", "OUT/csv"]),
             ("inspect", 1, ["inspect", "in/d.h5", "--top", "3"]),
             ("import", 1, ["import", "in/npy", "-o", "OUT/f.h5", "--min-samples", "2", "--backbone", "b", "--weights",
                            "w", "--preprocessing", "p", "--tasks", "in/sets.yaml#dev"]),
             ("synth-images", 0.3, ["synth-images", "-o", "OUT/img", "--families", "1", "--tasks-per-family", "1",
                                    "--classes", "2", "--images-per-class", "2", "--min-size", "8", "--seed", "2"])]
        if self.ctx.cache:
            b.append(("evaluate", 1, ["evaluate", "-c", str(self.ctx.cache), "-o", "OUT/ev", "-d", "FID", "-d",
                                      "bkld-small", "--split", "development", "--aggregates", "mean,seed1",
                                      "--scenarios", "arch,augment", "--metrics", "AUROC", "--meta-metrics",
                                      "regret,rank", "-k", "3", "--mode", "best", "--zscore", "per-target",
                                      "--min-samples", "1", "--bootstrap", "2", "--seed", "1"]))
        if self.ctx.has_extract():
            b.append(("extract", 0.4, ["extract", "-t", "in/img/set.yaml", "--random-weights", "-n", "2", "--size",
                                       "32", "--batch", "2", "--chunk", "2", "--seed", "1", "--weight-seed", "1",
                                       "--mean", "0.5,0.5,0.5", "--std", "0.2,0.2,0.2", "--precision", "fp32",
                                       "--device", "cpu", "--tasks", "listed_task", "-o", "OUT/f.h5"]))
        return b

    def chosen(self, rng: random.Random) -> tuple[str, list[str], str]:
        bases = self.bases()
        label, _, argv = rng.choices(bases, weights=[w for _, w, _ in bases])[0]
        argv = list(argv)
        done = []
        if label == "metric":
            spec, what = mutate_metric(mutate.pick(rng, METRIC_SPECS), rng)
            argv[argv.index("-m") + 1] = spec
            done.append(what)
            if rng.random() < 0.6:
                return label, argv, "; ".join(done)
        for _ in range(rng.choice([1, 1, 2])):
            if not argv:
                break
            op = rng.randrange(10)
            opts = [i for i, a in enumerate(argv) if a.startswith("-") and i > 0]
            if op <= 3 and opts:  # an option's value
                i = mutate.pick(rng, opts)
                if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                    old = argv[i + 1]
                    pathish = "/" in old or old.endswith((".h5", ".csv", ".yaml")) or old.startswith("@")
                    new = mutate.pick(rng, PATH_VALUES if pathish and rng.random() < 0.7 else OPTION_VALUES)
                    argv[i + 1] = new
                    done.append(f"{argv[i]} {old!r} -> {new!r}")
                    continue
            # Dropping a size (-n) gives its default: a legitimately long run, not a broken one.
            droppable = [i for i in opts if argv[i] not in ("-n", "--samples")]
            if op == 4 and droppable:
                i = mutate.pick(rng, droppable)
                n = 2 if i + 1 < len(argv) and not argv[i + 1].startswith("-") else 1
                done.append(f"dropped {' '.join(argv[i:i + n])}")
                del argv[i:i + n]
            elif op == 5 and opts:
                i = mutate.pick(rng, opts)
                n = 2 if i + 1 < len(argv) and not argv[i + 1].startswith("-") else 1
                argv[len(argv):] = argv[i:i + n]
                done.append(f"repeated {' '.join(argv[i:i + n])}")
            elif op == 6 and opts:
                i = mutate.pick(rng, opts)
                if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                    del argv[i + 1]
                    done.append(f"{argv[i]} without its value")
            elif op == 7:
                extra = mutate.pick(rng, [["--bogus"], ["-x"], ["extra-positional"], ["--"], ["-o"], ["--help"],
                                          ["--version"], ["-h"], ["--output="], ["--bins"], ["-m", ""]])
                at = rng.randrange(1, len(argv) + 1)
                argv[at:at] = extra
                done.append(f"inserted {' '.join(extra)!r}")
            elif op == 8:  # global options before the subcommand
                g = mutate.pick(rng, [["-j", mutate.pick(rng, ["0", "1", "-1", "2147483647", "1000000", "abc", "1e3",
                                                              "4294967297"])], ["-q", "-v"], ["--threads"],
                                      ["-j", "2", "-j", "3"], ["-vvv"], ["--version"]])
                argv[0:0] = g
                done.append(f"global {' '.join(g)}")
            else:
                argv = argv[:1] if rng.random() < 0.3 else argv
                if argv and argv[0].startswith("-"):
                    done.append("unchanged")
                elif len(argv) == 1:
                    done.append("no arguments after the subcommand")
                elif rng.random() < 0.5:
                    argv[0] = mutate.pick(rng, ["", "nosuch", "Distance", "fingerprints", "-", "help"])
                    done.append(f"subcommand -> {argv[0]!r}")
                else:
                    argv = []
                    done.append("no subcommand")
        return label, argv, "; ".join(done) or "unchanged"

    def mutate(self, rng, d):
        label, argv, what = self.chosen(rng)
        base = next(b for lbl, _, b in self.bases() if lbl == label)
        (d / "argv.json").write_text(json.dumps({"label": label, "argv": argv, "base": base}))
        return f"{label}: {what}"

    def runs(self, d):
        spec = json.loads((d / "argv.json").read_text()) if (d / "argv.json").exists() else None
        if spec is None:  # the seed check: every base command line as it is
            return [self.run(d, label, argv, names=[]) for label, _, argv in self.bases()]
        argv = spec["argv"]
        names = set()
        for a in argv + spec.get("base", []):
            if a.startswith("-"):
                key = a.split("=", 1)[0]
                lng = LONG.get(key)
                for o in [key] + ([lng] if isinstance(lng, str) else lng or []):
                    names.add(o)
                    if o.startswith("--") and len(o) > 4:  # "unknown metric 'x'" names --metric
                        names.add(o[2:].rstrip("s"))
            elif len(a) >= 3:
                a = a.replace("OUT", f"out-{spec['label']}", 1) if a.startswith("OUT") else a
                names.add(a)
                names.add(Path(a.split("#")[0].lstrip("@")).name)
        names.update(["dir", "file", "parts", "subcommand", "command", "argument"])
        if not argv:
            names.add("taskfp")
        timeout = 60 if spec["label"] == "extract" else None
        return [self.run(d, spec["label"], argv, names=sorted(n for n in names if n), timeout=timeout)]


# ------------------------------------------------------------------------------------ images

class Images(Kind):
    """PNG, JPEG or TIFF mutants, extracted many per run with --skip-bad (a run loads LibTorch, about a
    second); a run that breaks the contract is bisected down to the images that do. A sample is
    also run one image at a time without --skip-bad, where the error must name the image."""

    name = "png"
    needs_extract = True
    ext = ".png"
    batch = 50
    singles = 12
    timeout = 120

    makers = {".png": (seeds.png_seeds, mutate.mutate_png), ".jpg": (seeds.jpeg_seeds, mutate.mutate_jpeg),
              ".tif": (seeds.tiff_seeds, mutate.mutate_tiff)}

    def make_seed(self):
        made = self.makers[self.ext][0](np.random.default_rng(5))
        for name, data in made.items():
            (self.seed_dir / f"{name}{self.ext}").write_bytes(data)

    def reset_stats(self) -> None:
        self.stats = {"runs": 0, "seconds": 0.0, "skipped": 0, "kept": 0, "status": defaultdict(int)}

    def seed_files(self) -> list[Path]:
        return sorted(self.seed_dir.glob(f"*{self.ext}"))

    def make_mutant(self, i: int) -> tuple[bytes, str]:
        rng = self.rng(i)
        src = mutate.pick(rng, self.seed_files())
        fn = self.makers[self.ext][1]
        data, what = fn(src.read_bytes(), rng)
        if rng.random() < 0.2:  # a second edit now and then
            data, more = fn(data, rng)
            what += " + " + more
        return data, f"{src.name}: {what}"

    def image_name(self, i: int) -> str:
        return f"m{i:04d}{self.ext}"

    def batch_run(self, d: Path, ids: list[int], skip_bad: bool) -> Run:
        cls = d / "images" / "c0"
        cls.mkdir(parents=True, exist_ok=True)
        for i in ids:
            data, _ = self.mutants_made[i]
            (cls / self.image_name(i)).write_bytes(data)
        (d / "set.yaml").write_text("tasks:\n  - name: mutants\n    root: images\n")
        args = ["extract", "-t", "set.yaml", "--random-weights", "-n", str(len(ids)), "--size", "32", "--batch", "16",
                "-o", "OUT/f.h5"]
        names = [self.image_name(i) for i in ids]
        if skip_bad:
            args.insert(-2, "--skip-bad")
            names += ["mutants", "set.yaml"]
        return self.run(d, "extract-skip-bad" if skip_bad else "extract", args, outputs=("OUT/f.h5",), names=names,
                        auto_names=False,
                        timeout=self.timeout if skip_bad else 60)

    def check_counts(self, o: Outcome, n: int) -> None:
        """Under --skip-bad every skipped image is listed by its file, and every drawn image is
        either a feature row or skipped."""
        m = re.search(r"(\d+) unreadable (?:images were|image was) skipped", o.stderr)
        skipped = int(m.group(1)) if m else 0
        listed = [line for line in o.stderr.split("\n") if line.startswith("  ")]
        unnamed = [line.strip() for line in listed if not re.search(r"m\d{4}" + re.escape(self.ext), line)]
        if unnamed:
            o.violations.append(f"message: a skipped image is listed without its file: {unnamed[0][:100]!r}")
        with self.lock:
            self.stats["skipped"] += skipped
        if o.status != 0 or not o.ok:
            return
        try:
            with h5py.File(o.run.outputs[0], "r") as f:
                rows = f["tasks/mutants/features"].shape[0]
        except (OSError, KeyError) as e:
            o.violations.append(f"output unreadable by h5py: {e}")
            return
        with self.lock:
            self.stats["kept"] += rows
        if rows + skipped != n:
            o.violations.append(f"counts: {rows} feature rows + {skipped} skipped != {n} drawn")

    def exercise(self, ids: list[int], tag: str) -> list[dict]:
        """Runs the images as one --skip-bad extraction; bisects a run that breaks the contract."""
        d = self.dir / "mutants" / tag
        if d.exists():
            shutil.rmtree(d)
        remaining = list(ids)
        for _ in range(8):
            o = self.ctx.runner.run(self.batch_run(d, remaining, True))
            self.check_counts(o, len(remaining))
            with self.lock:
                self.stats["runs"] += 1
                self.stats["seconds"] += o.seconds
                self.stats["status"][o.status] += 1
            if not o.ok:
                break
            named = [i for i in remaining if self.image_name(i) in o.error_line()]
            if o.status == 2 and named and len(remaining) > len(named):
                # A legitimate stop on one image: exercise the others without it.
                remaining = [i for i in remaining if i not in named]
                shutil.rmtree(d)
                continue
            if not self.ctx.keep_all:
                shutil.rmtree(d, ignore_errors=True)
            return []
        else:
            return []
        if len(remaining) == 1:
            i = remaining[0]
            return [self.record(i, d, self.mutants_made[i][1], [o])]
        shutil.rmtree(d)
        half = len(remaining) // 2
        found = self.exercise(remaining[:half], f"{tag}a") + self.exercise(remaining[half:], f"{tag}b")
        if not found:  # only together
            o2 = self.ctx.runner.run(self.batch_run(d, remaining, True))
            self.check_counts(o2, len(remaining))
            if not o2.ok:
                found = [self.record(tag, d, "together: " + ", ".join(f"m{i:04d}" for i in remaining), [o2])]
            else:
                shutil.rmtree(d, ignore_errors=True)
        return found

    def single(self, i: int) -> dict:
        d = self.dir / "mutants" / f"single-m{i:04d}"
        if d.exists():
            shutil.rmtree(d)
        o = self.ctx.runner.run(self.batch_run(d, [i], False))
        with self.lock:
            self.stats["runs"] += 1
            self.stats["seconds"] += o.seconds
            self.stats["status"][o.status] += 1
        return self.record(i, d, self.mutants_made[i][1], [o])

    def prepare(self):
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.seed_dir.mkdir(parents=True)
        self.make_seed()
        self.mutants_made = {k: (p.read_bytes(), "seed") for k, p in enumerate(self.seed_files())}
        self.reset_stats()
        d = self.dir / "seed-check"
        for skip_bad in (False, True):
            r = self.batch_run(d, list(self.mutants_made), skip_bad)
            r.allowed = (0,)
            o = self.ctx.runner.run(r)
            self.check_counts(o, len(self.mutants_made))
            if not o.ok or (skip_bad and "skipped" in o.stderr):
                raise seeds.SeedError(f"the seed images fail: {o.status} {o.violations}\n{o.stderr_tail()}\n"
                                      f"reproduce: {o.reproducer}")
            shutil.rmtree(d)

    def campaign(self, count: int) -> list[dict]:
        self.mutants_made = {i: self.make_mutant(i) for i in range(count)}
        self.reset_stats()
        batches = [list(range(k, min(count, k + self.batch))) for k in range(0, count, self.batch)]
        deadline = time.monotonic() + self.ctx.budget
        out: list[dict] = []
        with cf.ThreadPoolExecutor(self.ctx.jobs) as ex:
            futures = [ex.submit(lambda b=b: self.exercise(b, f"batch-m{b[0]:04d}") if time.monotonic() < deadline else [])
                       for b in batches]
            singles = [ex.submit(lambda i=i: self.single(i) if time.monotonic() < deadline else None)
                       for i in range(min(self.singles, count))]
            for f in futures:
                out.extend(f.result())
            for f in singles:
                r = f.result()
                if r is not None:
                    out.append(r)
        return out


class Jpeg(Images):
    name = "jpeg"
    ext = ".jpg"


class Tiff(Images):
    name = "tiff"
    ext = ".tif"


KINDS = {k.name: k for k in [Npy, Images, Jpeg, Tiff, Features, Fingerprints, Distances, Parts, DistanceCsv, TaskInfo,
                             ImageTaskset, Manifest, TaskList, EvalTaskset, Options]}


# ------------------------------------------------------------------------------------ report

def print_failures(results: list[dict]) -> None:
    for rec in sorted(results, key=lambda r: (r["kind"], r["id"])):
        for f in rec["failures"]:
            print(f"FAIL {rec['kind']} {rec['id']}: {rec['mutation'][:300]}")
            print(f"  command:  taskfp {' '.join(f['args'])[:400]}")
            print(f"  status:   {f['status']}  ({'; '.join(f['violations'])})")
            for line in f["stderr_tail"].splitlines()[-4:]:
                print(f"  stderr:   {line[:300]}")
            print(f"  kept:     {rec['dir']}")
            print(f"  reproduce: {f['reproducer']}")


def group_key(rec: dict, f: dict) -> str:
    cls = ", ".join(sorted({contract.violation_class(v) for v in f["violations"]}))
    first = next((line for line in f["stderr_tail"].split("\n") if line.strip()), "")
    what = f["error_line"] or first or (f["violations"][0] if f["violations"] else "")
    return f"{rec['kind']} | {f['label']} | {f['status']} | {cls} | {contract.normalize_message(what)}"


def print_summary(results: list[dict]) -> None:
    groups: dict[str, list[str]] = defaultdict(list)
    for rec in results:
        for f in rec["failures"]:
            groups[group_key(rec, f)].append(rec["id"])
    if not groups:
        return
    print("\nviolations grouped (kind | command | status | violation | message):")
    for key, ids in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(ids):4d} x {key}   e.g. {', '.join(ids[:3])}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--taskfp", required=True, help="the taskfp executable")
    ap.add_argument("--work", required=True, help="work folder (emptied per kind)")
    ap.add_argument("--kind", action="append", default=[], help=f"input kind(s): {', '.join(KINDS)} or all")
    ap.add_argument("--mutants", type=int, default=0, help="mutants per kind (default: each kind's own, 100-300)")
    ap.add_argument("--seed", default=os.environ.get("TASKFP_FUZZ_SEED", "1"), help="campaign seed")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("TASKFP_FUZZ_JOBS", "2")),
                    help="parallel runs (default 2, or TASKFP_FUZZ_JOBS)")
    ap.add_argument("--budget", type=float, default=float(os.environ.get("TASKFP_FUZZ_BUDGET", "420")),
                    help="seconds per kind after which no new mutant starts (the run then says so)")
    ap.add_argument("--address-space-gib", type=float, default=4.0, help="address-space limit of each run")
    ap.add_argument("--rss-limit-gib", type=float, default=1.0, help="peak resident memory allowed per run")
    ap.add_argument("--timeout-scale", type=float, default=float(os.environ.get("TASKFP_FUZZ_TIMEOUT_SCALE", "1")),
                    help="multiply every run's time limit (slow machines, sanitizer builds)")
    ap.add_argument("--paper-cache", help="the paper's cache folder (default ../shared/paper-cache)")
    ap.add_argument("--keep-all", action="store_true", help="keep passing mutants too")
    ap.add_argument("--report", help="write every record as JSON here (default <work>/report.json)")
    args = ap.parse_args()
    kinds = list(KINDS) if "all" in args.kind or not args.kind else args.kind
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        ap.error(f"unknown kind(s) {unknown}; choose from {list(KINDS)}")
    ctx = Context(args)
    ctx.work.mkdir(parents=True, exist_ok=True)
    all_results, timing, skipped = [], [], []
    harness_error = False
    for name in kinds:
        kind = KINDS[name](ctx)
        reason = kind.skip_reason()
        if reason:
            print(f"skipped {name}: {reason}")
            skipped.append(name)
            continue
        count = args.mutants or kind.mutants
        t0 = time.monotonic()
        try:
            kind.prepare()
        except seeds.SeedError as e:
            print(f"ERROR {name}: {e}")
            harness_error = True
            continue
        t1 = time.monotonic()
        results = kind.campaign(count)
        t2 = time.monotonic()
        done = len(results) if not isinstance(kind, Images) else count
        runs = sum(r["runs"] for r in results) if not isinstance(kind, Images) else kind.stats["runs"]
        failing = sum(1 for r in results if r["failures"])
        statuses = defaultdict(int)
        if isinstance(kind, Images):
            statuses = kind.stats["status"]
            print(f"{name}: the --skip-bad runs kept {kind.stats['kept']} images and skipped "
                  f"{kind.stats['skipped']} as unreadable")
        for r in results if not isinstance(kind, Images) else []:
            for st in r.get("statuses", []):
                statuses[st] += 1
        timing.append((name, done, count, runs, failing, t1 - t0, t2 - t1,
                       " ".join(f"{k}:{v}" for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0])))))
        all_results.extend(results)
        print_failures(results)
        if done < count or (isinstance(kind, Images) and time.monotonic() - t1 > ctx.budget):
            print(f"note {name}: the time budget ({ctx.budget:g} s) ran out after {done} of {count} mutants")
    print_summary(all_results)
    print("\nkind            mutants  runs  failing  seed s  fuzz s  exit statuses of the runs")
    for name, done, count, runs, failing, ts, tf, st in timing:
        print(f"{name:<15} {done:>7}  {runs:>4}  {failing:>7}  {ts:6.1f}  {tf:6.1f}  {st}")
    report = Path(args.report) if args.report else ctx.work / "report.json"
    report.write_text(json.dumps({"seed": ctx.seed, "timing": timing, "results": [r for r in all_results if r["failures"]]},
                                 indent=1, default=str))
    if harness_error:
        return 1
    if any(r["failures"] for r in all_results):
        print(f"\n{sum(1 for r in all_results if r['failures'])} mutants broke the contract (details above; "
              f"report: {report})")
        return 1
    if skipped and len(skipped) == len(kinds):
        return SKIP
    print("\nall mutants kept the contract")
    return 0


if __name__ == "__main__":
    sys.exit(main())
