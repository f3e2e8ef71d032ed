"""Open and globular cluster benchmark (Leung & Bovy 2019, sect. 5.3).

Stars of one open cluster were born together from one well-mixed cloud: their abundances
agree to <~ 0.02-0.03 dex. The scatter of a method's abundances over the members of an open
cluster is therefore an *upper bound on its random error*. A globular cluster such as M13 is
the opposite test: its stars carry a real, large spread in Al (anticorrelated with Mg) and in
Na, O, N, left by a first generation of stars polluting the second. A network that derives Al
from correlations with other elements (or with the stellar parameters) rather than from the Al
lines would shrink that spread towards the Galactic trend; the censored network, which sees
only the Al windows for Al, should keep it.

The chain of this module:

1. :func:`cluster_members` matches the membership table (Meszaros et al. 2013 layout, from
   :meth:`~astronn_paper.survey.source.SurveySource.cluster_members`) to the allStar rows by
   APOGEE_ID (2MASS ID), keeping rows with ``STARFLAG == 0`` (the highest-SNR one when a star
   was observed in several fields) and reporting members that are missing or only flagged;
2. :func:`member_spectra` reads each member's apStar file through the survey source (the
   combined spectrum the paper uses: row 1 when NVISITS > 1) and continuum-normalises it as
   the paper (:mod:`astronn_paper.survey.normalise`), skipping and reporting bad spectra;
3. :func:`predict_members` runs a network (fast MC dropout, :func:`astronn_paper.model.engine.predict`)
   and caches the result per cluster under ``<data>/<profile>/predictions/``, keyed by the model
   fingerprint, the source, the member list, the MC passes and the seed;
4. :func:`run_benchmark` does all of it for the benchmark clusters and both networks and
   returns one :class:`ClusterResult` per cluster, whose :meth:`ClusterResult.table` gives,
   per element, the scatter (``mad_std``) of the network, of the ASPCAP-like labels and of the
   truth, the mean network uncertainty, and the cluster means +- error of the mean.

The statistics (:func:`spread`, :func:`mean_and_error`, :func:`x_over_fe`,
:func:`anticorrelation`, :func:`match_members`) are pure numpy functions; missing values
(``-9999``, the allStar / astroNN sentinel, or NaN) are ignored everywhere.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper import apogee, cache, config
from astronn_paper.model import predictions

#: Cluster names as the Meszaros et al. (2013) table spells them -> names for print / figures.
CLUSTER_NAMES: dict[str, str] = {
    # open clusters
    "M67": "M67", "N6819": "NGC 6819", "N6791": "NGC 6791", "N188": "NGC 188",
    "N2158": "NGC 2158", "N2420": "NGC 2420", "N7789": "NGC 7789", "M35": "M35",
    "Pleiades": "Pleiades",
    # globular clusters
    "M13": "M13", "M92": "M92", "M15": "M15", "M53": "M53", "M2": "M2", "M3": "M3", "M5": "M5",
    "N5466": "NGC 5466", "N4147": "NGC 4147", "M107": "M107", "M71": "M71",
}
#: The two open clusters of the paper's homogeneity figure.
OPEN_CLUSTERS: tuple[str, ...] = ("M67", "N6819")
#: The globular cluster with the Mg-Al anticorrelation.
GLOBULAR: str = "M13"
#: Every cluster the benchmark analyses (NGC 6791, metal-rich, as an extra open cluster).
BENCHMARK_CLUSTERS: tuple[str, ...] = ("M67", "N6819", "N6791", "M13")
#: The networks compared: the paper's censored one and the full-spectrum one.
NETWORKS: tuple[str, ...] = ("censored", "bcnn")
#: The 20 abundances, in the paper's order.
ELEMENTS: tuple[str, ...] = apogee.ABUNDANCES
#: Fewer valid values than this give a NaN scatter (mad_std of two numbers means nothing).
MIN_STARS = 3
#: Bump to invalidate the prediction caches of this module.
CACHE_VERSION = 1
#: Prediction fields stored in the cache (standard deviations as astroNN returns them).
PRED_FIELDS = ("mean", "total", "model", "predictive")

_FE = apogee.TARGETS.index("Fe")
_ABUND = np.array([apogee.TARGETS.index(e) for e in ELEMENTS])


# =========================================================================== statistics
def valid(values) -> np.ndarray:
    """``values`` as float64 with missing entries (-9999 or below, NaN, inf) set to NaN."""
    a = np.array(values, dtype=np.float64)
    a[~np.isfinite(a) | (a <= apogee.MISSING)] = np.nan
    return a


def spread(values, axis: int = 0) -> np.ndarray:
    """Robust scatter ``astropy.stats.mad_std`` along ``axis``, ignoring missing values.

    NaN where fewer than :data:`MIN_STARS` values are valid.
    """
    from astropy.stats import mad_std

    a = valid(values)
    n = np.sum(np.isfinite(a), axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        s = np.asarray(mad_std(a, axis=axis, ignore_nan=True), dtype=np.float64)
    return np.where(n >= MIN_STARS, s, np.nan)


def mean_and_error(values, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, error of the mean (:func:`scipy.stats.sem`: sample standard deviation / sqrt(n))
    and n along ``axis``, ignoring missing values. The error is NaN for n < 2, the mean NaN for
    n = 0."""
    from scipy.stats import sem

    a = valid(values)
    n = np.sum(np.isfinite(a), axis=axis)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(a, axis=axis)
        err = sem(a, axis=axis, ddof=1, nan_policy="omit")
    err = np.where(n >= 2, err, np.nan)
    return np.asarray(mean), np.asarray(err), np.asarray(n)


