"""The dataset store: the only reader and writer of the compiled HDF5 format.

One file per dataset::

    /                 attrs: format, targets, selection, provenance, report,
                             fingerprint (content), input_fingerprint
    /combined/        one row per star (the global-weighted combined spectrum)
        spectra, spectra_err      (N, 7514) float32
        labels, labels_err        (N, 22) float32, ASPCAP labels in TARGETS order,
                                  -9999 where ASPCAP has none (kept: the censored loss
                                  ignores them)
        truth                     (N, 22) float32, synthetic sources only
        APOGEE_ID, TELESCOPE, FIELD, LOCATION_ID, RA, DEC, SNR, NVISITS, allstar_index
    /visits/          one row per individual visit of those stars with NVISITS > 1
                      (as in the paper: a single visit is the combined spectrum):
                      the same columns, SNR of the visit, plus star_index (row in
                      /combined) and visit (0-based visit number within the apStar file)

:func:`write` creates a file (its content fingerprint hashes every array, so two files
with the same numbers have the same fingerprint whatever their HDF5 bytes);
:func:`load` returns ``(x, y, x_err, y_err)`` of one group for chosen targets, reading only
that group (and only the requested ``rows``); :func:`load_columns`, :func:`info` and
:func:`fingerprint` read the rest.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from astronn_paper import apogee
from astronn_paper.dataset.selection import labels_from_allstar

FORMAT = "astronn_paper.dataset/1"


KINDS = ("combined", "visits")


# allStar columns copied per row (name in allStar -> dtype in the file).
_ID_COLUMNS = {"APOGEE_ID": "S", "TELESCOPE": "S", "FIELD": "S", "LOCATION_ID": np.int32,
               "RA": np.float64, "DEC": np.float64, "SNR": np.float32, "NVISITS": np.int32}


#: HDF5 storage of the spectra: 64-row chunks, byte-shuffled, deflate level 1 (lossless;
#: ~35 % smaller for normalised float32 spectra at ~100 MB/s).
SPECTRA_STORAGE = {"chunk_rows": 64, "compression": "gzip", "compression_opts": 1,
                   "shuffle": True}


def _storage(n: int) -> dict:
    if n == 0:
        return {}
    s = dict(SPECTRA_STORAGE)
    return {"chunks": (min(s.pop("chunk_rows"), n), apogee.N_PIX_GAP_DELETED), **s}


def row_columns(allstar: np.ndarray, rows: np.ndarray, truth=None) -> dict[str, np.ndarray]:
    """The per-row columns of a group: allStar identifiers, ASPCAP labels, the true labels
    ``truth`` ((n, 22), synthetic sources) and the allStar index of each row."""
    cols: dict[str, np.ndarray] = {}
    names = allstar.dtype.names
    for name, dtype in _ID_COLUMNS.items():
        if name not in names:
            continue
        v = np.asarray(allstar[name][rows])
        if dtype == "S":
            v = np.char.strip(v.astype(str)).astype("S")
        else:
            v = v.astype(dtype)
        cols[name] = v
    cols["labels"], cols["labels_err"] = labels_from_allstar(allstar, rows)
    if truth is not None:
        cols["truth"] = np.asarray(truth, np.float32)
    cols["allstar_index"] = rows.astype(np.int64)
    return cols


def _rows_arg(rows, n: int):
    """An h5py-friendly selection of ``rows`` and the reordering to apply after reading."""
    if rows is None:
        return slice(None), None
    if isinstance(rows, slice):
        return slice(*rows.indices(n)), None
    rows = np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    rows = np.where(rows < 0, rows + n, rows).astype(np.int64)
    uniq, inverse = np.unique(rows, return_inverse=True)
    return uniq, inverse


def _read(ds, sel, inverse):
    if isinstance(sel, np.ndarray) and sel.size == 0:
        return np.empty((0,) + ds.shape[1:], ds.dtype)
    a = ds[sel]
    return a if inverse is None else a[inverse]


def _group(f, kind: str, path):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind not in f:
        raise KeyError(f"{path} has no {kind!r} group"
                       + (f" ({f.attrs['visits']})" if "visits" in f.attrs else ""))
    return f[kind]


def load(path: os.PathLike, targets=apogee.TARGETS, kind: str = "combined",
         columns=(), rows=None):
    """Load ``(x, y, x_err, y_err)`` of the ``kind`` group ("combined" or "visits").

    ``x``/``x_err``: normalised spectra (n, 7514) float32; ``y``/``y_err``: the labels of
    ``targets`` (names from :data:`apogee.TARGETS`, in the order given) with -9999 where
    missing. ``rows`` (a slice, integer or boolean index) reads part of the group only.
    With ``columns`` (names of other datasets of the group, e.g. "APOGEE_ID", "SNR",
    "truth"), a fifth item, a dict of those columns, is returned.
    """
    import h5py

    targets = [targets] if isinstance(targets, str) else list(targets)
    with h5py.File(path, "r") as f:
        stored = json.loads(f.attrs["targets"])
        unknown = [t for t in targets if t not in stored]
        if unknown:
            raise KeyError(f"unknown targets {unknown}; the file holds {stored}")
        cols = [stored.index(t) for t in targets]
        g = _group(f, kind, path)
        sel, inverse = _rows_arg(rows, g["spectra"].shape[0])
        x = _read(g["spectra"], sel, inverse)
        x_err = _read(g["spectra_err"], sel, inverse)
        y = _read(g["labels"], sel, inverse)[:, cols]
        y_err = _read(g["labels_err"], sel, inverse)[:, cols]
        if columns:
            extra = _load_group_columns(g, columns, sel, inverse, path, kind)
            return x, y, x_err, y_err, extra
    return x, y, x_err, y_err


def _load_group_columns(g, names, sel, inverse, path, kind) -> dict[str, np.ndarray]:
    out = {}
    for name in ([names] if isinstance(names, str) else names):
        if name not in g:
            raise KeyError(f"{path}:{kind} has no column {name!r}; columns: {sorted(g)}")
        v = _read(g[name], sel, inverse)
        out[name] = np.char.decode(v) if v.dtype.kind == "S" else v
    return out


def load_columns(path: os.PathLike, names, kind: str = "combined", rows=None) -> dict:
    """Columns of one group by name (bytes decoded to str), e.g. ``["APOGEE_ID", "SNR"]``."""
    import h5py

    with h5py.File(path, "r") as f:
        g = _group(f, kind, path)
        sel, inverse = _rows_arg(rows, g["spectra"].shape[0])
        return _load_group_columns(g, names, sel, inverse, path, kind)


def column_names(path: os.PathLike, kind: str = "combined") -> list[str]:
    """Names of the columns (datasets) of group ``kind``."""
    import h5py

    with h5py.File(path, "r") as f:
        return sorted(_group(f, kind, path))


def snr_by_group(paths: dict) -> dict:
    """``{(name, kind): SNR}`` of the combined spectra and the visits of each dataset file of
    ``paths`` (``{name: path}``); a dataset compiled without visits has no visits key."""
    out = {}
    for name, path in paths.items():
        for kind in ("combined", "visits"):
            try:
                out[(name, kind)] = load_columns(path, ["SNR"], kind)["SNR"]
            except KeyError:
                continue
    return out


def labels(path: os.PathLike, targets=apogee.TARGETS, kind: str = "combined", rows=None,
           column: str = "labels") -> np.ndarray:
    """The ``column`` ("labels", "labels_err" or "truth") of ``targets`` without reading the
    spectra: (n, len(targets)) float32."""
    import h5py

    targets = [targets] if isinstance(targets, str) else list(targets)
    with h5py.File(path, "r") as f:
        stored = json.loads(f.attrs["targets"])
        g = _group(f, kind, path)
        if column not in g:
            raise KeyError(f"{path}:{kind} has no column {column!r}")
        sel, inverse = _rows_arg(rows, g[column].shape[0])
        return _read(g[column], sel, inverse)[:, [stored.index(t) for t in targets]]


def info(path: os.PathLike) -> dict:
    """Attributes of a compiled file (selection, provenance, report, fingerprints, sizes)."""
    import h5py

    with h5py.File(path, "r") as f:
        out = {k: (json.loads(v) if k in ("selection", "provenance", "report", "targets") else v)
               for k, v in f.attrs.items()}
        out["n"] = {k: int(f[k]["spectra"].shape[0]) for k in KINDS if k in f}
    out["bytes"] = Path(path).stat().st_size
    return out


def recorded_input_fingerprint(path: os.PathLike) -> str | None:
    """The input fingerprint a file was compiled from (None if unreadable or absent)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            v = f.attrs.get("input_fingerprint")
    except OSError:
        return None
    return None if v is None else (v.decode() if isinstance(v, bytes) else str(v))


