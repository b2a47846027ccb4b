#!/usr/bin/env python3
"""The bad inputs seen so far, as deterministic regression cases of the exit-status contract.

Each case builds its input (with taskfp, numpy, h5py or PIL), runs the command that once
crashed, hung, allocated without bound, exited with the wrong status, accepted the input and
computed something wrong, or left files behind, and asserts what the contract asks: status 2,
one 'taskfp: error: ' line naming the offending file, task or option, no allocation failure in
the message, nothing left behind (contract.py checks all of it for every run).

  regressions.py --taskfp build/engine/taskfp --work /tmp/reg [--group npy ...] [--list]

Exit status: 0 all cases pass, 1 a case fails, 77 every selected case was skipped (a required
piece is missing: `extract` in a build without LibTorch).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import struct
import sys
import time
from pathlib import Path
from typing import Callable

SKIP = 77
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    import h5py
    import numpy as np
    from PIL import Image  # noqa: F401
except ImportError as e:  # pragma: no cover
    print(f"skipped: the robustness tests need python3-numpy, python3-h5py and python3-pil ({e})")
    sys.exit(SKIP)

import mutate
import seeds
from contract import Outcome, Run, Runner

STR = h5py.string_dtype("utf-8")


@dataclasses.dataclass
class Check:
    run: Run
    extra: Callable[[Outcome], list[str]] | None = None  # further assertions on the outcome


@dataclasses.dataclass
class Case:
    group: str
    name: str
    issue: str                   # the bad input as the issue reported it
    build: Callable              # (Env, folder) -> list[Check]
    needs_extract: bool = False


CASES: list[Case] = []


def case(group: str, issue: str, needs_extract: bool = False):
    def register(fn):
        CASES.append(Case(group, fn.__name__, issue, fn, needs_extract))
        return fn
    return register


class Env:
    """Shared seeds (made once per run of this script) and run helpers."""

    def __init__(self, taskfp: str, work: Path, runner: Runner, cache: Path | None):
        self.cache = cache
        self.taskfp = taskfp
        self.work = work
        self.runner = runner
        self.seed_dir = work / "seeds"
        self._made: dict[str, Path] = {}
        self._extract: bool | None = None

    def has_extract(self) -> bool:
        if self._extract is None:
            import subprocess
            self._extract = subprocess.run([self.taskfp, "extract", "--help"], capture_output=True).returncode == 0
        return self._extract

    def seed(self, name: str) -> Path:
        """A seed file or folder, made on first use."""
        if name in self._made:
            return self._made[name]
        s = self.seed_dir
        s.mkdir(parents=True, exist_ok=True)
        if name == "features.h5":
            seeds.features_store(self.taskfp, s / name)
        elif name == "fp.h5":
            seeds.fingerprint_store(self.taskfp, self.seed("features.h5"), s / name)
        elif name == "fp-nocov.h5":
            seeds.taskfp(self.taskfp, "fingerprint", "-f", str(self.seed("features.h5")), "-o", str(s / name),
                         "--bins", "100", "--scaling-subset", "all", "--no-covariance", "--backend", "cpu")
        elif name == "d.h5":
            seeds.distance_store(self.taskfp, self.seed("fp.h5"), s / name)
        elif name == "parts":
            seeds.parts_folder(self.taskfp, s / "parts-work")
            shutil.move(str(s / "parts-work" / "parts"), str(s / name))
        elif name == "images":
            seeds.image_taskset(self.taskfp, s / name)
        else:
            raise KeyError(name)
        self._made[name] = s / name
        return s / name

    def copy(self, name: str, d: Path, as_name: str | None = None) -> Path:
        src = self.seed(name)
        dst = d / "in" / (as_name or name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
        return dst


def expect2(d: Path, args: list[str], names: list[str], label: str = "", timeout: float = 30,
            extra: Callable[[Outcome], list[str]] | None = None, env: dict | None = None) -> Check:
    """A run that must fail with status 2 and a message naming one of `names`."""
    out = d / "out"
    args = ["-q", *[str(out) + a[3:] if a.startswith("OUT") else a for a in args]]
    return Check(Run(args=args, out_dir=out, cwd=d, names=names, allowed=(2,), timeout=timeout,
                     label=label or args[1], env=env or {}, resumable_parts="extract" in args), extra)


def expect0(d: Path, args: list[str], label: str = "", outputs: tuple[str, ...] = ()) -> Check:
    out = d / "out"
    args = ["-q", *[str(out) + a[3:] if a.startswith("OUT") else a for a in args]]
    return Check(Run(args=args, out_dir=out, cwd=d, allowed=(0,), label=label or args[1],
                     outputs=[out / o[4:] for o in outputs]))


def not_in_message(*words: str) -> Callable[[Outcome], list[str]]:
    def check(o: Outcome) -> list[str]:
        found = [w for w in words if w.lower() in o.stderr.lower()]
        return [f"message mentions {found[0]!r}"] if found else []
    return check


# ------------------------------------------------------------------------------------ npy

def npy_task(d: Path, header: str, payload: bytes, task: str = "bad_task", good_dim: int | None = None) -> Path:
    """An npy folder with a task whose features_0001.npy has this header, and a good task with
    good_dim features (the bad one's feature count, so that nothing else differs), if given."""
    if good_dim:
        seeds.npy_folder(d / "in" / "npy", tasks=["good_task"], d=good_dim)
    (d / "in" / "npy").mkdir(parents=True, exist_ok=True)
    f = d / "in" / "npy" / task / "features_0001.npy"
    f.parent.mkdir(parents=True)
    f.write_bytes(mutate.npy_bytes(header, payload))
    return f


def npy_runs(d: Path, label: str) -> list[Check]:
    names = ["features_0001.npy", "bad_task"]
    return [expect2(d, ["import", "in/npy", "-o", "OUT/f.h5"], names, f"{label} import",
                    extra=not_in_message("bad_alloc")),
            expect2(d, ["fingerprint", "-f", "in/npy", "-o", "OUT/fp.h5", "--bins", "10", "--scaling-subset", "all",
                        "--backend", "cpu"], names, f"{label} fingerprint", extra=not_in_message("bad_alloc"))]


@case("npy", "`import` writes a store claiming 2^62 samples (n x d overflows); `fingerprint` segfaults")
def npy_shape_product_overflows(env, d):
    npy_task(d, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", bytes(64), good_dim=4)
    return npy_runs(d, "2^62 x 4 float32")


@case("npy", "float64 variant of the overflowing shape writes out of bounds in `import`")
def npy_shape_overflow_float64(env, d):
    # n * d wraps to 4 values; the first converted piece (131072 rows) is present in the file.
    npy_task(d, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387905, 4), }",
             np.ones(131072 * 4, dtype="<f8").tobytes(), good_dim=4)
    return npy_runs(d, "(2^62+1) x 4 float64")