def x_over_fe(labels, targets=apogee.TARGETS) -> np.ndarray:
    """[X/Fe] of the 20 abundances from (n, len(targets)) labels holding [X/H].

    Returns (n, 20) in :data:`ELEMENTS` order: [X/H] - [Fe/H] for every element but Fe, and
    [Fe/H] itself in the Fe column (the usual convention of [X/Fe] tables). -9999 where [X/H]
    or [Fe/H] is missing.
    """
    y = valid(np.atleast_2d(labels))
    t = list(targets)
    xh = y[:, [t.index(e) for e in ELEMENTS]]
    feh = y[:, [t.index("Fe")]]
    out = xh - feh
    out[:, ELEMENTS.index("Fe")] = feh[:, 0]
    return np.where(np.isfinite(out), out, apogee.MISSING)


def x_over_fe_error(errors, targets=apogee.TARGETS) -> np.ndarray:
    """Uncertainty of :func:`x_over_fe`: sqrt(err[X/H]^2 + err[Fe/H]^2) (errors taken as
    independent), err[Fe/H] in the Fe column; -9999 where either error is missing."""
    e = valid(np.atleast_2d(errors))
    t = list(targets)
    ex = e[:, [t.index(el) for el in ELEMENTS]]
    efe = e[:, [t.index("Fe")]]
    out = np.hypot(ex, efe)
    out[:, ELEMENTS.index("Fe")] = efe[:, 0]
    return np.where(np.isfinite(out), out, apogee.MISSING)


def anticorrelation(x, y) -> tuple[float, int]:
    """Spearman rank correlation of the pairs where both ``x`` and ``y`` are valid, and the
    number of pairs (NaN for fewer than :data:`MIN_STARS` pairs)."""
    from scipy.stats import spearmanr

    a, b = valid(x).ravel(), valid(y).ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < MIN_STARS:
        return float("nan"), int(ok.sum())
    return float(spearmanr(a[ok], b[ok]).statistic), int(ok.sum())


# =========================================================================== membership
def _as_str(ids) -> np.ndarray:
    """IDs (bytes or str, possibly padded) as a stripped unicode array."""
    a = np.asarray(ids)
    if a.dtype.kind == "S":
        a = np.char.decode(a, "ascii")
    return np.char.strip(a.astype(str))


#: Status of a member after :func:`match_members`.
MATCH_STATUS = ("ok", "missing", "starflag")


