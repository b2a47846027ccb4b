#!/usr/bin/python3
"""Builds a task set of real images from Debian packages (no downloads), for the demo and tests.

    /usr/bin/python3 scripts/make_real_tasks.py OUT [--patches N] [--seed S]

Writes OUT/taskset.yaml and the files its tasks need:

* Fashion-MNIST (package dataset-fashion-mnist; 60,000 training images, 28 x 28 grey, 10
  classes): read by taskfp straight from the packaged IDX files (nothing is copied). Tasks: all
  ten classes, footwear (sandal, sneaker, ankle boot), tops (t-shirt, pullover, coat, shirt), and
  the rest (trouser, dress, bag).
* scikit-learn's digits (python3-sklearn; 1,797 images, 8 x 8, values 0-16): written as 8-bit PNG
  class folders (value x 255 / 16, rounded). Tasks: all ten digits; the digits 0-4.
* The Colin27 T1 brain MRI (package mricron-data, templates/ch2.nii.gz, 1 mm MNI space) with the
  AAL atlas in the same space (templates/aal.nii.gz): cubes of N^3 voxels around seeded voxels of
  atlas regions, each written as a NIfTI volume into its class folder; taskfp cuts them into
  axial slices. Tasks: lobe (frontal, parietal, occipital, temporal), hemisphere (left, right),
  structure (cortex, subcortical grey matter, cerebellum). Every other cube is written in LAS
  instead of RAS voxel order (mirrored voxels, matching affine), so the slices are only alike
  when the reader honours the orientation.
* DICOM files shipped by python3-pydicom and python3-nibabel (their test data): a manifest of
  the CT, MR and NM images among them, labelled by their Modality; taskfp decodes them (JPEG,
  JPEG-LS, JPEG 2000, RLE, uncompressed) with each file's window.

With --transfer N it also writes OUT/transfer-taskset.yaml, the small tasks of the demo's transfer
study (configs/experiments/demo.yaml): the three Fashion-MNIST subsets as PNG class folders of N
images each (drawn with the seed from the IDX files), the digits, and the MRI lobe and structure
tasks; tasks of more than 600 images and fewer than 40 classes (the demo's shrink rule) also
list their shrunk variant (shrink: [200]) so that fingerprints exist for the shrunk targets.

Deterministic: the same seed gives the same files (NIfTI volumes uncompressed, PNGs without
timestamps). Takes a few seconds.
"""
import argparse
import glob
import os
import sys
import warnings

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"
MRICRON = "/usr/share/mricron/templates"
FASHION_NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def need(path, package):
    if not os.path.exists(path):
        sys.exit(f"make_real_tasks: {path} is missing; install the Debian package {package}")


def fashion_tasks():
    images = f"{FASHION}/train-images-idx3-ubyte.gz"
    labels = f"{FASHION}/train-labels-idx1-ubyte.gz"
    need(images, "dataset-fashion-mnist")
    names = "[" + ", ".join(FASHION_NAMES) + "]"
    tasks = []
    for name, classes in [("fashion-all", None), ("fashion-footwear", [5, 7, 9]), ("fashion-tops", [0, 2, 4, 6]),
                          ("fashion-other", [1, 3, 8])]:
        keep = "" if classes is None else f", classes: {classes}"
        tasks.append(f"  - name: {name}\n    idx: {{images: {images}, labels: {labels}{keep}, names: {names}}}\n")
    return tasks


def write_png_grey(path, pixels):
    from PIL import Image
    Image.fromarray(pixels, mode="L").save(path, optimize=False)


def digits_tasks(out):
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit("make_real_tasks: scikit-learn is missing; install the Debian package python3-sklearn")
    digits = load_digits()
    images = np.rint(digits.images * 255.0 / 16.0).astype(np.uint8)
    root = os.path.join(out, "digits")
    for k, (img, label) in enumerate(zip(images, digits.target)):
        folder = os.path.join(root, str(label))
        os.makedirs(folder, exist_ok=True)
        write_png_grey(os.path.join(folder, f"{k:04d}.png"), img)
    low = os.path.join(out, "digits-0-4")
    for label in range(5):
        os.makedirs(low, exist_ok=True)
        link = os.path.join(low, str(label))
        if not os.path.lexists(link):
            os.symlink(os.path.join("..", "digits", str(label)), link)
    return ["  - name: digits-all\n    root: digits\n", "  - name: digits-0-4\n    root: digits-0-4\n"]


