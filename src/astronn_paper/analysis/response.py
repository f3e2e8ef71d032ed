"""The element response test: does the network read each label from the star's own lines?

On the synthetic survey the truth is known and the forward model can re-render any star, so
we can ask what the paper could not: when only one true label of a star changes, how much of
that change reaches the network's prediction of that label (self-response), and how much
leaks into the others?

For every star and every *direction* j (Teff +50 K, log g +0.1 dex, each of the 20 [X/H]
columns +0.1 dex, and the population direction: all 20 [X/H] together +0.1 dex):

1. the intrinsic spectrum is re-rendered (:func:`astronn_paper.synth.spectra.render`) with
   only label j changed (every other label fixed; the micro-turbulence, which in the survey
   is a function of log g, follows that relation when log g changes - or stays fixed with
   ``vmicro="fixed"``);
2. it is observed (:func:`astronn_paper.synth.instrument.observe`) with **the same random
   generator state** as the unperturbed star (the star's own ``star_rng``: same visit split,
   continuum, sky shifts, cosmic rays and noise draws), at a chosen combined SNR (the star's
   visit split :func:`astronn_paper.synth.catalog.visit_snr` scaled to that SNR);
3. the combined spectrum is normalised as in the paper
   (:func:`astronn_paper.survey.normalise.continuum`);
4. the network predicts it (MC-dropout mean of the fast engine,
   :func:`astronn_paper.model.engine.predict`), with the same dropout masks as the
   unperturbed star (same seed, same star position);

and the per-star ratio Δpred_i / Δtrue_j is formed. The **response matrix** R[i, j] is the
median of that ratio over the stars, with a bootstrap (over stars) standard error. R[i, i]
= 1 means the label is measured; R[i, i] ≈ 0 with a large population response means it is
inferred from the other labels through the training population's correlations.

Notes on the renderer's columns: the forward model has separate inputs for [C/H] of the
molecules (column ``C``: CO, CN) and of the C I lines (``C1``), and for Ti I (``Ti``) and
Ti II (``Ti2``); in the truth they are equal. Each column is a direction of its own (the
22 x 22 matrix); the combined directions ``C+C1`` and ``Ti+Ti2`` (both columns together,
i.e. a change of the element) are added beside them.

The predictor is injectable: ``predict(spec, spec_err, start) -> (N, n_outputs)`` is any
callable (``start`` is the position of the first star in the star list, which fixes the
engine's per-star dropout masks), and so is the forward model (:class:`SurveyForward` is the
synthetic survey's). A model linear in the labels gives back its matrix exactly (tested).

``python -m astronn_paper response [--model DIR] [--stars N] [--snr S ...] [--seed K]
[--out FILE.csv]`` runs it on an astroNN ``ApogeeBCNN``/``ApogeeBCNNCensored`` folder.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from astronn_paper import apogee, config
from astronn_paper.model import predictions
from astronn_paper.progress import bar as progress_bar

#: Step of each single-label direction, in the label's units.
STEPS: dict[str, float] = {"teff": 50.0, "logg": 0.1, **{t: 0.1 for t in apogee.ABUNDANCES}}
#: The population direction: all 20 [X/H] together (the way the population mostly varies).
POPULATION = "all [X/H]"
#: Directions that move two renderer columns of one element together.
ELEMENT_PAIRS: dict[str, tuple[str, str]] = {"C+C1": ("C", "C1"), "Ti+Ti2": ("Ti", "Ti2")}
#: Default SNRs of the test (the paper's training set has SNR > 200; visits ~50).
DEFAULT_SNRS: tuple[float, ...] = (200.0, 50.0)
#: Stars per profile (the CLI's default is the default profile's).
N_STARS: dict[str, int] = {"ci": 40, "default": 300, "paper": 1000}
#: MC-dropout passes per spectrum (the MC noise cancels to first order: same masks).
MC_PASSES = 20
#: Bootstrap resamples of the stars.
N_BOOT = 500
#: Stars rendered together (the renderer is vectorised; memory ~ batch x directions x 70 kB).
BATCH = 50
#: Micro-turbulence of a changed star: ``relation`` - it follows the survey's vmicro(log g)
#: relation (:func:`astronn_paper.synth.population.vmicro_of`, which every survey star obeys,
#: so a log g change stays on the training set's manifold); ``fixed`` - kept at the star's value.
VMICRO_MODES = ("relation", "fixed")
#: Bump when the measurement changes in a way the cache key does not show.
RESPONSE_VERSION = "2"
#: CSV columns.
COLUMNS = ("snr", "output", "changed", "R", "R_err", "step_output", "step_changed",
           "R_per_step", "R_per_step_err", "n_stars")


# ============================================================================ directions
@dataclass(frozen=True)
class Direction:
    """A change of the true labels: ``delta`` (22, TARGETS order) and the ``step`` the
    prediction's change is divided by."""

    name: str
    delta: np.ndarray
    step: float