def match_members(member_ids, allstar_ids, starflag, snr=None) -> tuple[np.ndarray, np.ndarray]:
    """Match member IDs to allStar rows.

    For each member: the allStar row with its APOGEE_ID and ``STARFLAG == 0`` (the highest
    ``snr`` one when a star has several such rows, e.g. observed in several fields).
    Returns ``(index, status)``: ``index`` the allStar row (-1 when unmatched), ``status`` one
    of :data:`MATCH_STATUS` (``missing``: no allStar row; ``starflag``: only flagged rows).
    """
    mid, aid = _as_str(member_ids), _as_str(allstar_ids)
    starflag = np.asarray(starflag)
    snr = np.zeros(len(aid)) if snr is None else np.nan_to_num(np.asarray(snr, float), nan=-np.inf)
    present = np.isin(mid, aid)
    good = np.flatnonzero(np.isin(aid, mid) & (starflag == 0))
    # best row per ID: sort by ID, then by decreasing SNR, keep the first of each ID
    order = good[np.lexsort((-snr[good], aid[good]))]
    ids_sorted, first = np.unique(aid[order], return_index=True)
    index = np.full(len(mid), -1, dtype=np.int64)
    if len(ids_sorted):
        pos = np.minimum(np.searchsorted(ids_sorted, mid), len(ids_sorted) - 1)
        hit = ids_sorted[pos] == mid
        index[hit] = order[first][pos[hit]]
    hit = index >= 0
    status = np.where(hit, "ok", np.where(present, "starflag", "missing"))
    return index, status


@dataclass
class Members:
    """The members of one cluster matched to allStar rows."""

    cluster: str
    apogee_id: np.ndarray       # (n,) str, matched members in table order
    allstar_index: np.ndarray   # (n,) int
    missing: tuple[str, ...] = ()    # in the table, no allStar row
    flagged: tuple[str, ...] = ()    # only allStar rows with STARFLAG != 0

    @property
    def n(self) -> int:
        return int(len(self.allstar_index))

    def describe(self) -> str:
        s = (f"{CLUSTER_NAMES.get(self.cluster, self.cluster)}: {self.n} members matched "
             f"(STARFLAG == 0)")
        if self.missing:
            s += f"; {len(self.missing)} not in allStar ({', '.join(self.missing[:3])}" \
                 f"{', ...' if len(self.missing) > 3 else ''})"
        if self.flagged:
            s += f"; {len(self.flagged)} with STARFLAG != 0 only"
        return s


def _column(table, *names):
    for name in names:
        if name in table.colnames:
            return np.asarray(table[name])
    raise KeyError(f"the membership table has none of the columns {names}; it has {table.colnames}")


#: Column names accepted for the member ID and the cluster name of the membership table.
ID_COLUMNS = ("APOGEE_ID", "2MASS_ID", "2MASS", "ID")
CLUSTER_COLUMNS = ("CLUSTER", "Cluster", "cluster")


def cluster_members(table, allstar: np.ndarray, clusters=BENCHMARK_CLUSTERS) -> dict[str, Members]:
    """Match the membership ``table`` (astropy Table, Meszaros et al. 2013 layout) to the
    allStar rows, one :class:`Members` per cluster in ``clusters`` (a member listed twice is
    kept once)."""
    ids = _as_str(_column(table, *ID_COLUMNS))
    names = _as_str(_column(table, *CLUSTER_COLUMNS))
    out = {}
    for cl in clusters:
        mid = ids[names == cl]
        _, first = np.unique(mid, return_index=True)
        mid = mid[np.sort(first)]
        idx, status = match_members(mid, allstar["APOGEE_ID"], allstar["STARFLAG"],
                                    allstar["SNR"] if "SNR" in allstar.dtype.names else None)
        ok = status == "ok"
        out[cl] = Members(cl, mid[ok], idx[ok], tuple(mid[status == "missing"]),
                          tuple(mid[status == "starflag"]))
    return out


#: Environment variable naming a membership table file in the Meszaros et al. (2013) layout
#: (e.g. the published ``aj485195t4_mrt.txt``), used instead of the survey source's own.
MEMBERS_TABLE_ENV = "ASTRONN_PAPER_CLUSTER_TABLE"


