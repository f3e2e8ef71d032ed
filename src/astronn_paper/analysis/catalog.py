"""The whole-survey catalog: the censored network applied to every allStar row with a spectrum.

:func:`build_catalog` streams the apStar spectra of the catalog rows (:func:`catalog_rows`)
through the survey source in chunks: read -> :func:`astronn_paper.survey.normalise.normalise_batch`
(the paper's continuum normalisation) -> :func:`astronn_paper.model.engine.predict` (fast MC
dropout). It is

* **resumable**: every finished chunk is written to ``<catalog>.partial.h5`` together with
  the list of completed chunk ids; a new run with the same plan (model fingerprint, rows,
  MC passes, seed, chunk size) skips them;
* **atomic**: the FITS file is written to a temporary name and renamed;
* **chunking-independent**: the engine draws each spectrum's MC-dropout masks from (seed,
  position), and the star at catalog position ``i`` is predicted at ``start_index = i`` with
  :func:`catalog_seed`, so the catalog equals one ``engine.predict`` call over all its spectra;
* **honest about bad stars**: a star whose spectrum cannot be read or normalised keeps
  ``-9999`` everywhere and is counted by :attr:`astronn_paper.survey.source.SpectrumError.reason`;
  an uncertainty too large for float32 (the network's predicted variance of a spectrum far
  from anything it was trained on, such as a 3,200 K M dwarf) is stored as ``+inf``.

The FITS table (HDU 1, readable with ``astropy.io.fits.getdata(path)`` exactly as the
original astroNN DR14 catalog) carries the columns users of the original rely on --
``APOGEE_ID``, ``LOCATION_ID``, ``RA``, ``DEC``, ``astroNN`` (N, 22; paper order, -9999 where
not predicted) and ``astroNN_error`` (N, 22 total uncertainties) -- plus ``TELESCOPE``,
``SNR``, ``ALLSTAR_INDEX``, ``astroNN_model_error``, ``astroNN_predictive_error``, the
out-of-domain score ``DOMAIN_SCORE`` (:mod:`astronn_paper.model.domain`; NaN when the model
folder has no domain model or the star was not predicted) and the flag ``OUTSIDE_TRAINING``
(bit 3: DOMAIN_SCORE above the domain model's threshold). Units are in ``TUNITn``,
descriptions in ``TCOMMn``, the 22 target names in ``TARGnn`` cards, and provenance (model
folder and fingerprint, profile, seed, MC passes, source, versions, DOMTHR) in header cards.

The profile decides the size: every row with a spectrum in ``paper``, a seeded subset of
``Profile.n_catalog`` rows, stratified over the survey fields (so spatially representative),
in ``default`` and ``ci``.

Also here: galactocentric positions of the stars with a good Gaia parallax
(:func:`galactic_positions`) and the radial [Fe/H] gradient (:func:`radial_gradient`).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.stats import mad_std

from astronn_paper import apogee, cache, config
from astronn_paper.progress import bar as progress_bar
from astronn_paper.dataset.sources import open_source
from astronn_paper.survey.source import SKIP_REASONS, SurveySource

CATALOG_NAME = "astroNN_apogee_dr14_catalog.fits"
#: Stars per chunk (the unit of streaming and of resumption).
CHUNK_SIZE = 256
#: Bump when the bytes written for the same inputs change (invalidates partial files).
CATALOG_VERSION = 3
#: Bits of the OUTSIDE_TRAINING flag.
FLAG_BITS = {"teff": 0, "logg": 1, "Fe": 2, "out_of_domain": 3, "not_predicted": 7}
_FIELDS = ("mean", "total", "model", "predictive")


# =========================================================================== rows
def catalog_rows(allstar: np.ndarray, profile=None, n: int | None = None,
                 seed: int | None = None) -> np.ndarray:
    """allStar indices of the catalog, sorted.

    Every row with a spectrum (``NVISITS > 0``) when the profile's ``n_catalog`` (or ``n``)
    is None; else ``n`` of them drawn without replacement and **stratified over the survey
    fields** (``LOCATION_ID``): each field contributes in proportion to its number of rows
    (largest-remainder rounding), the stars within a field drawn at random. The sky (and
    hence the Galaxy) is covered as the survey covers it.
    """
    p = config.get_profile(profile)
    n = p.n_catalog if n is None else n
    seed = config.seed_for("catalog:rows", p) if seed is None else seed
    nvisits = np.asarray(allstar["NVISITS"]) if "NVISITS" in allstar.dtype.names else None
    candidates = np.flatnonzero(nvisits > 0) if nvisits is not None else np.arange(len(allstar))
    if n is None or n >= len(candidates):
        return candidates
    field_id = np.unique(np.asarray(allstar["LOCATION_ID"])[candidates], return_inverse=True)[1]
    return candidates[stratified_sample(field_id, int(n), seed)]


def stratified_sample(strata: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted positions of ``n`` elements drawn from ``strata`` (integer labels 0..K-1) with
    per-stratum quotas proportional to the stratum sizes (largest remainder), at random
    within each stratum."""
    strata = np.asarray(strata)
    sizes = np.bincount(strata)
    exact = n * sizes / sizes.sum()
    quota = np.floor(exact).astype(np.int64)
    remainder = n - quota.sum()
    if remainder:
        rng_order = np.lexsort((np.arange(len(sizes)), -(exact - quota)))
        quota[rng_order[:remainder]] += 1
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(strata))
    # rank of each element within its stratum in the random order
    order = perm[np.argsort(strata[perm], kind="stable")]
    start = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = np.empty(len(strata), np.int64)
    rank[order] = np.arange(len(strata)) - np.repeat(start, sizes)
    return np.flatnonzero(rank < quota[strata])