@case("npy", "Fortran-order variant of the overflowing shape writes out of bounds in `import`")
def npy_shape_overflow_fortran(env, d):
    npy_task(d, "{'descr': '<f4', 'fortran_order': True, 'shape': (4611686018427387905, 4), }",
             np.ones(8, dtype="<f4").tobytes(), good_dim=4)
    return npy_runs(d, "(2^62+1) x 4 Fortran order")


@case("npy", "a feature count of 2^63 (n x d wraps to 0): segfault")
def npy_shape_huge_feature_count(env, d):
    npy_task(d, "{'descr': '<f4', 'fortran_order': False, 'shape': (20, 9223372036854775808), }", bytes(80))
    return npy_runs(d, "20 x 2^63")


@case("npy", "a header claiming 2^31 x 6 values in an 80-byte file: std::bad_alloc, status 3")
def npy_shape_beyond_file(env, d):
    npy_task(d, "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483647, 6), }", bytes(80), good_dim=6)
    return npy_runs(d, "(2^31-1) x 6")


@case("npy", "features_0001.npy a symlink loop: filesystem error, status 3")
def npy_symlink_loop(env, d):
    f = npy_task(d, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", bytes(16), good_dim=2)
    f.unlink()
    f.symlink_to(f.name)
    return npy_runs(d, "symlink loop")


# ------------------------------------------------------------------------------------ stores

def edit(path: Path, fn) -> None:
    with h5py.File(path, "r+") as f:
        fn(f)


def replace(f: h5py.File, path: str, **kw) -> None:
    del f[path]
    f.create_dataset(path, **kw)


@case("stores", "HDF5 dataset with huge dimensions (features declared 2^40 x 6, nothing written)")
def features_huge_dims(env, d):
    p = env.copy("features.h5", d)
    edit(p, lambda f: replace(f, "tasks/fam0_task1/features", shape=(2**40, 6), dtype="f4", chunks=(1, 6)))
    return [expect2(d, ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "10",
                        "--scaling-subset", "all", "--backend", "cpu"], ["features.h5"], "fingerprint",
                    extra=not_in_message("bad_alloc")),
            expect2(d, ["distance", "--features", "in/features.h5", "-m", "MMD-gaussian-1", "-o", "OUT/d.h5"],
                    ["features.h5"], "distance --features", extra=not_in_message("bad_alloc"))]


@case("stores", "HDF5 dataset with huge dimensions (a histogram declared 2^40 x 100)")
def fingerprint_huge_dims(env, d):
    p = env.copy("fp.h5", d)
    edit(p, lambda f: replace(f, "tasks/fam1_task0/hist_100", shape=(2**40, 100), dtype="f8", chunks=(1, 100)))
    return [expect2(d, ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "-o", "OUT/d.h5", "--backend", "cpu"],
                    ["fp.h5"], "distance", extra=not_in_message("bad_alloc"))]


@case("stores", "a scalar dataset where a list is expected (distance store sources): `inspect` crashes")
def distance_scalar_sources(env, d):
    p = env.copy("d.h5", d)
    edit(p, lambda f: replace(f, "matrices/FID/sources", data="x", dtype=STR))
    return [expect2(d, ["inspect", "in/d.h5", "--top", "2"], ["d.h5"], "inspect --top")]


@case("stores", "a scalar dataset where a list is expected (targets as a null dataspace): `inspect` crashes")
def distance_null_targets(env, d):
    p = env.copy("d.h5", d)
    edit(p, lambda f: replace(f, "matrices/FID/targets", data=h5py.Empty(STR)))
    return [expect2(d, ["inspect", "in/d.h5"], ["d.h5"], "inspect")]


@case("stores", "a scalar dataset where a list is expected (ranges/scaling_subset): `distance`, `inspect`")
def fingerprint_scalar_scaling_subset(env, d):
    p = env.copy("fp.h5", d)
    edit(p, lambda f: replace(f, "ranges/scaling_subset", data="all", dtype=STR))
    return [expect2(d, ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "-o", "OUT/d.h5", "--backend", "cpu"],
                    ["fp.h5"], "distance"),
            expect2(d, ["inspect", "in/fp.h5"], ["fp.h5"], "inspect")]