def members_table(source, path: os.PathLike | None = None):
    """The membership table (astropy Table, Meszaros et al. 2013 layout).

    From, in order: ``path``; the file named by ``ASTRONN_PAPER_CLUSTER_TABLE``; the survey
    source's own (:meth:`~astronn_paper.survey.source.SurveySource.cluster_members`: the synthetic
    survey's, or an exported synthetic mirror's). Files are read with the survey package's
    reader (:func:`astronn_paper.survey.meszaros.read_meszaros`).
    """
    path = path or os.environ.get(MEMBERS_TABLE_ENV)
    if path:
        from astronn_paper.survey.meszaros import read_meszaros

        if not Path(path).is_file():
            raise FileNotFoundError(f"cluster membership table {path} does not exist")
        return read_meszaros(path)
    table = None if source is None else source.cluster_members()
    if table is None:
        raise ValueError(
            f"the {getattr(source, 'kind', '')} survey source carries no cluster membership table; "
            f"point {MEMBERS_TABLE_ENV} at the published Meszaros et al. (2013) table "
            "(aj485195t4_mrt.txt) or pass it as `path`")
    return table


# =========================================================================== spectra
@dataclass
class MemberSpectra:
    """Continuum-normalised combined spectra of the members that could be read."""

    x: np.ndarray               # (n_good, 7514) float32
    x_err: np.ndarray           # (n_good, 7514) float32
    allstar_index: np.ndarray   # (n_good,) int
    skipped: list = field(default_factory=list)  # dicts: allstar_index, reason, message


def member_spectra(source, allstar_index) -> MemberSpectra:
    """Read the combined apStar spectrum of each row through ``source`` (row 1 when
    NVISITS > 1) and continuum-normalise it as the paper
    (:meth:`~astronn_paper.survey.source.SurveySource.read_normalised`); bad stars are skipped
    and listed."""
    rows = np.asarray(allstar_index, dtype=np.int64)
    if not len(rows):
        empty = np.empty((0, apogee.N_PIX_GAP_DELETED), np.float32)
        return MemberSpectra(empty, empty.copy(), rows)
    r = source.read_normalised(rows)
    skipped = [{k: s[k] for k in ("allstar_index", "reason", "message")} for s in r.skipped]
    return MemberSpectra(r.spec, r.err, r.rows, skipped)


# =========================================================================== predictions
def cache_key(model_folder, source, members: Members, p: config.Profile) -> dict:
    """What determines a cluster's predictions: the network (:func:`predictions.network_key`),
    the source, the member list, MC passes and seed (``p``: the resolved profile)."""
    return predictions.network_key(model_folder) | {
        "version": CACHE_VERSION, "source": source.fingerprint(), "cluster": members.cluster,
        "members": cache.fingerprint([list(map(str, members.apogee_id)), members.allstar_index.tolist()]),
        "mc": p.mc_passes, "seed": config.seed_for(f"clusters:{members.cluster}", p),
        "normalisation": "continuum",
    }


def cache_path(model_folder, key: dict, profile=None) -> Path:
    return predictions.cache_file(f"clusters__{Path(model_folder).name}__{key['cluster']}", key, profile)


def predict_members(model_folder, source, members: Members, profile=None,
                    spectra: MemberSpectra | None = None, force: bool = False,
                    model=None) -> dict:
    """Predictions of the network in ``model_folder`` for the members of one cluster, cached.

    Returns a dict with ``mean``, ``total``, ``model``, ``predictive`` ((n, 22), denormalised;
    uncertainties are standard deviations), ``targets``, ``allstar_index`` (the members whose
    spectra could be used) and ``skipped``. ``spectra`` (from :func:`member_spectra`) avoids
    reading the spectra again when several networks are run on the same members; ``model``
    (the folder's astroNN model, already loaded) avoids loading it again for every cluster.
    """
    p = config.get_profile(profile)
    key = cache_key(model_folder, source, members, p)
    out = cache_path(model_folder, key, p)
    if out.is_file() and not force:
        return predictions.read_cache(out, attrs=("targets", "skipped"))

    from astronn_paper.model import engine

    if spectra is None:
        spectra = member_spectra(source, members.allstar_index)
    n_good = len(spectra.allstar_index)
    if n_good:
        model = engine.load_model(model_folder) if model is None else model
        pred = engine.predict(model, spectra.x, spectra.x_err, mc=p.mc_passes, seed=key["seed"],
                             progress=False)
        result = {f: np.asarray(getattr(pred, f), dtype=np.float64) for f in PRED_FIELDS}
        targets = list(pred.targetname)
    else:
        result = {f: np.empty((0, len(apogee.TARGETS))) for f in PRED_FIELDS}
        targets = list(apogee.TARGETS)
    result["targets"] = targets
    result["allstar_index"] = np.asarray(spectra.allstar_index, dtype=np.int64)
    result["skipped"] = list(spectra.skipped)

    predictions.write_cache(
        out, {**{f: result[f] for f in PRED_FIELDS}, "allstar_index": result["allstar_index"]},
        {"targets": targets, "skipped": result["skipped"],
         "provenance": key | {"model_folder": str(model_folder), "profile": p.name,
                              "source_kind": source.kind, "n_members": members.n,
                              "n_predicted": n_good}})
    return result


