"""An independent comparison catalog: The Cannon (Ness et al. 2015; ``TheCannon`` 0.7.3 by
A. Ho) trained on the network's training set and applied to the same stars.

The Cannon is a quadratic data-driven model: at each pixel ``p`` the normalised flux is
``f_np = theta_p . l(labels_n) + noise``, with ``l`` the label vector (1, scaled labels, their
products; :func:`TheCannon.train_model._get_lvec`, labels pivoted on the median and scaled by
a quarter of the 2.5-97.5 % range) and the noise variance ``sigma_np^2 + s_p^2`` (``s_p`` the
pixel's intrinsic scatter). Training solves one weighted linear least-squares problem per
pixel; inference fits the labels of each spectrum by non-linear least squares.

What is TheCannon's and what is ours:

* **inference** is TheCannon's own (``TheCannon.infer_labels._infer_labels``: SciPy
  ``curve_fit`` per star, flux 1 / sigma 100 on pixels with zero inverse variance), run on
  a ``TheCannon.model.CannonModel`` whose coefficients we set (an optional vectorised
  Levenberg-Marquardt with the analytic Jacobian minimises the same objective, see
  :func:`infer_labels`);
* **training** uses TheCannon's label vector, pivots and scales, and the same per-pixel
  weighted regression as ``TheCannon.train_model._do_one_regression_at_fixed_scatter``, but
  vectorised over the 7514 pixels (TheCannon's ``_train_model`` stacks a copy of the label
  vector per pixel, ``n_pix x n_star x n_terms`` floats: 7514 x 8000 x 66 = 32 GB here) and with the
  scatter chosen by one step of coordinate ascent of the same likelihood (fit at ``s = 0``,
  maximise the likelihood over TheCannon's grid of ``ln s`` with the coefficients fixed,
  refit) instead of refitting the coefficients at each of the 19 grid values per pixel.

Labels: :data:`CANNON_LABELS` (10 of the 22 network targets; a quadratic model in all 22
would have 276 terms per pixel, beyond a CPU budget). Training stars are the rows of the
training set with no -9999 among those labels. Pixels the compile step masked (flux 1,
error 1) get zero inverse variance.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper import __version__, apogee, cache, config

#: Labels The Cannon fits (network target names), a subset of apogee.TARGETS.
CANNON_LABELS: tuple[str, ...] = ("teff", "logg", "C", "N", "O", "Mg", "Al", "Si", "Fe", "Ni")
#: TheCannon's grid of ln(scatter) (``_do_one_regression``).
LN_SCATTER_GRID = np.arange(np.log(0.0001), 0.0, 0.5)
#: Pixels flagged by the compile step carry this error (normalise.MASK_VALUE).
MASKED_ERROR = 1.0
#: High-SNR test stars The Cannon is applied to, per profile (None = all): TheCannon's
#: inference fits ~5 spectra/s on a CPU core.
N_COMPARE = {"ci": 100, "default": 600, "paper": None}
#: Stars of the network-vs-Cannon speed benchmark, per profile.
N_BENCH = {"ci": 24, "default": 100, "paper": 500}
#: Stars per block when building the normal equations (memory bound).
_BLOCK = 2048


def _thecannon():
    """Import TheCannon's modules without letting them switch matplotlib to LaTeX text
    (``TheCannon.dataset`` and ``.model`` call ``rc('text', usetex=True)`` on import)."""
    import matplotlib

    with matplotlib.rc_context():
        from TheCannon import dataset, infer_labels, model, train_model
    return dataset, model, train_model, infer_labels


def _one_blas_thread():
    """Limit BLAS to one thread (batched small solves run ~10x faster that way)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def ivar_of(err: np.ndarray) -> np.ndarray:
    """Inverse variance of normalised spectra, 0 on masked pixels (error >= 1) and bad ones."""
    err = np.asarray(err, np.float64)
    with np.errstate(divide="ignore"):
        ivar = np.where((err > 0) & (err < MASKED_ERROR) & np.isfinite(err), 1.0 / err**2, 0.0)
    return ivar


def label_columns(labels=CANNON_LABELS) -> np.ndarray:
    ix = {t: i for i, t in enumerate(apogee.TARGETS)}
    return np.array([ix[t] for t in labels])