@case("stores", "a scalar features dataset: `inspect` crashes")
def features_scalar_dataset(env, d):
    p = env.copy("features.h5", d)
    edit(p, lambda f: replace(f, "tasks/fam1_task1/features", data=1.0))
    return [expect2(d, ["inspect", "in/features.h5"], ["features.h5"], "inspect"),
            expect2(d, ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "10",
                        "--scaling-subset", "all", "--backend", "cpu"], ["features.h5"], "fingerprint")]


@case("stores", "an integer array for the n_samples attribute: `inspect` crashes")
def attribute_array(env, d):
    p = env.copy("features.h5", d)
    edit(p, lambda f: f["tasks/fam0_task0"].attrs.create("n_samples", np.arange(3, dtype="i8")))
    # No reader needs a features store's n_samples (a task's rows are its samples): inspect, which
    # reads stores as the other commands do, accepts the store as fingerprint does.
    return [expect0(d, ["inspect", "in/features.h5"], "inspect"),
            expect0(d, ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "10",
                        "--scaling-subset", "all", "--backend", "cpu"], "fingerprint", outputs=("OUT/fp.h5",))]


@case("stores", "a root attribute of another type (weights_checksum an integer array): `inspect` crashes "
      "(found by fuzzing)")
def root_attribute_array(env, d):
    p = env.copy("d.h5", d)
    edit(p, lambda f: f.attrs.create("weights_checksum", np.arange(3, dtype="i8")))
    return [expect2(d, ["inspect", "in/d.h5"], ["d.h5"], "inspect")]


@case("stores", "fingerprints and features made differently: the message names no file and runs over several "
      "lines, the last one unindented (found by fuzzing)")
def provenance_mismatch_message(env, d):
    env.copy("fp.h5", d)
    seeds.npy_from_store(env.seed("features.h5"), d / "in" / "npy")
    return [expect2(d, ["fingerprint", "-f", "in/npy", "--ranges", "in/fp.h5", "-o", "OUT/fp.h5", "--bins", "100",
                        "--backend", "cpu"], ["fp.h5", "in/npy"], "fingerprint --ranges")]


@case("stores", "a covariance of the wrong shape: read out of bounds, exit 0 with wrong FID / MMD-coral")
def covariance_wrong_shape(env, d):
    p = env.copy("fp.h5", d)
    edit(p, lambda f: replace(f, "tasks/fam0_task1/covariance", data=np.eye(5)))
    names = ["fp.h5", "fam0_task1"]
    return [expect2(d, ["distance", "-f", "in/fp.h5", "-m", "FID", "-o", "OUT/d.h5", "--backend", "cpu"], names,
                    "distance FID"),
            expect2(d, ["distance", "-f", "in/fp.h5", "-m", "MMD-coral-1", "-o", "OUT/d.h5", "--backend", "cpu"],
                    names, "distance MMD-coral")]


@case("stores", "a message naming no file: \"the store has no group 'tasks'\"")
def features_without_tasks_group(env, d):
    p = env.copy("features.h5", d)
    edit(p, lambda f: f.__delitem__("tasks"))
    return [expect2(d, ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "10",
                        "--scaling-subset", "all", "--backend", "cpu"], ["features.h5"], "fingerprint"),
            expect2(d, ["inspect", "in/features.h5"], ["features.h5"], "inspect")]


@case("stores", "a message naming no file: \"HDF5: opening dataset features failed\"")
def features_dataset_is_a_link(env, d):
    p = env.copy("features.h5", d)

    def fn(f):
        del f["tasks/fam1_task0/features"]
        f["tasks/fam1_task0/features"] = h5py.SoftLink("/does/not/exist")
    edit(p, fn)
    return [expect2(d, ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "10",
                        "--scaling-subset", "all", "--backend", "cpu"], ["features.h5"], "fingerprint"),
            expect2(d, ["inspect", "in/features.h5"], ["features.h5"], "inspect")]


def global_heap(path: Path) -> int:
    data = path.read_bytes()
    at = data.find(b"GCOL")
    assert at > 0, f"{path} has no global heap"
    return at