def directions(targets: Sequence[str] = apogee.TARGETS, steps: Mapping[str, float] | None = None,
               population: bool = True, pairs: bool = True) -> list[Direction]:
    """The single-label directions (one per target), then the element pairs and the
    population direction (all [X/H] by the abundances' step)."""
    steps = dict(STEPS, **(steps or {}))
    targets = list(targets)
    out = []
    for j, t in enumerate(targets):
        d = np.zeros(len(targets))
        d[j] = steps[t]
        out.append(Direction(t, d, float(steps[t])))
    if pairs:
        for name, (a, b) in ELEMENT_PAIRS.items():
            if a in targets and b in targets:
                d = np.zeros(len(targets))
                d[targets.index(a)], d[targets.index(b)] = steps[a], steps[b]
                out.append(Direction(name, d, float(steps[a])))
    if population:
        ab = [t for t in targets if t in apogee.ABUNDANCES]
        if ab:
            step = float(steps[ab[0]])
            if any(steps[t] != step for t in ab):
                raise ValueError("the population direction needs one step for every abundance")
            d = np.array([step if t in ab else 0.0 for t in targets])
            out.append(Direction(POPULATION, d, step))
    return out


# ============================================================================ stars
@dataclass
class Stars:
    """The stars of the test: allStar rows and their true labels (N, 22, TARGETS order)."""

    index: np.ndarray
    labels: np.ndarray
    vmicro: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def true_labels(population, rows) -> np.ndarray:
    """(N, 22) true labels in TARGETS order (Teff, log g, the 20 [X/H] renderer columns)."""
    rows = np.asarray(rows, dtype=np.int64)
    return np.column_stack([population.teff[rows], population.logg[rows], population.xh20[rows]])


def select_stars(source, n: int, seed: int) -> Stars:
    """``n`` random in-box giants of the synthetic survey (seeded): red-giant-branch and
    red-clump stars whose *true* Teff, log g, [Fe/H] lie in the training box
    (:data:`~astronn_paper.analysis.metrics.TRAINING_BOX`), not cluster members, with
    STARFLAG = 0 (as the training set's cuts require)."""
    from astronn_paper.analysis import metrics
    from astronn_paper.synth import population as popmod

    if n < 1:
        raise config.UserValueError(f"--stars: need at least 1 star, got {n}")
    pop = source.catalog.population
    giants = np.isin(pop.kind, [popmod.KINDS.index("rgb"), popmod.KINDS.index("rc")])
    ok = (giants & metrics.in_box(pop.teff, pop.logg, pop.feh) & (pop.cluster < 0)
          & (source.allstar()["STARFLAG"] == 0))
    pool = np.flatnonzero(ok)
    if len(pool) < n:
        raise config.UserValueError(f"--stars {n}: the survey has only {len(pool)} in-box giants; "
                                    "ask for fewer")
    rows = np.sort(np.random.default_rng(seed).choice(pool, size=n, replace=False))
    return Stars(rows, true_labels(pop, rows), pop.vmicro[rows].astype(np.float64))


