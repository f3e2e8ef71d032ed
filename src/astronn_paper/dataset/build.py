"""Compile the paper's training and test sets from a survey source into the dataset store.

:func:`compile_dataset` selects the stars of a :class:`~.selection.Selection`, reads and
normalises their spectra through the source (:meth:`SurveySource.read_normalised`: the combined
spectrum and, with ``visits``, every visit) and writes ONE HDF5 file (:mod:`.store`).
:func:`build_standard_sets` is the cached entry point of the notebooks and the pipeline.

Compile is parallel over stars (worker processes, each handling chunks of stars and writing
each finished chunk atomically to ``<out>.partial/``, a :class:`~astronn_paper.cache.ChunkDir`),
resumable (a new run reuses the chunks already there when the inputs are the same), and atomic
(the final file is assembled in ``<out>.partial/`` in chunk order and renamed onto ``<out>``):
an interrupted and resumed compile gives the same bytes as an uninterrupted one (set
``SOURCE_DATE_EPOCH`` to pin the recorded time too). Bad stars are skipped with their reason
(see :data:`astronn_paper.survey.source.SKIP_REASONS`) and listed in the report, never zeroed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper import __version__, apogee, cache, config
from astronn_paper.dataset import store
from astronn_paper.dataset.selection import (NORMALISATIONS, Selection, drop_duplicates, select,
                                             standard_selections)
from astronn_paper.progress import bar as progress_bar
from astronn_paper.dataset.sources import open_source
from astronn_paper.survey.source import SurveySource

#: Bump when the bytes compile writes for the same inputs change (invalidates caches).
COMPILE_VERSION = 4


#: Stars per work unit (a chunk is the unit of parallelism and of resumption).
CHUNK_SIZE = 32


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
    import signal

    # a worker forked from a Jupyter kernel inherits ipykernel's SIGINT handler, which logs
    # "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel" when the pool is torn down;
    # the parent handles interruptions, so the worker takes the default action
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if spec is not None:  # spawn: rebuild; fork: the parent's source is inherited
        _WORKER_SOURCE = _open_spec(spec)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _chunk_task(args) -> int:
    """Worker entry: read and normalise chunk ``cid`` through the source, save it; returns ``cid``."""
    cid, indices, normalisation, visits, workdir = args
    r = _WORKER_SOURCE.read_normalised(indices, normalisation, visits)
    arrays = {"combined/spectra": r.spec, "combined/spectra_err": r.err,
              "combined/allstar_index": r.rows}
    if visits:
        v = r.visits
        arrays.update({"visits/spectra": v["spec"], "visits/spectra_err": v["err"],
                       "visits/allstar_index": v["allstar_index"], "visits/visit": v["visit"],
                       "visits/SNR": v["SNR"]})
    cache.ChunkDir(workdir).write(cid, arrays, meta=r.skipped)
    return cid


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
        return self.text()

    def text(self, run: bool = True) -> str:
        """The report as printed; ``run=False`` leaves out what depends on this run (whether
        the file was read from the cache, the time), so it reads the same on every re-run."""
        lines = [config.shown_path(self.path) + ("  (cached, not recompiled)" if run and self.cached else ""),
                 f"  selection : {self.selection}",
                 f"  selected  : {self.selected} stars",
                 f"  written   : {self.written} combined spectra, {self.visits_written} visits"]
        for label, vis in (("skipped stars ", False), ("skipped visits", True)):
            reasons = self.by_reason(vis)
            reasons.setdefault("failed_normalisation", [])   # always counted, even when none
            n = sum(map(len, reasons.values()))
            lines.append(f"  {label}: {n}")
            for reason, ids in sorted(reasons.items()):
                shown = ", ".join(ids[:8]) + (f", ... ({len(ids) - 8} more)" if len(ids) > 8 else "")
                lines.append(f"    {reason:<12} {len(ids):>6}  {shown}".rstrip())
        if run and self.seconds and not self.cached:
            rate = self.written / self.seconds
            lines.append(f"  time      : {self.seconds:.1f} s ({rate:.0f} stars/s"
                         + (f", {self.resumed_chunks} chunks resumed" if self.resumed_chunks else "")
                         + ")")
        return "\n".join(lines)


def _provenance_time() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    t = time.gmtime(int(epoch)) if epoch else time.gmtime()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", t)


def input_fingerprint(source: SurveySource, selection: Selection) -> str:
    """Hash of everything that determines a compiled file's content."""
    return cache.fingerprint({"selection": selection.to_json(), "source": source.fingerprint(),
                 "compile_version": COMPILE_VERSION, "package": __version__,
                 "astroNN": _astronn_version(), "targets": list(apogee.TARGETS)})


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
    chunks = [np.arange(s, min(s + chunk_size, indices.size))
              for s in range(0, indices.size, chunk_size)]
    fp_in = input_fingerprint(source, selection)

    plan = {"input_fingerprint": fp_in, "n_selected": int(indices.size),
            "chunk_size": int(chunk_size), "indices_sha": cache.array_fingerprint(indices),
            "time": _provenance_time()}
    chunk_dir = cache.ChunkDir(workdir, plan)
    resumed = chunk_dir.open()
    plan = chunk_dir.recorded_plan()   # a resumed run keeps the first run's start time
    todo = sorted(set(range(len(chunks))) - chunk_dir.done(len(chunks)))

    tasks = ((c, indices[chunks[c]], selection.normalisation, selection.visits, str(workdir))
             for c in todo)
    bar = progress_bar(progress, unit="star", total=int(indices.size),
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


def _disk_error(exc: OSError, out_path: Path, workdir: Path) -> OSError:
    """A clear message for a full disk (the finished chunks stay for a resumed run)."""
    import errno

    if getattr(exc, "errno", None) != errno.ENOSPC and "No space left" not in str(exc):
        return exc
    free = shutil.disk_usage(out_path.parent).free if out_path.parent.exists() else 0
    return OSError(errno.ENOSPC, f"no space left on the device while compiling {out_path} "
                   f"({free} bytes free); nothing was written to {out_path.name}, the finished "
                   f"chunks are kept in {workdir} and a re-run resumes from them", str(out_path))


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
                        done(fut.result())
            for fut in wait(pending).done:
                done(fut.result())
    finally:
        _WORKER_SOURCE = None


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

    chunks = cache.ChunkDir(workdir)
    heads = [chunks.read(c, ["combined/allstar_index", "visits/allstar_index", "visits/visit",
                             "visits/SNR"]) for c in range(n_chunks)]
    skips = sorted([s for _, chunk_skips in heads for s in chunk_skips] + list(extra_skips),
                   key=lambda s: (s["allstar_index"], s["visit"]))

    def cat(key, dtype=np.int64):
        return np.concatenate([h[key] for h, _ in heads] or [np.empty(0, dtype)])

    comb_idx = cat("combined/allstar_index")
    columns = {"combined": store.row_columns(allstar, comb_idx, source.true_labels(comb_idx))}
    if selection.visits:
        vis_idx = cat("visits/allstar_index")
        columns["visits"] = {**store.row_columns(allstar, vis_idx, source.true_labels(vis_idx)),
                             "SNR": cat("visits/SNR", np.float32).astype(np.float32),
                             "visit": cat("visits/visit", np.int16).astype(np.int16),
                             "star_index": np.searchsorted(comb_idx, vis_idx).astype(np.int64)}
    report = CompileReport(
        path=str(out_path), selection=selection.describe(),
        selected=int(indices.size) + len(extra_skips),
        written=int(comb_idx.size),
        visits_written=int(len(columns["visits"]["allstar_index"])) if selection.visits else 0,
        skipped=[s for s in skips if s["visit"] < 0],
        visits_skipped=[s for s in skips if s["visit"] >= 0])

    def parts():  # one pass over the chunks, each deleted once copied: the disk holds ~one copy
        keys = [f"{kind}/{name}" for kind in columns for name in ("spectra", "spectra_err")]
        for c in range(n_chunks):
            yield chunks.read(c, keys)[0]
            chunks.path(c).unlink()

    provenance = {
        "profile": profile.name, "profile_settings": profile.as_dict(),
        "seeds": {"selection": selection.seed, "survey": profile.survey_seed},
        "source": {"kind": source.kind, "spec": _jsonable(source.spec()),
                   "fingerprint": source.fingerprint()},
        "package": __version__, "compile_version": COMPILE_VERSION,
        "astroNN": _astronn_version(), "h5py": h5py.__version__, "numpy": np.__version__,
        "python": sys.version.split()[0], "time": plan["time"],
        "normalisation": _normalisation_settings(selection.normalisation),
        "storage": store.SPECTRA_STORAGE,
    }
    attrs = {"selection": selection.to_json(), "provenance": json.dumps(provenance, sort_keys=True),
             "report": json.dumps(report.summary(), sort_keys=True),
             "input_fingerprint": plan["input_fingerprint"]}
    if not selection.visits:
        attrs["visits"] = "not compiled (selection.visits is False)"
    store.write(tmp, columns, parts(), attrs)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, out_path)
    shutil.rmtree(workdir, ignore_errors=True)
    return report


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


