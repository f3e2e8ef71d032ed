"""The high-SNR test-set analysis (``Inference_highSNR.ipynb``): the pieces that are not
generic metrics (those live in :mod:`astronn_paper.analysis.metrics`).

* :func:`ood_selection` / :func:`ood_dataset` - a small set of synthetic stars spanning the
  whole survey (hot stars, dwarfs, very metal-poor stars and the red giants of the training
  box alike) to measure how the network's uncertainty grows outside its training box;
* :func:`forward_model_derivative` - the true derivative of the synthetic survey's forward
  model (:func:`astronn_paper.synth.spectra.render`) with respect to each element's
  abundance, continuum-normalised and gap-deleted exactly as the data, to set beside the
  network's Jacobian;
* :func:`binned_errors` - median |error| and mean uncertainties in bins of a label;
* :func:`calibration` - the uncertainty-calibration study (scale factors fitted on one set,
  z-score spreads on another, raw and calibrated, against the ASPCAP-like labels and the
  truth).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from astronn_paper import apogee, config
from astronn_paper.analysis import metrics


# --------------------------------------------------------------------------- OOD set
def ood_size(p: config.Profile) -> int:
    """Stars in the out-of-distribution set: 300 in ci, 2000 in default, 5000 at paper scale."""
    if p.n_test is None:
        return 5000
    return int(np.clip(2 * p.n_test // 3, 300, 2000))


def ood_selection(p: config.Profile):
    """Stars of every kind with 3500 <= Teff(ASPCAP) <= 8000 K and SNR > 100 (so that noise does
    not dominate the uncertainty), no flag cuts, combined spectra only, a seeded random subset
    of :func:`ood_size` stars. The training box is then located with the *true* labels."""
    from astronn_paper.dataset import Selection

    return Selection(name="ood", teff_min=3500.0, teff_max=8000.0, snr_min=100.0,
                     starflag_zero=False, aspcapflag_zero=False, vscatter_max=float("inf"),
                     visits=False, max_stars=ood_size(p), seed=config.seed_for("dataset:ood", p))


def ood_dataset(profile=None, source=None, force: bool = False, progress: bool = False) -> Path:
    """``<datasets>/ood.h5``, compiled from ``source`` (default: the profile's) if missing or
    made from different inputs (same rule as :func:`dataset.build_standard_sets`)."""
    from astronn_paper import dataset
    from astronn_paper.dataset.sources import open_source

    p = config.get_profile(profile)
    source = source if source is not None else open_source(None, p)
    sel = ood_selection(p)
    path = config.datasets_dir(p) / "ood.h5"
    recorded = None
    if path.is_file():
        try:
            recorded = dataset.info(path).get("input_fingerprint")
        except OSError:
            recorded = None
    if force or recorded != dataset.input_fingerprint(source, sel):
        dataset.compile_dataset(source, sel, path, profile=p, progress=progress)
    return path


# --------------------------------------------------------------------------- forward model
def median_star(truth: np.ndarray, targets: Sequence[str] = apogee.TARGETS) -> np.ndarray:
    """Median true labels (22,) of a set of stars (missing values ignored)."""
    t = np.where(np.asarray(truth) == apogee.MISSING, np.nan, truth)
    med = np.nanmedian(t, axis=0)
    return med if list(targets) == list(apogee.TARGETS) else med[[apogee.TARGETS.index(x) for x in targets]]


def forward_model_derivative(labels: np.ndarray, targets: Sequence[str] = apogee.ABUNDANCES,
                             step: float = 0.05) -> np.ndarray:
    """d(normalised flux)/d[X/H] of the synthetic forward model at one star, (K, 7514).

    ``labels`` are the 22 true labels of the star (TARGETS order). Each abundance is moved by
    ``+-step`` dex (central difference); the two noiseless spectra are rendered on the apStar
    grid (:func:`synth.spectra.render`) and normalised with the paper's continuum
    normalisation (:func:`normalise.continuum`, gap-deleted to 7514 pixels), as the data the
    network sees. Per unit dex of the element.
    """
    from astronn_paper.survey import normalise
    from astronn_paper.synth import spectra

    labels = np.asarray(labels, dtype=np.float64)
    xh0 = labels[2:]
    rows = []
    for t in targets:
        k = apogee.ABUNDANCES.index(t)
        for sign in (+1, -1):
            xh = xh0.copy()
            xh[k] += sign * step
            rows.append(xh)
    xh = np.array(rows)
    n = len(xh)
    flux = spectra.render(np.full(n, labels[0]), np.full(n, labels[1]), xh)
    keep = flux > 0
    err = np.where(keep, 0.005, 1.0)  # uniform weights on the rendered pixels
    spec, _ = normalise.continuum(np.where(keep, flux, 1.0), err)
    spec = spec.astype(np.float64)
    return (spec[0::2] - spec[1::2]) / (2.0 * step)


def profile_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two pixel profiles (e.g. a network Jacobian row and the true
    derivative): +1 when the network's sensitivity follows the forward model's pixel by pixel."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


# --------------------------------------------------------------------------- binned errors
@dataclass
class BinnedErrors:
    """Median |error| and mean uncertainties in bins of ``x`` (arrays (B, K))."""

    centers: np.ndarray
    count: np.ndarray
    median_abs_error: np.ndarray
    mean_total: np.ndarray
    mean_model: np.ndarray
    targets: list


def binned_errors(x, pred, ref, total, model_unc, bins, targets=apogee.TARGETS,
                  min_count: int = 5) -> BinnedErrors:
    """Median |pred - ref| (ref -9999 ignored) and the mean total / model uncertainty of the
    same stars in bins of ``x`` (e.g. the reference Teff). Bins with < ``min_count`` stars: NaN."""
    pred, ref, total, model_unc = (np.asarray(a, float).reshape(len(a), -1)
                                   for a in (pred, ref, total, model_unc))
    res = metrics.residuals(pred, ref)
    ok = np.isfinite(res)
    b_err = metrics.binned_stat(x, np.abs(res), bins, "median", min_count=min_count)
    b_tot = metrics.binned_stat(x, np.where(ok, total, np.nan), bins, "mean", min_count=min_count)
    b_mod = metrics.binned_stat(x, np.where(ok, model_unc, np.nan), bins, "mean", min_count=min_count)
    return BinnedErrors(b_err.centers, b_err.count, b_err.stat, b_tot.stat, b_mod.stat, list(targets))


# --------------------------------------------------------------------------- calibration
@dataclass
class Calibration:
    """Per-label calibration of the network uncertainty (see :func:`calibration`)."""

    targets: list
    scale_aspcap: np.ndarray      # fitted on the fit set against ASPCAP-like labels + their errors
    scale_truth: np.ndarray | None  # fitted on the fit set against the truth (diagnostic)
    z_raw_aspcap: np.ndarray      # (N, K) test-set z-scores with the raw sigma
    z_cal_aspcap: np.ndarray
    z_raw_truth: np.ndarray | None
    z_cal_truth: np.ndarray | None

    def spreads(self) -> dict[str, np.ndarray]:
        """Robust std of each z-score set per label."""
        out = {"raw_vs_aspcap": metrics.robust_std(self.z_raw_aspcap),
               "calibrated_vs_aspcap": metrics.robust_std(self.z_cal_aspcap)}
        if self.z_raw_truth is not None:
            out["raw_vs_truth"] = metrics.robust_std(self.z_raw_truth)
            out["calibrated_vs_truth"] = metrics.robust_std(self.z_cal_truth)
        return out


def calibration(fit: dict, test: dict, targets=apogee.TARGETS) -> Calibration:
    """Fit one scale per label on ``fit`` and score raw and calibrated z-scores on ``test``.

    Each of ``fit`` / ``test`` is a dict with ``pred``, ``sigma`` (the network's total
    uncertainty), ``aspcap``, ``aspcap_err`` and optionally ``truth`` (all (N, K)). The scale
    that is *applied* (``scale_aspcap``) only uses what real data has: the ASPCAP-like labels
    and their reported errors, ``(pred - label) / sqrt((s sigma)^2 + label_err^2)`` having
    unit robust spread on the fit set. Scored against the truth it tells whether calibrating
    against noisy labels also calibrates against reality.
    """
    s = metrics.fit_calibration_scale(fit["pred"], fit["aspcap"], fit["sigma"], fit["aspcap_err"])
    s_safe = np.where(np.isfinite(s), s, 1.0)
    zr = metrics.z_scores(test["pred"], test["aspcap"], test["sigma"], test["aspcap_err"])
    zc = metrics.z_scores(test["pred"], test["aspcap"], metrics.calibrated_sigma(test["sigma"], s_safe),
                          test["aspcap_err"])
    s_t = zrt = zct = None
    if test.get("truth") is not None:
        zrt = metrics.z_scores(test["pred"], test["truth"], test["sigma"])
        zct = metrics.z_scores(test["pred"], test["truth"], metrics.calibrated_sigma(test["sigma"], s_safe))
        if fit.get("truth") is not None:
            s_t = metrics.fit_calibration_scale(fit["pred"], fit["truth"], fit["sigma"])
    return Calibration(list(targets), s, s_t, zr, zc, zrt, zct)


def ood_ratio(sigma, distance, in_box_max: float = 0.0, bins=None):
    """Median uncertainty out of the box over median in the box, per label, overall and in
    bins of distance (the in-box stars form the first bin).

    Returns ``(ratio (K,), Binned)``: the binned median of sigma / (median in-box sigma), with
    ``centers`` replaced by the median distance of the stars in each bin.
    """
    sigma = np.asarray(sigma, float)
    d = np.asarray(distance, float)
    inside = d <= in_box_max
    if not inside.any() or inside.all():
        raise ValueError("need stars both inside and outside the training box")
    ref = np.median(sigma[inside], axis=0)
    ratio = np.median(sigma[~inside], axis=0) / ref
    bins = np.array([0.0, in_box_max + 1e-9, 0.5, 1.0, 2.0, 4.0, 8.0, np.inf]) if bins is None else bins
    binned = metrics.binned_stat(d, sigma / ref, bins, "median")
    where = metrics.binned_stat(d, d, bins, "median").stat
    return ratio, metrics.Binned(where, binned.stat, binned.count)


def binned_errors_by_own_label(pred, ref, total, model_unc, bins, targets=apogee.ABUNDANCES,
                               all_targets=apogee.TARGETS, min_count: int = 5) -> dict:
    """:func:`binned_errors` of each target in bins of *its own* reference value (e.g. each
    abundance's error in bins of that abundance's [X/H]); ``{target: BinnedErrors}``."""
    out = {}
    for t in targets:
        k = list(all_targets).index(t)
        x = np.where(ref[:, k] == apogee.MISSING, np.nan, ref[:, k])
        out[t] = binned_errors(x, pred[:, k], ref[:, k], total[:, k], model_unc[:, k], bins,
                               targets=[t], min_count=min_count)
    return out


def load_labels(path: os.PathLike, rows=None, kind: str = "combined") -> dict:
    """The reference labels of a compiled set: ``aspcap``, ``aspcap_err`` (N, 22, -9999 kept),
    ``snr``, and ``truth`` (N, 22) when the file has it (synthetic data) else None."""
    from astronn_paper import dataset
    from astronn_paper.dataset import store

    has_truth = "truth" in store.column_names(path, kind)
    cols = ["SNR", "truth"] if has_truth else ["SNR"]
    c = dataset.load_columns(path, ["labels", "labels_err", *cols], kind=kind, rows=rows)
    return {"aspcap": c["labels"].astype(np.float64), "aspcap_err": c["labels_err"].astype(np.float64),
            "snr": c["SNR"].astype(np.float64),
            "truth": c["truth"].astype(np.float64) if has_truth else None}


# --------------------------------------------------------------------------- log g error budget
def truth_columns(path: os.PathLike, names: Sequence[str], source, kind: str = "combined") -> dict:
    """Columns ``names`` of the source's truth table (synthetic only: e.g. ``"kind"``, the
    stellar kind, ``"pollution"``) for the stars of a compiled set, matched through the set's
    ``allstar_index``. Raises ValueError for a source without true labels."""
    from astronn_paper import dataset

    truth = source.truth()
    if truth is None:
        raise ValueError(f"{source!r} has no true labels (only the synthetic survey has)")
    missing = [n for n in names if n not in truth.dtype.names]
    if missing:
        raise KeyError(f"the truth table has no column(s) {missing}")
    idx = dataset.load_columns(path, ["allstar_index"], kind=kind)["allstar_index"]
    out = {}
    for n in names:
        col = np.asarray(truth[n])[idx]
        out[n] = np.char.decode(col) if col.dtype.kind == "S" else col
    return out


def error_budget(pred, aspcap, truth, groups: dict, column: int = 1):
    """Where one label's error against the truth comes from, group by group.

    For each named boolean mask in ``groups`` (plus "all stars"): the number of stars, the
    network's bias (median) and scatter (``mad_std``) against the truth, the ASPCAP-like
    labels' bias and scatter against the truth (what the network was trained on), and the
    network's scatter and bias against the ASPCAP-like labels. -9999 references are left out.
    Returns a pandas DataFrame (one row per group).
    """
    import pandas as pd

    p, a, t = (np.asarray(v, float)[:, column] for v in (pred, aspcap, truth))
    ok_a = a != apogee.MISSING
    rows = {}
    for name, m in {"all stars": np.ones(len(p), bool), **groups}.items():
        m = np.asarray(m, bool)
        ma = m & ok_a
        rows[name] = {
            "n": int(m.sum()),
            "network bias vs truth": float(np.median(p[m] - t[m])) if m.any() else np.nan,
            "network scatter vs truth": float(metrics.robust_std(p[m] - t[m])) if m.sum() > 2 else np.nan,
            "labels bias vs truth": float(np.median(a[ma] - t[ma])) if ma.any() else np.nan,
            "labels scatter vs truth": float(metrics.robust_std(a[ma] - t[ma])) if ma.sum() > 2 else np.nan,
            "network scatter vs labels": float(metrics.robust_std(p[ma] - a[ma])) if ma.sum() > 2 else np.nan,
            "network bias vs labels": float(np.median(p[ma] - a[ma])) if ma.any() else np.nan,
        }
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------- reading aids
def noise_budget(table):
    """Why the scatter against the ASPCAP-like labels exceeds the paper's: per label, from a
    :func:`metrics.bias_scatter_table` with truth and paper columns, the ratio of our scatter
    against the labels to the paper's (``ratio_to_paper``), the quadrature sum of the labels'
    own scatter about the truth and the network's scatter about the truth (``quadrature``:
    what the scatter against the labels would be if the two errors were independent), and
    the network's scatter against the truth over the paper's (``truth_to_paper``).
    Returns a pandas DataFrame indexed like ``table``."""
    import pandas as pd

    s_a = table["scatter_aspcap"].to_numpy(float)
    s_t = table["scatter_truth"].to_numpy(float)
    s_l = table["aspcap_scatter_truth"].to_numpy(float)
    paper = table["paper_scatter"].to_numpy(float)
    with np.errstate(all="ignore"):
        return pd.DataFrame({"scatter_aspcap": s_a, "labels_vs_truth": s_l, "network_vs_truth": s_t,
                             "quadrature": np.hypot(s_l, s_t), "paper": paper,
                             "ratio_to_paper": s_a / paper, "truth_to_paper": s_t / paper},
                            index=table.index)


def shrinkage(pred, truth, mask, columns=(0, 1)):
    """How far predictions of a group of stars are pulled towards the training distribution:
    for each column, the least-squares slope of predicted on true value within ``mask``
    (1: the network follows the truth; 0: it returns one value whatever the truth), and the
    16th-84th percentile widths of the predicted and the true values. Returns a dict
    ``{column: {"slope", "width_pred", "width_true"}}``."""
    pred, truth = np.asarray(pred, float), np.asarray(truth, float)
    m = np.asarray(mask, bool)
    out = {}
    for c in columns:
        p, t = pred[m, c], truth[m, c]
        slope = float(np.polyfit(t, p, 1)[0]) if m.sum() > 2 else np.nan
        w = lambda v: float(np.subtract(*np.percentile(v, [84, 16]))) if v.size else np.nan  # noqa: E731
        out[c] = {"slope": slope, "width_pred": w(p), "width_true": w(t)}
    return out


def z_offsets(z, pred, truth, aspcap, sigma_cal, targets=apogee.TARGETS):
    """Why a z-histogram is off-centre: per label, the median z (``median_z``), the network's
    median residual against the truth (``bias_truth``), the ASPCAP-like labels' own median
    residual against the truth where they exist (``labels_bias_truth``) and the median
    calibrated sigma (``median_sigma``). A z offset of ~1 with ``bias_truth`` ≈
    ``median_sigma`` ≈ ``labels_bias_truth`` is a zero-point learned from the labels, which a
    scale factor on sigma cannot remove. Returns a pandas DataFrame indexed by ``targets``."""
    import pandas as pd

    pred, truth, aspcap = (np.asarray(v, float) for v in (pred, truth, aspcap))
    ok = aspcap != apogee.MISSING
    with np.errstate(all="ignore"):
        lab = np.where(ok, aspcap - truth, np.nan)
        return pd.DataFrame({"median_z": np.nanmedian(np.asarray(z, float), axis=0),
                             "bias_truth": np.median(pred - truth, axis=0),
                             "labels_bias_truth": np.nanmedian(lab, axis=0),
                             "median_sigma": np.median(np.asarray(sigma_cal, float), axis=0)},
                            index=list(targets))


def median_label_error(x, aspcap, aspcap_err, bins):
    """Median reported error of the reference labels in bins of ``x`` (e.g. Teff): an
    (n_bins, K) array, NaN where a bin holds no label (-9999 labels and errors left out).
    Set beside :func:`binned_errors` it shows how much of the error against the labels is the
    labels' own noise."""
    x = np.asarray(x, float)
    a, e = np.asarray(aspcap, float), np.asarray(aspcap_err, float)
    ok = (a != apogee.MISSING) & (e != apogee.MISSING) & np.isfinite(e)
    idx = np.digitize(x, bins) - 1
    out = np.full((len(bins) - 1, a.shape[1]), np.nan)
    for b in range(len(bins) - 1):
        m = (idx == b)[:, None] & ok
        for k in range(a.shape[1]):
            if m[:, k].any():
                out[b, k] = np.median(e[m[:, k], k])
    return out


def growth_to_lowest_bin(by_label: dict, stat: str = "mean_total") -> dict:
    """Per target of a :func:`binned_errors_by_own_label` result, how much ``stat`` (``mean_total``,
    ``median_abs_error``) grows from the bin nearest solar (centre closest to 0) to the lowest
    populated bin: their ratio (NaN when either bin is empty)."""
    out = {}
    for t, b in by_label.items():
        v = np.asarray(getattr(b, stat), float)[:, 0]
        ok = np.flatnonzero(np.isfinite(v))
        solar = int(np.argmin(np.abs(np.asarray(b.centers, float))))
        out[t] = float(v[ok[0]] / v[solar]) if ok.size and np.isfinite(v[solar]) else float("nan")
    return out