def _reorder(pred: dict) -> dict:
    """Prediction arrays in :data:`apogee.TARGETS` column order."""
    t = list(pred["targets"])
    if t == list(apogee.TARGETS):
        return pred
    cols = [t.index(name) for name in apogee.TARGETS]
    return {**pred, **{f: np.asarray(pred[f])[:, cols] for f in PRED_FIELDS},
            "targets": list(apogee.TARGETS)}


# =========================================================================== results
#: Who measured a label: the two networks, the ASPCAP-like labels, the truth.
METHODS = ("censored", "bcnn", "aspcap", "truth")


@dataclass
class ClusterResult:
    """Everything the benchmark knows about one cluster's members (rows = members whose
    spectra were predicted, columns = :data:`apogee.TARGETS`)."""

    cluster: str
    members: Members
    allstar_index: np.ndarray
    apogee_id: np.ndarray
    labels: dict                 # method -> (n, 22) labels ([X/H] for the abundances)
    errors: dict                 # method -> (n, 22) 1-sigma uncertainties (truth: absent)
    skipped: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return CLUSTER_NAMES.get(self.cluster, self.cluster)

    @property
    def n(self) -> int:
        return int(len(self.allstar_index))

    def abundances(self, method: str, scale: str = "X/H") -> np.ndarray:
        """(n, 20) abundances of ``method`` on ``scale`` "X/H" or "X/Fe" (-9999 = missing)."""
        y = self.labels[method]
        if scale == "X/H":
            return np.asarray(y)[:, _ABUND]
        if scale == "X/Fe":
            return x_over_fe(y)
        raise ValueError(f"scale must be 'X/H' or 'X/Fe', got {scale!r}")

    def uncertainties(self, method: str, scale: str = "X/H") -> np.ndarray:
        e = self.errors[method]
        return np.asarray(e)[:, _ABUND] if scale == "X/H" else x_over_fe_error(e)

    def table(self, scale: str = "X/H"):
        """Per element: scatter (mad_std) of each method, mean network uncertainty, and the
        cluster mean +- error of the mean of each method (pandas DataFrame, index = element)."""
        import pandas as pd

        cols = {}
        for m in (m for m in METHODS if m in self.labels):
            a = self.abundances(m, scale)
            mean, err, n = mean_and_error(a)
            cols[f"sigma_{m}"] = spread(a)
            cols[f"mean_{m}"], cols[f"err_{m}"], cols[f"n_{m}"] = mean, err, n
            if m in self.errors and m != "aspcap":
                cols[f"unc_{m}"] = np.nanmean(valid(self.uncertainties(m, scale)), axis=0)
        return pd.DataFrame(cols, index=pd.Index(ELEMENTS, name="element"))

    def summary(self, scale: str = "X/H"):
        """:meth:`table` for reading: scatters (3 decimals) of the censored network (with its
        mean uncertainty), ASPCAP, the truth and (on the [X/Fe] scale) the full-spectrum
        network, then the cluster means +- error of the mean as text."""
        import pandas as pd

        tab = self.table(scale)
        names = {"censored": "network", "bcnn": "full-spectrum", "aspcap": "ASPCAP", "truth": "truth"}
        cols = {}
        for m in ("censored", "aspcap", "truth") + (("bcnn",) if scale == "X/Fe" else ()):
            if f"sigma_{m}" in tab:
                cols[f"σ {names[m]}"] = tab[f"sigma_{m}"].round(3)
                if m == "censored":
                    cols["unc. network"] = tab["unc_censored"].round(3)
        for m in ("censored", "aspcap", "truth"):
            if f"mean_{m}" in tab:
                cols[f"mean {names[m]}"] = [
                    "—" if not np.isfinite(a) else f"{a:+.3f}" if m == "truth"
                    else f"{a:+.3f} ({int(n)} star, no error)" if not np.isfinite(b)
                    else f"{a:+.3f} ± {b:.3f}"
                    for a, b, n in zip(tab[f"mean_{m}"], tab[f"err_{m}"], tab[f"n_{m}"])]
        return pd.DataFrame(cols, index=tab.index)


