"""Precision on individual visits: the network on each visit versus on the combined spectrum.

Every APOGEE star is observed in several visits of ~1 h; the combined spectrum stacks them.
A network that learned *spectral* information should give, on a single low-SNR visit, nearly
the label it gives on the high-SNR combined spectrum of the same star, with a scatter that
shrinks as the visit SNR grows and an uncertainty that follows it. Leung & Bovy (2019, sect.
5.2) measure the median |visit - combined| in bins of visit SNR and quote it at SNR = 50
(≈ 0.02-0.03 dex for most elements).

This module holds the pure pieces of that measurement:

* :func:`match_by_index` / :func:`crossmatch_sky` / :func:`match_visits` - each visit's star in
  the combined group, from the ``star_index`` column the compile step writes and,
  independently, by an astropy sky cross-match of RA/DEC (:class:`VisitMatch` says whether
  the two agree);
* :func:`precision_vs_snr` - median |visit - combined| (and |visit - truth|) and the mean
  total / model uncertainty in bins of visit SNR (:class:`PrecisionVsSNR`);
* :func:`value_at_snr` - the value of a binned curve at a given SNR (log-log interpolation
  between the bins' median SNRs, so that a 1/SNR law is interpolated exactly);
* :func:`predict_visits` - a network's cached predictions on the visits of a compiled dataset's
  stars (all, or a seeded subset) and on their combined spectra, matched
  (:class:`VisitPredictions`); :func:`paper_precision` - the paper's values at SNR 50.

Binned statistics come from :func:`astronn_paper.analysis.metrics.binned_stat`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from astronn_paper import apogee
from astronn_paper.analysis import metrics

#: Edges of the visit-SNR bins (test-star visits span SNR ~ 10-300, training-star visits up
#: to ~1000; the bins 40-50 and 50-60 bracket the quoted SNR = 50).
SNR_EDGES: np.ndarray = np.array(
    [5, 10, 20, 30, 40, 50, 60, 70, 80, 100, 125, 150, 200, 300, 500, 1000], dtype=float)
#: The SNR at which the paper quotes its precision.
REFERENCE_SNR = 50.0


def paper_precision(snr: float = REFERENCE_SNR) -> dict[str, float]:
    """The paper's published median |visit - combined| at visit SNR 50 (censored network)."""
    if snr != REFERENCE_SNR:
        raise ValueError(f"the paper quotes its precision at SNR {REFERENCE_SNR:g} only")
    from astronn_paper import paper

    table = paper.results()["precision_snr50_visit_vs_combined"]
    return {k: float(v) for k, v in table.items() if not k.startswith("_")}


#: Labels whose published SNR-50 precision is a range (0.031-0.034 dex) shared by the four, not a value:
#: the transcribed value is a placement inside it, approximate (``≈`` in the prose).
PAPER_PRECISION_APPROXIMATE: dict[str, tuple[float, float]] = {t: (0.031, 0.034) for t in ("C", "N", "Al", "Ti2")}


def compare_to_paper_precision(values: dict[str, float]) -> dict[str, str]:
    """Per label of ``values`` (our median |visit − combined| at SNR 50): ``"below"``, ``"above"`` or,
    for a label whose published value is a range that contains ours, ``"within"`` the paper's."""
    paper = paper_precision()
    out = {}
    for t, v in values.items():
        lo, hi = PAPER_PRECISION_APPROXIMATE.get(t, (paper[t], paper[t]))
        out[t] = "below" if v < lo else "above" if v > hi else "within" if lo < hi else "at"
    return out


# =========================================================================== star matching
def match_by_index(star_index, n_stars: int) -> np.ndarray:
    """Validate the visits' ``star_index`` column (row of each visit's star in /combined)."""
    idx = np.asarray(star_index)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"star_index must be a 1-d integer array, got {idx.dtype} {idx.shape}")
    bad = (idx < 0) | (idx >= n_stars)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} visits point outside the {n_stars} combined rows "
                         f"(e.g. visit {int(np.flatnonzero(bad)[0])} -> {int(idx[bad][0])})")
    return idx.astype(np.int64)