def catalog_seed(profile=None) -> int:
    """MC-dropout seed of the catalog. The fast engine draws each spectrum's masks from
    (seed, position): chunk ``k`` is predicted with ``start_index = k * chunk_size``, so the
    catalog equals one ``engine.predict(model, all_spectra, seed=catalog_seed())`` call, whatever
    the chunking (a star skipped as bad keeps its position)."""
    return config.seed_for("catalog:mc", profile)


# =========================================================================== reading
def read_spectra(source: SurveySource, indices: np.ndarray):
    """Combined apStar spectra of allStar rows ``indices``, normalised for the network
    (:meth:`SurveySource.read_normalised`).

    Returns ``(spec, spec_err, good, skipped)``: float32 (n_good, 7514) arrays for the rows
    where ``good`` is True, and ``{position: skip record}`` for the others.
    """
    indices = np.asarray(indices, np.int64)
    r = source.read_normalised(indices)
    good = np.isin(indices, r.rows)
    pos = {int(i): j for j, i in enumerate(indices)}
    return r.spec, r.err, good, {pos[s["allstar_index"]]: s for s in r.skipped}


# =========================================================================== building
@dataclass
class CatalogReport:
    """What :func:`build_catalog` did."""

    path: str
    n_rows: int
    n_predicted: int
    skipped: dict = field(default_factory=dict)     # reason -> count
    wall_time_s: float = 0.0                        # this run (resumed chunks not counted)
    predict_time_s: float = 0.0                     # time spent in engine.predict
    n_chunks: int = 0
    n_chunks_resumed: int = 0
    n_run: int = 0                                  # stars read in this run
    cached: bool = False

    @property
    def spectra_per_s(self) -> float:
        """Stars per second of wall time in this run (reading + normalising + predicting)."""
        return self.n_run / self.wall_time_s if self.wall_time_s and self.n_run else float("nan")


def catalog_path(profile=None) -> Path:
    return config.data_dir(profile) / CATALOG_NAME