def injected_spread(cluster: str) -> float | None:
    """The intrinsic abundance spread the synthetic population gives a homogeneous cluster
    (``synth.population.CLUSTERS``), or None when unknown."""
    try:
        from astronn_paper.synth.population import CLUSTERS
    except ImportError:  # pragma: no cover
        return None
    for cl in CLUSTERS:
        if cl.name == cluster:
            return float(cl.spread)
    return None


def injected_chemistry(cluster: str) -> dict | None:
    """The [Fe/H] and [alpha/Fe] the synthetic population injects a cluster at
    (``synth.population.CLUSTERS``): ``{"feh", "alpha"}``, or None when unknown."""
    try:
        from astronn_paper.synth.population import CLUSTERS
    except ImportError:  # pragma: no cover
        return None
    for cl in CLUSTERS:
        if cl.name == cluster:
            return {"feh": float(cl.feh), "alpha": float(cl.alpha)}
    return None


def run_benchmark(profile=None, source=None, clusters=BENCHMARK_CLUSTERS, networks=NETWORKS,
                  table=None, model_folders: dict | None = None,
                  force: bool = False) -> dict[str, ClusterResult]:
    """The whole benchmark: members, spectra, predictions of each network (cached), ASPCAP-like
    labels and (synthetic source) truth, one :class:`ClusterResult` per cluster."""
    from astronn_paper import dataset
    from astronn_paper.dataset.sources import open_source

    p = config.get_profile(profile)
    source = open_source(profile=p) if source is None else source
    allstar = source.allstar()
    table = members_table(source) if table is None else table
    members = cluster_members(table, allstar, clusters)
    if model_folders is None:
        from astronn_paper.model import train

        model_folders = {k: train.ensure_model(k, p) for k in networks}

    loaded: dict = {}   # each network is loaded once, and only if some prediction is not cached

    def model_of(kind):
        if kind not in loaded:
            from astronn_paper.model.engine import load_model

            loaded[kind] = load_model(model_folders[kind])
        return loaded[kind]

    results = {}
    for cl, mem in members.items():
        spectra = None
        preds = {}
        for kind, folder in model_folders.items():
            out = cache_path(folder, cache_key(folder, source, mem, p), p)
            todo = force or not out.is_file()
            if todo and spectra is None:
                spectra = member_spectra(source, mem.allstar_index)
            preds[kind] = _reorder(predict_members(folder, source, mem, p, spectra, force,
                                                   model=model_of(kind) if todo else None))
        first = preds[next(iter(preds))]
        rows = first["allstar_index"]
        if any(not np.array_equal(pr["allstar_index"], rows) for pr in preds.values()):
            raise RuntimeError(f"{cl}: the cached predictions of the networks cover different "
                               "members; re-run with force=True")
        aspcap, aspcap_err = dataset.labels_from_allstar(allstar, rows)
        labels = {k: pr["mean"] for k, pr in preds.items()} | {"aspcap": aspcap.astype(np.float64)}
        errors = {k: pr["total"] for k, pr in preds.items()} | {"aspcap": aspcap_err.astype(np.float64)}
        t = source.true_labels(rows)   # None for a real survey
        if t is not None:
            labels["truth"] = t.astype(np.float64)
        ids = dict(zip(mem.allstar_index.tolist(), mem.apogee_id))
        results[cl] = ClusterResult(cl, mem, rows, np.array([ids[int(i)] for i in rows]),
                                    labels, errors, first["skipped"])
    return results