def poke(path: Path, offset: int, fmt: str, value: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path.write_bytes(bytes(data))


# The root attributes (taskfp_kind, tool_version, ...) are variable-length strings in the
# global heap collection (GCOL): 16 bytes of header, then objects of 16 bytes of header
# (index u16, references u16, reserved u32, size u64) and their data padded to 8 bytes.

@case("hdf5-internals", "a corrupted store crashes inside libhdf5 through an attribute string read "
      "(the first global-heap object's size set to 0)")
def global_heap_object_size_zero(env, d):
    p = env.copy("d.h5", d)
    poke(p, global_heap(p) + 16 + 8, "<Q", 0)
    return [expect2(d, ["inspect", "in/d.h5", "--top", "1"], ["d.h5"], "inspect")]


@case("hdf5-internals", "a corrupted store crashes inside libhdf5 (a global-heap object claiming 2^62 bytes)")
def global_heap_object_size_huge(env, d):
    p = env.copy("features.h5", d)
    poke(p, global_heap(p) + 16 + 8, "<Q", 2**62)
    return [expect2(d, ["inspect", "in/features.h5"], ["features.h5"], "inspect"),
            expect2(d, ["fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5", "--bins", "10",
                        "--scaling-subset", "all", "--backend", "cpu"], ["features.h5"], "fingerprint")]


@case("hdf5-internals", "a corrupted store hangs inside libhdf5 (a free global-heap object of size 0)")
def global_heap_free_object_size_zero(env, d):
    p = env.copy("d.h5", d)
    g = global_heap(p)
    data = p.read_bytes()
    first_size = struct.unpack("<Q", data[g + 24:g + 32])[0]
    second = g + 16 + 16 + (first_size + 7) // 8 * 8
    poke(p, second, "<H", 0)
    poke(p, second + 8, "<Q", 0)
    return [expect2(d, ["inspect", "in/d.h5", "--top", "1"], ["d.h5"], "inspect", timeout=30)]


@case("hdf5-internals", "a corrupted store: an error is printed, then libhdf5 crashes on the way out "
      "(a global-heap object size of 2^64 - 32)")
def global_heap_object_size_wraps(env, d):
    p = env.copy("d.h5", d)
    g = global_heap(p)
    data = p.read_bytes()
    first_size = struct.unpack("<Q", data[g + 24:g + 32])[0]
    second = g + 16 + 16 + (first_size + 7) // 8 * 8
    poke(p, second + 8, "<Q", 2**64 - 32)
    return [expect2(d, ["inspect", "in/d.h5", "--top", "1"], ["d.h5"], "inspect")]


# ------------------------------------------------------------------------------------ parts

def parts_case(env, d) -> Path:
    return env.copy("parts", d)


def merge(d: Path, names: list[str]) -> Check:
    return expect2(d, ["merge", "in/parts", "-o", "OUT/m.h5", "--keep-parts"], names, "merge")


@case("parts", "an empty plan.txt in a parts folder: `merge` crashes", needs_extract=True)
def parts_empty_plan(env, d):
    p = parts_case(env, d)
    (p / "plan.txt").write_text("")
    return [merge(d, ["parts", "plan.txt"])]


@case("parts", "a part with another feature size: heap corruption in `merge`", needs_extract=True)
def parts_other_feature_size(env, d):
    p = parts_case(env, d)
    edit(p / "task00001-000000000.h5", lambda f: replace(f, "features", data=np.ones((2, 513), dtype="f4")))
    return [merge(d, ["task00001-000000000.h5"])]


@case("parts", "a part of rank 1: merged as 1024 rows of one feature", needs_extract=True)
def parts_rank_one(env, d):
    p = parts_case(env, d)
    edit(p / "task00000-000000002.h5", lambda f: replace(f, "features", data=np.ones(1024, dtype="f4")))
    return [merge(d, ["task00000-000000002.h5"])]


@case("parts", "a zero-row part merges into a task with half its samples", needs_extract=True)
def parts_zero_rows(env, d):
    p = parts_case(env, d)
    edit(p / "task00000-000000000.h5", lambda f: replace(f, "features", data=np.zeros((0, 512), dtype="f4")))
    return [merge(d, ["task00000-000000000.h5"])]


@case("parts", "a part listing more skipped images than its chunk drew is merged", needs_extract=True)
def parts_too_many_skipped(env, d):
    p = parts_case(env, d)
    edit(p / "task00001-000000002.h5",
         lambda f: replace(f, "skipped", data=np.array([f"x{i}.png" for i in range(100)], dtype=object), dtype=STR))
    return [merge(d, ["task00001-000000002.h5"])]


@case("parts", "a plan chunk of a task the plan does not list: internal error (found by fuzzing)", needs_extract=True)
def parts_chunk_of_unknown_task(env, d):
    p = parts_case(env, d)
    text = (p / "plan.txt").read_text().replace("chunk\t1\t2\t2", "chunk\t\t2\t2")
    (p / "plan.txt").write_text(text)
    return [merge(d, ["parts", "plan.txt"])]


@case("parts", "a plan cut before its chunk lines (no chunks): `merge` crashes (found by fuzzing)", needs_extract=True)
def parts_plan_without_chunks(env, d):
    p = parts_case(env, d)
    (p / "plan.txt").write_text((p / "plan.txt").read_text().split("\nchunk")[0][:120])
    return [merge(d, ["parts", "plan.txt"])]


@case("parts", "a part whose skipped list is a scalar: `merge` crashes (found by fuzzing)", needs_extract=True)
def parts_skipped_scalar(env, d):
    p = parts_case(env, d)
    edit(p / "task00000-000000002.h5", lambda f: replace(f, "skipped", data="x.png", dtype=STR))
    return [merge(d, ["task00000-000000002.h5"])]


@case("parts", "`extract -n 0`: an empty plan, then a crash in the merge", needs_extract=True)
def extract_zero_samples(env, d):
    env.copy("images", d)
    return [expect2(d, ["extract", "-t", "in/images/set.yaml", "--random-weights", "-n", "0", "--size", "32",
                        "-o", "OUT/f.h5"], ["-n", "--samples"], "extract -n 0", timeout=60)]


# ------------------------------------------------------------------------------------ images

def image_set(d: Path, name: str, data: bytes, task: str = "big_task") -> Path:
    cls = d / "in" / "task" / "c0"
    cls.mkdir(parents=True)
    (cls / name).write_bytes(data)
    (d / "in" / "set.yaml").write_text(f"tasks:\n  - name: {task}\n    root: task\n")
    return d / "in" / "set.yaml"


def small_image(fmt: str) -> bytes:
    import io
    from PIL import Image as Img
    arr = (np.arange(24 * 24 * 3) % 251).astype(np.uint8).reshape(24, 24, 3)
    buf = io.BytesIO()
    Img.fromarray(arr, "RGB").save(buf, fmt)
    return buf.getvalue()


def extract_runs(d: Path, image: str, label: str) -> list[Check]:
    base = ["extract", "-t", "in/set.yaml", "--random-weights", "-n", "1", "--size", "32", "-o", "OUT/f.h5"]
    no_alloc = not_in_message("bad_alloc", "out of memory", "cannot allocate")

    def skipped_named(o: Outcome) -> list[str]:
        listed = [line for line in o.stderr.split("\n") if line.startswith("  ")]
        return [f"skipped list does not name {image}: {line.strip()!r}" for line in listed if image not in line][:1]

    def both(o):
        return no_alloc(o) + skipped_named(o)
    return [expect2(d, base, [image], f"{label} extract", timeout=60, extra=no_alloc),
            expect2(d, base[:-2] + ["--skip-bad"] + base[-2:], [image, "big_task"], f"{label} extract --skip-bad",
                    timeout=60, extra=both)]


@case("images", "a 1.5 KB JPEG whose header claims 40000 x 40000: `extract` allocates 9.6 GB", needs_extract=True)
def jpeg_claims_40000(env, d):
    data = bytearray(small_image("JPEG"))
    sof = next(off for off, mk in mutate.jpeg_segments(bytes(data)) if mk == 0xC0)
    data[sof + 5:sof + 9] = struct.pack(">HH", 40000, 40000)
    image_set(d, "claims40000.jpg", bytes(data))
    return extract_runs(d, "claims40000.jpg", "JPEG 40000^2")


@case("images", "a PNG whose header claims 100000 x 100000: std::bad_alloc without a file name", needs_extract=True)
def png_claims_100000(env, d):
    chunks = mutate.png_chunks(small_image("PNG"))
    body = bytearray(chunks[0][1])
    body[0:8] = struct.pack(">II", 100000, 100000)
    chunks[0] = (b"IHDR", bytes(body))
    image_set(d, "claims100000.png", mutate.png_build(chunks))
    return extract_runs(d, "claims100000.png", "PNG 100000^2")


# Task set problems must be refused when the task set is read, before any extraction: the
# backbone plugin is pointed at a missing file, so a refusal that comes only later shows up as a
# plugin error (which names neither the task set nor the task).
NO_PLUGIN = {"TASKFP_TORCH_PLUGIN": "/nonexistent/libtaskfp_torch.so"}


def taskset_case(env, d: Path, yaml_tasks: str) -> Path:
    env.copy("images", d)
    (d / "in" / "images" / "bad.yaml").write_text("tasks:\n" + yaml_tasks)
    return d / "in" / "images" / "bad.yaml"


def extract_taskset(d: Path, names: list[str], label: str) -> Check:
    return expect2(d, ["extract", "-t", "in/images/bad.yaml", "--random-weights", "-n", "2", "--size", "32",
                       "-o", "OUT/f.h5"], names, label, timeout=60, env=NO_PLUGIN)


@case("images", "`shrink: 5` (not a list) is ignored in an image task set", needs_extract=True)
def taskset_shrink_scalar(env, d):
    root = sorted(p.name for p in env.seed("images").joinpath("images").iterdir() if p.is_dir())[0]
    taskset_case(env, d, f"  - name: {root}\n    root: {'images/' + root}\n    shrink: 5\n")
    return [extract_taskset(d, ["bad.yaml"], "shrink: 5")]


@case("images", "a bad YAML value (`shrink: [abc]`) exits 3 (internal error)", needs_extract=True)
def taskset_shrink_not_a_number(env, d):
    root = sorted(p.name for p in env.seed("images").joinpath("images").iterdir() if p.is_dir())[0]
    taskset_case(env, d, f"  - name: {root}\n    root: {'images/' + root}\n    shrink: [abc]\n")
    return [extract_taskset(d, ["bad.yaml"], "shrink: [abc]")]


@case("images", "a bad YAML value (a task name that is a list) exits 3 (internal error)", needs_extract=True)
def taskset_name_is_a_list(env, d):
    root = sorted(p.name for p in env.seed("images").joinpath("images").iterdir() if p.is_dir())[0]
    taskset_case(env, d, f"  - name: [a, b]\n    root: {'images/' + root}\n")
    return [extract_taskset(d, ["bad.yaml"], "name: [a, b]")]


@case("images", "a task named 'a/b', '..' or '' is refused only after the extraction ran", needs_extract=True)
def taskset_bad_task_names(env, d):
    root = sorted(p.name for p in env.seed("images").joinpath("images").iterdir() if p.is_dir())[0]
    checks = []
    for i, name in enumerate(["a/b", "..", "''"]):
        sub = d / f"name{i}"
        sub.mkdir()
        taskset_case(env, sub, f"  - name: {name}\n    root: {'images/' + root}\n")
        checks.append(extract_taskset(sub, ["bad.yaml", "'a/b'", "'..'", "''", "empty name"], f"task name {name}"))
    return checks


# ------------------------------------------------------------------------------------ task sets

@case("task-sets", "an image task set that is a plain scalar: yaml-cpp's exception exits 3 (found by fuzzing)",
      needs_extract=True)
def image_taskset_scalar(env, d):
    env.copy("images", d)
    (d / "in" / "images" / "bad.yaml").write_text("just some text\n")
    return [extract_taskset(d, ["bad.yaml"], "task set a scalar")]


@case("task-sets", "a task list key whose items are lists (`set.yaml#dev`): bad conversion exits 3 "
      "(found by fuzzing)")
def task_list_items_not_strings(env, d):
    env.copy("fp.h5", d)
    (d / "in" / "sets.yaml").write_text("dev:\n  - [fam0_task0, fam0_task1]\n  - fam1_task0\n")
    return [expect2(d, ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "--targets", "in/sets.yaml#dev",
                        "-o", "OUT/d.h5", "--backend", "cpu"], ["sets.yaml"], "distance --targets")]