def build_catalog(profile=None, source: SurveySource | None = None,
                  model_folder: os.PathLike | None = None, rows=None, out_path=None,
                  chunk_size: int = CHUNK_SIZE, mc: int | None = None, force: bool = False,
                  progress: bool = True, max_chunks: int | None = None) -> CatalogReport:
    """Predict the catalog rows with the censored network and write the FITS catalog.

    ``model_folder`` defaults to ``train.ensure_model("censored", profile)``; ``rows`` to
    :func:`catalog_rows`. An existing catalog made by the same plan is reused unless
    ``force``. Finished chunks are kept in ``<out>.partial/`` (a :class:`~astronn_paper.cache.ChunkDir`)
    and a re-run with the same plan resumes from them. ``max_chunks`` stops after that many new
    chunks (for tests of resumption); the FITS is then not written and ``report.path`` is the
    partial folder.
    """
    from astronn_paper.model import blas, domain, engine, predictions, train

    p = config.get_profile(profile)
    t0 = time.perf_counter()
    source = source if source is not None else open_source(None, p)
    allstar = source.allstar()
    if model_folder is None:
        model_folder = train.ensure_model("censored", p)
    model_folder = Path(model_folder)
    dom = domain.find(model_folder)          # the out-of-domain model, None if the folder has none
    rows = catalog_rows(allstar, p) if rows is None else np.sort(np.asarray(rows, np.int64))
    if not len(rows):
        raise ValueError("no catalog rows: the allStar table has no row with a spectrum (NVISITS > 0)")
    mc = p.mc_passes if mc is None else int(mc)
    out_path = Path(out_path) if out_path is not None else catalog_path(p)
    plan = {
        "version": CATALOG_VERSION, "model": predictions.model_fingerprint(model_folder),
        "engine": engine.ENGINE_VERSION, "precision": blas.resolve_precision(),
        "source": source.fingerprint(), "rows": cache.array_fingerprint(rows),
        "mc": mc, "chunk_size": int(chunk_size), "profile": p.name,
        "seed": catalog_seed(p),
        "domain": None if dom is None else cache.file_fingerprint(model_folder / domain.DOMAIN_FILE),
    }
    plan_fp = cache.fingerprint(plan)
    if out_path.is_file() and not force and _fits_plan(out_path) == plan_fp:
        from astropy.io import fits

        h = fits.getheader(out_path, 1)
        return CatalogReport(path=str(out_path), n_rows=int(h["NAXIS2"]),
                             n_predicted=int(h["NPRED"]), skipped=json.loads(h.get("SKIPPED", "{}")),
                             wall_time_s=float(h.get("WALLTIME", 0.0)), cached=True)

    partial = cache.ChunkDir(out_path.with_name(out_path.name + ".partial"), {"plan": plan_fp})
    n_chunks = int(np.ceil(len(rows) / chunk_size))
    if force and partial.folder.exists():
        shutil.rmtree(partial.folder)
    partial.open()
    done = partial.done(n_chunks)
    resumed = len(done)
    todo = [k for k in range(n_chunks) if k not in done]
    if max_chunks is not None:
        todo = todo[:max_chunks]

    try:
        model = predictions.load_model(model_folder) if todo else None
    except Exception:
        if not done:  # a refused model folder leaves no empty partial folder behind
            shutil.rmtree(partial.folder, ignore_errors=True)
        raise
    t_pred, n_run = 0.0, 0
    bar = progress_bar(progress, total=len(rows), initial=min(len(rows), resumed * chunk_size),
                       desc="catalog", unit="star")
    def chunk_rows(k):
        return rows[k * chunk_size:(k + 1) * chunk_size]

    # read (and normalise) the next chunk in a background thread while this one is predicted
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = reader.submit(read_spectra, source, chunk_rows(todo[0])) if todo else None
        for n, k in enumerate(todo):
            idx = chunk_rows(k)
            spec, spec_err, good, problems = pending.result()
            if n + 1 < len(todo):
                pending = reader.submit(read_spectra, source, chunk_rows(todo[n + 1]))
            out = {f: np.full((len(idx), len(apogee.TARGETS)), apogee.MISSING, np.float32)
                   for f in _FIELDS}
            dscore = np.full(len(idx), np.nan, np.float32)
            if good.any() and dom is not None:
                dscore[good] = dom.score(spec, spec_err)
            if good.any():
                t1 = time.perf_counter()
                pred = predict_at(model, spec, k * chunk_size + np.flatnonzero(good), mc,
                                  catalog_seed(p))
                for f in _FIELDS:
                    out[f][good] = pred[f]
                t_pred += time.perf_counter() - t1
            reasons = np.array([problems[j]["reason"] if j in problems else "" for j in range(len(idx))],
                               f"S{max(map(len, SKIP_REASONS))}")
            partial.write(k, {"rows": idx, "reason": reasons, "domain_score": dscore, **out})
            bar.update(len(idx))
            n_run += len(idx)
    bar.close()

    if len(partial.done(n_chunks)) < n_chunks:
        return CatalogReport(path=str(partial.folder), n_rows=len(rows), n_predicted=-1,
                             wall_time_s=time.perf_counter() - t0, predict_time_s=t_pred,
                             n_chunks=n_chunks, n_chunks_resumed=resumed, n_run=n_run)

    parts = [partial.read(k)[0] for k in range(n_chunks)]
    res = {name: np.concatenate([part[name] for part in parts])
           for name in ("rows", "reason", "domain_score", *_FIELDS)}
    if not np.array_equal(res["rows"], rows):
        raise RuntimeError(f"{partial.folder} holds other rows than planned; delete it and re-run")
    skipped = Counter(r.decode() for r in res["reason"] if r)
    n_pred = int((res["reason"] == b"").sum())
    wall = time.perf_counter() - t0
    prov = {
        "model_folder": model_folder.name, "model_fingerprint": plan["model"],
        "profile": p.name, "seed": plan["seed"], "mc_passes": mc, "chunk_size": int(chunk_size),
        "source": source.kind, "source_fingerprint": plan["source"], "plan": plan_fp,
        "versions": cache.versions("astroNN", "astropy", "numpy", "tensorflow"), "n_predicted": n_pred, "skipped": dict(skipped),
        "wall_time_s": round(wall, 2),
        "domain_threshold": None if dom is None else float(dom.threshold),
        "domain_fingerprint": plan["domain"],
    }
    write_fits(out_path, allstar, rows, res, prov)
    shutil.rmtree(partial.folder)
    report = CatalogReport(path=str(out_path), n_rows=len(rows), n_predicted=n_pred,
                           skipped=dict(skipped), wall_time_s=wall, predict_time_s=t_pred,
                           n_chunks=n_chunks, n_chunks_resumed=resumed, n_run=n_run)
    return report


