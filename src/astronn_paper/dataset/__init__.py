"""Compile the paper's training and test sets to HDF5, and load them.

The paper's first step, on any survey source (a SAS mirror on disk or the synthetic survey
in memory) through one code path:

1. :func:`select` applies a :class:`Selection` (Teff and SNR ranges, STARFLAG == 0,
   ASPCAPFLAG == 0, VSCATTER < 1, an [Fe/H] floor, ...) to the allStar table;
2. :func:`compile_dataset` reads each selected star's apStar (or aspcapStar) spectra,
   normalises them (:mod:`astronn_paper.survey.normalise`), and writes ONE HDF5 file::

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

3. :func:`load` returns ``(x, y, x_err, y_err)`` of one group for chosen targets, reading
   only that group (and only the requested ``rows``).

:func:`build_standard_sets` is the cached entry point of the notebooks and the pipeline.

Compile is parallel over stars (worker processes, each handling chunks of stars and
writing each finished chunk atomically to ``<out>.partial/``), resumable (a new run reuses
the chunks already there when the inputs are the same), and atomic (the final file is
assembled in ``<out>.partial/`` in chunk order and renamed onto ``<out>``): an interrupted
and resumed compile gives the same bytes as an uninterrupted one (set
``SOURCE_DATE_EPOCH`` to pin the recorded time too). Bad stars are skipped with their
reason (see :data:`astronn_paper.survey.source.SKIP_REASONS`) and listed in the report, never
zeroed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper import __version__, apogee, config
from astronn_paper.survey.source import SpectrumError, SurveySource
from astronn_paper.survey import open_source

#: Bump when the bytes compile writes for the same inputs change (invalidates caches).
COMPILE_VERSION = 3
FORMAT = "astronn_paper.dataset/1"
KINDS = ("combined", "visits")
NORMALISATIONS = ("continuum", "aspcap")
#: Stars per work unit (a chunk is the unit of parallelism and of resumption).
CHUNK_SIZE = 32

# allStar columns copied per row (name in allStar -> dtype in the file).
_ID_COLUMNS = {"APOGEE_ID": "S", "TELESCOPE": "S", "FIELD": "S", "LOCATION_ID": np.int32,
               "RA": np.float64, "DEC": np.float64, "SNR": np.float32, "NVISITS": np.int32}


# =========================================================================== selection
@dataclass(frozen=True)
class Selection:
    """The cuts of one dataset, applied to the allStar table by :func:`select`.

    Defaults are the paper's training cuts. Teff is ASPCAP's ``PARAM[:, 0]`` and is cut
    inclusively (as astroNN's compiler did), SNR strictly; [Fe/H] is ``X_H[:, 17]``
    (the default floor keeps stars with no [Fe/H], as the paper did: the censored loss
    ignores -9999 labels). ``exclude_apo1m`` drops the NMSU 1-m stars (LOCATION_ID 1).
    ``max_stars`` keeps a seeded random subset (``seed``) of the passing rows, in allStar
    order.
    """

    name: str = "train"
    teff_min: float = 4000.0
    teff_max: float = 5500.0
    snr_min: float = 200.0
    snr_max: float = float("inf")
    starflag_zero: bool = True
    aspcapflag_zero: bool = True
    vscatter_max: float = 1.0
    feh_min: float = -10000.0
    exclude_apo1m: bool = True
    normalisation: str = "continuum"
    visits: bool = True
    max_stars: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, "
                             f"got {self.normalisation!r}")
        if self.normalisation == "aspcap" and self.visits:
            raise ValueError("aspcapStar files hold only the combined spectrum: "
                             "an ASPCAP-normalised selection needs visits=False")

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["snr_max"] = None if np.isinf(self.snr_max) else self.snr_max
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Selection":
        d = json.loads(text)
        if d.get("snr_max") is None:
            d["snr_max"] = float("inf")
        return cls(**d)

    def describe(self) -> str:
        snr = (f"SNR > {self.snr_min:g}" if np.isinf(self.snr_max)
               else f"{self.snr_min:g} < SNR < {self.snr_max:g}")
        cuts = [f"{self.teff_min:g} <= Teff <= {self.teff_max:g} K", snr]
        cuts += ["STARFLAG == 0"] * self.starflag_zero + ["ASPCAPFLAG == 0"] * self.aspcapflag_zero
        cuts += [f"VSCATTER < {self.vscatter_max:g} km/s"]
        if self.feh_min > apogee.MISSING:
            cuts.append(f"[Fe/H] > {self.feh_min:g}")
        if self.exclude_apo1m:
            cuts.append("LOCATION_ID > 1")
        return ", ".join(cuts)


def standard_selections(profile=None, normalisation: str = "continuum") -> dict[str, Selection]:
    """The paper's training set (SNR > 200) and high-SNR test set (100 < SNR < 200), both
    4000-5500 K, sized by the profile (``n_train``, ``n_test``; None = every passing star)."""
    p = config.get_profile(profile)
    visits = p.visits and normalisation == "continuum"
    return {
        "train": Selection(name="train", snr_min=200.0, normalisation=normalisation,
                           visits=visits, max_stars=p.n_train,
                           seed=config.seed_for("dataset:train", p)),
        "test": Selection(name="test", snr_min=100.0, snr_max=200.0,
                          normalisation=normalisation, visits=visits, max_stars=p.n_test,
                          seed=config.seed_for("dataset:test", p)),
    }


def _column(allstar: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.asarray(allstar[name])
    except (ValueError, KeyError):
        raise KeyError(f"the allStar table has no column {name!r}; columns: "
                       f"{', '.join(allstar.dtype.names or ())}") from None


def selection_mask(allstar: np.ndarray, sel: Selection) -> np.ndarray:
    """Boolean mask of the allStar rows passing ``sel`` (before ``max_stars``)."""
    teff = _column(allstar, "PARAM")[:, apogee.PARAM_INDEX["TEFF"]]
    snr = _column(allstar, "SNR")
    feh = _column(allstar, "X_H")[:, apogee.X_H_INDEX["Fe"]]
    with np.errstate(invalid="ignore"):
        ok = (teff >= sel.teff_min) & (teff <= sel.teff_max)
        ok &= (snr > sel.snr_min) & (snr < sel.snr_max)
        ok &= _column(allstar, "VSCATTER") < sel.vscatter_max
        ok &= feh > sel.feh_min
    if sel.starflag_zero:
        ok &= _column(allstar, "STARFLAG") == 0
    if sel.aspcapflag_zero:
        ok &= _column(allstar, "ASPCAPFLAG") == 0
    if sel.exclude_apo1m:
        ok &= _column(allstar, "LOCATION_ID") > 1
    return ok


def select(allstar: np.ndarray, sel: Selection) -> np.ndarray:
    """Sorted allStar indices of the rows passing ``sel`` (a seeded subset if max_stars)."""
    idx = np.flatnonzero(selection_mask(allstar, sel))
    if sel.max_stars is not None and idx.size > sel.max_stars:
        rng = np.random.default_rng(sel.seed)
        idx = np.sort(rng.choice(idx, size=int(sel.max_stars), replace=False))
    return idx


# =========================================================================== labels
def labels_from_allstar(allstar: np.ndarray, rows: np.ndarray,
                        targets=apogee.TARGETS) -> tuple[np.ndarray, np.ndarray]:
    """ASPCAP labels and errors (float32, (n, len(targets))) of allStar ``rows``.

    Teff and logg from PARAM (errors from TEFF_ERR / LOGG_ERR, else the PARAM_COV
    diagonal), abundances from X_H / X_H_ERR via :data:`apogee.X_H_INDEX`. Missing values
    (-9999 or non-finite) are -9999.
    """
    rows = np.asarray(rows)
    names = allstar.dtype.names
    y = np.empty((rows.size, len(targets)), np.float64)
    e = np.empty_like(y)
    for j, t in enumerate(targets):
        if t in ("teff", "logg"):
            k = apogee.PARAM_INDEX[t.upper()]
            y[:, j] = _column(allstar, "PARAM")[rows, k]
            if f"{t.upper()}_ERR" in names:
                e[:, j] = allstar[f"{t.upper()}_ERR"][rows]
            elif "PARAM_COV" in names:
                var = allstar["PARAM_COV"][rows, k, k].astype(np.float64)
                e[:, j] = np.where(var > 0, np.sqrt(np.abs(var)), apogee.MISSING)
            else:
                e[:, j] = apogee.MISSING
        else:
            k = apogee.X_H_INDEX[t]
            y[:, j] = _column(allstar, "X_H")[rows, k]
            e[:, j] = _column(allstar, "X_H_ERR")[rows, k]
    for a in (y, e):
        a[~np.isfinite(a) | (a <= apogee.MISSING)] = apogee.MISSING
    return y.astype(np.float32), e.astype(np.float32)


# =========================================================================== workers
_WORKER_SOURCE: SurveySource | None = None


def _open_spec(spec: dict) -> SurveySource:
    """Rebuild a source from its spec; ``{"factory": "module:callable", "kwargs": {...}}``
    builds any other :class:`SurveySource` (used by tests and plug-ins)."""
    if "factory" in spec:
        import importlib

        module, _, name = spec["factory"].partition(":")
        return getattr(importlib.import_module(module), name)(**spec.get("kwargs", {}))
    return open_source(spec)


def _init_worker(spec: dict | None) -> None:
    global _WORKER_SOURCE
    if spec is not None:  # spawn: rebuild; fork: the parent's source is inherited
        _WORKER_SOURCE = _open_spec(spec)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _skip(index: int, apogee_id: str, visit: int, err: SpectrumError,
          path: str | None = None) -> dict:
    """One skipped spectrum; ``path`` names the file when the error itself does not (a
    spectrum rejected by the normalisation checks)."""
    message, path = str(err), err.path or path
    if path and path not in message:
        message = f"{path}" + (f" (visit {visit})" if visit >= 0 else "") + f": {message}"
    return {"allstar_index": int(index), "APOGEE_ID": apogee_id, "visit": int(visit),
            "reason": err.reason, "message": message, "path": path}


def _read_stars(reader, batch, indices) -> list:
    """``(index, star or SpectrumError)`` for each index; one vectorised ``batch`` call
    when the source offers one (e.g. ``SyntheticSource.apstars``)."""
    if batch is not None:
        try:
            return list(zip(indices, batch([int(i) for i in indices])))
        except SpectrumError:
            pass  # read one at a time to learn which star failed
    out = []
    for i in indices:
        try:
            out.append((i, reader(int(i))))
        except SpectrumError as err:
            out.append((i, err))
    return out


def _read_chunk(source: SurveySource, indices: np.ndarray, ids: np.ndarray,
                normalisation: str, visits: bool) -> dict:
    """Read and normalise the spectra of ``indices``; returns the chunk's arrays and skips."""
    from astronn_paper.survey import normalise

    skips: list[dict] = []
    comb_f, comb_e, comb_m, comb_i, paths = [], [], [], [], {}
    vis_f, vis_e, vis_m, vis_i, vis_n, vis_snr = [], [], [], [], [], []
    reader = source.aspcapstar if normalisation == "aspcap" else source.apstar
    batch = None if normalisation == "aspcap" else getattr(source, "apstars", None)
    for (index, s), aid in zip(_read_stars(reader, batch, indices), ids):
        if isinstance(s, SpectrumError):
            skips.append(_skip(index, aid, -1, s))
            continue
        f, e, m = (s.flux, s.err, None) if normalisation == "aspcap" else s.combined()
        paths[int(index)] = getattr(s, "path", None)
        comb_f.append(f), comb_e.append(e), comb_i.append(index)
        comb_m.append(np.zeros(apogee.N_PIX, np.int64) if m is None else m)
        if visits and s.nvisits > 1:  # a single visit *is* the combined spectrum
            vf, ve, vm = s.visits()
            vis_f.append(vf), vis_e.append(ve), vis_m.append(vm)
            vis_i.append(np.full(len(vf), index)), vis_n.append(np.arange(len(vf)))
            vis_snr.append(s.visit_snr())

    out = {"skips": skips}
    n = normalise.normalise_batch(np.array(comb_f).reshape(-1, apogee.N_PIX),
                                  np.array(comb_e).reshape(-1, apogee.N_PIX),
                                  np.array(comb_m).reshape(-1, apogee.N_PIX)
                                  if normalisation == "continuum" else None,
                                  method=normalisation)
    comb_i = np.array(comb_i, np.int64)
    for row, err in n.errors.items():
        skips.append(_skip(comb_i[row], ids[np.searchsorted(indices, comb_i[row])], -1, err,
                           paths.get(int(comb_i[row]))))
    out["combined/spectra"], out["combined/spectra_err"] = n.spec, n.err
    out["combined/allstar_index"] = comb_i[n.good]
    if visits:
        v_i = np.concatenate(vis_i) if vis_i else np.empty(0, np.int64)
        keep_star = np.isin(v_i, out["combined/allstar_index"])
        cat = (lambda parts: np.concatenate(parts)[keep_star]) if vis_i else (
            lambda parts: np.empty((0, apogee.N_PIX)))
        nv = normalise.normalise_batch(cat(vis_f).reshape(-1, apogee.N_PIX),
                                       cat(vis_e).reshape(-1, apogee.N_PIX),
                                       cat(vis_m).reshape(-1, apogee.N_PIX), method="continuum")
        v_i, v_n = v_i[keep_star], (np.concatenate(vis_n)[keep_star] if vis_n else np.empty(0, int))
        v_snr = np.concatenate(vis_snr)[keep_star] if vis_snr else np.empty(0)
        for row, err in nv.errors.items():
            skips.append(_skip(v_i[row], ids[np.searchsorted(indices, v_i[row])], v_n[row], err,
                               paths.get(int(v_i[row]))))
        out["visits/spectra"], out["visits/spectra_err"] = nv.spec, nv.err
        out["visits/allstar_index"] = v_i[nv.good].astype(np.int64)
        out["visits/visit"] = v_n[nv.good].astype(np.int16)
        out["visits/SNR"] = v_snr[nv.good].astype(np.float32)
    skips.sort(key=lambda s: (s["allstar_index"], s["visit"]))
    return out


def _write_chunk(path: Path, arrays: dict) -> None:
    """Atomically save one chunk's arrays (``.npz``, skips as JSON) at ``path``."""
    tmp = path.with_name(path.name + ".tmp")
    payload = {k.replace("/", "__"): v for k, v in arrays.items() if k != "skips"}
    payload["skips"] = np.array(json.dumps(arrays["skips"]))
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_chunk_file(path: Path, keys=None) -> dict:
    with np.load(path) as z:
        names = z.files if keys is None else [k.replace("/", "__") for k in keys] + ["skips"]
        out = {k.replace("__", "/"): z[k] for k in names if k in z.files}
    out["skips"] = json.loads(str(out["skips"]))
    return out


def _chunk_task(args) -> tuple[int, int, int, list[dict]]:
    """Worker entry: process chunk ``cid`` and write it; returns small counts + skips."""
    cid, indices, ids, normalisation, visits, workdir = args
    arrays = _read_chunk(_WORKER_SOURCE, indices, ids, normalisation, visits)
    _write_chunk(Path(workdir) / f"chunk_{cid:06d}.npz", arrays)
    nv = len(arrays.get("visits/allstar_index", ()))
    return cid, len(arrays["combined/allstar_index"]), nv, arrays["skips"]


# =========================================================================== report
@dataclass
class CompileReport:
    """What a compile did: stars selected, written, skipped (by reason, with ids)."""

    path: str
    selection: str
    selected: int
    written: int
    visits_written: int = 0
    skipped: list[dict] = field(default_factory=list)   # stars whose combined spectrum failed
    visits_skipped: list[dict] = field(default_factory=list)
    resumed_chunks: int = 0
    seconds: float = 0.0
    cached: bool = False

    def by_reason(self, visits: bool = False) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for s in self.visits_skipped if visits else self.skipped:
            out.setdefault(s["reason"], []).append(
                s["APOGEE_ID"] + (f" (visit {s['visit']})" if visits else ""))
        return out

    def summary(self) -> dict:
        """The reproducible part of the report (recorded in the file)."""
        return {"selected": self.selected, "written": self.written,
                "visits_written": self.visits_written,
                "skipped": self.skipped, "visits_skipped": self.visits_skipped}

    def __str__(self) -> str:
        lines = [f"{self.path}" + ("  (cached, not recompiled)" if self.cached else ""),
                 f"  selection : {self.selection}",
                 f"  selected  : {self.selected} stars",
                 f"  written   : {self.written} combined spectra, {self.visits_written} visits"]
        for label, vis in (("skipped stars ", False), ("skipped visits", True)):
            reasons = self.by_reason(vis)
            n = sum(map(len, reasons.values()))
            lines.append(f"  {label}: {n}")
            for reason, ids in sorted(reasons.items()):
                shown = ", ".join(ids[:8]) + (f", ... ({len(ids) - 8} more)" if len(ids) > 8 else "")
                lines.append(f"    {reason:<12} {len(ids):>6}  {shown}")
        if self.seconds and not self.cached:
            rate = self.written / self.seconds
            lines.append(f"  time      : {self.seconds:.1f} s ({rate:.0f} stars/s"
                         + (f", {self.resumed_chunks} chunks resumed" if self.resumed_chunks else "")
                         + ")")
        return "\n".join(lines)


# =========================================================================== compile
def _provenance_time() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = time.gmtime(int(epoch)) if epoch else time.gmtime()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


def input_fingerprint(source: SurveySource, selection: Selection) -> str:
    """Hash of everything that determines a compiled file's content."""
    return _sha({"selection": selection.to_json(), "source": source.fingerprint(),
                 "compile_version": COMPILE_VERSION, "package": __version__,
                 "astroNN": _astronn_version(), "targets": list(apogee.TARGETS)})


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _astronn_version() -> str:
    from importlib.metadata import version

    return version("astroNN")


@contextlib.contextmanager
def _locked(out_path: Path):
    """Hold an exclusive lock on ``<out_path>.lock``: two processes (say a notebook and the
    pipeline) compiling the same file wait for each other instead of sharing its chunks."""
    import fcntl

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(out_path) + ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def compile_dataset(source: SurveySource, selection: Selection, out_path: os.PathLike, *,
                    workers: int | None = None, progress: bool = True, profile=None,
                    chunk_size: int = CHUNK_SIZE) -> CompileReport:
    """Compile the stars of ``selection`` from ``source`` into the HDF5 file ``out_path``.

    Parallel over chunks of ``chunk_size`` stars with ``workers`` processes (default: the
    profile's); resumes from ``<out_path>.partial/`` when a previous run with the same
    inputs was interrupted; writes atomically. Returns a :class:`CompileReport`.
    """
    with _locked(Path(out_path)):
        return _compile(source, selection, out_path, workers=workers, progress=progress,
                        profile=profile, chunk_size=chunk_size)


def _compile(source, selection, out_path, *, workers, progress, profile,
             chunk_size) -> CompileReport:
    global _WORKER_SOURCE
    t0 = time.perf_counter()
    p = config.get_profile(profile)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(str(out_path) + ".partial")
    workers = p.workers if workers is None else max(1, int(workers))

    allstar = source.allstar()
    try:
        indices = select(allstar, selection)
    except KeyError as exc:  # name the file, not only the column
        where = getattr(source, "allstar_path", repr(source))
        raise KeyError(f"{where}: {exc.args[0]}") from None
    indices, duplicates = drop_duplicates(allstar, indices)
    ids = np.char.strip(np.asarray(allstar["APOGEE_ID"][indices]).astype(str))
    chunks = [np.arange(s, min(s + chunk_size, indices.size))
              for s in range(0, indices.size, chunk_size)]
    fp_in = input_fingerprint(source, selection)

    plan = {"input_fingerprint": fp_in, "n_selected": int(indices.size),
            "chunk_size": int(chunk_size), "indices_sha": hashlib.sha256(indices.tobytes()).hexdigest(),
            "time": _provenance_time()}
    resumed = _prepare_workdir(workdir, plan)
    plan = json.loads((workdir / "plan.json").read_text())
    todo = [c for c in range(len(chunks)) if not (workdir / f"chunk_{c:06d}.npz").exists()]

    tasks = ((c, indices[chunks[c]], ids[chunks[c]], selection.normalisation,
              selection.visits, str(workdir)) for c in todo)
    bar = _progress(progress, total=int(indices.size),
                    initial=int(indices.size - sum(chunks[c].size for c in todo)),
                    desc=f"compile {selection.name}")
    try:
        if workers == 1 or len(todo) <= 1:
            previous, _WORKER_SOURCE = _WORKER_SOURCE, source
            try:
                for task in tasks:
                    _chunk_task(task)
                    bar.update(chunks[task[0]].size)
            finally:
                _WORKER_SOURCE = previous
        else:
            _run_pool(source, tasks, workers, lambda cid: bar.update(chunks[cid].size))
    except OSError as exc:
        raise _disk_error(exc, out_path, workdir) from exc
    finally:
        bar.close()

    try:
        report = _assemble(source, allstar, selection, indices, len(chunks), workdir, out_path,
                           plan, p, extra_skips=duplicates)
    except OSError as exc:
        raise _disk_error(exc, out_path, workdir) from exc
    report.resumed_chunks = len(chunks) - len(todo) if resumed else 0
    report.seconds = time.perf_counter() - t0
    return report


def drop_duplicates(allstar: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """Keep the first of selected allStar rows that point to the same apStar file (same
    APOGEE_ID, TELESCOPE and LOCATION_ID / FIELD); the others become ``duplicate`` skips.

    DR14 lists a star observed in several fields once per field (distinct files, all kept);
    two rows naming the same file would put one spectrum twice into a dataset.
    """
    names = allstar.dtype.names or ()
    parts = [np.char.strip(np.asarray(allstar[c][indices]).astype(str))
             for c in ("APOGEE_ID", "TELESCOPE", "LOCATION_ID", "FIELD") if c in names]
    if not parts or indices.size < 2:
        return indices, []
    key = parts[0]
    for p in parts[1:]:
        key = np.char.add(np.char.add(key, "|"), p)
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    keep = np.zeros(indices.size, bool)
    keep[first] = True
    skips = [{"allstar_index": int(indices[j]), "APOGEE_ID": str(parts[0][j]), "visit": -1,
              "reason": "duplicate", "path": None,
              "message": f"allStar row {int(indices[j])} repeats row {int(indices[first[group[j]]])} "
                         f"({key[j]}): the same apStar file, compiled once"}
             for j in np.flatnonzero(~keep)]
    return indices[keep], skips


def _disk_error(exc: OSError, out_path: Path, workdir: Path) -> OSError:
    """A clear message for a full disk (the finished chunks stay for a resumed run)."""
    import errno

    if getattr(exc, "errno", None) != errno.ENOSPC and "No space left" not in str(exc):
        return exc
    free = shutil.disk_usage(out_path.parent).free if out_path.parent.exists() else 0
    return OSError(errno.ENOSPC, f"no space left on the device while compiling {out_path} "
                   f"({free} bytes free); nothing was written to {out_path.name}, the finished "
                   f"chunks are kept in {workdir} and a re-run resumes from them", str(out_path))


def _prepare_workdir(workdir: Path, plan: dict) -> bool:
    """Create ``workdir`` for ``plan``, or keep it if it holds chunks of the same plan."""
    plan_file = workdir / "plan.json"
    if workdir.is_dir() and plan_file.is_file():
        old = json.loads(plan_file.read_text())
        same = all(old.get(k) == plan[k] for k in plan if k != "time")
        if same:
            for tmp in workdir.glob("*.tmp"):
                tmp.unlink()
            return True
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    tmp = workdir / "plan.json.tmp"
    tmp.write_text(json.dumps(plan, sort_keys=True))
    os.replace(tmp, plan_file)
    return False


def _run_pool(source: SurveySource, tasks, workers: int, done) -> None:
    """Run ``tasks`` on a process pool with a bounded number of chunks in flight."""
    import multiprocessing as mp

    global _WORKER_SOURCE
    method = mp.get_start_method(allow_none=False)
    ctx = mp.get_context(method)
    spec = None
    if method == "fork":
        _WORKER_SOURCE = source  # inherited copy-on-write: no rebuild in the workers
    else:
        spec = source.spec()
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(spec,)) as pool:
            pending = set()
            for task in tasks:
                pending.add(pool.submit(_chunk_task, task))
                if len(pending) >= 2 * workers:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        done(fut.result()[0])
            for fut in wait(pending).done:
                done(fut.result()[0])
    finally:
        _WORKER_SOURCE = None


def _progress(enabled: bool, **kw):
    """A tqdm progress bar, silent when ``enabled`` is false."""
    from tqdm import tqdm  # text bars: readable in notebooks on nbviewer, no ipywidgets needed

    return tqdm(disable=not enabled, unit="star", smoothing=0.1, **kw)


def _assemble(source, allstar, selection, indices, n_chunks, workdir, out_path, plan,
              profile, extra_skips=()) -> CompileReport:
    """Write the final HDF5 from the chunk files (in chunk order) and rename it into place
    (a failure removes the half-assembled file; the remaining chunks stay for a resume)."""
    tmp = workdir / "assembled.h5"
    try:
        return _assemble_to(tmp, source, allstar, selection, indices, n_chunks, workdir,
                            out_path, plan, profile, extra_skips)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _assemble_to(tmp, source, allstar, selection, indices, n_chunks, workdir, out_path, plan,
                 profile, extra_skips) -> CompileReport:
    import h5py

    files = [workdir / f"chunk_{c:06d}.npz" for c in range(n_chunks)]
    heads = [_read_chunk_file(f, ["combined/allstar_index", "visits/allstar_index",
                                  "visits/visit", "visits/SNR"]) for f in files]
    skips = sorted([s for h in heads for s in h["skips"]] + list(extra_skips),
                   key=lambda s: (s["allstar_index"], s["visit"]))
    comb_idx = np.concatenate([h["combined/allstar_index"] for h in heads] or [np.empty(0, np.int64)])
    groups = {"combined": comb_idx}
    if selection.visits:
        vis_idx = np.concatenate([h["visits/allstar_index"] for h in heads] or [np.empty(0, np.int64)])
        groups["visits"] = vis_idx
    report = CompileReport(
        path=str(out_path), selection=selection.describe(),
        selected=int(indices.size) + len(extra_skips),
        written=int(comb_idx.size), visits_written=int(groups.get("visits", np.empty(0)).size),
        skipped=[s for s in skips if s["visit"] < 0],
        visits_skipped=[s for s in skips if s["visit"] >= 0])

    truth = source.truth() if source.is_synthetic else None
    digests: dict[str, "hashlib._Hash"] = {}
    with h5py.File(tmp, "w", libver=("earliest", "v110")) as f:
        spectra = {}
        for kind, rows in groups.items():
            g = f.create_group(kind)
            g.attrs["n"] = rows.size
            for name in ("spectra", "spectra_err"):
                spectra[f"{kind}/{name}"] = g.create_dataset(
                    name, shape=(rows.size, apogee.N_PIX_GAP_DELETED), dtype=np.float32,
                    **_storage(rows.size))
                digests[f"{kind}/{name}"] = hashlib.sha256()
            cols = _row_columns(allstar, rows, truth)
            if kind == "visits":
                cols["SNR"] = np.concatenate([h["visits/SNR"] for h in heads]
                                             or [np.empty(0)]).astype(np.float32)
                cols["visit"] = np.concatenate([h["visits/visit"] for h in heads]
                                               or [np.empty(0)]).astype(np.int16)
                cols["star_index"] = np.searchsorted(comb_idx, rows).astype(np.int64)
            for name, values in cols.items():
                g.create_dataset(name, data=values)
                digests[f"{kind}/{name}"] = hashlib.sha256(np.ascontiguousarray(values).tobytes())
        # one pass over the chunks, each deleted once copied: the disk holds ~one copy
        start = dict.fromkeys(groups, 0)
        for fpath in files:
            part = _read_chunk_file(fpath, list(spectra))
            for kind in groups:
                n = len(part[f"{kind}/spectra"])
                for name in ("spectra", "spectra_err"):
                    key = f"{kind}/{name}"
                    if n:
                        spectra[key][start[kind]:start[kind] + n] = part[key]
                        digests[key].update(np.ascontiguousarray(part[key]).tobytes())
                start[kind] += n
            fpath.unlink()
        assert all(start[k] == groups[k].size for k in groups), (start, groups)
        fingerprint = hashlib.sha256(
            "".join(f"{k}:{digests[k].hexdigest()}" for k in sorted(digests)).encode()
        ).hexdigest()[:16]
        if not selection.visits:
            f.attrs["visits"] = "not compiled (selection.visits is False)"
        provenance = {
            "profile": profile.name, "profile_settings": profile.as_dict(),
            "seeds": {"selection": selection.seed, "survey": profile.survey_seed},
            "source": {"kind": source.kind, "spec": _jsonable(source.spec()),
                       "fingerprint": source.fingerprint()},
            "package": __version__, "compile_version": COMPILE_VERSION,
            "astroNN": _astronn_version(), "h5py": h5py.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0], "time": plan["time"],
            "normalisation": _normalisation_settings(selection.normalisation),
            "storage": SPECTRA_STORAGE,
        }
        f.attrs["format"] = FORMAT
        f.attrs["targets"] = json.dumps(list(apogee.TARGETS))
        f.attrs["selection"] = selection.to_json()
        f.attrs["provenance"] = json.dumps(provenance, sort_keys=True)
        f.attrs["report"] = json.dumps(report.summary(), sort_keys=True)
        f.attrs["input_fingerprint"] = plan["input_fingerprint"]
        f.attrs["fingerprint"] = fingerprint
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out_path)
    shutil.rmtree(workdir, ignore_errors=True)
    return report


