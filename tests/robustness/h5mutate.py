"""Structure-aware HDF5 mutations with h5py: the file stays valid HDF5, its contents do not.

mutate_store(path, rng) edits a copy of a store in place: a dataset of another dtype, rank or
shape (also huge declared dimensions with no data written), a scalar or empty dataset where a
list is expected, non-finite or negative values, missing or extra groups, datasets and links
(dangling, external, cyclic), attributes of another type or value. Returns a description.
"""
from __future__ import annotations

import random

import h5py
import numpy as np

from mutate import INTERESTING_STRINGS, pick

STR = h5py.string_dtype("utf-8")


def objects(f: h5py.File) -> tuple[list[str], list[str]]:
    """Paths of the groups (root included) and datasets, without following links."""
    groups, datasets = ["/"], []

    def visit(name, obj):
        (groups if isinstance(obj, h5py.Group) else datasets).append("/" + name)

    f.visititems(visit)
    return groups, datasets


def _replace(f: h5py.File, path: str, **kwargs) -> None:
    attrs = dict(f[path].attrs) if path in f else {}
    if path in f:
        del f[path]
    ds = f.create_dataset(path, **kwargs)
    for k, v in attrs.items():
        try:
            ds.attrs[k] = v
        except (TypeError, ValueError):
            pass


def _data(ds: h5py.Dataset):
    try:
        return ds[()]
    except (OSError, TypeError, ValueError):
        return np.zeros(ds.shape, dtype="f8") if ds.shape is not None else np.float64(0)


def _is_strings(ds: h5py.Dataset) -> bool:
    return h5py.check_string_dtype(ds.dtype) is not None


# Datasets an earlier mutation declared huge are never read or materialised here (reading one
# means gigabytes of fill values in this process, whose peak memory the runs it starts inherit).
HUGE = 1 << 22