@case("task-sets", "an evaluation task set whose split is a scalar, or whose items are maps: yaml-cpp's exception "
      "exits 3 (found by fuzzing)")
def evaluation_taskset_bad_values(env, d):
    if env.cache is None:
        return []
    checks = []
    for i, text in enumerate(["development: svhn\nvalidation: [mnist_digit_classification]\n",
                              "development:\n  - {a: 1}\nvalidation:\n  - svhn\n", "12\n"]):
        sub = d / f"set{i}"
        (sub / "in").mkdir(parents=True)
        (sub / "in" / "bad.yaml").write_text(text)
        checks.append(expect2(sub, ["evaluate", "-c", str(env.cache), "--tasks", "in/bad.yaml", "-o", "OUT/ev",
                                    "-d", "FID", "--bootstrap", "2", "--scenarios", "arch", "--metrics", "AUROC"],
                              ["bad.yaml"], f"evaluate --tasks ({text.splitlines()[0][:20]})"))
    return checks


# ------------------------------------------------------------------------------------ usage

def usage(d: Path, args: list[str], names: list[str], label: str) -> Check:
    return expect2(d, args, names, label, timeout=15)


@case("usage", "usage errors exit with CLI11's codes (104-114) instead of 2")
def usage_errors(env, d):
    f = str(env.copy("features.h5", d).relative_to(d))
    cases = [
        ([], ["subcommand", "command"], "no subcommand"),
        (["nosuch"], ["nosuch"], "unknown subcommand"),
        (["synth"], ["--output", "-o"], "missing required option"),
        (["synth", "-o", "OUT/f.h5", "--samples", "abc"], ["--samples"], "not a number"),
        (["synth", "-o", "OUT/f.h5", "--samples", "99999999999999999999999"], ["--samples"], "out of range"),
        (["synth", "-o", "OUT/f.h5", "--bogus"], ["--bogus"], "unknown option"),
        (["synth", "-o"], ["--output", "-o"], "option without its value"),
        (["-j", "-1", "synth", "-o", "OUT/f.h5"], ["--threads", "-j"], "negative thread count"),
        (["distance", "-f", f, "-m", "FID", "-o", "OUT/d.h5", "--backend", "gpu"], ["--backend"], "not a choice"),
        (["inspect", f, "extra.h5"], ["extra.h5"], "extra positional argument"),
        (["evaluate", "-c", "in", "-o", "OUT/ev", "--split", "test"], ["--split"], "not a choice"),
        (["fingerprint", "-f", f, "-o", "OUT/fp.h5", "--scaling-subset", "all", "--ranges", f],
         ["--ranges", "--scaling-subset"], "options that exclude each other"),
    ]
    out = []
    for i, (args, names, label) in enumerate(cases):
        sub = d / f"u{i}"
        sub.mkdir()
        (sub / "in").symlink_to(d / "in")
        out.append(usage(sub, args, names, label))
    return out