def predict_at(model, spec, positions, mc: int, seed: int) -> dict:
    """``engine.predict`` of ``spec`` where row j sits at catalog position ``positions[j]``
    (increasing): one call per run of consecutive positions, so that every star gets the MC
    stream of its position (``start_index``). Returns the four (n, 22) float32 arrays."""
    from astronn_paper.model import engine

    positions = np.asarray(positions, np.int64)
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    out = {f: np.empty((len(positions), len(apogee.TARGETS)), np.float32) for f in _FIELDS}
    for run in np.split(np.arange(len(positions)), breaks):
        if not len(run):
            continue
        pred = engine.predict(model, spec[run[0]:run[-1] + 1], mc=mc, seed=seed,
                             start_index=int(positions[run[0]]), progress=False)
        _check_targets(pred.targetname)
        with np.errstate(over="ignore"):   # a variance beyond float32 is stored as +inf
            for f in _FIELDS:
                out[f][run] = np.asarray(getattr(pred, f), np.float32)
    return out


def _check_targets(names) -> None:
    if list(names) != list(apogee.TARGETS):
        raise ValueError(f"the model predicts {list(names)}, not the paper's 22 targets "
                         f"{list(apogee.TARGETS)}")


def _fits_plan(path: Path) -> str | None:
    from astropy.io import fits

    try:
        return fits.getheader(path, 1).get("PLAN")
    except Exception:
        return None


