"""Small valid inputs of every kind taskfp reads, made with taskfp itself or with numpy/h5py/PIL.

Each maker writes into a folder and returns nothing; callers check that the seeds pass (exit 0)
before mutating them.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from mutate import npy_bytes

SYNTH_TASKS = ["fam0_task0", "fam0_task1", "fam1_task0", "fam1_task1"]
NPY_TASKS = ["alpha_task", "beta_task", "gamma_task", "delta_task", "epsilon_task", "zeta_task"]


class SeedError(RuntimeError):
    pass


def taskfp(binary: str, *args: str, cwd: Path | None = None, env: dict | None = None) -> None:
    """Runs taskfp to make a seed; a failure here is a harness error, not a finding."""
    import os
    e = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    p = subprocess.run([binary, "-q", *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise SeedError(f"making a seed failed: taskfp {' '.join(args)} -> status {p.returncode}\n{p.stderr}")


def write_npy(path: Path, array: np.ndarray, version: int = 1) -> None:
    fortran = array.flags.f_contiguous and not array.flags.c_contiguous
    descr = array.dtype.str
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': (%d, %d), }" % (
        descr, "True" if fortran else "False", array.shape[0], array.shape[1])
    payload = array.tobytes(order="F" if fortran else "C")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(npy_bytes(header, payload, version))


def npy_folder(folder: Path, tasks: list[str] = NPY_TASKS, n: int = 20, d: int = 6) -> None:
    """The paper's layout, one task per .npy flavour: float32 C order, float64, Fortran order,
    format version 2, big-endian float64 in Fortran order, float16."""
    rng = np.random.default_rng(11)
    for i, name in enumerate(tasks):
        a = rng.normal(i * 0.3, 1.0, size=(n, d)).astype("<f4")
        kind = i % 6
        if kind == 1:
            a = a.astype("<f8")
        elif kind == 2:
            a = np.asfortranarray(a)
        elif kind == 4:
            a = np.asfortranarray(a.astype(">f8"))
        elif kind == 5:
            a = a.astype("<f2")
        write_npy(folder / name / "features_0001.npy", a, version=2 if kind == 3 else 1)


def npy_from_store(store: Path, folder: Path) -> None:
    """The features of a store, as an npy folder."""
    with h5py.File(store, "r") as f:
        for name in f["tasks"]:
            write_npy(folder / name / "features_0001.npy", np.asarray(f["tasks"][name]["features"], dtype="<f4"))


def features_store(binary: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    taskfp(binary, "synth", "-o", str(path), "--families", "2", "--tasks-per-family", "2",
           "--samples", "20", "--dim", "6")


def fingerprint_store(binary: str, features: Path, path: Path, bins: str = "100,1000") -> None:
    taskfp(binary, "fingerprint", "-f", str(features), "-o", str(path), "--bins", bins,
           "--scaling-subset", "all", "--backend", "cpu")


def distance_store(binary: str, fingerprints: Path, path: Path) -> None:
    taskfp(binary, "distance", "-f", str(fingerprints), "-m", "bkld-small", "-m", "FID", "-o", str(path),
           "--backend", "cpu")


def distance_csv(binary: str, fingerprints: Path, folder: Path) -> Path:
    taskfp(binary, "distance", "-f", str(fingerprints), "-m", "bkld-small", "--csv-dir", str(folder),
           "--backend", "cpu")
    return folder / "KLD-PP:NS-W:TS-100-BINS.csv"


TASK_INFO_HEADER = (",name,task_types,num_classes,num_samples,domains,imbalance_ratios,datasets,"
                    "keywords,dimensions,max_resolution,min_resolution")


def task_info_csv(path: Path, tasks: list[str] = SYNTH_TASKS, bom_crlf: bool = False) -> None:
    """A task-info table in the paper's format for the given task names (invented metadata);
    `bom_crlf`: as pandas writes it with encoding='utf-8-sig' and lineterminator='\\r\\n', with
    an infinite imbalance ratio as R writes it."""
    keywords = [["'x-ray', 'chest', 'medical'"], ["'x-ray', 'bone', 'medical'"],
                ["'endoscopy', 'colon', 'medical'"], ["'natural', 'dogs'"]]
    lines = [TASK_INFO_HEADER]
    for i, t in enumerate(tasks):
        lines.append(f'{i},{t},classification,{2 + i},{100 * (i + 1)},domain{i % 2},{1.5 + i},set{i},'
                     f'"[{keywords[i % len(keywords)][0]}]",{2 + i % 2},{4096 * (i + 1)},{1024}')
    if not bom_crlf:
        path.write_text("\n".join(lines) + "\n")
        return
    lines[-1] = lines[-1].replace(f",{1.5 + len(tasks) - 1},", ",Inf,")
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode())


def bom_crlf_matrix_csv(source: Path, path: Path) -> None:
    """A distance CSV as pandas writes it with encoding='utf-8-sig', lineterminator='\\r\\n' and
    na_rep='NA', one value missing and one infinite."""
    rows = source.read_text().splitlines()
    cells = [r.split(",") for r in rows]
    cells[1][1], cells[2][2] = "NA", "-inf"
    path.write_bytes(b"\xef\xbb\xbf" + ("\r\n".join(",".join(c) for c in cells) + "\r\n").encode())


# ------------------------------------------------------------------------------------ images

def _pattern(rng: np.random.Generator, h: int, w: int, channels: int, maxval: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    base = (np.sin(x / rng.uniform(1.5, 4)) + np.cos(y / rng.uniform(1.5, 4)) + 2) / 4
    img = np.stack([np.roll(base, k, axis=1) for k in range(channels)], axis=-1)
    img = img + rng.normal(0, 0.05, img.shape)
    return np.clip(img * maxval, 0, maxval)


def png_seeds(rng: np.random.Generator) -> dict[str, bytes]:
    """Small PNGs of every kind taskfp decodes: grey, grey+alpha, RGB, RGBA, palette (with
    transparency), 16-bit grey, 1-bit."""
    out = {}
    for mode in ["L", "LA", "RGB", "RGBA", "P", "I;16", "1", "P-trns"]:
        h, w = int(rng.integers(12, 40)), int(rng.integers(12, 40))
        if mode == "I;16":
            im = Image.fromarray(_pattern(rng, h, w, 1, 65535)[..., 0].astype(np.uint16))
        elif mode in ("P", "P-trns", "1"):
            rgb = Image.fromarray(_pattern(rng, h, w, 3, 255).astype(np.uint8), "RGB")
            im = rgb.convert("1") if mode == "1" else rgb.convert("P", palette=Image.ADAPTIVE, colors=16)
        else:
            c = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
            arr = _pattern(rng, h, w, c, 255).astype(np.uint8)
            im = Image.fromarray(arr[..., 0] if c == 1 else arr, mode)
        buf = io.BytesIO()
        if mode == "P-trns":
            im.save(buf, "PNG", transparency=0)
        else:
            im.save(buf, "PNG")
        out[mode.replace(";", "")] = buf.getvalue()
    return out


def jpeg_seeds(rng: np.random.Generator) -> dict[str, bytes]:
    """Small JPEGs: grey, colour, 4:4:4 and 4:2:0 sampling, progressive, optimised tables, CMYK."""
    out = {}
    variants = [("grey", "L", {}), ("rgb420", "RGB", {"subsampling": 2}), ("rgb444", "RGB", {"subsampling": 0}),
                ("progressive", "RGB", {"progressive": True}), ("optimized", "RGB", {"optimize": True, "quality": 50}),
                ("grey-prog", "L", {"progressive": True, "quality": 95}), ("cmyk", "CMYK", {})]
    for name, mode, kw in variants:
        h, w = int(rng.integers(12, 40)), int(rng.integers(12, 40))
        c = {"L": 1, "RGB": 3, "CMYK": 4}[mode]
        arr = _pattern(rng, h, w, c, 255).astype(np.uint8)
        im = Image.fromarray(arr[..., 0] if c == 1 else arr, mode)
        buf = io.BytesIO()
        im.save(buf, "JPEG", **kw)
        out[name] = buf.getvalue()
    return out


def tiff_seeds(rng: np.random.Generator) -> dict[str, bytes]:
    """Small TIFFs of every kind taskfp decodes: grey 8/16 bit, grey + alpha, RGB, RGBA, palette,
    bilevel (G4), CMYK; uncompressed, LZW, deflate, PackBits, JPEG; tiles with the predictor,
    separate planes, big-endian 16-bit; two pages."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
    from make_image_fixtures import write_tiff  # the small writer of the image tests' fixtures

    out = {}
    h, w = int(rng.integers(12, 40)), int(rng.integers(12, 40))
    grey = _pattern(rng, h, w, 1, 255).astype(np.uint8)
    grey16 = _pattern(rng, h, w, 1, 65535).astype(np.uint16)
    rgb = _pattern(rng, h, w, 3, 255).astype(np.uint8)
    rgba = _pattern(rng, h, w, 4, 255).astype(np.uint8)
    pil = [("grey", Image.fromarray(grey[..., 0], "L"), {}),
           ("grey16-lzw", Image.fromarray(grey16[..., 0]), {"compression": "tiff_lzw"}),
           ("grey-alpha", Image.fromarray(_pattern(rng, h, w, 2, 255).astype(np.uint8), "LA"), {}),
           ("rgb-deflate", Image.fromarray(rgb, "RGB"), {"compression": "tiff_adobe_deflate"}),
           ("rgba-packbits", Image.fromarray(rgba, "RGBA"), {"compression": "packbits"}),
           ("palette", Image.fromarray(rgb, "RGB").convert("P", palette=Image.ADAPTIVE, colors=16), {}),
           ("bilevel-g4", Image.fromarray(grey[..., 0], "L").convert("1"), {"compression": "group4"}),
           ("cmyk", Image.fromarray(rgba, "CMYK"), {}),
           ("rgb-jpeg", Image.fromarray(rgb, "RGB"), {"compression": "jpeg"}),
           ("pages", Image.fromarray(rgb, "RGB"), {"save_all": True, "append_images": [Image.fromarray(grey[..., 0])]})]
    for name, im, kw in pil:
        buf = io.BytesIO()
        im.save(buf, "TIFF", **kw)
        out[name] = buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        for name, arr, photometric, kw in [
                ("rgb-tiled-predictor", rgb, 2, {"tile": (16, 16), "deflate": True, "predictor": True}),
                ("grey16-big-endian", grey16, 1, {"big_endian": True, "rows_per_strip": 5}),
                ("rgba-separate", rgba, 2, {"rows_per_strip": 7, "planar_separate": True, "extra_alpha": True})]:
            write_tiff(Path(tmp) / "t.tif", arr, photometric, **kw)
            out[name] = (Path(tmp) / "t.tif").read_bytes()
    return out