# ============================================================================ forward model
class SurveyForward:
    """The synthetic survey's forward model for given stars: render, observe, normalise.

    :meth:`render` gives the intrinsic spectra of (changed) labels; :meth:`observe` observes
    and normalises them at a combined SNR with each star's own random generator, exactly as
    :meth:`~astronn_paper.synth.source.SyntheticSource.apstar` does (same calls,
    same generator state), so that two label sets of one star see the same noise draw.
    """

    def __init__(self, source, stars: Stars, vmicro: str = "relation"):
        if vmicro not in VMICRO_MODES:
            raise ValueError(f"vmicro must be one of {VMICRO_MODES}, got {vmicro!r}")
        self.source = source
        self.stars = stars
        self.vmicro = vmicro
        self.allstar = source.allstar()
        self.population = source.catalog.population

    def render(self, labels: np.ndarray, rows: slice) -> np.ndarray:
        """(n, 8575) intrinsic spectra of ``labels`` (n, 22): one or several label sets of the
        stars ``rows``, stacked (n a multiple of the number of stars)."""
        from astronn_paper.synth.population import vmicro_of
        from astronn_paper.synth.spectra import render

        vm = self.stars.vmicro[rows]
        if len(labels) % len(vm):
            raise ValueError(f"{len(labels)} label rows for {len(vm)} stars")
        reps = len(labels) // len(vm)
        vm = np.tile(vm, reps)
        if self.vmicro == "relation":   # the survey's vmicro(log g) relation moves with log g
            vm = vm + vmicro_of(labels[:, 1]) - vmicro_of(np.tile(self.stars.labels[rows, 1], reps))
        return render(labels[:, 0], labels[:, 1], labels[:, 2:], vm)

    def apstar_arrays(self, intrinsic: np.ndarray, labels: np.ndarray, rows: slice,
                      snr: float | None):
        """Combined (flux, err, bitmask), (n, 8575) each, of the stars ``rows``, observed as
        :meth:`SyntheticSource.observe` observes them (the same noise draw whatever the labels)."""
        stars = [self.source.observe(int(i), intrinsic[k], teff=float(labels[k, 0]), snr=snr)
                 for k, i in enumerate(self.stars.index[rows])]
        f, e, m = (np.stack(a) for a in zip(*(s.combined() for s in stars)))
        return f, e, m

    def observe(self, intrinsic: np.ndarray, labels: np.ndarray, rows: slice, snr: float):
        """Normalised (spec, spec_err), (n, 7514) float32, and a (n,) mask of the stars
        whose spectrum could be normalised."""
        from astronn_paper.survey import normalise

        f, e, m = self.apstar_arrays(intrinsic, labels, rows, snr)
        res = normalise.normalise_batch(f, e, m)
        spec = np.ones((len(f), apogee.N_PIX_GAP_DELETED), np.float32)
        err = np.ones_like(spec)
        spec[res.good], err[res.good] = res.spec, res.err
        return spec, err, res.good


# ============================================================================ the test
@dataclass
class ResponseResult:
    """Response of the outputs to each direction at one SNR."""

    snr: float
    outputs: tuple[str, ...]
    changed: tuple[str, ...]
    steps_changed: np.ndarray          # (n_changed,)
    ratios: np.ndarray                 # (N, n_outputs, n_changed): Δpred_i / step_j per star
    base: np.ndarray                   # (N, n_outputs) unperturbed predictions
    matrix: np.ndarray                 # (n_outputs, n_changed) median over stars
    error: np.ndarray                  # (n_outputs, n_changed) bootstrap standard error
    n_good: int = 0
    meta: dict = field(default_factory=dict)

    def to_frame(self):
        """One row per (output label, changed label): the CSV layout (:data:`COLUMNS`)."""
        import pandas as pd

        step_out = np.array([STEPS.get(t, np.nan) for t in self.outputs])
        rows = []
        for i, o in enumerate(self.outputs):
            for j, c in enumerate(self.changed):
                scale = self.steps_changed[j] / step_out[i]
                rows.append((float(self.snr), o, c, self.matrix[i, j], self.error[i, j], step_out[i],
                             self.steps_changed[j], self.matrix[i, j] * scale,
                             self.error[i, j] * scale, self.n_good))
        return pd.DataFrame(rows, columns=list(COLUMNS))