def mutate_dataset(f: h5py.File, path: str, rng: random.Random) -> str:
    ds = f[path]
    shape = ds.shape or ()
    if int(np.prod(shape, dtype=object)) > HUGE:
        data, op = None, pick(rng, [3, 4, 5])
    else:
        data, op = _data(ds), rng.randrange(15)
    if op == 0:  # another element type
        dt = pick(rng, ["i4", "i8", "u1", "f2", "f4", "f8", "c8", "?", "S8", "str", "compound", "enum"])
        if dt == "str":
            new = np.array(["x"] * int(np.prod(shape)), dtype=object).reshape(shape) if shape else "x"
            _replace(f, path, data=new, dtype=STR)
        elif dt == "compound":
            ct = np.dtype([("a", "f8"), ("b", "i4")])
            _replace(f, path, data=np.zeros(shape, dtype=ct))
        elif dt == "enum":
            _replace(f, path, data=np.zeros(shape, dtype="i1"), dtype=h5py.enum_dtype({"A": 0, "B": 1}, basetype="i1"))
        elif _is_strings(ds):
            _replace(f, path, data=np.zeros(shape, dtype=dt))
        else:
            try:
                new = np.asarray(data).astype(dt)
            except (ValueError, TypeError):
                new = np.zeros(shape, dtype=dt)
            _replace(f, path, data=new)
        return f"{path}: dtype -> {dt}"
    if op == 1:  # another rank
        flat = np.asarray(data).reshape(-1)
        kind = rng.randrange(4)
        if kind == 0:
            new = flat
        elif kind == 1:
            new = flat.reshape(1, 1, -1) if flat.size else np.zeros((1, 1, 0))
        elif kind == 2:
            new = flat[:1].reshape(()) if flat.size else np.float64(0)
        else:
            new = flat.reshape(-1, 1)
        _replace(f, path, data=new, dtype=ds.dtype)
        return f"{path}: shape {shape} -> {np.shape(new)}"
    if op == 2:  # rows or columns added, removed or transposed
        arr = np.asarray(data)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        axis = rng.randrange(arr.ndim)
        kind = rng.randrange(4)
        if kind == 0 and arr.shape[axis] > 0:
            new = np.delete(arr, rng.randrange(arr.shape[axis]), axis=axis)
        elif kind == 1:
            new = np.concatenate([arr, np.take(arr, [0] if arr.shape[axis] else [], axis=axis)], axis=axis) \
                if arr.shape[axis] else arr
        elif kind == 2:
            new = np.take(arr, [], axis=axis)
        else:
            new = arr.T
        _replace(f, path, data=new, dtype=ds.dtype)
        return f"{path}: shape {shape} -> {new.shape}"
    if op == 3:  # huge declared dimensions, no data written
        dims = list(shape) or [1]
        k = rng.randrange(len(dims))
        dims[k] = pick(rng, [2**31, 2**32 + 1, 2**40, 2**62 // max(1, int(np.prod(dims)) or 1)])
        dt = ds.dtype if not _is_strings(ds) else STR
        chunks = tuple(1 if i == k else max(1, min(d, 1024)) for i, d in enumerate(dims))
        _replace(f, path, shape=tuple(dims), dtype=dt, chunks=chunks)
        return f"{path}: declared shape {tuple(dims)} (chunked, nothing written)"
    if op == 4:  # scalar where an array is expected
        val = pick(rng, [1.0, float("nan"), 0, "x"])
        _replace(f, path, data=val, dtype=STR if isinstance(val, str) else None)
        return f"{path}: scalar {val!r}"
    if op == 5:
        _replace(f, path, data=h5py.Empty("f8" if not _is_strings(ds) else STR))
        return f"{path}: empty (null) dataspace"
    if op in (6, 7) and not _is_strings(ds) and np.asarray(data).size:  # values
        arr = np.array(data, dtype="f8")
        flat = arr.reshape(-1)
        v = pick(rng, [np.nan, np.inf, -np.inf, -1.0, -1e-300, 1e308, 0.0, 1e-320])
        if rng.random() < 0.3:
            flat[:] = v
            what = f"all values {v}"
        else:
            k = rng.randrange(flat.size)
            flat[k] = v
            what = f"value {k} = {v}"
        _replace(f, path, data=flat.reshape(arr.shape).astype(ds.dtype), dtype=ds.dtype)
        return f"{path}: {what}"
    if op == 8:
        del f[path]
        return f"{path}: deleted"
    if op == 9:
        del f[path]
        f.create_group(path)
        return f"{path}: a group instead of a dataset"
    if op == 10:  # a string dataset's strings
        if _is_strings(ds) and np.asarray(data).size:
            arr = np.array(data, dtype=object).reshape(-1)
            k = rng.randrange(arr.size)
            arr[k] = pick(rng, INTERESTING_STRINGS + [arr[(k + 1) % arr.size]])
            if isinstance(arr[k], str) and "\x00" in arr[k]:
                arr[k] = arr[k].replace("\x00", "")
            try:
                _replace(f, path, data=arr, dtype=STR)
            except (ValueError, TypeError):
                return f"{path}: unchanged"
            return f"{path}: string {k} -> {str(arr[k])[:30]!r}"
        _replace(f, path, data=np.array([b"a", b"b"], dtype="S1"))
        return f"{path}: fixed-length strings instead of numbers"
    if op == 11:  # links where a dataset was
        del f[path]
        target = pick(rng, ["/", "/nonexistent", path.rsplit("/", 1)[0] or "/", "/tasks"])
        if rng.random() < 0.5:
            f[path] = h5py.SoftLink(target)
            return f"{path}: soft link to {target}"
        f[path] = h5py.ExternalLink("missing-file.h5", "/x")
        return f"{path}: external link to a missing file"
    if op == 12:  # fixed-length string dtype for variable-length strings, or the reverse
        if _is_strings(ds):
            arr = np.array([s if isinstance(s, bytes) else str(s).encode() for s in np.asarray(data, dtype=object).reshape(-1)])
            _replace(f, path, data=arr.astype("S16"))
            return f"{path}: fixed-length strings"
        _replace(f, path, data=np.array(["1", "2"], dtype=object), dtype=STR)
        return f"{path}: strings instead of numbers"
    if op == 13:  # many elements in a 1-D dataset (a long list)
        n = pick(rng, [10000, 100000])
        if _is_strings(ds):
            _replace(f, path, data=np.array([f"t{i}" for i in range(n)], dtype=object), dtype=STR)
        else:
            _replace(f, path, data=np.ones(n))
        return f"{path}: {n} elements"
    # an attribute on the dataset
    return mutate_attrs(ds, rng, path)


def _attr_value(rng: random.Random, old):
    kind = rng.randrange(10)
    if kind == 0:
        return "int64", np.int64(pick(rng, [0, -1, 2**63 - 1, -(2**63), 1, 2, 99]))
    if kind == 1:
        return "uint64", np.uint64(pick(rng, [2**64 - 1, 2**63]))
    if kind == 2:
        return "float", np.float64(pick(rng, [float("nan"), float("inf"), -0.0, 1.5, 1e308]))
    if kind == 3:
        return "string", pick(rng, INTERESTING_STRINGS[:-2] + ["1", "-1", "features", "fingerprints", "distances"]).replace("\x00", "")
    if kind == 4:
        return "bytes", np.bytes_(pick(rng, [b"\xff\xfe", b"a\x00b", b"", b"\x80"]))
    if kind == 5:
        return "string array", np.array(["a", "b"], dtype=object)
    if kind == 6:
        return "int array", np.arange(3, dtype="i8")
    if kind == 7:
        return "long string", "z" * pick(rng, [4096, 1 << 20])
    if kind == 8:
        return "empty", h5py.Empty("f8")
    return "bool", np.bool_(True)


def mutate_attrs(obj, rng: random.Random, path: str) -> str:
    names = list(obj.attrs.keys())
    op = rng.randrange(4)
    if names and op == 0:
        name = pick(rng, names)
        del obj.attrs[name]
        return f"{path}: attribute {name} deleted"
    if names and op in (1, 2):
        name = pick(rng, names)
        what, val = _attr_value(rng, obj.attrs.get(name))
        del obj.attrs[name]
        if isinstance(val, str) or (isinstance(val, np.ndarray) and val.dtype == object):
            obj.attrs.create(name, val, dtype=STR)
        else:
            obj.attrs.create(name, val)
        return f"{path}: attribute {name} -> {what}"
    name = pick(rng, ["extra", "taskfp_kind", "n_samples", "bins", "schema_version", "feature_dim"])
    what, val = _attr_value(rng, None)
    if name in obj.attrs:
        del obj.attrs[name]
    if isinstance(val, str) or (isinstance(val, np.ndarray) and val.dtype == object):
        obj.attrs.create(name, val, dtype=STR)
    else:
        obj.attrs.create(name, val)
    return f"{path}: attribute {name} added as {what}"


def mutate_group(f: h5py.File, path: str, rng: random.Random) -> str:
    g = f[path]
    children = list(g.keys())
    op = rng.randrange(9)
    if op == 0 and path != "/":
        del f[path]
        return f"{path}: group deleted"
    if op == 1 and children:  # a child renamed
        old = pick(rng, children)
        new = pick(rng, ["..", ".x", " ", "ü", "x" * 1000, "%s", "a b", "-", "@x", "#", old + "\t", "0"])
        if new in g:
            return f"{path}: unchanged"
        g.move(old, new)
        return f"{path}: child {old!r} renamed {new[:20]!r}"
    if op == 2:  # an extra child
        kind = rng.randrange(3)
        name = pick(rng, ["extra", "zz", "tasks", "features", "hist_100", "covariance", "mean"])
        if name in g:
            name = name + "_x"
        if kind == 0:
            g.create_group(name)
        elif kind == 1:
            g.create_dataset(name, data=np.arange(4.0))
        else:
            g.create_dataset(name, data="text", dtype=STR)
        return f"{path}: extra {'group' if kind == 0 else 'dataset'} {name}"
    if op == 3 and path != "/":  # a dataset where the group was
        del f[path]
        f.create_dataset(path, data=np.arange(3.0))
        return f"{path}: a dataset instead of the group"
    if op == 4:  # a link cycle
        g["loop"] = g if path != "/" else f["/"]
        return f"{path}: hard link 'loop' to itself"
    if op == 5:
        g["dangling"] = h5py.SoftLink("/does/not/exist")
        return f"{path}: dangling soft link"
    if op == 6:
        n = pick(rng, [500, 5000])
        for i in range(n):
            g.create_group(f"g{i:05d}")
        return f"{path}: {n} extra empty groups"
    if op == 7 and children:  # a child duplicated under another name (hard link)
        c = pick(rng, children)
        g[c + "_copy"] = g[c]
        return f"{path}: {c} hard-linked as {c}_copy"
    return mutate_attrs(g, rng, path)


def mutate_store(path: str, rng: random.Random, ops: int | None = None) -> str:
    """Applies 1..2 structure-aware edits to the HDF5 file at path."""
    done = []
    with h5py.File(path, "r+") as f:
        for _ in range(ops or rng.choice([1, 1, 1, 2])):
            groups, datasets = objects(f)
            r = rng.random()
            try:
                if datasets and r < 0.55:
                    done.append(mutate_dataset(f, pick(rng, datasets), rng))
                elif r < 0.8:
                    done.append(mutate_group(f, pick(rng, groups), rng))
                else:
                    target = pick(rng, groups)
                    done.append(mutate_attrs(f[target], rng, target))
            except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
                done.append(f"(edit failed: {type(e).__name__})")
    return "; ".join(done)