def image_taskset(binary: str, folder: Path) -> None:
    """Two class-folder tasks (one with a shrunk variant) and a manifest task, in set.yaml."""
    taskfp(binary, "synth-images", "-o", str(folder / "images"), "--families", "2",
           "--tasks-per-family", "1", "--classes", "2", "--images-per-class", "2", "--min-size", "16")
    roots = sorted(p.name for p in (folder / "images").iterdir() if p.is_dir())
    first = folder / "images" / roots[0] / "train"
    rows = ["path,label,split"]
    for cls in sorted(first.iterdir()):
        for img in sorted(cls.iterdir()):
            rows.append(f"images/{roots[0]}/train/{cls.name}/{img.name},{cls.name},train")
    rows.append(f"images/{roots[1]}/train/class0/0000.png,class0,test")
    (folder / "listed.csv").write_text("\n".join(rows) + "\n")
    (folder / "set.yaml").write_text(
        "# image task set\n"
        "tasks:\n"
        f"  - name: {roots[0]}\n"
        f"    root: images/{roots[0]}\n"
        "    shrink: [2]\n"
        f"  - name: {roots[1]}\n"
        f"    root: images/{roots[1]}\n"
        "    split: train\n"
        "  - name: listed_task\n"
        "    manifest: listed.csv\n")


def single_image_taskset(folder: Path, image: Path, name: str = "one_image") -> Path:
    """A task set whose one task holds exactly the given image (class folder layout)."""
    cls = folder / "task" / "c0"
    cls.mkdir(parents=True, exist_ok=True)
    shutil.copy(image, cls / image.name)
    (folder / "set.yaml").write_text(f"tasks:\n  - name: {name}\n    root: task\n")
    return folder / "set.yaml"


def parts_folder(binary: str, folder: Path) -> Path:
    """A finished parts folder of `extract --keep-parts`: 2 tasks x 2 chunks of 2 draws."""
    image_taskset(binary, folder / "src")
    out = folder / "x.h5"
    taskfp(binary, "extract", "-t", str(folder / "src" / "set.yaml"), "--tasks",
           ",".join(sorted(p.name for p in (folder / "src" / "images").iterdir() if p.is_dir())),
           "--random-weights", "-n", "4", "--size", "32", "--batch", "2", "--chunk", "2",
           "--keep-parts", "-o", str(out))
    out.unlink()
    parts = folder / "parts"
    (folder / "x.h5.parts").rename(parts)
    return parts