def fingerprint(path: os.PathLike) -> str:
    """The content fingerprint recorded in a dataset file."""
    import h5py

    with h5py.File(path, "r") as f:
        fp = f.attrs.get("fingerprint")
    if fp is None:
        raise ValueError(f"{path} carries no 'fingerprint' attribute: not a compiled dataset")
    return fp.decode() if isinstance(fp, bytes) else str(fp)


def write(path: os.PathLike, columns: dict[str, dict[str, np.ndarray]],
          parts: Iterable[dict[str, np.ndarray]], attrs: dict) -> str:
    """Write a dataset file at ``path`` and return its content fingerprint.

    ``columns[kind]`` holds the per-row columns of group ``kind`` (:func:`row_columns` plus
    any extra); ``parts`` yields, in row order, dicts with the ``<kind>/spectra`` and
    ``<kind>/spectra_err`` rows of each group (so the spectra stream through, one part in
    memory at a time); ``attrs`` are stored as the file's attributes (``str`` values) next to
    ``format``, ``targets`` and the content ``fingerprint``.
    """
    import h5py

    digests: dict[str, "hashlib._Hash"] = {}
    with h5py.File(path, "w", libver=("earliest", "v110")) as f:
        spectra, n_rows = {}, {}
        for kind, cols in columns.items():
            n = n_rows[kind] = len(cols["allstar_index"])
            g = f.create_group(kind)
            g.attrs["n"] = n
            for name in ("spectra", "spectra_err"):
                spectra[f"{kind}/{name}"] = g.create_dataset(
                    name, shape=(n, apogee.N_PIX_GAP_DELETED), dtype=np.float32, **_storage(n))
                digests[f"{kind}/{name}"] = hashlib.sha256()
            for name, values in cols.items():
                g.create_dataset(name, data=values)
                digests[f"{kind}/{name}"] = hashlib.sha256(np.ascontiguousarray(values).tobytes())
        start = dict.fromkeys(columns, 0)
        for part in parts:
            for kind in columns:
                n = len(part[f"{kind}/spectra"])
                for name in ("spectra", "spectra_err"):
                    key = f"{kind}/{name}"
                    if n:
                        spectra[key][start[kind]:start[kind] + n] = part[key]
                        digests[key].update(np.ascontiguousarray(part[key]).tobytes())
                start[kind] += n
        if start != n_rows:
            raise ValueError(f"the spectra parts hold {start} rows, the columns {n_rows}")
        content = hashlib.sha256(
            "".join(f"{k}:{digests[k].hexdigest()}" for k in sorted(digests)).encode()
        ).hexdigest()[:16]
        f.attrs["format"] = FORMAT
        f.attrs["targets"] = json.dumps(list(apogee.TARGETS))
        for key, value in attrs.items():
            f.attrs[key] = value
        f.attrs["fingerprint"] = content
    return content


def write_subset(path: os.PathLike, out: os.PathLike, keep, attrs: dict | None = None,
                 kind: str = "combined") -> str:
    """Write the rows ``keep`` (boolean mask or indices) of group ``kind`` of a dataset file to
    a new file ``out`` (atomic), with the original's attributes plus ``attrs``; returns the new
    file's content fingerprint."""
    import h5py

    from astronn_paper import cache

    with h5py.File(path, "r") as f:
        g = _group(f, kind, path)
        n = g["spectra"].shape[0]
        rows = np.flatnonzero(np.asarray(keep)) if np.asarray(keep).dtype == bool else np.asarray(keep)
        sel, inverse = _rows_arg(rows, n)
        cols = {k: _read(g[k], sel, inverse) for k in g if k not in ("spectra", "spectra_err")}
        part = {f"{kind}/spectra": _read(g["spectra"], sel, inverse),
                f"{kind}/spectra_err": _read(g["spectra_err"], sel, inverse)}
        kept = {k: v for k, v in f.attrs.items() if k not in ("fingerprint", "format", "targets", "visits")}
    with cache.atomic_path(out) as tmp:
        return write(tmp, {kind: cols}, [part], {**kept, **(attrs or {})})