def standard_path(name: str, profile=None, normalisation: str = "continuum") -> Path:
    suffix = "" if normalisation == "continuum" else f"_{normalisation}"
    return config.datasets_dir(profile) / f"{name}{suffix}.h5"


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
                    store.recorded_input_fingerprint(path) == input_fingerprint(source, sel):
                rep = CompileReport(path=str(path), selection=sel.describe(), cached=True,
                                    **store.info(path)["report"])
            else:
                rep = _compile(source, sel, path, workers=workers, progress=progress,
                               profile=p, chunk_size=CHUNK_SIZE)
        if reports is not None:
            reports[name] = rep
        out[name] = path
    return out


def register(subparsers) -> None:
    from astronn_paper.survey.arguments import source_arguments

    p = subparsers.add_parser(
        "compile", help="compile the training / test sets to HDF5", parents=[source_arguments()],
        description="Select stars from allStar with the paper's cuts, continuum-normalise "
                    "their spectra and write the HDF5 datasets (atomic, resumable).")
    p.add_argument("--profile", default=None, choices=sorted(config.PROFILES),
                   help="run size: how many stars the sets hold (default: $ASTRONN_PAPER_PROFILE, "
                        "else default)")
    p.add_argument("--set", dest="which", choices=("train", "test", "all"), default="all",
                   help="which set to compile: the training set (SNR > 200), the high-SNR test "
                        "set (100 < SNR < 200) or both (default all)")
    p.add_argument("--normalisation", choices=NORMALISATIONS, default="continuum",
                   help="continuum: the paper's continuum normalisation of the apStar spectra "
                        "(default); aspcap: the ASPCAP-normalised aspcapStar spectra")
    p.add_argument("--out", default=None, help="output file (only with --set train|test)")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: the profile's, at most 2)")
    p.add_argument("--max-stars", type=int, default=None,
                   help="override the profile's set size")
    p.add_argument("--force", action="store_true", help="recompile even if up to date")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from astronn_paper.survey.arguments import source_spec

    prof = args.profile                     # a config.Profile, resolved by cli.main
    spec = source_spec(args)
    names = ("train", "test") if args.which == "all" else (args.which,)
    if args.out and len(names) > 1:
        # an argument clash, told as argparse tells one: one line, exit status 2
        print("error: --out needs --set train or --set test (one file per set)", file=sys.stderr)
        raise SystemExit(2)
    source = open_source(spec, prof)
    sels = standard_selections(prof, args.normalisation)
    for name in names:
        sel = sels[name]
        if args.max_stars is not None:
            sel = dataclasses.replace(sel, max_stars=args.max_stars)
        path = Path(args.out) if args.out else standard_path(name, prof, args.normalisation)
        if (not args.force and path.is_file()
                and store.recorded_input_fingerprint(path) == input_fingerprint(source, sel)):
            print(f"{config.shown_path(path)} is up to date (use --force to recompile)")
            continue
        report = compile_dataset(source, sel, path, workers=args.workers,
                                 progress=not args.no_progress, profile=prof)
        print(report)
    return 0