def crossmatch_sky(ra, dec, cat_ra, cat_dec, max_sep_arcsec: float = 1.0):
    """Nearest catalog entry of each position (astropy ``match_to_catalog_sky``).

    All coordinates in degrees (ICRS). Returns ``(index, sep_arcsec)``; ``index`` is -1 where
    the nearest entry is farther than ``max_sep_arcsec``.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord

    if len(cat_ra) == 0:
        raise ValueError("empty catalog: nothing to match against")
    c = SkyCoord(np.asarray(ra, float) * u.deg, np.asarray(dec, float) * u.deg)
    cat = SkyCoord(np.asarray(cat_ra, float) * u.deg, np.asarray(cat_dec, float) * u.deg)
    if len(cat) == 1:  # astropy needs a catalog of at least two entries to build its tree
        sep = c.separation(cat[0]).to_value(u.arcsec)
        idx = np.zeros(len(c), np.int64)
    else:
        idx, sep2d, _ = c.match_to_catalog_sky(cat)
        idx, sep = np.asarray(idx, np.int64), sep2d.to_value(u.arcsec)
    return np.where(sep <= max_sep_arcsec, idx, -1), np.asarray(sep)


@dataclass(frozen=True)
class VisitMatch:
    """Each visit's star in the combined group, found two independent ways.

    ``star_index`` from the compile step; ``sky_index`` by sky cross-match (-1 if none
    within the radius). ``agree`` is True where the two give the same star, or two rows of
    the same ``APOGEE_ID`` (DR14 lists some stars twice, in overlapping fields, at the same
    position: a sky match cannot tell them apart).
    """

    star_index: np.ndarray
    sky_index: np.ndarray
    sep_arcsec: np.ndarray
    agree: np.ndarray
    same_row: np.ndarray

    @property
    def n(self) -> int:
        return int(self.star_index.size)

    def summary(self) -> dict:
        return {
            "n_visits": self.n,
            "n_stars": int(np.unique(self.star_index).size),
            "fraction_same_row": float(self.same_row.mean()) if self.n else float("nan"),
            "fraction_agree": float(self.agree.mean()) if self.n else float("nan"),
            "n_unmatched_on_sky": int((self.sky_index < 0).sum()),
            "max_sep_arcsec": float(np.max(self.sep_arcsec)) if self.n else float("nan"),
        }


def compare_matches(star_index, sky_index, sep_arcsec, star_ids=None) -> VisitMatch:
    """Combine the ``star_index`` and sky matches of the visits into a :class:`VisitMatch`.

    ``star_ids`` (the combined group's APOGEE_ID) lets duplicated stars count as agreeing.
    """
    star_index, sky_index = np.asarray(star_index), np.asarray(sky_index)
    same = star_index == sky_index
    agree = same.copy()
    if star_ids is not None:
        ids = np.asarray(star_ids)
        ok = sky_index >= 0
        agree[ok] |= ids[star_index[ok]] == ids[sky_index[ok]]
    return VisitMatch(star_index, sky_index, np.asarray(sep_arcsec), agree, same)


def match_visits(dataset_path: os.PathLike, rows=None, max_sep_arcsec: float = 1.0) -> VisitMatch:
    """Match the visits (``rows`` of the visits group, default all) of a compiled dataset to
    its combined group, by ``star_index`` and by RA/DEC."""
    from astronn_paper import dataset

    stars = dataset.load_columns(dataset_path, ["RA", "DEC", "APOGEE_ID"], kind="combined")
    vis = dataset.load_columns(dataset_path, ["RA", "DEC", "star_index"], kind="visits", rows=rows)
    star_index = match_by_index(vis["star_index"], len(stars["RA"]))
    sky, sep = crossmatch_sky(vis["RA"], vis["DEC"], stars["RA"], stars["DEC"], max_sep_arcsec)
    return compare_matches(star_index, sky, sep, stars["APOGEE_ID"])


def visits_of_stars(star_index, stars) -> np.ndarray:
    """Rows of the visits whose star (``star_index``) is among ``stars`` (sorted)."""
    return np.flatnonzero(np.isin(np.asarray(star_index), np.asarray(stars)))


# =========================================================================== precision vs SNR
def value_at_snr(snr, values, at: float = REFERENCE_SNR, log: bool = True):
    """Value of a binned curve at SNR ``at``.

    ``snr`` (nbins,) are the bins' representative SNRs (increasing), ``values`` (nbins,) or
    (nbins, k). Interpolates linearly in (log SNR, log value) by default - exact for a
    power law such as the 1/SNR of photon noise - or linearly with ``log=False``, over the
    finite (and, for log, positive) bins only; NaN where ``at`` is outside their range (no
    extrapolation).
    """
    snr = np.asarray(snr, float)
    vals = np.asarray(values, float)
    one = vals.ndim == 1
    vals = vals[:, None] if one else vals
    if vals.shape[0] != snr.size:
        raise ValueError(f"values have {vals.shape[0]} bins, snr has {snr.size}")
    out = np.full(vals.shape[1], np.nan)
    for j in range(vals.shape[1]):
        ok = np.isfinite(snr) & np.isfinite(vals[:, j])
        if log:
            ok &= (snr > 0) & (vals[:, j] > 0)
        if ok.sum() == 0:
            continue
        x, y = snr[ok], vals[ok, j]
        order = np.argsort(x)
        x, y = x[order], y[order]
        if not x[0] <= at <= x[-1]:
            continue
        if log:
            out[j] = np.exp(np.interp(np.log(at), np.log(x), np.log(y)))
        else:
            out[j] = np.interp(at, x, y)
    return float(out[0]) if one else out


@dataclass(frozen=True)
class PrecisionVsSNR:
    """Binned precision of a network on individual visits (arrays are (nbins, n_targets)).

    ``vs_combined``: median |visit - combined| of the same star; ``vs_truth``: median
    |visit - truth| (synthetic data only, else None); ``combined_vs_truth``: median
    |combined - truth| of the visits' stars (the floor a visit cannot beat); ``total`` /
    ``model``: mean total / model (MC-dropout) uncertainty of the visit predictions;
    ``snr``: median visit SNR per bin, ``count``: visits per bin.
    """

    targets: tuple[str, ...]
    edges: np.ndarray
    snr: np.ndarray
    count: np.ndarray
    vs_combined: np.ndarray
    total: np.ndarray
    model: np.ndarray
    vs_truth: np.ndarray | None = None
    combined_vs_truth: np.ndarray | None = None

    CURVES = ("vs_combined", "vs_truth", "combined_vs_truth", "total", "model")

    def at(self, snr: float = REFERENCE_SNR) -> dict[str, dict[str, float]]:
        """Each curve at visit SNR ``snr``: ``{curve: {target: value}}`` (NaN if not covered)."""
        out = {}
        for name in self.CURVES:
            arr = getattr(self, name)
            if arr is None:
                continue
            v = value_at_snr(self.snr, arr, snr)
            out[name] = {t: float(x) for t, x in zip(self.targets, v)}
        return out

    def table(self, snr: float = REFERENCE_SNR, paper: dict | None = None):
        """The curves at ``snr`` as a pandas DataFrame (one row per target), with the paper's
        values (``paper``: {target: value}) as a column when given."""
        import pandas as pd

        df = pd.DataFrame(self.at(snr))
        df.index.name = "target"
        if paper is not None:
            df["paper_vs_combined"] = pd.Series({t: paper.get(t, np.nan) for t in self.targets})
        return df


def precision_vs_snr(visit_mean, combined_mean, star_index, snr, total, model, truth=None,
                     edges=SNR_EDGES, min_count: int = 10,
                     targets=apogee.TARGETS) -> PrecisionVsSNR:
    """Precision of the visit predictions in bins of visit SNR.

    ``visit_mean``, ``total``, ``model`` (n_visits, k): the network's predictions and
    uncertainties on each visit; ``combined_mean`` (n_stars, k): on the combined spectra;
    ``star_index`` (n_visits,): row of each visit's star in ``combined_mean``; ``snr``
    (n_visits,): visit SNR; ``truth`` (n_stars, k), optional: the stars' true labels
    (-9999 or non-finite entries are left out). Bins with fewer than ``min_count`` visits
    are NaN.
    """
    visit_mean = np.asarray(visit_mean, float)
    combined_mean = np.asarray(combined_mean, float)
    star = match_by_index(star_index, len(combined_mean))
    n, k = visit_mean.shape
    for name, a in (("total", total), ("model", model)):
        if np.shape(a) != (n, k):
            raise ValueError(f"{name} has shape {np.shape(a)}, expected {(n, k)}")
    if np.shape(snr) != (n,):
        raise ValueError(f"snr has shape {np.shape(snr)}, expected {(n,)}")
    if combined_mean.shape[1] != k or len(targets) != k:
        raise ValueError(f"{k} targets in the visit predictions, {combined_mean.shape[1]} in the "
                         f"combined ones, {len(targets)} names")
    edges = np.asarray(edges, float)
    snr = np.asarray(snr, float)

    def binned(values, stat):
        return metrics.binned_stat(snr, values, edges, stat=stat, min_count=min_count).stat

    vs_truth = combined_vs_truth = None
    if truth is not None:
        t = np.asarray(truth, float)[star]
        vs_truth = binned(np.abs(metrics.residuals(visit_mean, t)), "median")
        combined_vs_truth = binned(np.abs(metrics.residuals(combined_mean[star], t)), "median")
    count = metrics.binned_stat(snr, snr, edges, stat="median").count
    return PrecisionVsSNR(
        targets=tuple(targets), edges=edges, snr=binned(snr, "median"), count=count,
        vs_combined=binned(np.abs(visit_mean - combined_mean[star]), "median"),
        total=binned(np.asarray(total, float), "mean"),
        model=binned(np.asarray(model, float), "mean"),
        vs_truth=vs_truth, combined_vs_truth=combined_vs_truth,
    )


def sigma_vs_snr(prec: PrecisionVsSNR):
    """Does the network's uncertainty follow the visit SNR? Per target, at the lowest and the
    highest populated SNR bins of ``prec``: the bins' median SNR (``snr_low``, ``snr_high``),
    the mean total uncertainty (``sigma_low``, ``sigma_high``) and its fall
    ``sigma_ratio = sigma_low / sigma_high`` (≈ ``snr_high / snr_low`` if σ followed photon
    noise, 1 if it ignores the SNR), the fall of the median |visit - combined|
    (``vs_combined_ratio``) and, with the truth, ``err_over_sigma_low`` / ``_high``: median
    |visit - truth| / mean σ total in those bins (0.67 for calibrated Gaussian errors: the
    median of |N(0, σ)| is 0.674 σ). Returns a DataFrame indexed by target."""
    import pandas as pd

    ok = np.flatnonzero(np.isfinite(prec.snr))
    if ok.size < 2:
        raise ValueError("need at least two populated SNR bins")
    lo, hi = ok[0], ok[-1]
    df = pd.DataFrame({
        "snr_low": prec.snr[lo], "snr_high": prec.snr[hi],
        "sigma_low": prec.total[lo], "sigma_high": prec.total[hi],
        "sigma_ratio": prec.total[lo] / prec.total[hi],
        "vs_combined_ratio": prec.vs_combined[lo] / prec.vs_combined[hi],
    }, index=pd.Index(list(prec.targets), name="target"))
    if prec.vs_truth is not None:
        df["err_over_sigma_low"] = prec.vs_truth[lo] / prec.total[lo]
        df["err_over_sigma_high"] = prec.vs_truth[hi] / prec.total[hi]
    return df


# =========================================================================== predictions
#: Training stars whose visits are predicted, per profile (a seeded random subset keeps the
#: default profile's wall-clock budget; None = every training star, as in the paper).
TRAINING_VISIT_STARS: dict[str, int | None] = {"ci": 300, "default": 1000, "paper": None}


@dataclass(frozen=True)
class VisitPredictions:
    """A network's predictions on the visits of some stars and on their combined spectra.

    ``visits`` / ``combined``: :func:`astronn_paper.model.predictions.predict_set` results (``mean``,
    ``total``, ``model``, ``predictive`` arrays); ``star_index`` (n_visits,): row of each
    visit's star in the ``combined`` arrays; ``snr``: visit SNR; ``labels`` (n_visits, 22):
    the star's ASPCAP-like labels (-9999 where missing), repeated per visit;
    ``star_labels`` (n_stars, 22): the same per star; ``truth`` (n_stars, 22): the stars'
    true labels (synthetic surveys; None on real data); ``match``: the star/sky matching of
    these visits.
    """

    name: str
    visits: dict
    combined: dict
    star_index: np.ndarray
    snr: np.ndarray
    labels: np.ndarray
    star_labels: np.ndarray
    truth: np.ndarray | None
    match: VisitMatch

    @property
    def visit_truth(self) -> np.ndarray | None:
        """The true labels repeated per visit (None on real data)."""
        return None if self.truth is None else self.truth[self.star_index]

    def precision(self, edges=SNR_EDGES, min_count: int = 10) -> PrecisionVsSNR:
        return precision_vs_snr(self.visits["mean"], self.combined["mean"], self.star_index,
                                self.snr, self.visits["total"], self.visits["model"],
                                truth=self.truth, edges=edges, min_count=min_count,
                                targets=self.visits["targets"])


def predict_visits(model_folder: os.PathLike, dataset_path: os.PathLike, profile=None,
                   n_stars: int | None = None, name: str | None = None) -> VisitPredictions:
    """Predict every visit of (a seeded subset of ``n_stars``, default all) the stars of a
    compiled dataset and their combined spectra, and match visits to stars.

    Predictions are cached by :func:`astronn_paper.model.predictions.predict_set` (with every star,
    the combined predictions are those the other notebooks use).
    """
    from astronn_paper import config, dataset
    from astronn_paper.model import predictions

    p = config.get_profile(profile)
    n_all = dataset.info(dataset_path)["n"]["combined"]
    all_star_index = dataset.load_columns(dataset_path, ["star_index"], kind="visits")["star_index"]
    if n_stars is None or n_stars >= n_all:
        stars, vrows = None, None
        star_rows = np.arange(n_all)
    else:
        rng = np.random.default_rng(config.seed_for(f"visits:{Path(dataset_path).stem}", p))
        star_rows = np.sort(rng.choice(n_all, size=int(n_stars), replace=False))
        stars, vrows = star_rows, visits_of_stars(all_star_index, star_rows)
    combined = predictions.predict_set(model_folder, dataset_path, kind="combined", profile=p,
                                       rows=stars)
    visits = predictions.predict_set(model_folder, dataset_path, kind="visits", profile=p,
                                     rows=vrows)
    cols = dataset.load_columns(dataset_path, ["SNR", "labels"], kind="visits", rows=vrows)
    match = match_visits(dataset_path, rows=vrows)
    # positions of the visits' stars among the predicted combined rows
    star_index = np.searchsorted(star_rows, match.star_index)
    star_labels = dataset.load_columns(dataset_path, ["labels"], kind="combined", rows=stars)["labels"]
    truth = None
    try:
        truth = dataset.load_columns(dataset_path, ["truth"], kind="combined", rows=stars)["truth"]
    except KeyError:  # a real survey: no truth
        pass
    return VisitPredictions(
        name=name or os.fspath(dataset_path), visits=visits, combined=combined,
        star_index=star_index, snr=np.asarray(cols["SNR"], float),
        labels=np.asarray(cols["labels"], float), star_labels=np.asarray(star_labels, float),
        truth=None if truth is None else np.asarray(truth, float), match=match,
    )