# =========================================================================== flags / FITS
def outside_training_flag(labels: np.ndarray, out_of_domain: np.ndarray | None = None) -> np.ndarray:
    """Bit flag (uint8) of stars whose *predicted* labels leave the training box
    (:data:`astronn_paper.analysis.metrics.TRAINING_BOX`): bit 0 Teff, 1 log g, 2 [Fe/H];
    bit 3 = spectrum out of domain (``out_of_domain``, from the DOMAIN_SCORE); bit 7 = not
    predicted."""
    from astronn_paper.analysis.metrics import TRAINING_BOX

    labels = np.asarray(labels)
    ix = {t: i for i, t in enumerate(apogee.TARGETS)}
    flag = np.zeros(len(labels), np.uint8)
    missing = np.all(labels == apogee.MISSING, axis=1)
    for name, (lo, hi) in TRAINING_BOX.items():
        name = "Fe" if name == "feh" else name
        v = labels[:, ix[name]]
        flag |= (((v < lo) | (v > hi)) & ~missing).astype(np.uint8) << FLAG_BITS[name]
    if out_of_domain is not None:
        flag |= (np.asarray(out_of_domain, bool) & ~missing).astype(np.uint8) << FLAG_BITS["out_of_domain"]
    flag |= missing.astype(np.uint8) << FLAG_BITS["not_predicted"]
    return flag


#: (unit, description) of every column of the FITS table.
COLUMNS = {
    "APOGEE_ID": ("", "2MASS-style APOGEE identifier (allStar APOGEE_ID)"),
    "TELESCOPE": ("", "telescope (allStar TELESCOPE)"),
    "LOCATION_ID": ("", "APOGEE field location id (allStar LOCATION_ID)"),
    "RA": ("deg", "right ascension J2000 (allStar RA)"),
    "DEC": ("deg", "declination J2000 (allStar DEC)"),
    "SNR": ("", "combined-spectrum signal-to-noise ratio per pixel (allStar SNR)"),
    "ALLSTAR_INDEX": ("", "0-based row of the star in the allStar file"),
    "astroNN": ("K; dex", "22 labels in TARG01..TARG22 order: Teff (K), logg, [X/H] (dex); -9999 = none"),
    "astroNN_error": ("K; dex", "total uncertainty (model and predictive in quadrature), -9999 = none"),
    "astroNN_model_error": ("K; dex", "model (MC-dropout, epistemic) uncertainty, -9999 = none"),
    "astroNN_predictive_error": ("K; dex", "predictive (aleatoric) uncertainty, -9999 = none"),
    "DOMAIN_SCORE": ("", "out-of-domain score (< 1 for 98% of in-domain spectra); NaN = none"),
    "OUTSIDE_TRAINING": ("", "bits: 1 Teff, 2 logg, 4 [Fe/H] outside training box; 8 out of domain; 128 not predicted"),
}

#: Short description of each column (the comment of its ``TTYPEn`` card).
COLUMN_NAMES = {
    "APOGEE_ID": "APOGEE identifier", "TELESCOPE": "telescope", "LOCATION_ID": "field location id",
    "RA": "right ascension J2000", "DEC": "declination J2000", "SNR": "combined-spectrum S/N",
    "ALLSTAR_INDEX": "0-based allStar row", "astroNN": "22 labels, named by TARGnn",
    "astroNN_error": "total uncertainties", "astroNN_model_error": "model (epistemic) uncertainties",
    "astroNN_predictive_error": "predictive (aleatoric) unc.", "DOMAIN_SCORE": "out-of-domain score",
    "OUTSIDE_TRAINING": "flag bits (see TCOMMn)",
}