@case("usage", "an unknown metric: the error is followed by the whole metric grammar (not one line; "
      "found by fuzzing)")
def unknown_metric_one_line(env, d):
    env.copy("fp.h5", d)
    return [expect2(d, ["distance", "-f", "in/fp.h5", "-m", "NOPE", "-o", "OUT/d.h5"], ["NOPE"], "-m NOPE")]


@case("usage", "--help and --version still exit 0 (the contract's success side)")
def usage_help_and_version(env, d):
    return [expect0(d, ["--help"], "--help"), expect0(d, ["--version"], "--version"),
            expect0(d, ["distance", "--help"], "distance --help"),
            expect0(d, ["distance", "--list-metrics"], "--list-metrics")]


# ------------------------------------------------------------------------------------ filesystem

@case("filesystem", "a missing output folder exits 3 (internal error)")
def output_folder_missing(env, d):
    env.copy("features.h5", d)
    return [expect2(d, ["synth", "-o", "OUT/no/such/folder/f.h5"], ["no/such/folder"], "synth"),
            expect2(d, ["fingerprint", "-f", "in/features.h5", "--scaling-subset", "all", "--bins", "10",
                        "-o", "OUT/no/such/folder/fp.h5", "--backend", "cpu"], ["no/such/folder"], "fingerprint"),
            expect2(d, ["synth-images", "-o", "/proc/taskfp-regression/images"], ["taskfp-regression"],
                    "synth-images under /proc")]


@case("filesystem", "the output path is an existing folder")
def output_is_a_folder(env, d):
    (d / "in" / "adir").mkdir(parents=True)
    return [expect2(d, ["synth", "-o", "in/adir"], ["adir"], "synth")]


@case("filesystem", "the output folder is a file (distance --csv-dir, evaluate -o): filesystem error, status 3")
def output_folder_is_a_file(env, d):
    env.copy("fp.h5", d)
    (d / "in" / "file.txt").write_text("x")
    checks = [expect2(d, ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "--csv-dir", "in/file.txt/csv",
                          "--backend", "cpu"], ["file.txt"], "distance --csv-dir"),
              expect2(d, ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "--csv-dir", "in/file.txt",
                          "--backend", "cpu"], ["file.txt"], "distance --csv-dir a file"),
              expect2(d, ["synth", "-o", "in/file.txt/f.h5"], ["file.txt"], "synth"),
              expect2(d, ["synth-images", "-o", "in/file.txt/images"], ["file.txt"], "synth-images")]
    if env.cache:
        checks.append(expect2(d, ["evaluate", "-c", str(env.cache), "-o", "in/file.txt/ev", "-d", "FID",
                                  "--bootstrap", "2", "--scenarios", "arch", "--metrics", "AUROC"],
                              ["file.txt"], "evaluate -o"))
    return checks