# AAL codes (templates/aal.nii.txt, third column): the first digit is the lobe or structure.
AAL_GROUPS = {"2": "frontal", "3": "insula", "4": "limbic", "5": "occipital", "6": "parietal", "7": "subcortical",
              "8": "temporal", "9": "cerebellum"}


def aal_regions():
    regions = {}
    with open(f"{MRICRON}/aal.nii.txt") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                regions[int(parts[0])] = (parts[1], parts[2])
    return regions


def mri_tasks(out, patches, size, seed):
    import nibabel as nib
    need(f"{MRICRON}/ch2.nii.gz", "mricron-data")
    t1 = nib.load(f"{MRICRON}/ch2.nii.gz")
    atlas = nib.load(f"{MRICRON}/aal.nii.gz")
    assert np.allclose(t1.affine, atlas.affine) and t1.shape == atlas.shape, "ch2 and aal are not on one grid"
    volume = np.asanyarray(t1.dataobj)
    labels = np.asanyarray(atlas.dataobj).astype(np.int32)
    regions = aal_regions()
    group = np.zeros(labels.max() + 1, dtype="<U16")
    side = np.zeros(labels.max() + 1, dtype="<U16")
    for index, (name, code) in regions.items():
        group[index] = AAL_GROUPS.get(code[0], "")
        side[index] = "left" if name.endswith("_L") else "right" if name.endswith("_R") else ""
    structure = {"frontal": "cortex", "parietal": "cortex", "occipital": "cortex", "temporal": "cortex",
                 "subcortical": "subcortical", "cerebellum": "cerebellum"}
    half = size // 2
    inside = np.zeros(labels.shape, dtype=bool)  # centres whose cube fits in the volume
    inside[half:labels.shape[0] - half, half:labels.shape[1] - half, half:labels.shape[2] - half] = True
    rng = np.random.default_rng(seed)

    def write_cubes(task, classes):
        tasks_root = os.path.join(out, task)
        for cls, mask in classes.items():
            folder = os.path.join(tasks_root, cls)
            os.makedirs(folder, exist_ok=True)
            centres = np.argwhere(mask & inside)
            picks = centres[rng.choice(len(centres), size=patches, replace=len(centres) < patches)]
            for k, (i, j, l) in enumerate(picks):
                cube = volume[i - half:i + half, j - half:j + half, l - half:l + half]
                affine = t1.affine.copy()
                affine[:3, 3] = t1.affine[:3, :3] @ [i - half, j - half, l - half] + t1.affine[:3, 3]
                if k % 2:  # LAS: the x axis mirrored, its affine column negated and origin moved
                    cube = cube[::-1, :, :]
                    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
                    flip[0, 3] = size - 1
                    affine = affine @ flip
                img = nib.Nifti1Image(np.ascontiguousarray(cube), affine)
                img.set_qform(affine, code=1)
                img.set_sform(affine, code=1)
                nib.save(img, os.path.join(folder, f"{cls}-{k:03d}.nii"))
        return (f"  - name: {task}\n    root: {task}\n"
                "    nifti: {axis: axial, slices: {central: 0.5}, intensity: {percentiles: [0.5, 99.5]}}\n")

    g = group[labels]
    s = side[labels]
    return [
        write_cubes("mri-lobe", {c: g == c for c in ["frontal", "parietal", "occipital", "temporal"]}),
        write_cubes("mri-hemisphere", {"left": (s == "left") & (g != "cerebellum"),
                                       "right": (s == "right") & (g != "cerebellum")}),
        write_cubes("mri-structure", {c: np.isin(g, [k for k, v in structure.items() if v == c])
                                      for c in ["cortex", "subcortical", "cerebellum"]}),
    ]


# pydicom's tests of malformed files that taskfp refuses (with --skip-bad: skips): a JPEG 2000
# codestream whose size disagrees with the DICOM header.
MALFORMED_DICOM = {"JPEG2000-embedded-sequence-delimiter.dcm"}