#: HDF5 storage of the spectra: 64-row chunks, byte-shuffled, deflate level 1 (lossless;
#: ~35 % smaller for normalised float32 spectra at ~100 MB/s).
SPECTRA_STORAGE = {"chunk_rows": 64, "compression": "gzip", "compression_opts": 1,
                   "shuffle": True}


def _storage(n: int) -> dict:
    if n == 0:
        return {}
    s = dict(SPECTRA_STORAGE)
    return {"chunks": (min(s.pop("chunk_rows"), n), apogee.N_PIX_GAP_DELETED), **s}


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def _normalisation_settings(method: str) -> dict:
    if method == "aspcap":
        from astronn_paper.survey.normalise import ASPCAP_BAD_ERR, MASK_VALUE

        return {"method": "aspcap", "what": "aspcapStar HDU1/HDU2, astroNN gap_delete(dr=14)",
                "masked": f"error > {ASPCAP_BAD_ERR} or <= 0", "mask_value": MASK_VALUE}
    from astronn_paper.survey.normalise import MASK_VALUE

    return {"method": "continuum", "function": "astroNN.apogee.apogee_continuum",
            "deg": apogee.CONTINUUM_DEG, "dr": 14, "cont_mask": "astroNN dr14_contmask.npy",
            "target_bit": list(apogee.PAPER_MASK_BITS), "mask_value": MASK_VALUE,
            "combined_row": "global-weighted (row 1 when NVISITS > 1)"}