@case("filesystem", "a read-only output folder exits 3 (internal error)")
def output_folder_read_only(env, d):
    env.copy("fp.h5", d)
    if os.geteuid() == 0:  # root writes anywhere on a normal file system: use one that refuses
        target = "/proc/taskfp-regression"
    else:
        ro = d / "in" / "readonly"
        ro.mkdir()
        ro.chmod(0o555)
        target = "in/readonly"
    return [expect2(d, ["synth", "-o", f"{target}/f.h5"], ["taskfp-regression", "readonly"], "synth"),
            expect2(d, ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "--csv-dir", f"{target}/csv",
                        "--backend", "cpu"], ["taskfp-regression", "readonly"], "distance --csv-dir")]


@case("resources", "out of memory exits 3 (internal error): a request larger than the memory")
def out_of_memory(env, d):
    return [expect2(d, ["synth", "-o", "OUT/f.h5", "--samples", "2000000000", "--dim", "64"],
                    ["--samples", "--dim", "memory"], "synth --samples 2e9"),
            expect2(d, ["synth", "-o", "OUT/f.h5", "--dim", "2147483647"], ["--dim", "memory"], "synth --dim 2^31-1")]


@case("resources", "`synth --families 2147483647` runs until it is killed (found by fuzzing)")
def synth_families_huge(env, d):
    return [expect2(d, ["synth", "-o", "OUT/f.h5", "--families", "2147483647"], ["--families", "memory"],
                    "synth --families 2^31-1", timeout=10)]


@case("resources", "a huge --threads: libgomp aborts (status 1) or taskfp crashes (found by fuzzing)")
def threads_huge(env, d):
    env.copy("fp.h5", d)
    env.copy("features.h5", d)
    return [Check(dataclasses.replace(
                expect2(d, ["-j", "2147483647", "fingerprint", "-f", "in/features.h5", "-o", "OUT/fp.h5",
                            "--scaling-subset", "all", "--bins", "10", "--backend", "cpu"],
                        ["--threads", "-j"], "-j 2^31-1 fingerprint").run, allowed=(0, 2))),
            Check(dataclasses.replace(
                expect2(d, ["-j", "1000000", "distance", "-f", "in/fp.h5", "-m", "bkld-small", "-o", "OUT/d.h5",
                            "--backend", "cpu"], ["--threads", "-j"], "-j 1e6 distance").run, allowed=(0, 2)))]


# ------------------------------------------------------------------------------------ values

def fp_edit(env, d, fn) -> Path:
    p = env.copy("fp.h5", d)
    edit(p, fn)
    return p


def set_values(path: str, how):
    def fn(f):
        v = f[path][()]
        how(v)
        replace(f, path, data=v)
    return fn


def ranges_run(env, d, names: list[str], label: str) -> Check:
    env.copy("features.h5", d)
    return expect2(d, ["fingerprint", "-f", "in/features.h5", "--ranges", "in/fp.h5", "-o", "OUT/fp.h5",
                       "--bins", "100", "--backend", "cpu"], names, label)


@case("values", "NaN bin ranges are accepted (fingerprint --ranges)")
def ranges_nan(env, d):
    fp_edit(env, d, set_values("ranges/lo", lambda v: v.__setitem__(2, np.nan)))
    return [ranges_run(env, d, ["fp.h5"], "--ranges with a NaN lo")]


@case("values", "inverted bin ranges (lo > hi) are accepted (fingerprint --ranges)")
def ranges_inverted(env, d):
    def swap(f):
        lo, hi = f["ranges/lo"][()], f["ranges/hi"][()]
        replace(f, "ranges/lo", data=hi)
        replace(f, "ranges/hi", data=lo)
    fp_edit(env, d, swap)
    return [ranges_run(env, d, ["fp.h5"], "--ranges inverted")]


def distance_run(d: Path, metric: str, names: list[str]) -> Check:
    return expect2(d, ["distance", "-f", "in/fp.h5", "-m", metric, "-o", "OUT/d.h5", "--backend", "cpu"], names,
                   f"distance {metric}")


@case("values", "NaN histograms are accepted (a NaN matrix)")
def histogram_nan(env, d):
    fp_edit(env, d, set_values("tasks/fam0_task0/hist_100", lambda v: v.__setitem__((1, 5), np.nan)))
    return [distance_run(d, "bkld-small", ["fp.h5", "fam0_task0"])]


@case("values", "negative histograms are accepted")
def histogram_negative(env, d):
    fp_edit(env, d, set_values("tasks/fam1_task1/hist_1000", lambda v: v.__setitem__((0, slice(0, 10)), -0.5)))
    return [distance_run(d, "bkld-large", ["fp.h5", "fam1_task1"])]


@case("values", "NaN means are accepted (a NaN FID matrix)")
def mean_nan(env, d):
    fp_edit(env, d, set_values("tasks/fam0_task1/mean", lambda v: v.__setitem__(0, np.nan)))
    return [distance_run(d, "FID", ["fp.h5", "fam0_task1"])]


@case("values", "NaN covariances are accepted (NaN FID and MMD-coral matrices)")
def covariance_nan(env, d):
    fp_edit(env, d, set_values("tasks/fam1_task0/covariance", lambda v: v.__setitem__((2, 3), np.nan)))
    return [distance_run(d, "FID", ["fp.h5", "fam1_task0"]), distance_run(d, "MMD-coral-1", ["fp.h5", "fam1_task0"])]