def write_fits(path: os.PathLike, allstar: np.ndarray, rows: np.ndarray, res: dict,
               provenance: dict) -> Path:
    """Write the catalog table (atomically) from allStar columns and predictions ``res``."""
    from astropy.io import fits
    from astropy.table import Table

    from astronn_paper import fitstable

    path = Path(path)
    a = allstar[rows]

    def text(col):
        v = np.asarray(a[col])
        return np.char.decode(v, "ascii") if v.dtype.kind == "S" else v.astype(str)

    ids, tel = text("APOGEE_ID"), text("TELESCOPE")
    mean = np.asarray(res["mean"], np.float32)
    dscore = np.asarray(res.get("domain_score", np.full(len(rows), np.nan)), np.float32)
    thr = provenance.get("domain_threshold")
    ood = None if thr is None else dscore > thr          # NaN (not predicted): not flagged
    table = Table({
        "APOGEE_ID": ids, "TELESCOPE": tel, "LOCATION_ID": np.asarray(a["LOCATION_ID"], np.int32),
        "RA": np.asarray(a["RA"], np.float64), "DEC": np.asarray(a["DEC"], np.float64),
        "SNR": np.asarray(a["SNR"], np.float32), "ALLSTAR_INDEX": np.asarray(rows, np.int64),
        "astroNN": mean, "astroNN_error": np.asarray(res["total"], np.float32),
        "astroNN_model_error": np.asarray(res["model"], np.float32),
        "astroNN_predictive_error": np.asarray(res["predictive"], np.float32),
        "DOMAIN_SCORE": dscore, "OUTSIDE_TRAINING": outside_training_flag(mean, ood)})
    hdu = fitstable.table_hdu(table, "ASTRONN", {c: (COLUMN_NAMES[c], COLUMNS[c][1]) for c in COLUMNS},
                              {c: COLUMNS[c][0] for c in COLUMNS})
    h = hdu.header
    for i, (t, u) in enumerate(((t, apogee.TARGET_UNITS[t]) for t in apogee.TARGETS), start=1):
        h[f"TARG{i:02d}"] = (t, f"astroNN[:, {i - 1}] is {apogee.TARGET_TEXT[t]} ({u})")
    fitstable.card(h, "MISSING", apogee.MISSING, "value of labels / errors not predicted")
    fitstable.card(h, "MODEL", provenance["model_folder"], "astroNN model folder")
    fitstable.card(h, "MODELFP", provenance["model_fingerprint"], "sha256 of weights + parameters (16)")
    fitstable.card(h, "PROFILE", provenance["profile"], "astronn_paper profile")
    fitstable.card(h, "SEED", provenance["seed"], "MC seed; row i uses stream start_index=i")
    fitstable.card(h, "MCPASSES", provenance["mc_passes"], "MC-dropout passes")
    fitstable.card(h, "CHUNK", provenance["chunk_size"], "stars per inference chunk")
    fitstable.card(h, "SOURCE", provenance["source"], "survey source kind")
    fitstable.card(h, "SOURCEFP", provenance["source_fingerprint"], "survey source fingerprint")
    fitstable.card(h, "NPRED", provenance["n_predicted"], "stars predicted")
    fitstable.card(h, "SKIPPED", json.dumps(provenance["skipped"], sort_keys=True), "stars skipped by reason")
    fitstable.card(h, "WALLTIME", provenance["wall_time_s"], "[s] wall time of the run that wrote it")
    fitstable.card(h, "PLAN", provenance["plan"], "fingerprint of the inputs (cache key)")
    fitstable.card(h, "DOMTHR", "none" if thr is None else float(thr), "DOMAIN_SCORE threshold (flag bit 3)")
    for k, v in provenance["versions"].items():
        fitstable.card(h, f"HIERARCH VERSION {k.upper()}", v, f"version of {k}")
    fitstable.card(h, "DATE", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(
        int(os.environ.get("SOURCE_DATE_EPOCH", time.time())))), "UTC time the file was written")
    for line in ("astroNN catalog of APOGEE DR14 (Leung & Bovy 2019), made by",
                 "astronn_paper. TCOMMn describes column n; TARGnn names label n of the",
                 "astroNN arrays. Teff in K; log g (g in cm s^-2) and [X/H] in dex, [X/H]",
                 "relative to the Sun. C1 is [C I/H], carbon from atomic C I lines; Ti2 is",
                 "[Ti II/H], titanium from ionised Ti II lines. error**2 = model_error**2",
                 "+ predictive_error**2 (model: the MC-dropout spread; predictive: the",
                 "network's own predicted uncertainty)."):
        h.add_comment(line)
    h.add_comment("PROVENANCE " + json.dumps(provenance, sort_keys=True))
    return fitstable.write(path, [fits.PrimaryHDU(), hdu])