def complete_rows(y: np.ndarray, labels=CANNON_LABELS) -> np.ndarray:
    """Rows of a (N, 22) label array with no -9999 among ``labels``."""
    return np.all(np.asarray(y)[:, label_columns(labels)] != apogee.MISSING, axis=1)


@dataclass
class CannonFit:
    """A trained quadratic Cannon."""

    labels: tuple[str, ...]
    coeffs: np.ndarray        # (n_pix, n_terms)
    scatters: np.ndarray      # (n_pix,)
    pivots: np.ndarray        # (n_labels,)
    scales: np.ndarray        # (n_labels,)
    label_min: np.ndarray     # training range (for the good flag)
    label_max: np.ndarray
    n_train: int
    train_time_s: float = 0.0
    meta: dict = field(default_factory=dict)

    def to_thecannon(self):
        """A ``TheCannon.model.CannonModel`` (order 2) carrying these coefficients."""
        _, model, _, _ = _thecannon()
        m = model.CannonModel(2, useErrors=False)
        m.coeffs, m.scatters = self.coeffs, self.scatters
        m.pivots, m.scales = self.pivots, self.scales
        return m

    def save(self, path: os.PathLike) -> Path:
        path = Path(path)
        with cache.atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, coeffs=self.coeffs, scatters=self.scatters, pivots=self.pivots,
                                scales=self.scales, label_min=self.label_min,
                                label_max=self.label_max, labels=np.array(self.labels),
                                n_train=self.n_train, train_time_s=self.train_time_s,
                                meta=json.dumps(self.meta))
        return path

    @classmethod
    def load(cls, path: os.PathLike) -> "CannonFit":
        with np.load(path) as f:
            return cls(labels=tuple(str(s) for s in f["labels"]), coeffs=f["coeffs"],
                       scatters=f["scatters"], pivots=f["pivots"], scales=f["scales"],
                       label_min=f["label_min"], label_max=f["label_max"],
                       n_train=int(f["n_train"]), train_time_s=float(f["train_time_s"]),
                       meta=json.loads(str(f["meta"])))


def _lvec(label_vals, pivots, scales) -> np.ndarray:
    _, _, train_model, _ = _thecannon()
    return train_model._get_lvec(np.asarray(label_vals, float), pivots, scales, derivs=False)


def _solve(flux, ivar, lvec, scatters) -> np.ndarray:
    """Per-pixel weighted least squares (TheCannon's regression at fixed scatter),
    vectorised over pixels: coeffs (n_pix, n_terms)."""
    n, k = lvec.shape
    iu = np.triu_indices(k)
    n_pix = flux.shape[1]
    gram = np.zeros((n_pix, len(iu[0])))
    rhs = np.zeros((n_pix, k))
    for s in range(0, n, _BLOCK):
        lv = lvec[s:s + _BLOCK]
        w = ivar[s:s + _BLOCK] / (1.0 + ivar[s:s + _BLOCK] * scatters[None, :] ** 2)
        q = lv[:, iu[0]] * lv[:, iu[1]]
        gram += w.T @ q
        rhs += (w * flux[s:s + _BLOCK]).T @ lv
    coeffs = np.empty((n_pix, k))
    with _one_blas_thread():  # many small solves: BLAS threads only add overhead
        for p0 in range(0, n_pix, 1024):
            g = np.zeros((min(1024, n_pix - p0), k, k))
            g[:, iu[0], iu[1]] = gram[p0:p0 + 1024]
            g[:, iu[1], iu[0]] = gram[p0:p0 + 1024]
            # a tiny ridge keeps pixels masked in (almost) every star solvable
            diag = np.einsum("pkk->pk", g)
            diag += 1e-9 * diag.max(axis=1, keepdims=True) + 1e-12
            coeffs[p0:p0 + 1024] = np.linalg.solve(g, rhs[p0:p0 + 1024, :, None])[..., 0]
    return coeffs