# =========================================================================== summaries
def _f(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 5)


def homogeneity_summary(result: ClusterResult, network: str = "censored") -> dict:
    """JSON-able per-element scatter of ``network``, ASPCAP and truth in one cluster, and the
    number of elements where the network scatters less than ASPCAP."""
    tab = result.table("X/H")
    out = {"n_members": result.n, "n_matched": result.members.n,
           "missing": list(result.members.missing), "flagged": list(result.members.flagged),
           "skipped": [s["allstar_index"] for s in result.skipped]}
    for m in ("censored", "bcnn", "aspcap", "truth"):
        if f"sigma_{m}" in tab:
            out[f"sigma_{m}"] = {e: _f(v) for e, v in tab[f"sigma_{m}"].items()}
            out[f"mean_{m}"] = {e: [_f(tab.at[e, f"mean_{m}"]), _f(tab.at[e, f"err_{m}"])]
                                for e in tab.index}
    out[f"unc_{network}"] = {e: _f(v) for e, v in tab[f"unc_{network}"].items()}
    comparable = tab[f"sigma_{network}"].notna() & tab["sigma_aspcap"].notna()
    out["n_elements_compared"] = int(comparable.sum())
    out["n_elements_network_below_aspcap"] = int(
        (tab[f"sigma_{network}"] < tab["sigma_aspcap"])[comparable].sum())
    if "sigma_truth" in tab:
        out["injected_spread"] = injected_spread(result.cluster)
        d = (tab[f"sigma_{network}"] - tab["sigma_truth"]).abs()
        out["within_0.02_of_truth"] = {e: bool(d[e] <= 0.02) for e in ("Fe", "Mg", "Si", "Ni")}
    return out


def globular_summary(result: ClusterResult) -> dict:
    """[Al/Fe] and [Mg/Fe] scatter and the Mg-Al anticorrelation of every method in M13, and
    the fraction of the true [Al/Fe] spread each network recovers."""
    al, mg = ELEMENTS.index("Al"), ELEMENTS.index("Mg")
    out = {"n_members": result.n, "al_fe_spread": {}, "mg_fe_spread": {}, "rho_mg_al": {},
           "feh": {}}
    for m in result.labels:
        xfe = result.abundances(m, "X/Fe")
        out["al_fe_spread"][m] = _f(spread(xfe[:, al]))
        out["mg_fe_spread"][m] = _f(spread(xfe[:, mg]))
        out["rho_mg_al"][m] = _f(anticorrelation(xfe[:, mg], xfe[:, al])[0])
        mean, err, _ = mean_and_error(xfe[:, ELEMENTS.index("Fe")])
        out["feh"][m] = [_f(mean), _f(err)]
    true = out["al_fe_spread"].get("truth")
    if true:
        out["al_fe_spread_injected"] = true
        out["al_fe_spread_recovered"] = {
            k: _f(out["al_fe_spread"][k] / true) for k in NETWORKS
            if out["al_fe_spread"].get(k) is not None}
    return out


def results_json(results: dict[str, ClusterResult], profile=None) -> dict:
    """The notebook's numbers (JSON-able)."""
    p = config.get_profile(profile)
    out = {"profile": p.name, "mc_passes": p.mc_passes,
           "clusters": {cl: homogeneity_summary(r) for cl, r in results.items()
                        if cl != GLOBULAR}}
    if GLOBULAR in results:
        out["M13"] = globular_summary(results[GLOBULAR])
    return out


# =========================================================================== systematic offsets
def mean_offsets(result: ClusterResult, method: str = "censored", scale: str = "X/H"):
    """Per element, the offset of ``method``'s cluster mean from the true mean, the error of
    that mean (sample sd / sqrt(n): random scatter only) and their ratio ``n_sigma``
    (synthetic survey; pandas DataFrame indexed by element). A ratio far above a few says the
    offset is a systematic shared by every member, which no error of a mean can contain."""
    import pandas as pd

    tab = result.table(scale)
    off = tab[f"mean_{method}"] - tab["mean_truth"]
    err = tab[f"err_{method}"]
    return pd.DataFrame({"offset": off, "err": err, "n_sigma": off / err}, index=tab.index)