def _row_columns(allstar: np.ndarray, rows: np.ndarray, truth) -> dict[str, np.ndarray]:
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
        cols["truth"] = truth_matrix(truth, rows)
    cols["allstar_index"] = rows.astype(np.int64)
    return cols


def truth_matrix(truth: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """True labels of ``rows`` as float32 (n, 22) in TARGETS order, from either an (N, 22)
    array or a structured truth table with one field per target."""
    if truth.dtype.names:
        return np.stack([truth[t][rows] for t in apogee.TARGETS], axis=1).astype(np.float32)
    return np.asarray(truth[rows], dtype=np.float32)


# =========================================================================== load
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


def info(path: os.PathLike) -> dict:
    """Attributes of a compiled file (selection, provenance, report, fingerprints, sizes)."""
    import h5py

    with h5py.File(path, "r") as f:
        out = {k: (json.loads(v) if k in ("selection", "provenance", "report", "targets") else v)
               for k, v in f.attrs.items()}
        out["n"] = {k: int(f[k]["spectra"].shape[0]) for k in KINDS if k in f}
    out["bytes"] = Path(path).stat().st_size
    return out


# =========================================================================== standard sets
def standard_path(name: str, profile=None, normalisation: str = "continuum") -> Path:
    suffix = "" if normalisation == "continuum" else f"_{normalisation}"
    return config.datasets_dir(profile) / f"{name}{suffix}.h5"


def _recorded_input_fingerprint(path: Path) -> str | None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            v = f.attrs.get("input_fingerprint")
    except OSError:
        return None
    return None if v is None else (v.decode() if isinstance(v, bytes) else str(v))


def build_standard_sets(profile=None, source: SurveySource | None = None, force: bool = False,
                        normalisation: str = "continuum", names=("train", "test"),
                        workers: int | None = None, progress: bool = True,
                        reports: dict | None = None) -> dict[str, Path]:
    """The profile's training and high-SNR test sets (with their visits), compiled if needed.

    Returns ``{"train": path, "test": path}`` under :func:`config.datasets_dir`. A file is
    rebuilt only when missing, when ``force``, or when its recorded input fingerprint
    (selection, source fingerprint, compile code version) differs. Pass a dict as
    ``reports`` to receive the :class:`CompileReport` of each set.
    """
    p = config.get_profile(profile)
    source = source if source is not None else open_source(None, p)
    selections = standard_selections(p, normalisation)
    out = {}
    for name in names:
        sel = selections[name]
        path = standard_path(name, p, normalisation)
        with _locked(path):
            if not force and path.is_file() and \
                    _recorded_input_fingerprint(path) == input_fingerprint(source, sel):
                rep = CompileReport(path=str(path), selection=sel.describe(), cached=True,
                                    **info(path)["report"])
            else:
                rep = _compile(source, sel, path, workers=workers, progress=progress,
                               profile=p, chunk_size=CHUNK_SIZE)
        if reports is not None:
            reports[name] = rep
        out[name] = path
    return out


# =========================================================================== command line
def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compile", help="compile the training / test sets to HDF5",
        description="Select stars from allStar with the paper's cuts, continuum-normalise "
                    "their spectra and write the HDF5 datasets (atomic, resumable).")
    p.add_argument("--profile", default=None, help="ci, default or paper")
    p.add_argument("--source", choices=("synthetic", "mirror"), default=None,
                   help="survey source (default: $ASTRONN_PAPER_SOURCE or synthetic)")
    p.add_argument("--mirror", default=None,
                   help="SAS mirror root for --source mirror (default: $SDSS_LOCAL_SAS_MIRROR)")
    p.add_argument("--set", dest="which", choices=("train", "test", "all"), default="all")
    p.add_argument("--normalisation", choices=NORMALISATIONS, default="continuum")
    p.add_argument("--out", default=None, help="output file (only with --set train|test)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--max-stars", type=int, default=None,
                   help="override the profile's set size")
    p.add_argument("--force", action="store_true", help="recompile even if up to date")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    prof = config.get_profile(args.profile)
    spec = None
    if args.source or args.mirror:
        spec = {"kind": args.source or "mirror"}
        if args.mirror:
            spec["root"] = args.mirror
    source = open_source(spec, prof)
    names = ("train", "test") if args.which == "all" else (args.which,)
    if args.out and len(names) > 1:
        raise SystemExit("--out needs --set train or --set test")
    sels = standard_selections(prof, args.normalisation)
    for name in names:
        sel = sels[name]
        if args.max_stars is not None:
            sel = dataclasses.replace(sel, max_stars=args.max_stars)
        path = Path(args.out) if args.out else standard_path(name, prof, args.normalisation)
        if (not args.force and path.is_file()
                and _recorded_input_fingerprint(path) == input_fingerprint(source, sel)):
            print(f"{path} is up to date (use --force to recompile)")
            continue
        report = compile_dataset(source, sel, path, workers=args.workers,
                                 progress=not args.no_progress, profile=prof)
        print(report)
    return 0