def read_catalog(path: os.PathLike | None = None, profile=None):
    """The catalog table (``astropy.io.fits.getdata``) and its header."""
    from astropy.io import fits

    path = Path(path) if path is not None else catalog_path(profile)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: build it with catalog.build_catalog() "
                                "or 'python -m astronn_paper catalog'")
    return fits.getdata(path, header=True)


# =========================================================================== Galaxy
def galactic_positions(ra, dec, parallax, parallax_error, min_over_error: float = 5.0) -> dict:
    """Galactocentric positions (astropy, the synthetic survey's frame: R0 = 8 kpc,
    z_sun = 20.8 pc) of the stars with ``parallax / parallax_error > min_over_error``.

    Returns ``good`` (bool mask over the input) and ``X, Y, z, R`` (kpc) for those stars,
    distance = 1 / parallax.
    """
    from astronn_paper.survey.positions import galactocentric

    plx, eplx = np.asarray(parallax, float), np.asarray(parallax_error, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        good = (plx > 0) & (eplx > 0) & (plx / eplx > min_over_error)
    pos = galactocentric(np.asarray(ra)[good], np.asarray(dec)[good], 1.0 / plx[good])
    return {"good": good, **{k: pos[k] for k in ("X", "Y", "z", "R")}}


def gaia_parallax(allstar_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaia DR2 parallax and error (mas) of allStar rows from the file astroNN ships
    (``gaiadr2_apogeedr14_parallax.npz``, in allStar order; -9999 where missing)."""
    from astronn_paper.survey.positions import real_positions

    pos = real_positions()
    idx = np.asarray(allstar_index)
    return pos["parallax"][idx], pos["parallax_error"][idx]


def thin_disc_like(feh: np.ndarray, mgfe: np.ndarray) -> np.ndarray:
    """Low-alpha (thin-disc-like) stars: [Mg/Fe] < 0.12 - 0.1 [Fe/H] (below the gap between
    the two alpha sequences)."""
    return np.asarray(mgfe) < 0.12 - 0.1 * np.asarray(feh)


@dataclass
class GradientFit:
    """Robust fit [Fe/H] = a + slope (R - r0) + vertical |z|."""

    slope: float          # dex / kpc
    slope_err: float
    intercept: float      # [Fe/H] at r0, z = 0
    vertical: float       # dex / kpc
    n: int
    r0: float

    def as_dict(self) -> dict:
        return {k: float(v) if k != "n" else int(v) for k, v in self.__dict__.items()}


def radial_gradient(R, feh, z=None, r0: float = 8.0, f_scale: float = 0.2) -> GradientFit:
    """Robust (soft-L1, scale ``f_scale`` dex) linear fit of [Fe/H] against R, with an |z| term
    when ``z`` is given (so a vertical gradient does not leak into the radial one).

    The slope's uncertainty is from the Jacobian at the optimum scaled by the robust residual
    scale (1.4826 MAD).
    """
    from scipy.optimize import least_squares

    R, feh = np.asarray(R, float), np.asarray(feh, float)
    cols = [np.ones_like(R), R - r0] + ([np.abs(np.asarray(z, float))] if z is not None else [])
    A = np.stack(cols, axis=1)
    x0 = np.linalg.lstsq(A, feh, rcond=None)[0]
    res = least_squares(lambda c: A @ c - feh, x0, loss="soft_l1", f_scale=f_scale)
    resid = A @ res.x - feh
    sigma = mad_std(resid)
    cov = np.linalg.pinv(A.T @ A) * sigma**2
    return GradientFit(slope=res.x[1], slope_err=float(np.sqrt(cov[1, 1])), intercept=res.x[0],
                       vertical=res.x[2] if z is not None else float("nan"), n=len(R), r0=r0)


def map_sample(table, max_error: dict | None = None) -> dict:
    """The stars of the Milky Way maps: predicted, inside the training box (flag 0), good
    parallax (:func:`galactic_positions`), small uncertainties: the total [Fe/H] and [Mg/H]
    uncertainties below ``max_error`` (default: 0.1 dex, or the median uncertainty of the
    predicted stars when that is larger, e.g. for the briefly trained ``ci`` network).

    ``table`` is the catalog's FITS table. Returns arrays: ``index`` (rows of ``table``),
    ``X, Y, z, R`` (kpc), ``feh``, ``mgfe``, and the thresholds used (``max_error``).
    """
    ix = {t: i for i, t in enumerate(apogee.TARGETS)}
    lab, err = np.asarray(table["astroNN"]), np.asarray(table["astroNN_error"])
    ok = np.asarray(table["OUTSIDE_TRAINING"]) == 0
    if max_error is None:
        max_error = {t: max(0.1, float(np.median(err[ok, ix[t]]))) if ok.any() else 0.1
                     for t in ("Fe", "Mg")}
    for t, e in max_error.items():
        ok &= (err[:, ix[t]] > 0) & (err[:, ix[t]] < e)
    plx, eplx = gaia_parallax(np.asarray(table["ALLSTAR_INDEX"]))
    pos = galactic_positions(table["RA"], table["DEC"], plx, eplx)
    sel = ok & pos["good"]
    keep = sel[pos["good"]]
    out = {k: pos[k][keep] for k in ("X", "Y", "z", "R")}
    out["index"] = np.flatnonzero(sel)
    out["feh"] = lab[sel, ix["Fe"]]
    out["mgfe"] = lab[sel, ix["Mg"]] - out["feh"]
    out["max_error"] = max_error
    return out


def measure_gradient(sample: dict, feh=None, z_max: float = 0.5, r_range=(4.0, 13.0)):
    """The radial [Fe/H] gradient of the thin-disc-like stars (:func:`thin_disc_like` by the
    network's [Mg/Fe]) with |z| < ``z_max`` and R in ``r_range``, robust fit with an |z| term
    (:func:`radial_gradient`). ``feh`` replaces the sample's [Fe/H] (e.g. the true one, for
    the same stars). Returns ``(fit, mask over the sample)``."""
    R, z = np.asarray(sample["R"]), np.asarray(sample["z"])
    sel = (thin_disc_like(sample["feh"], sample["mgfe"]) & (np.abs(z) < z_max)
           & (R > r_range[0]) & (R < r_range[1]))
    values = np.asarray(sample["feh"] if feh is None else feh)
    if sel.sum() < 10:  # too few stars for a meaningful fit
        nan = float("nan")
        return GradientFit(nan, nan, nan, nan, int(sel.sum()), 8.0), sel
    return radial_gradient(R[sel], values[sel], z=z[sel]), sel


def true_labels(source: SurveySource, allstar_index) -> np.ndarray | None:
    """True labels (N, 22, ``apogee.TARGETS`` order) of allStar rows, or None for a real survey."""
    t = source.true_labels(allstar_index)
    return None if t is None else t.astype(float)


# =========================================================================== command line