@case("values", "`MMD-cauchy-0` is accepted (an all-NaN matrix)")
def mmd_blur_zero(env, d):
    env.copy("features.h5", d)
    return [expect2(d, ["distance", "--features", "in/features.h5", "-m", "MMD-cauchy-0", "-o", "OUT/d.h5"],
                    ["MMD-cauchy-0", "blur"], "MMD-cauchy-0")]


@case("values", "`synth --family-spread nan` writes zeros")
def synth_spread_nan(env, d):
    return [expect2(d, ["synth", "-o", "OUT/f.h5", "--family-spread", "nan"], ["--family-spread"], "--family-spread nan"),
            expect2(d, ["synth", "-o", "OUT/f.h5", "--task-spread", "inf"], ["--task-spread"], "--task-spread inf")]


# ------------------------------------------------------------------------------------ half-written

def no_csv_left(o: Outcome) -> list[str]:
    left = [p for p in (o.run.out_dir / "csv").rglob("*") if p.is_file()] if (o.run.out_dir / "csv").exists() else []
    return [f"half-written: {left[0].name} left in --csv-dir"] if left else []


@case("half-written", "`distance -o /no/dir/x.h5 --csv-dir c/` writes the CSVs, then fails")
def distance_output_missing_folder(env, d):
    env.copy("fp.h5", d)
    return [expect2(d, ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "-o", "OUT/no/dir/x.h5", "--csv-dir",
                        "OUT/csv", "--backend", "cpu"], ["no/dir"], "distance", extra=no_csv_left)]


@case("half-written", "a failing second metric leaves the first one's CSV")
def distance_second_metric_fails(env, d):
    env.copy("fp-nocov.h5", d, "fp.h5")
    return [expect2(d, ["distance", "-f", "in/fp.h5", "-m", "bkld-small", "-m", "FID", "-o", "OUT/d.h5", "--csv-dir",
                        "OUT/csv", "--backend", "cpu"], ["fp.h5", "FID", "covariance"], "distance", extra=no_csv_left)]


# ------------------------------------------------------------------------------------ driver

def run_case(env: Env, c: Case) -> tuple[str, list[str]]:
    d = env.work / c.group / c.name
    if d.exists():
        shutil.rmtree(d, onerror=lambda fn, p, e: (os.chmod(os.path.dirname(p), 0o755), fn(p)))
    d.mkdir(parents=True)
    checks = [ch for ch in c.build(env, d) if ch is not None]
    lines = []
    failed = False
    for ch in checks:
        o = env.runner.run(ch.run)
        if ch.extra and o.status in ch.run.allowed:
            o.violations.extend(ch.extra(o))
        if o.ok:
            lines.append(f"  ok    {ch.run.label}: status {o.status}  {o.error_line()[:150]}")
        else:
            failed = True
            lines.append(f"  FAIL  {ch.run.label}: status {o.status}; " + "; ".join(o.violations))
            for line in o.stderr_tail(4).split("\n"):
                if line.strip():
                    lines.append(f"          stderr: {line[:200]}")
            lines.append(f"          reproduce: {o.reproducer}")
    return ("FAIL" if failed else "ok"), lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--taskfp", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--group", action="append", default=[], help="only these groups: " +
                    ", ".join(sorted({c.group for c in CASES})))
    ap.add_argument("--case", action="append", default=[], help="only these cases (by name)")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--address-space-gib", type=float, default=4.0)
    ap.add_argument("--paper-cache", help="the paper's cache folder (default ../shared/paper-cache; "
                                          "cases that need it are shortened without it)")
    ap.add_argument("--timeout-scale", type=float, default=float(os.environ.get("TASKFP_FUZZ_TIMEOUT_SCALE", "1")))
    args = ap.parse_args()
    selected = [c for c in CASES if (not args.group or c.group in args.group) and (not args.case or c.name in args.case)]
    if args.list:
        for c in selected:
            print(f"{c.group:<15} {c.name:<40} {c.issue}")
        return 0
    if not selected:
        ap.error("no case selected")
    work = Path(args.work).resolve()
    if work.exists():
        shutil.rmtree(work, onerror=lambda fn, p, e: (os.chmod(os.path.dirname(p), 0o755), fn(p)))
    work.mkdir(parents=True)
    cache = Path(args.paper_cache) if args.paper_cache else HERE.parent.parent.parent / "shared" / "paper-cache"
    env = Env(str(Path(args.taskfp).resolve()), work,
              Runner(args.taskfp, address_space=int(args.address_space_gib * (1 << 30)),
                     timeout_scale=args.timeout_scale),
              cache.resolve() if (cache / "exp").is_dir() and (cache / "distances" / "FID.csv").exists() else None)
    failed, skipped, start = [], [], time.monotonic()
    for c in selected:
        if c.needs_extract and not env.has_extract():
            skipped.append(c)
            print(f"skip  {c.group}/{c.name}: this taskfp has no `extract` (built without LibTorch)")
            continue
        verdict, lines = run_case(env, c)
        print(f"{verdict:<5} {c.group}/{c.name}: {c.issue}")
        print("\n".join(lines))
        if verdict != "ok":
            failed.append(c)
    print(f"\n{len(selected) - len(failed) - len(skipped)} passed, {len(failed)} failed, {len(skipped)} skipped "
          f"in {time.monotonic() - start:.1f} s")
    if failed:
        return 1
    return SKIP if skipped and len(skipped) == len(selected) else 0


if __name__ == "__main__":
    sys.exit(main())