def _best_scatter(flux, ivar, lvec, coeffs) -> np.ndarray:
    """Per-pixel scatter maximising TheCannon's likelihood with the coefficients fixed:
    minimise sum_n [r^2 C - ln C], C = ivar / (1 + ivar s^2), over the ln-s grid, then refine
    with a parabola through the three grid points around the minimum (as TheCannon does)."""
    r2 = (flux - lvec @ coeffs.T) ** 2
    used = ivar > 0
    cost = np.empty((len(LN_SCATTER_GRID), flux.shape[1]))
    for j, ln_s in enumerate(LN_SCATTER_GRID):
        c = ivar / (1.0 + ivar * np.exp(2 * ln_s))
        with np.errstate(divide="ignore"):
            cost[j] = np.where(used, r2 * c - np.log(np.where(used, c, 1.0)), 0.0).sum(axis=0)
    lo = np.argmin(cost, axis=0)
    mid = np.clip(lo, 1, len(LN_SCATTER_GRID) - 2)
    x = LN_SCATTER_GRID[np.stack([mid - 1, mid, mid + 1])]
    y = np.take_along_axis(cost, np.stack([mid - 1, mid, mid + 1]), axis=0)
    # vertex of the parabola through three equally spaced points
    denom = y[0] - 2 * y[1] + y[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = x[1] + 0.5 * (x[1] - x[0]) * (y[0] - y[2]) / denom
    interior = (lo > 0) & (lo < len(LN_SCATTER_GRID) - 1) & (denom > 0) & np.isfinite(vertex)
    ln_s = np.where(interior, np.clip(vertex, x[0], x[2]), LN_SCATTER_GRID[lo])
    return np.exp(ln_s)


def train(flux: np.ndarray, err: np.ndarray, y: np.ndarray, labels=CANNON_LABELS) -> CannonFit:
    """Train a quadratic Cannon on normalised spectra ``flux``/``err`` (N, n_pix) and
    labels ``y`` (N, 22 in ``apogee.TARGETS`` order, or N, len(labels)). Rows with -9999
    among ``labels`` are left out."""
    _, _, train_model, _ = _thecannon()
    t0 = time.perf_counter()
    y = np.asarray(y, float)
    lab = y[:, label_columns(labels)] if y.shape[1] == len(apogee.TARGETS) else y
    keep = np.all(lab != apogee.MISSING, axis=1)
    if keep.sum() < 3 * (len(labels) + 1) * (len(labels) + 2) // 2:
        raise ValueError(f"only {keep.sum()} training spectra with all of {list(labels)}: too few "
                         "for a quadratic model")
    lab = lab[keep]
    flux = np.asarray(flux, float)[keep]
    ivar = ivar_of(np.asarray(err)[keep])
    flux = np.where(ivar > 0, flux, 1.0)
    pivots, scales = train_model.get_pivots_and_scales(lab)
    lvec = _lvec(lab, pivots, scales)
    coeffs = _solve(flux, ivar, lvec, np.zeros(flux.shape[1]))
    scatters = _best_scatter(flux, ivar, lvec, coeffs)
    coeffs = _solve(flux, ivar, lvec, scatters)
    return CannonFit(labels=tuple(labels), coeffs=coeffs, scatters=scatters, pivots=pivots,
                     scales=scales, label_min=lab.min(axis=0), label_max=lab.max(axis=0),
                     n_train=int(keep.sum()), train_time_s=time.perf_counter() - t0)


@dataclass
class CannonResult:
    labels: np.ndarray        # (N, n_labels); -9999 where the fit failed
    errors: np.ndarray        # (N, n_labels) formal errors (label units)
    chi2: np.ndarray          # (N,)
    good: np.ndarray          # (N,) bool
    time_s: float

    @property
    def spectra_per_s(self) -> float:
        return len(self.labels) / self.time_s if self.time_s else float("nan")


def infer_labels(fit: CannonFit, flux: np.ndarray, err: np.ndarray, method: str = "thecannon",
                 quiet: bool = True, max_iter: int = 60) -> CannonResult:
    """Labels of normalised spectra: the maximum-likelihood labels of TheCannon's inference.

    Both methods minimise TheCannon's objective (``_infer_labels``: flux 1 and sigma 100 on
    pixels with zero inverse variance, error bar ``sqrt(sigma^2 + s_p^2)``), started at the
    pivot (the training set's median labels):

    * ``"thecannon"`` (default) calls ``TheCannon.infer_labels._infer_labels`` (SciPy
      ``curve_fit`` per star with finite-difference derivatives; ~5 spectra/s here);
    * ``"fast"`` runs Levenberg-Marquardt on all stars at once with the analytic
      Jacobian of the quadratic model, started from the linear part's least-squares solution
      (same minimum; the tests check the two agree); the few stars it does not settle within
      ``max_iter`` steps are handed to TheCannon's ``curve_fit``. On these CPUs it is no
      faster than ``curve_fit`` (the label likelihood has long curved valleys: LM needs
      10-60 steps), so it is not the default.

    Formal errors are ``sqrt(diag((J^T W J)^-1))`` at the optimum (``curve_fit`` with
    ``absolute_sigma``), in label units. ``good``: converged, every label within the
    training range widened by 10 %, and chi^2 per used pixel < 5.
    """
    t0 = time.perf_counter()
    flux = np.array(flux, float)          # TheCannon overwrites masked pixels in place
    ivar = ivar_of(err)
    n_lab = len(fit.labels)
    if method == "thecannon":
        dataset, _, _, thecannon_infer = _thecannon()
        # a star whose curve_fit fails gets covariances of -9999 from TheCannon, hence NaN
        # errors (sqrt of a negative number): flagged as failed below, not worth a warning
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext(), \
                np.errstate(invalid="ignore"):
            ds = dataset.Dataset(np.arange(flux.shape[1]), np.zeros(0), np.zeros((0, flux.shape[1])),
                                 np.zeros((0, flux.shape[1])), np.zeros((0, n_lab)),
                                 np.arange(len(flux)), flux, ivar)
            ds.set_label_names(list(fit.labels))
            errs, chi2 = thecannon_infer._infer_labels(fit.to_thecannon(), ds,
                                                       starting_guess=np.zeros(n_lab))
        labels = np.asarray(ds.test_label_vals, float)
        converged = np.all(np.isfinite(errs), axis=1)
        errs = errs * fit.scales[None, :]
    elif method == "fast":
        labels, errs, chi2, converged = _fit_labels(fit, flux, ivar, max_iter)
        if not converged.all():  # the few stars LM did not settle: TheCannon's own curve_fit
            slow = np.flatnonzero(~converged)
            again = infer_labels(fit, flux[slow], err[slow], method="thecannon", quiet=quiet)
            ok = again.labels[:, 0] != apogee.MISSING
            labels[slow[ok]], errs[slow[ok]] = again.labels[ok], again.errors[ok]
            chi2[slow[ok]], converged[slow[ok]] = again.chi2[ok], True
    else:
        raise ValueError(f"method must be 'fast' or 'thecannon', got {method!r}")
    failed = ~converged | ~np.all(np.isfinite(labels), axis=1) | ~np.all(np.isfinite(errs), axis=1)
    errors = np.where(failed[:, None], apogee.MISSING, errs)
    labels = np.where(failed[:, None], apogee.MISSING, labels)
    span = fit.label_max - fit.label_min
    inside = np.all((labels >= fit.label_min - 0.1 * span) & (labels <= fit.label_max + 0.1 * span), axis=1)
    n_used = np.maximum((ivar > 0).sum(axis=1), 1)
    good = ~failed & inside & (chi2 / n_used < 5.0)
    return CannonResult(labels=labels, errors=errors, chi2=chi2, good=good,
                        time_s=time.perf_counter() - t0)


def information(n_train: int = 2000, n_test: int = 300, snr_train: float = 200.0,
                snr_test: float = 150.0, seed: int = 2019) -> dict[str, dict[str, float]]:
    """How much of each label the synthetic spectra carry, read by a quadratic Cannon
    (:func:`train`, :func:`infer_labels`): trained on ``n_train`` training-box giants at
    ``snr_train``, tested on held-out ones at ``snr_test`` (both normalised the paper's way);
    per label of :data:`~astronn_paper.synth.validation.DISTINCT_LABELS` the scatter (std of
    Cannon - truth), the bias and the robust scatter (``mad_std``)."""
    from astropy.stats import mad_std

    from astronn_paper.synth import spectra, validation

    labels = validation.DISTINCT_LABELS
    lab = validation.training_box_giants(n_train + n_test, seed)
    ab = list(apogee.ABUNDANCES)
    y = np.stack([lab["teff"], lab["logg"]] + [lab["xh"][:, ab.index(t)] for t in labels[2:]], axis=1)
    intrinsic = spectra.render(lab["teff"], lab["logg"], lab["xh"], vmicro=lab["vmicro"])
    tr, te = np.arange(n_train), np.arange(n_train, n_train + n_test)
    f_tr, e_tr = validation.observe_and_normalise(intrinsic[tr], snr_train, lab["teff"][tr], seed)
    f_te, e_te = validation.observe_and_normalise(intrinsic[te], snr_test, lab["teff"][te], seed + 1)
    fit = train(f_tr, e_tr, y[tr], labels=labels)
    res = infer_labels(fit, f_te, e_te)
    ok = np.all(res.labels != apogee.MISSING, axis=1)
    d = res.labels[ok] - y[te][ok]
    out = {name: {"std": float(np.std(d[:, j])), "bias": float(np.mean(d[:, j])),
                  "mad": float(mad_std(d[:, j]))} for j, name in enumerate(labels)}
    out["_meta"] = {"n_train": n_train, "n_test": int(ok.sum()), "snr_train": snr_train,
                    "snr_test": snr_test}
    return out


def _quadratic_terms(fit: CannonFit):
    """(C0 (P,), C_lin (P, L), A (P, L, L)) with model = C0 + C_lin u + u^T A u / 2 for the
    scaled labels u (A symmetric, diagonal = twice the squared-term coefficient)."""
    n_lab = len(fit.labels)
    c = fit.coeffs
    iu = np.triu_indices(n_lab)
    cq = c[:, 1 + n_lab:]
    a = np.zeros((len(c), n_lab, n_lab))
    a[:, iu[0], iu[1]] = cq
    a[:, iu[1], iu[0]] = cq
    a[:, np.arange(n_lab), np.arange(n_lab)] *= 2.0
    return c[:, 0], c[:, 1:1 + n_lab], a


def _fit_labels(fit: CannonFit, flux, ivar, max_iter: int, chunk: int = 64):
    """Levenberg-Marquardt over chunks of stars, TheCannon's objective, analytic Jacobian.

    Returns labels, formal errors (label units), TheCannon's chi^2 and a converged flag."""
    c0, cl, a = _quadratic_terms(fit)
    n_pix, n_lab = cl.shape
    a_t = np.ascontiguousarray(a.transpose(1, 2, 0)).reshape(n_lab, n_lab * n_pix)  # [j, (i, p)]
    cl_t = np.ascontiguousarray(cl.T)                                                 # (L, P)
    bad = ivar == 0
    sigma2 = np.where(bad, 100.0**2, 1.0 / np.where(bad, 1.0, ivar))
    w_all = 1.0 / (sigma2 + fit.scatters[None, :] ** 2)
    f_all = np.where(bad, 1.0, flux)
    out_u = np.zeros((len(flux), n_lab))
    out_cov = np.zeros((len(flux), n_lab, n_lab))
    converged = np.zeros(len(flux), bool)
    n_iter = np.zeros(len(flux), int)

    def evaluate(u):
        """Model (B, P) and Jacobian (B, L, P) at scaled labels u (B, L)."""
        au = (u @ a_t).reshape(len(u), n_lab, n_pix)            # (A u)_i per pixel
        model = c0[None, :] + u @ cl_t + 0.5 * np.einsum("bip,bi->bp", au, u)
        return model, cl_t[None] + au

    def normal(jac, w, r):
        wj = jac * w[:, None, :]
        return np.einsum("bip,bjp->bij", wj, jac), np.einsum("bip,bp->bi", wj, r)

    with _one_blas_thread():
        for s in range(0, len(flux), chunk):
            f, w = f_all[s:s + chunk], w_all[s:s + chunk]
            # start from the linear part's weighted least-squares solution (clipped to the
            # training range, +-2 scales), a few steps from the quadratic minimum
            wcl = cl_t[None] * w[:, None, :]
            u = np.linalg.solve(np.einsum("bip,jp->bij", wcl, cl_t),
                                np.einsum("bip,bp->bi", wcl, f - c0[None])[:, :, None])[..., 0]
            u = np.clip(u, -2.0, 2.0)
            model, jac = evaluate(u)
            chi = np.einsum("bp,bp->b", w, (f - model) ** 2)
            lam = np.full(len(f), 1e-3)
            done = np.zeros(len(f), bool)
            for it in range(max_iter):
                act = np.flatnonzero(~done)                     # work on the unfinished stars
                h, g = normal(jac[act], w[act], f[act] - model[act])
                damp = h + lam[act, None, None] * np.einsum("bii->bi", h)[:, :, None] * np.eye(n_lab)
                trial = u[act] + np.linalg.solve(damp, g[:, :, None])[..., 0]
                m_t, j_t = evaluate(trial)
                chi_t = np.einsum("bp,bp->b", w[act], (f[act] - m_t) ** 2)
                better = chi_t <= chi[act]
                # converged: an accepted step that no longer improves chi^2, or a step that
                # fails even with strong damping (the minimum, to rounding)
                small = better & ((chi[act] - chi_t) <= 1e-8 * chi[act])   # curve_fit ftol
                acc = act[better]
                u[acc], model[acc], jac[acc], chi[acc] = trial[better], m_t[better], j_t[better], chi_t[better]
                lam[act] = np.where(better, np.maximum(lam[act] / 10.0, 1e-7), lam[act] * 10.0)
                done[act] = small | (~better & (lam[act] > 1e6))
                n_iter[act] += 1
                if done.all():
                    break
            h, _ = normal(jac, w, f - model)
            out_cov[s:s + chunk] = np.linalg.inv(h)
            out_u[s:s + chunk] = u
            converged[s:s + chunk] = done
            # TheCannon's chi^2: (flux - model)^2 ivar / (1 + ivar s^2) (zero on masked pixels)
    labels = out_u * fit.scales[None, :] + fit.pivots[None, :]
    errs = np.sqrt(np.clip(np.einsum("bii->bi", out_cov), 0, None)) * fit.scales[None, :]
    chi2 = np.empty(len(flux))
    for s in range(0, len(flux), chunk):
        m, _ = evaluate(out_u[s:s + chunk])
        iv = ivar[s:s + chunk]
        chi2[s:s + chunk] = ((f_all[s:s + chunk] - m) ** 2 * iv / (1 + iv * fit.scatters**2)).sum(axis=1)
    _fit_labels.last_iterations = n_iter
    return labels, errs, chi2, converged


def to_targets(values: np.ndarray, labels=CANNON_LABELS) -> np.ndarray:
    """(N, n_labels) -> (N, 22) in ``apogee.TARGETS`` order, -9999 for labels not fitted."""
    out = np.full((len(values), len(apogee.TARGETS)), apogee.MISSING, np.float32)
    out[:, label_columns(labels)] = values
    return out


def write_fits(path: os.PathLike, ids: dict, result: CannonResult, fit: CannonFit,
               provenance: dict) -> Path:
    """The comparison catalog in the network catalog's layout: ``APOGEE_ID``, ``LOCATION_ID``,
    ``RA``, ``DEC``, ``Cannon`` (N, 22, -9999 for labels not fitted), ``Cannon_error``,
    ``Cannon_chi2``, ``Cannon_good``."""
    from astropy.io import fits
    from astropy.table import Table

    from astronn_paper import fitstable

    aid = np.asarray(ids["APOGEE_ID"])
    aid = np.char.decode(aid, "ascii") if aid.dtype.kind == "S" else aid.astype(str)
    table = Table({
        "APOGEE_ID": aid, "LOCATION_ID": np.asarray(ids["LOCATION_ID"], np.int32),
        "RA": np.asarray(ids["RA"], np.float64), "DEC": np.asarray(ids["DEC"], np.float64),
        "TEST_ROW": np.asarray(ids.get("TEST_ROW", np.arange(len(aid))), np.int32),
        "Cannon": to_targets(result.labels, fit.labels), "Cannon_error": to_targets(result.errors, fit.labels),
        "Cannon_chi2": np.asarray(result.chi2, np.float32), "Cannon_good": np.asarray(result.good, bool)})
    describe = {
        "APOGEE_ID": ("APOGEE identifier", "2MASS-style APOGEE identifier (allStar APOGEE_ID)"),
        "LOCATION_ID": ("field location id", "APOGEE field location id (allStar LOCATION_ID)"),
        "RA": ("right ascension J2000", "right ascension J2000 (allStar RA)"),
        "DEC": ("declination J2000", "declination J2000 (allStar DEC)"),
        "TEST_ROW": ("test-set row", "row in the high-SNR test set (combined group)"),
        "Cannon": ("The Cannon labels", "The Cannon labels, TARGnn order; -9999 = not fitted/failed"),
        "Cannon_error": ("formal uncertainties", "formal (curve_fit) uncertainty; -9999 = none"),
        "Cannon_chi2": ("chi^2 of the fit", "chi^2 of the fit over the used pixels"),
        "Cannon_good": ("good fit", "converged, inside the training range, chi^2/pixel < 5")}
    units = {"RA": "deg", "DEC": "deg", "Cannon": "K; dex", "Cannon_error": "K; dex"}
    hdu = fitstable.table_hdu(table, "CANNON", describe, units, comments=(
        "The Cannon (TheCannon 0.7.3, A. Ho), quadratic, trained by astronn_paper",))
    h = hdu.header
    for i, t in enumerate(apogee.TARGETS, start=1):
        fitstable.card(h, f"TARG{i:02d}", t, "fitted" if t in fit.labels else "not fitted (-9999)")
    fitstable.card(h, "NTRAIN", fit.n_train, "training spectra (all fitted labels known)")
    for k, v in provenance.items():
        fitstable.card(h, f"HIERARCH {k.upper()}", v if isinstance(v, (int, float, str, bool)) else json.dumps(v),
                       "provenance")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fitstable.write(path, [fits.PrimaryHDU(), hdu])
    return path


def output_dir(p: config.Profile) -> Path:
    """``<repo>/external_data`` for the default profile (committed), else
    ``<data>/<profile>/external_data``."""
    d = config.repo_root() / "external_data" if p.name == "default" else config.data_dir(p) / "external_data"
    d.mkdir(parents=True, exist_ok=True)
    return d


def compare_rows(n_test: int, p: config.Profile) -> np.ndarray:
    """Rows of the high-SNR test set The Cannon is applied to: a seeded random subset of
    :data:`N_COMPARE` rows (all in ``paper``), sorted."""
    n = N_COMPARE.get(p.name, N_COMPARE["default"])
    if n is None or n >= n_test:
        return np.arange(n_test)
    rng = np.random.default_rng(config.seed_for("cannon:rows", p))
    return np.sort(rng.choice(n_test, n, replace=False))


def run_comparison(profile=None, force: bool = False, progress: bool = True) -> dict:
    """Train The Cannon on the profile's training set, apply it to :func:`compare_rows` of the
    high-SNR test set and write ``cannon_highsnr_test.fits`` to :func:`output_dir`. Cached: the
    model (npz) and the catalog are reused when made from the same training/test files.

    Returns ``{"path", "fit", "result", "rows"}`` (``rows``: test-set rows, in order).
    """
    from astronn_paper import dataset
    from astronn_paper.dataset import fingerprint as dataset_fingerprint

    p = config.get_profile(profile)
    sets = dataset.build_standard_sets(p, progress=progress)
    key = {"train": dataset_fingerprint(sets["train"]), "labels": list(CANNON_LABELS), "version": 1}
    model_path = config.sub_dir("cannon", p) / f"cannon_{cache.fingerprint(key)}.npz"
    out = output_dir(p) / "cannon_highsnr_test.fits"
    if model_path.is_file() and not force:
        fit = CannonFit.load(model_path)
    else:
        x, y, x_err, _ = dataset.load(sets["train"])
        fit = train(x, x_err, y)
        fit.meta = key
        fit.save(model_path)
        del x, x_err
    n_test = len(dataset.load_columns(sets["test"], ["SNR"])["SNR"])
    rows = compare_rows(n_test, p)
    key.update(test=dataset_fingerprint(sets["test"]), profile=p.name,
               rows=cache.array_fingerprint(rows))
    fp = cache.fingerprint(key)
    xt, _, xt_err, _ = dataset.load(sets["test"], rows=rows)
    cached = _read_cached(out, fp) if not force else None
    if cached is not None:
        result = cached
    else:
        result = infer_labels(fit, xt, xt_err)
        ids = dataset.load_columns(sets["test"], ["APOGEE_ID", "LOCATION_ID", "RA", "DEC"], rows=rows)
        ids["TEST_ROW"] = rows
        prov = {"fingerprint": fp, "profile": p.name, "train_fingerprint": key["train"],
                "test_fingerprint": key["test"], "labels": ",".join(CANNON_LABELS),
                "train_time_s": round(fit.train_time_s, 2), "infer_time_s": round(result.time_s, 2),
                "astronn_paper": __version__, "thecannon": _thecannon_version()}
        write_fits(out, ids, result, fit, prov)
        # the labels as the catalog stores them (float32): a run that reads the committed
        # catalog and one that has just made it print the same numbers
        result = _read_cached(out, fp) or result
    return {"path": out, "fit": fit, "result": result, "rows": rows}


def _thecannon_version() -> str:
    from importlib.metadata import version

    try:
        return version("TheCannon")
    except Exception:  # pragma: no cover
        return "unknown"


def _read_cached(path: Path, fp: str) -> CannonResult | None:
    from astropy.io import fits

    if not path.is_file():
        return None
    try:
        with fits.open(path) as hdul:
            h, d = hdul[1].header, hdul[1].data
            if h.get("FINGERPRINT") != fp:
                return None
            cols = label_columns()
            return CannonResult(labels=np.asarray(d["Cannon"], float)[:, cols],
                                errors=np.asarray(d["Cannon_error"], float)[:, cols],
                                chi2=np.asarray(d["Cannon_chi2"], float),
                                good=np.asarray(d["Cannon_good"], bool),
                                time_s=float(h.get("INFER_TIME_S", 0.0)))
    except OSError:
        return None


# =========================================================================== comparison
def compare(truth: np.ndarray, network: np.ndarray, cannon: np.ndarray, aspcap=None,
            good=None, labels=CANNON_LABELS):
    """Per label, bias and robust scatter (1.4826 MAD, :func:`astronn_paper.analysis.metrics.residual_stats`)
    of the network and of The Cannon against the truth, on the same stars (``good``; default
    all). Arrays are (N, len(labels)); ``aspcap`` (the ASPCAP-like labels) adds their own
    scatter. Returns a DataFrame indexed by label, with ``better`` = which method scatters less.
    """
    import pandas as pd

    from astronn_paper.analysis.metrics import residual_stats

    good = np.ones(len(truth), bool) if good is None else np.asarray(good, bool)
    cols = {"n": (np.asarray(truth)[good] != apogee.MISSING).sum(axis=0)}
    cols["bias_network"], cols["scatter_network"] = residual_stats(np.asarray(network)[good], np.asarray(truth)[good])
    cols["bias_cannon"], cols["scatter_cannon"] = residual_stats(np.asarray(cannon)[good], np.asarray(truth)[good])
    if aspcap is not None:
        asp = np.asarray(aspcap, float)[good]
        asp = np.where(asp == apogee.MISSING, np.nan, asp)
        cols["scatter_aspcap"] = residual_stats(asp, np.asarray(truth)[good])[1]
    df = pd.DataFrame(cols, index=pd.Index(list(labels), name="label"))
    df["better"] = np.where(df["scatter_network"] < df["scatter_cannon"], "astroNN", "The Cannon")
    df["unit"] = [apogee.TARGET_UNITS[t] for t in labels]
    return df


def benchmark(model, fit: CannonFit, x, x_err, mc: int, seed: int, n: int | None = None) -> dict:
    """Inference speed of the network (fast engine, ``mc`` passes) and of The Cannon on the same
    ``n`` spectra, measured one after the other in this process: spectra per second, and the
    ratio. One-off set-up (the engine's weight extraction, TheCannon's import) is excluded."""
    from astronn_paper.model import engine

    n = len(x) if n is None else min(int(n), len(x))
    xs, es = np.asarray(x[:n]), np.asarray(x_err[:n])
    engine.engine(model)
    _thecannon()
    t0 = time.perf_counter()
    engine.predict(model, xs, mc=mc, seed=seed, progress=False)
    t_net = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = infer_labels(fit, xs, es)
    t_can = time.perf_counter() - t0
    return {"n_spectra": n, "mc_passes": mc, "network_s": t_net, "cannon_s": t_can,
            "network_spectra_per_s": n / t_net, "cannon_spectra_per_s": n / t_can,
            "network_over_cannon": t_can / t_net, "cannon_good_fraction": float(res.good.mean())}