def label_systematics(labels, truth, teff=None, teff_range=None, targets=apogee.TARGETS) -> dict:
    """Median (label - truth) of each abundance over the stars of a training set, i.e. the
    systematic offset the training labels carry (and a network trained on them learns);
    restricted to true Teff within ``teff_range`` when given. Missing labels are skipped.
    Returns element -> offset (dex), :data:`ELEMENTS` order."""
    y, t = valid(np.atleast_2d(labels)), valid(np.atleast_2d(truth))
    ok = np.ones(len(y), bool)
    if teff_range is not None:
        tt = t[:, list(targets).index("teff")] if teff is None else np.asarray(teff, float)
        ok = (tt >= teff_range[0]) & (tt <= teff_range[1])
    out = {}
    for e in ELEMENTS:
        j = list(targets).index(e)
        d = (y[:, j] - t[:, j])[ok]
        d = d[np.isfinite(d)]
        out[e] = float(np.median(d)) if len(d) else float("nan")
    return out


def population_xfe(labels, truth, element: str, feh: float, teff: float, d_feh: float = 0.05,
                   d_teff: float = 200.0, targets=apogee.TARGETS) -> dict:
    """What a network with no own sensitivity to ``element`` would report for a cluster: the
    median [X/Fe] of the training labels over the training stars whose *true* [Fe/H] and Teff
    are within ``d_feh`` and ``d_teff`` of the cluster's, beside the median *true* [X/Fe] of
    the same stars. Returns ``{"n", "label_xfe", "true_xfe"}``."""
    y, t = valid(np.atleast_2d(labels)), valid(np.atleast_2d(truth))
    tl = list(targets)
    j, fe, te = tl.index(element), tl.index("Fe"), tl.index("teff")
    near = (np.abs(t[:, fe] - feh) <= d_feh) & (np.abs(t[:, te] - teff) <= d_teff)
    lab = (y[:, j] - y[:, fe])[near]
    tru = (t[:, j] - t[:, fe])[near]
    ok = np.isfinite(lab) & np.isfinite(tru)
    if not ok.any():
        return {"n": 0, "label_xfe": float("nan"), "true_xfe": float("nan")}
    return {"n": int(ok.sum()), "label_xfe": float(np.median(lab[ok])),
            "true_xfe": float(np.median(tru[ok]))}


def offsets_vs_label_systematics(results: dict, labels, truth, clusters=("M67", "N6819", "N6791"),
                                 method: str = "censored", d_teff: float = 200.0) -> dict:
    """Across the homogeneous clusters and the 20 elements: each cluster mean's offset from
    the truth beside the training labels' systematic (:func:`label_systematics` over training
    stars within ``d_teff`` of the cluster's mean true Teff). Returns the Pearson correlation,
    the rms offset and the rms offset left after subtracting the label systematic, and the
    number of (cluster, element) pairs."""
    offs, syst = [], []
    te = apogee.TARGETS.index("teff")
    for cl in clusters:
        if cl not in results or "truth" not in results[cl].labels:
            continue
        r = results[cl]
        t_cl = float(np.nanmean(valid(r.labels["truth"])[:, te]))
        s = label_systematics(labels, truth, teff_range=(t_cl - d_teff, t_cl + d_teff))
        o = mean_offsets(r, method)["offset"]
        for e in ELEMENTS:
            if np.isfinite(o[e]) and np.isfinite(s[e]):
                offs.append(o[e])
                syst.append(s[e])
    offs, syst = np.asarray(offs), np.asarray(syst)
    if len(offs) < 3:
        return {"n": int(len(offs)), "r": float("nan"), "rms_offset": float("nan"),
                "rms_after": float("nan")}
    return {"n": int(len(offs)), "r": float(np.corrcoef(offs, syst)[0, 1]),
            "rms_offset": float(np.sqrt(np.mean(offs ** 2))),
            "rms_after": float(np.sqrt(np.mean((offs - syst) ** 2)))}