def dicom_task(out):
    import pydicom
    roots = ["/usr/lib/python3/dist-packages/pydicom/data/test_files", "/usr/lib/python3/dist-packages/nibabel"]
    need(roots[0], "python3-pydicom")
    warnings.simplefilter("ignore")  # pydicom's notes on the test files' deliberate oddities
    rows = []
    for path in sorted(p for r in roots for p in glob.glob(f"{r}/**/*.dcm", recursive=True)):
        if os.path.basename(path) in MALFORMED_DICOM:
            continue
        try:
            ds = pydicom.dcmread(path)
            modality = str(ds.get("Modality", ""))
            if modality not in ("CT", "MR", "NM") or "PixelData" not in ds:
                continue
            if not ds.file_meta.TransferSyntaxUID.is_compressed:  # leave out truncated test files
                frames = int(ds.get("NumberOfFrames", 1) or 1)
                if len(ds.PixelData) < ds.Rows * ds.Columns * ds.SamplesPerPixel * frames * ds.BitsAllocated // 8:
                    continue
        except Exception:  # the packages' deliberately broken test files
            continue
        rows.append((path, modality))
    with open(os.path.join(out, "dicom-modality.csv"), "w") as f:
        f.write("path,label,split\n")
        for path, modality in rows:
            f.write(f"{path},{modality},train\n")
    return ["  - name: dicom-modality\n    manifest: dicom-modality.csv\n    dicom: {window: file}\n"]


CUBE_SLICES = [16]


def read_idx(path):
    import gzip
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def transfer_tasks(out, per_task, seed):
    """The demo transfer study's tasks; returns the task set's lines."""
    images = read_idx(f"{FASHION}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{FASHION}/train-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(seed)
    entries = []
    for name, classes in [("fashion-footwear", [5, 7, 9]), ("fashion-tops", [0, 2, 4, 6]),
                          ("fashion-other", [1, 3, 8])]:
        pool = np.flatnonzero(np.isin(labels, classes))
        picks = np.sort(rng.choice(pool, size=per_task, replace=False))
        root = os.path.join(out, "transfer", name)
        for k in picks:
            folder = os.path.join(root, FASHION_NAMES[labels[k]])
            os.makedirs(folder, exist_ok=True)
            write_png_grey(os.path.join(folder, f"{k:05d}.png"), images[k])
        entries.append((name, os.path.join("transfer", name), per_task, len(classes), ""))
    counts = {}
    for task in ("digits", "digits-0-4", "mri-lobe", "mri-structure"):
        files = [f for _, _, fs in os.walk(os.path.join(out, task), followlinks=True) for f in fs]
        counts[task] = (len(files), len(os.listdir(os.path.join(out, task))))
    slices = "\n    nifti: {axis: axial, slices: {central: 0.5}, intensity: {percentiles: [0.5, 99.5]}}"
    entries.append(("digits-all", "digits", counts["digits"][0], counts["digits"][1], ""))
    entries.append(("digits-0-4", "digits-0-4", counts["digits-0-4"][0], counts["digits-0-4"][1], ""))
    for task in ("mri-lobe", "mri-structure"):
        volumes = counts[task][0]
        entries.append((task, task, volumes * CUBE_SLICES[0], counts[task][1], slices))
    lines = []
    for name, root, n, classes, extra in entries:
        shrink = "\n    shrink: [200]" if n > 600 and classes < 40 else ""
        lines.append(f"  - name: {name}\n    root: {root}{extra}{shrink}\n")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--patches", type=int, default=12, help="MRI cubes per class (default 12)")
    ap.add_argument("--cube", type=int, default=32, help="MRI cube edge in voxels (default 32)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--transfer", type=int, default=0, metavar="N",
                    help="also write transfer-taskset.yaml with N images per Fashion-MNIST task (the demo's "
                         "transfer study)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tasks = fashion_tasks() + digits_tasks(a.out) + mri_tasks(a.out, a.patches, a.cube, a.seed) + dicom_task(a.out)
    with open(os.path.join(a.out, "taskset.yaml"), "w") as f:
        f.write("# Real image tasks from Debian packages: scripts/make_real_tasks.py\ntasks:\n")
        f.writelines(tasks)
    print(f"make_real_tasks: {len(tasks)} tasks in {os.path.join(a.out, 'taskset.yaml')}")
    if a.transfer > 0:
        CUBE_SLICES[0] = a.cube // 2  # the axial slices a cube gives (its central half)
        lines = transfer_tasks(a.out, a.transfer, a.seed)
        with open(os.path.join(a.out, "transfer-taskset.yaml"), "w") as f:
            f.write("# The demo transfer study's tasks: scripts/make_real_tasks.py --transfer\ntasks:\n")
            f.writelines(lines)
        print(f"make_real_tasks: {len(lines)} tasks in {os.path.join(a.out, 'transfer-taskset.yaml')}")


if __name__ == "__main__":
    main()
