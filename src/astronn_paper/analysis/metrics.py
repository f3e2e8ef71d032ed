"""Scores of network predictions: residual statistics, binned statistics, uncertainty
calibration, Jacobians and distances from the training box.

Conventions (the paper's, Leung & Bovy 2019, Sect. 4):

* a residual is ``prediction - reference``; rows where the reference is the missing-value
  sentinel (-9999, :data:`astronn_paper.apogee.MISSING`) or not finite are ignored;
* **bias** is the median residual and **scatter** the MAD-based standard deviation
  (:func:`astropy.stats.mad_std`: 1.4826 x median absolute deviation about the median), i.e.
  a robust sigma that an outlier tail does not inflate.

Arrays of labels are ``(N, K)`` with the K columns in the order of ``targets`` (by default
:data:`astronn_paper.apogee.TARGETS`); one-dimensional inputs are treated as one label and
give scalars back. Nothing here imports TensorFlow at module level (only :func:`jacobian`
needs it).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Mapping, Sequence

import numpy as np
from astropy.stats import mad_std
from scipy import optimize, special

from astronn_paper import apogee

__all__ = [
    "residuals", "residual_stats", "bias_scatter_table", "binned_stat", "Binned", "z_scores", "robust_std",
    "fit_calibration_scale", "calibrated_sigma", "reliability_curve", "gaussian_fraction",
    "jacobian", "window_concentration", "window_concentrations", "TRAINING_BOX", "BOX_SPANS",
    "out_of_box_distance", "in_box",
]


# --------------------------------------------------------------------------- helpers
def _as_2d(a) -> tuple[np.ndarray, bool]:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        return a[:, None], True
    if a.ndim != 2:
        raise ValueError(f"expected a (N,) or (N, K) array, got shape {a.shape}")
    return a, False


def _valid_reference(ref: np.ndarray, ref_missing: float | None) -> np.ndarray:
    ok = np.isfinite(ref)
    if ref_missing is not None:
        ok &= ref != ref_missing
    return ok


def _squeeze(a: np.ndarray, was_1d: bool):
    return a[0] if was_1d else a


def residuals(pred, ref, ref_missing: float | None = apogee.MISSING) -> np.ndarray:
    """``pred - ref`` with NaN where the reference is missing (-9999) or not finite."""
    pred, one = _as_2d(pred)
    ref, _ = _as_2d(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"pred {pred.shape} and ref {ref.shape} differ in shape")
    res = np.where(_valid_reference(ref, ref_missing), pred - ref, np.nan)
    return res[:, 0] if one else res


# --------------------------------------------------------------------------- residuals
def residual_stats(pred, ref, ref_missing: float | None = apogee.MISSING):
    """Bias (median residual) and scatter (``mad_std`` of the residuals) per label.

    Rows where ``ref`` is ``ref_missing`` or not finite (and rows where ``pred`` is not
    finite) are ignored label by label. Returns ``(bias, scatter)``: arrays of shape (K,)
    for (N, K) inputs, floats for (N,) inputs; NaN for a label with no valid row.
    """
    res = residuals(pred, ref, ref_missing)
    res2, one = _as_2d(res)
    with np.errstate(all="ignore"):
        empty = ~np.isfinite(res2).any(axis=0)
        safe = np.where(empty[None, :], 0.0, res2)  # avoid all-NaN warnings
        bias = np.where(empty, np.nan, np.nanmedian(safe, axis=0))
        scatter = np.where(empty, np.nan, mad_std(safe, axis=0, ignore_nan=True))
    return _squeeze(bias, one), _squeeze(scatter, one)


def bias_scatter_table(pred, aspcap, truth=None, targets: Sequence[str] = apogee.TARGETS,
                       paper: Mapping | None = None, paper_bias: Mapping | None = None):
    """The paper's table: bias and scatter of the network against the ASPCAP-like labels,
    per target, with (optionally) the same against the true labels and the published values.

    Parameters
    ----------
    pred, aspcap : (N, K) arrays, columns in ``targets`` order (-9999 in ``aspcap`` ignored).
    truth : (N, K) array of true labels (synthetic data), optional.
    paper : mapping target -> published scatter (e.g. :func:`astronn_paper.paper.scatter`), optional.
    paper_bias : mapping target -> published bias, optional.

    Returns a :class:`pandas.DataFrame` indexed by target with columns ``n_aspcap``,
    ``bias_aspcap``, ``scatter_aspcap`` and, when given, ``bias_truth``, ``scatter_truth``,
    ``aspcap_scatter_truth`` (the ASPCAP-like labels' own scatter about the truth: is the
    network closer to the truth than the labels it was trained on?), ``paper_scatter`` and
    ``paper_bias``; and ``unit``.
    """
    import pandas as pd

    pred, _ = _as_2d(pred)
    aspcap, _ = _as_2d(aspcap)
    targets = list(targets)
    if pred.shape[1] != len(targets):
        raise ValueError(f"pred has {pred.shape[1]} columns but {len(targets)} targets")
    b, s = residual_stats(pred, aspcap)
    cols = {
        "n_aspcap": _valid_reference(aspcap, apogee.MISSING).sum(axis=0),
        "bias_aspcap": b, "scatter_aspcap": s,
    }
    if truth is not None:
        truth, _ = _as_2d(truth)
        cols["bias_truth"], cols["scatter_truth"] = residual_stats(pred, truth)
        # the labels' own error: only where the label exists
        asp = np.where(_valid_reference(aspcap, apogee.MISSING), aspcap, np.nan)
        cols["aspcap_scatter_truth"] = residual_stats(asp, truth)[1]
    if paper is not None:
        cols["paper_scatter"] = [float(paper.get(t, np.nan)) for t in targets]
    if paper_bias is not None:
        cols["paper_bias"] = [float(paper_bias.get(t, np.nan)) for t in targets]
    df = pd.DataFrame(cols, index=pd.Index(targets, name="target"))
    df["unit"] = [apogee.TARGET_UNITS.get(t, "") for t in targets]
    return df


# --------------------------------------------------------------------------- binning
Binned = namedtuple("Binned", ["centers", "stat", "count"])
Binned.__doc__ = """Result of :func:`binned_stat`: bin centres (B,), statistic (B,) or (B, K)
(NaN in bins with fewer than ``min_count`` finite values) and counts (B,) or (B, K)."""

_STATS = {
    "median": lambda v: np.median(v),
    "mean": lambda v: np.mean(v),
    "mad_std": lambda v: mad_std(v),
    "abs_median": lambda v: np.median(np.abs(v)),
}


def binned_stat(x, values, bins, stat: str = "median", min_count: int = 1) -> Binned:
    """A statistic of ``values`` in bins of ``x`` (:func:`scipy.stats.binned_statistic`).

    ``values`` is (N,) or (N, K); non-finite entries are ignored per column (mask -9999
    beforehand, e.g. with :func:`residuals`). ``bins`` are edges (B+1,); points outside are
    dropped, the last bin includes its right edge. ``stat`` is ``"median"``, ``"mean"``,
    ``"mad_std"`` or ``"abs_median"`` (median of |values|).
    """
    from scipy.stats import binned_statistic

    if stat not in _STATS:
        raise ValueError(f"stat must be one of {sorted(_STATS)}, got {stat!r}")
    x = np.asarray(x, dtype=np.float64)
    v, one = _as_2d(values)
    if len(x) != len(v):
        raise ValueError(f"x has {len(x)} rows but values {len(v)}")
    edges = np.asarray(bins, dtype=np.float64)
    nb = len(edges) - 1
    out = np.full((nb, v.shape[1]), np.nan)
    count = np.zeros((nb, v.shape[1]), dtype=int)
    for k in range(v.shape[1]):
        ok = np.isfinite(x) & np.isfinite(v[:, k])
        if not ok.any():
            continue
        # the callable is applied to each bin's values in input order, as np.median/np.mean
        # would be on a boolean selection: the same floating-point sums
        binned = binned_statistic(x[ok], v[ok, k], statistic=_STATS[stat], bins=edges)
        count[:, k] = np.bincount(binned.binnumber, minlength=nb + 2)[1:nb + 1]
        filled = count[:, k] >= max(min_count, 1)
        out[filled, k] = binned.statistic[filled]
    centers = 0.5 * (edges[1:] + edges[:-1])
    return Binned(centers, out[:, 0] if one else out, count[:, 0] if one else count)


# --------------------------------------------------------------------------- calibration
def robust_std(z, axis=0):
    """MAD-based standard deviation ignoring NaN (1 for a unit Gaussian)."""
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(all="ignore"):
        return mad_std(z, axis=axis, ignore_nan=True)


def _ref_err(ref_err, shape) -> np.ndarray:
    if ref_err is None:
        return np.zeros(shape)
    e = np.asarray(ref_err, dtype=np.float64).reshape(shape)
    # a missing / negative label error: unknown -> the row is unusable (NaN)
    return np.where(np.isfinite(e) & (e >= 0) & (e != apogee.MISSING), e, np.nan)


def z_scores(pred, ref, sigma, ref_err=None, ref_missing: float | None = apogee.MISSING):
    """Normalised residuals ``(pred - ref) / sqrt(sigma^2 + ref_err^2)``.

    ``sigma`` is the network's uncertainty (a standard deviation, e.g. astroNN's total
    uncertainty), ``ref_err`` the reference labels' own errors (None for the truth). NaN
    where the reference or its error is missing.
    """
    res = residuals(pred, ref, ref_missing)
    sigma = np.asarray(sigma, dtype=np.float64).reshape(res.shape)
    var = sigma ** 2 + _ref_err(ref_err, res.shape) ** 2
    with np.errstate(all="ignore"):
        return np.where(var > 0, res / np.sqrt(var), np.nan)


def fit_calibration_scale(pred, ref, sigma, ref_err=None, target: float = 1.0,
                          s_max: float = 100.0, ref_missing: float | None = apogee.MISSING):
    """Per-label scale factor ``s`` of the network uncertainty.

    ``s`` solves ``robust_std((pred - ref) / sqrt((s sigma)^2 + ref_err^2)) = target``
    (unit robust spread by default), found by Brent's method on ``[0, s_max]`` label by label.
    The robust spread decreases as ``s`` grows. Two edge cases are clipped:

    * the reference errors alone already over-explain the residuals (spread < target at
      ``s = 0``): ``s = 0`` (the network's uncertainty would have to be negative);
    * the spread is still > target at ``s_max``: ``s = s_max``.

    Without ``ref_err`` (scoring against the truth) the answer is simply the robust std of
    the raw z-scores. Fit it on validation rows only and apply it to the test set with
    :func:`calibrated_sigma`. Returns (K,) array (a float for 1-d inputs).
    """
    res = residuals(pred, ref, ref_missing)
    r2, one = _as_2d(res)
    sig = np.asarray(sigma, dtype=np.float64).reshape(r2.shape)
    err = _ref_err(ref_err, r2.shape)
    scales = np.full(r2.shape[1], np.nan)
    for k in range(r2.shape[1]):
        ok = np.isfinite(r2[:, k]) & np.isfinite(sig[:, k]) & np.isfinite(err[:, k]) & (sig[:, k] > 0)
        if ok.sum() < 3:
            continue
        r, s_, e = r2[ok, k], sig[ok, k], err[ok, k]

        def spread(s, r=r, s_=s_, e=e):
            var = (s * s_) ** 2 + e ** 2
            with np.errstate(all="ignore"):
                return mad_std(np.where(var > 0, r / np.sqrt(var), np.nan), ignore_nan=True)

        lo = 1e-9 * s_max  # s -> 0+ (a zero label error would make s = 0 undefined)
        g_lo, g_hi = spread(lo) - target, spread(s_max) - target
        if g_lo <= 0:
            scales[k] = 0.0
        elif g_hi >= 0:
            scales[k] = s_max
        else:
            scales[k] = optimize.brentq(lambda s: spread(s) - target, lo, s_max, xtol=1e-7, rtol=1e-10)
    return scales[0] if one else scales


def calibrated_sigma(sigma, scale):
    """``scale * sigma`` (broadcast over rows): the calibrated network uncertainty."""
    return np.asarray(sigma, dtype=np.float64) * np.asarray(scale, dtype=np.float64)


def gaussian_fraction(k):
    """Fraction of a unit Gaussian within ``|z| < k``: ``erf(k / sqrt(2))``."""
    return special.erf(np.asarray(k, dtype=np.float64) / np.sqrt(2.0))


def reliability_curve(z, k=None):
    """Observed fraction of ``|z| < k`` against the Gaussian expectation.

    ``z`` is (N,) or (N, K) z-scores (:func:`z_scores`; NaN ignored). Returns
    ``(k, observed, expected)`` with ``observed`` (len(k),) or (len(k), K). Points above the
    diagonal: uncertainties too large (conservative); below: too small.
    """
    k = np.linspace(0.0, 3.0, 31) if k is None else np.asarray(k, dtype=np.float64)
    z2, one = _as_2d(z)
    a = np.abs(z2)
    n = np.isfinite(a).sum(axis=0)
    with np.errstate(all="ignore"):
        obs = (a[None, :, :] < k[:, None, None]).sum(axis=1) / np.where(n > 0, n, np.nan)
    return k, (obs[:, 0] if one else obs), gaussian_fraction(k)


# --------------------------------------------------------------------------- jacobian
def _norm_param(value, key: str) -> np.ndarray:
    """An astroNN normalisation parameter (a dict keyed by layer name, or an array)."""
    if isinstance(value, dict):
        value = value[key]
    return np.asarray(value, dtype=np.float64).reshape(-1)


def jacobian(model, x, targets: Sequence[str] = apogee.TARGETS, batch_size: int = 32,
             reduce: str | None = "median", denormalize: bool = True):
    """Derivative of the network's (deterministic) output with respect to its input pixels.

    ``model`` is a loaded astroNN model (e.g. :func:`astronn_paper.model.predictions.load_model`),
    ``x`` the (N, 7514) normalised spectra. The derivative is taken through the Keras
    ``"input" -> "output"`` sub-graph (the predicted labels, not their variances) with
    :class:`tf.GradientTape`, with every ``MCDropout`` layer disabled for the call (astroNN's
    dropout is on at inference: its own ``model.jacobian`` therefore differentiates one random
    dropout mask, and holds all spectra at once in memory; this function is the same
    computation made deterministic and batched). With ``denormalize`` the result is in label
    units per unit of normalised flux: ``J * labels_std / input_std``, exact because the
    normalisations are affine.

    Returns ``(K, P)`` (median over spectra, ``reduce="median"``; or ``"mean"``) or the full
    ``(N, K, P)`` array (``reduce=None``) for the K ``targets`` (a subset of the model's).
    """
    import tensorflow as tf
    from astroNN.nn.layers import MCDropout

    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"x must be (N, n_pixels), got shape {x.shape}")
    names = list(model.targetname)
    missing = [t for t in targets if t not in names]
    if missing:
        raise ValueError(f"targets {missing} are not outputs of the model ({names})")
    cols = np.array([names.index(t) for t in targets])

    keras = model.keras_model
    sub = tf.keras.Model(keras.get_layer("input").input, keras.get_layer("output").output)
    dropouts = [layer for layer in keras.layers if isinstance(layer, MCDropout)]
    n_pix = x.shape[1]
    in_mean = np.broadcast_to(_norm_param(model.input_mean, "input"), (n_pix,)).astype(np.float32)
    in_std = np.broadcast_to(_norm_param(model.input_std, "input"), (n_pix,)).astype(np.float32)
    lab_std = np.broadcast_to(_norm_param(model.labels_std, "output"), (len(names),))

    # one traced function for every batch (batch_jacobian's vectorised loop would otherwise be
    # traced again at each eager call; the last, shorter batch adds at most one trace)
    @tf.function(reduce_retracing=True)
    def batch_jacobian(xt):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.gather(sub(xt, training=False), cols, axis=1)
        return tape.batch_jacobian(y, xt)

    state = [d.disable_layer for d in dropouts]
    out = []
    try:
        for d in dropouts:
            d.disable_layer = True
        for start in range(0, len(x), batch_size):
            xb = (x[start:start + batch_size] - in_mean) / in_std
            jb = batch_jacobian(tf.convert_to_tensor(xb[..., None])).numpy()[..., 0]  # (n, K, P)
            if denormalize:
                jb = jb * lab_std[cols][None, :, None] / in_std[None, None, :]
            out.append(jb.astype(np.float32))
    finally:
        for d, s in zip(dropouts, state):
            d.disable_layer = s
    jac = np.concatenate(out, axis=0)
    if reduce is None:
        return jac
    if reduce == "median":
        return np.median(jac, axis=0)
    if reduce == "mean":
        return jac.mean(axis=0)
    raise ValueError(f"reduce must be 'median', 'mean' or None, got {reduce!r}")


def window_concentration(jac_row, window) -> float:
    """Fraction of the squared norm of a Jacobian row inside a boolean pixel window:
    ``sum(J[w]^2) / sum(J^2)`` (1: the label depends only on its window's pixels; for
    comparison, a Jacobian spread evenly gives ``window.mean()``)."""
    j = np.asarray(jac_row, dtype=np.float64)
    w = np.asarray(window, dtype=bool)
    if j.shape != w.shape:
        raise ValueError(f"Jacobian row {j.shape} and window {w.shape} differ in shape")
    total = np.sum(j ** 2)
    return float(np.sum(j[w] ** 2) / total) if total > 0 else float("nan")


def window_concentrations(jac, targets: Sequence[str], windows: Mapping | None = None) -> dict:
    """:func:`window_concentration` of each abundance in ``targets`` (rows of ``jac``) in its
    ASPCAP window (:func:`astronn_paper.apogee.aspcap_windows`); Teff/logg are skipped."""
    windows = apogee.aspcap_windows() if windows is None else windows
    return {t: window_concentration(jac[i], windows[t]) for i, t in enumerate(targets) if t in windows}


# --------------------------------------------------------------------------- training box
#: The box the training set fills (the paper's cut 4000 < Teff < 5500 K on red giants, with
#: few stars below [Fe/H] = -1.5): (low, high) per label.
TRAINING_BOX: dict[str, tuple[float, float]] = {
    "teff": (4000.0, 5500.0), "logg": (0.0, 3.8), "feh": (-1.5, 0.6),
}
#: Typical spread of each label inside the training set (its 1-sigma width), the unit of
#: :func:`out_of_box_distance`.
BOX_SPANS: dict[str, float] = {"teff": 300.0, "logg": 0.7, "feh": 0.3}


def out_of_box_distance(teff, logg, feh, box: Mapping = TRAINING_BOX, spans: Mapping = BOX_SPANS):
    """Euclidean distance of each star from the training box in units of typical spans.

    Per label the distance is ``max(0, low - v, v - high) / span``; the three are added in
    quadrature. Zero inside the box; e.g. a star at Teff = 5800 K and otherwise inside is at
    1.0 (300 K / 300 K). Non-finite or -9999 labels contribute nothing.
    """
    d2 = 0.0
    for name, v in (("teff", teff), ("logg", logg), ("feh", feh)):
        v = np.asarray(v, dtype=np.float64)
        v = np.where(np.isfinite(v) & (v != apogee.MISSING), v, np.nan)
        lo, hi = box[name]
        with np.errstate(invalid="ignore"):
            d = np.fmax(np.fmax(lo - v, v - hi), 0.0) / spans[name]
        d2 = d2 + np.nan_to_num(d, nan=0.0) ** 2
    return np.sqrt(d2)


def in_box(teff, logg, feh, box: Mapping = TRAINING_BOX):
    """True for stars inside the training box (:func:`out_of_box_distance` == 0)."""
    return out_of_box_distance(teff, logg, feh, box=box) == 0