def bootstrap_median(ratios: np.ndarray, n_boot: int = N_BOOT, seed: int = 0,
                     chunk: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Median over axis 0 (NaN rows ignored) and its bootstrap standard error
    (:func:`scipy.stats.bootstrap`: the rows resampled with replacement ``n_boot`` times,
    ``chunk`` resamples at a time, from ``numpy.random.default_rng(seed)``)."""
    from scipy.stats import bootstrap

    r = np.asarray(ratios, dtype=np.float64)
    r = r[~np.isnan(r).reshape(len(r), -1).all(axis=1)]     # stars left out entirely
    # np.median is ~10x faster than np.nanmedian: use it unless some entries are missing
    median = np.nanmedian if np.isnan(r).any() else np.median
    n = r.shape[0]
    if n == 0:
        return np.full(np.shape(ratios)[1:], np.nan), np.full(np.shape(ratios)[1:], np.nan)
    med = median(r, axis=0)
    if n < 2 or n_boot < 2:
        return med, np.full(med.shape, np.nan)
    res = bootstrap((r,), median, n_resamples=n_boot, batch=chunk, vectorized=True, axis=0,
                    method="percentile", random_state=np.random.default_rng(seed))
    return med, res.standard_error


def run(predict: Callable, forward, labels: np.ndarray, snrs: Sequence[float],
        dirs: Sequence[Direction] | None = None, outputs: Sequence[str] = apogee.TARGETS,
        batch: int = BATCH, n_boot: int = N_BOOT, seed: int = 0,
        progress: bool = False) -> list[ResponseResult]:
    """The response test: one :class:`ResponseResult` per SNR.

    ``predict(spec, spec_err, start) -> (n, len(outputs))``; ``forward`` has
    ``render(labels, rows) -> intrinsic`` and ``observe(intrinsic, labels, rows, snr) ->
    (spec, spec_err, good)`` (``rows`` a slice of the star list); ``labels`` (N, 22) the
    stars' true labels in TARGETS order. Stars whose spectrum fails to normalise in any
    direction are left out (counted in ``n_good``).
    """
    labels = np.asarray(labels, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[1] != len(apogee.TARGETS):
        raise ValueError(f"labels must be (N, {len(apogee.TARGETS)}) in TARGETS order, got {labels.shape}")
    snrs = [float(s) for s in snrs]
    if not snrs or any(not np.isfinite(s) or s <= 0 for s in snrs):
        raise ValueError(f"SNRs must be positive numbers, got {snrs}")
    dirs = list(directions() if dirs is None else dirs)
    n, k, n_out = len(labels), len(dirs), len(outputs)
    pred = np.full((len(snrs), n, k + 1, n_out), np.nan)
    good = np.ones((len(snrs), n), bool)
    bar = progress_bar(progress, total=n * len(snrs), desc="response", unit="star")
    for a in range(0, n, batch):
        rows = slice(a, min(a + batch, n))
        base = labels[rows]
        variants = [base] + [base + d.delta[None, :] for d in dirs]
        intrinsic = forward.render(np.concatenate(variants), rows)
        m = base.shape[0]
        for s, snr in enumerate(snrs):
            for v, lab in enumerate(variants):
                spec, err, ok = forward.observe(intrinsic[v * m:(v + 1) * m], lab, rows, snr)
                out = np.asarray(predict(spec, err, a), dtype=np.float64)
                if out.shape != (m, n_out):
                    raise ValueError(f"predict returned shape {out.shape}, expected {(m, n_out)}")
                pred[s, rows, v] = out
                good[s, rows] &= np.asarray(ok, bool)
            bar.update(m)
    bar.close()
    steps = np.array([d.step for d in dirs])
    results = []
    for s, snr in enumerate(snrs):
        ratios = (pred[s, :, 1:, :] - pred[s, :, :1, :]) / steps[None, :, None]   # (N, k, n_out)
        ratios = np.transpose(ratios, (0, 2, 1))
        ratios[~good[s]] = np.nan
        med, err = bootstrap_median(ratios, n_boot=n_boot, seed=seed + s)
        results.append(ResponseResult(snr, tuple(outputs), tuple(d.name for d in dirs), steps, ratios,
                                      pred[s, :, 0, :], med, err, int(good[s].sum())))
    return results


def engine_predictor(model, mc: int = MC_PASSES, seed: int = 0) -> Callable:
    """``predict(spec, spec_err, start)`` for an astroNN model object or folder: the fast
    engine's MC-dropout mean, seeded, with each star's dropout masks fixed by its position
    ``start + row`` in the star list (the same for every direction)."""
    from astronn_paper.model import engine

    eng = engine.engine(model)

    def predict(spec, err, start):
        return eng.predict(spec, mc=mc, seed=seed, start_index=int(start), progress=False).mean

    return predict


def to_frame(results: Sequence[ResponseResult]):
    """All SNRs in one table (:data:`COLUMNS`)."""
    import pandas as pd

    return pd.concat([r.to_frame() for r in results], ignore_index=True)


# ============================================================================ model runs
def _synthetic_source(profile):
    from astronn_paper.synth.source import SyntheticSource

    return SyntheticSource(seed=config.get_profile(profile).survey_seed, cache_spectra=0)


def default_path(model_folder, profile=None) -> Path:
    """``<data>/<profile>/results/response_<model folder>.csv``."""
    return config.sub_dir("results", profile) / f"response_{Path(model_folder).name}.csv"


def measure(model_folder, n_stars: int | None = None, snrs: Sequence[float] = DEFAULT_SNRS,
            seed: int | None = None, mc: int = MC_PASSES, profile=None, out: os.PathLike | None = None,
            n_boot: int = N_BOOT, vmicro: str = "relation", progress: bool = True):
    """Run the response test on a model folder, store it in the prediction cache
    (:func:`cache_path`) and, if ``out`` is given, also as a CSV with a JSON sidecar
    (``<out>.json``: model, stars, SNRs, seeds, MC passes, timing). Returns the table
    (:data:`COLUMNS`) as read back from the cache, with the metadata in ``attrs``."""
    from astronn_paper import cache
    from astronn_paper.model import engine

    p = config.get_profile(profile)
    folder = engine.check_model_folder(model_folder)
    n_stars = N_STARS.get(p.name, 300) if n_stars is None else int(n_stars)
    seed = config.seed_for("response", p) if seed is None else int(seed)
    key = cache_key(folder, p, n_stars, snrs, seed, mc, vmicro)
    t0, c0 = time.time(), time.process_time()
    model = engine.load_model(folder)
    source = _synthetic_source(p)
    stars = select_stars(source, n_stars, seed)
    predict = engine_predictor(model, mc=mc, seed=seed)
    outputs = tuple(model.targetname)
    results = run(predict, SurveyForward(source, stars, vmicro), stars.labels, snrs, outputs=outputs,
                  n_boot=n_boot, seed=seed, progress=progress)
    table = to_frame(results)
    wall, cpu = time.time() - t0, time.process_time() - c0
    meta = key | {"model_folder": config.shown_path(folder), "model_name": folder.name,
                  "n_good": {str(r.snr): r.n_good for r in results}, "n_boot": n_boot,
                  "profile": p.name, "allstar_index": stars.index.tolist(), "wall_s": round(wall, 1),
                  "cpu_s": round(cpu, 1), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = cache_path(folder, key, p)
    predictions.write_cache(path, {c: (table[c].to_numpy().astype("S") if table[c].dtype == object
                                       else table[c].to_numpy()) for c in COLUMNS}, {"meta": meta})
    table = _read(path)
    if out is not None:
        out = Path(out)
        with cache.atomic_path(out) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        cache.atomic_write_json(out.with_name(out.name + ".json"), meta)
    return table


def cache_key(folder, profile, n_stars: int, snrs: Sequence[float], seed: int, mc: int,
              vmicro: str = "relation") -> dict:
    """What decides a response table: the network (:func:`predictions.network_key`), the stars,
    SNRs, seed, MC passes, micro-turbulence rule and the synthetic survey."""
    p = config.get_profile(profile)
    return predictions.network_key(folder) | {
        "n_stars": int(n_stars), "snrs": list(map(float, snrs)), "seed": int(seed), "mc_passes": int(mc),
        "vmicro": vmicro, "survey_seed": p.survey_seed, "generator": _synthetic_source(p).fingerprint(),
        "version": RESPONSE_VERSION}


def cache_path(folder, key: dict, profile=None) -> Path:
    """The table's file in the prediction cache."""
    return predictions.cache_file(f"response__{Path(folder).name}", key, profile)


def _read(path: Path):
    import pandas as pd

    data = predictions.read_cache(path, attrs=("meta",))
    meta = data.pop("meta")
    table = pd.DataFrame({c: (np.char.decode(data[c]).astype(object) if data[c].dtype.kind == "S"
                              else data[c]) for c in COLUMNS})
    table.attrs.update(meta)
    return table


def response_table(model_folder, profile=None, n_stars: int | None = None,
                   snrs: Sequence[float] = DEFAULT_SNRS, seed: int | None = None, mc: int = MC_PASSES,
                   force: bool = False, progress: bool = True):
    """The response table of a model folder for a profile, from the prediction cache when it
    was made with the same settings (network, stars, SNRs, seed, MC passes, survey), else
    measured (:func:`measure`)."""
    p = config.get_profile(profile)
    folder = Path(model_folder)
    n_stars = N_STARS.get(p.name, 300) if n_stars is None else int(n_stars)
    seed = config.seed_for("response", p) if seed is None else int(seed)
    path = cache_path(folder, cache_key(folder, p, n_stars, snrs, seed, mc), p)
    if path.is_file() and not force:
        return _read(path)
    return measure(folder, n_stars=n_stars, snrs=snrs, seed=seed, mc=mc, profile=p, progress=progress)


# ============================================================================ reading tables
def matrix(table, snr: float, per_step: bool = True, changed: Sequence[str] | None = None):
    """``(R, R_err, outputs, changed)`` at one SNR as (n_outputs, n_changed) arrays;
    ``per_step``: in units of each label's own step (dimensionless, e.g. ΔTeff_pred / 50 K
    per 0.1 dex of [X/H])."""
    t = table[np.isclose(table["snr"], float(snr))]
    if t.empty:
        raise ValueError(f"no SNR {snr} in the table (have {sorted(set(table['snr']))})")
    outputs = list(dict.fromkeys(t["output"]))
    changed = list(dict.fromkeys(t["changed"])) if changed is None else list(changed)
    col, ecol = ("R_per_step", "R_per_step_err") if per_step else ("R", "R_err")
    piv = t.pivot(index="output", columns="changed", values=col).loc[outputs, changed]
    epiv = t.pivot(index="output", columns="changed", values=ecol).loc[outputs, changed]
    return piv.to_numpy(float), epiv.to_numpy(float), outputs, changed


def self_response(table, snr: float):
    """Per label: the self-response R[i, i] and its error, and the response of the label to
    the population direction (all [X/H] together; for Teff and log g per step of [X/H]
    in units of their own step)."""
    import pandas as pd

    t = table[np.isclose(table["snr"], float(snr))]
    diag = t[t["output"] == t["changed"]].set_index("output")
    pop = t[t["changed"] == POPULATION].set_index("output")
    df = pd.DataFrame({"self": diag["R"], "self_err": diag["R_err"],
                       "population": pop["R_per_step"], "population_err": pop["R_per_step_err"]})
    for name, (a, b) in ELEMENT_PAIRS.items():
        pair = t[t["changed"] == name].set_index("output")
        if not pair.empty:
            for e in (a, b):
                df.loc[e, "element"] = pair.loc[e, "R"]
                df.loc[e, "element_err"] = pair.loc[e, "R_err"]
    return df.loc[[o for o in dict.fromkeys(t["output"]) if o in df.index]]


def linear_prediction(table, snr: float, truth, R: np.ndarray | None = None) -> np.ndarray:
    """Predicted labels (n, 22) of stars with true labels ``truth`` (n, 22, TARGETS order) if
    the network responded to every label difference between them as the response matrix
    says: ``mean(truth) + (truth - mean(truth)) R^T`` (R in natural units, the 22 single
    directions; ``R`` overrides the table's)."""
    t = np.asarray(truth, dtype=np.float64)
    if R is None:
        R = matrix(table, snr, per_step=False, changed=list(apogee.TARGETS))[0]
    centre = np.nanmean(t, axis=0)
    return centre + (t - centre) @ np.asarray(R).T


def spread_through_response(table, snr: float, truth, element: str = "Al", n_draw: int = 500,
                            seed: int = 0) -> tuple[float, float]:
    """The [X/Fe] spread (``mad_std``, as :func:`astronn_paper.analysis.clusters.spread`) of
    :func:`linear_prediction` for stars with true labels ``truth``: the spread a network with
    this response matrix would report, leakage from the other labels' star-to-star
    differences included. Error: the standard deviation over ``n_draw`` matrices drawn
    from R ± its bootstrap error (entries independent)."""
    from astronn_paper.analysis import clusters

    R, E, _, _ = matrix(table, snr, per_step=False, changed=list(apogee.TARGETS))
    k = clusters.ELEMENTS.index(element)

    def spread_of(r):
        return float(clusters.spread(clusters.x_over_fe(linear_prediction(table, snr, truth, r))[:, k]))

    rng = np.random.default_rng(seed)
    draws = [spread_of(R + np.nan_to_num(E) * rng.standard_normal(R.shape)) for _ in range(n_draw)]
    return spread_of(R), float(np.std(draws, ddof=1))


def predicted_spread(r: float, r_err: float, injected: float) -> tuple[float, float]:
    """A star-to-star spread the network reproduces through its self-response: ``r x
    injected`` and its error (from ``r_err``)."""
    return float(r * injected), float(abs(r_err * injected))
