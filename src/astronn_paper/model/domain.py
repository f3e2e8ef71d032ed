"""Out-of-domain score: how unlike the training spectra an input spectrum is.

The network only knows the spectra it was trained on. A spectrum of a kind it never saw
(another temperature regime, a different line-spread function, a wavelength solution off
by a pixel, a spectrum left in the observed frame, different molecular physics) still gets
labels, and the MC-dropout σ barely notices. :class:`DomainModel` measures the distance
directly in spectrum space, per spectrum and in batch (numpy only):

1. **Principal components** of the training set's continuum-normalised, gap-deleted
   spectra (the network's own inputs), fitted on all but a seeded :data:`HOLDOUT` share of
   them: the mean spectrum and the first ``k`` components (``k`` = :data:`N_COMPONENTS`,
   randomized SVD with a fixed seed).
2. For an input spectrum ``x`` with errors ``e`` (pixels masked by the normalisation -
   flux 1, error 1 - or with an error above :data:`MAX_ERR` are left out), the
   coefficients ``c`` of ``x - mean`` on the components, with the masked pixels filled
   by the reconstruction (:data:`N_FILL` iterations), and the residual
   ``r = x - mean - c V``.
3. **Residual χ²** per good pixel, ``mean(r² / (e² + s²))``, where ``s²`` is the
   **model error** per pixel: what the ``k`` components leave unexplained in the *held-out*
   training spectra beyond their noise (the mean of ``r² - e²`` over them).
4. The **model-error share** ``w = mean(s² / (e² + s²))``, from the spectrum's own errors: ≈ 0
   when the noise dominates the residual (SNR 30), ≈ 0.7 at SNR 2000. What the components
   leave behind is not noise: a star at the edge of the population (a cool, metal-rich giant)
   is less well described than the average one, so in domain ``χ² ≈ (1 - w) + α w`` with a
   star-to-star spread of ``α`` that shows more and more as the noise shrinks. A fixed
   threshold on χ² therefore flagged ever more in-domain spectra at high SNR (19 % at SNR
   400-800, 56 % above 800, on another survey seed).
5. ``DOMAIN_SCORE = χ² / χ²₉₈(w)``, with ``χ²₉₈(w) = 1 + sqrt(a² + (b w)²)`` the in-domain
   98th percentile of χ² at the spectrum's own model-error share (:func:`fit_curve`: pinball
   loss on in-domain spectra the components never saw, SNR 5 to 1500 - the held-out training
   spectra and their visits, the high-SNR test set and its visits). The curve is part of the
   score (``w`` comes from the spectrum's errors), not a cut on SNR: in domain, the score is
   below 1 for ~98 % of the spectra at any SNR (its median falls from ~0.95 at SNR 30 to
   ~0.2 at SNR 2000, because most in-domain stars are described better than the 98th
   percentile).
6. A diagnostic **distance in component space**, ``mean(c² / λ)`` with λ the held-out
   variance of each coefficient (reported in :class:`DomainParts`, not part of the score).

The threshold is chosen on the standard high-SNR test set so that at most
:data:`MAX_TEST_FLAGGED` of it is flagged (:func:`calibrate`; ≈ 1 by construction of the
curve).

What it cannot see: a change that the training spectra themselves span. Molecular bands 30 %
stronger (or absent, in the warmer giants) look like other C, N, O abundances, which the
training set covers; those spectra are in domain for this score (and the network reads them
as abundance changes). See :func:`astronn_paper.analysis.out_of_domain.ood_table` and
:func:`~astronn_paper.analysis.out_of_domain.snr_study` for the measured fractions. The fitted
model is stored in the model folder as ``domain.npz`` (:data:`DOMAIN_FILE`), next to
astroNN's own files (``load_folder`` ignores it); :func:`build` (re)makes it.

Usage::

    dom = DomainModel.load_for("astroNN_0617_run001")
    scores = dom.score(x, x_err)            # (N,) DOMAIN_SCORE
    flags = dom.flag(x, x_err)              # (N,) bool, score > dom.threshold
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper import apogee

#: File name of the domain model inside a model folder.
DOMAIN_FILE = "domain.npz"
#: Format of the file (version 2: held-out model error and the model-error-share curve).
FORMAT = "astronn_paper.domain/2"
#: Principal components kept.
N_COMPONENTS = 100
#: Iterations filling masked pixels with the reconstruction.
N_FILL = 2
#: Pixels with an error at or above this (normalised flux; masked pixels have 1) are left out.
MAX_ERR = 0.5
#: Share of the training spectra held out of the components: their residuals give the
#: model error and (with the test set and the visits) the in-domain curve.
HOLDOUT = 0.2
#: The curve χ²₉₈(w) is this quantile of the in-domain χ² at a model-error share w.
QUANTILE = 0.98
#: At most this fraction of the standard high-SNR test spectra may be flagged.
MAX_TEST_FLAGGED = 0.02
#: Spectra per batch of :meth:`DomainModel.score` (memory ~ 4 x 7514 x 8 bytes per spectrum).
BATCH = 1024
#: Bins of the model-error share in which the curve's fit is reported (meta["curve"]).
SHARE_BINS = (0.0, 0.01, 0.03, 0.07, 0.15, 0.3, 0.5, 1.0)


class DomainError(ValueError):
    """Bad input to the domain model (shapes, NaN) or an unusable domain file."""


def _check_batch(x, x_err) -> tuple[np.ndarray, np.ndarray]:
    x = np.atleast_2d(np.asarray(x))
    e = np.atleast_2d(np.asarray(x_err))
    if x.ndim != 2 or x.shape[1] != apogee.N_PIX_GAP_DELETED or e.shape != x.shape:
        raise DomainError(f"domain score needs spectra and errors of shape (N, "
                          f"{apogee.N_PIX_GAP_DELETED}) (normalised, gap-deleted); got "
                          f"{np.shape(x)} and {np.shape(x_err)}")
    return x, e


def good_pixels(x: np.ndarray, x_err: np.ndarray) -> np.ndarray:
    """Pixels used by the score: finite, error in (0, :data:`MAX_ERR`)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(x) & np.isfinite(x_err) & (x_err > 0) & (x_err < MAX_ERR)


def curve_value(w, a: float, b: float) -> np.ndarray:
    """The in-domain curve ``χ²₉₈(w) = 1 + sqrt(a² + (b w)²)``."""
    return 1.0 + np.hypot(a, b * np.asarray(w, dtype=np.float64))


@dataclass
class DomainParts:
    """The score and its terms, per spectrum."""

    score: np.ndarray        # DOMAIN_SCORE = chi2 / expected
    chi2: np.ndarray         # residual chi^2 per good pixel (noise + model error)
    share: np.ndarray        # model-error share w = mean(s^2 / (e^2 + s^2))
    expected: np.ndarray     # in-domain 98th percentile of chi2 at this share, chi2_98(w)
    dist2: np.ndarray        # mean c^2 / lambda over the components (diagnostic)
    n_good: np.ndarray       # good pixels used


@dataclass
class DomainModel:
    """PCA domain model of a training set (see the module docstring)."""

    mean: np.ndarray                 # (P,) float32
    components: np.ndarray           # (k, P) float32, orthonormal rows
    coef_var: np.ndarray             # (k,) held-out variance of each coefficient
    model_var: np.ndarray            # (P,) model-error variance s^2 (held-out residuals)
    curve: tuple = (0.0, 0.0)        # (a, b) of chi2_98(w) = 1 + sqrt(a^2 + (b w)^2)
    dist2_ref: float = 1.0           # median held-out dist2
    threshold: float = float("nan")  # flag when score > threshold
    meta: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ scoring
    def _project(self, x: np.ndarray, e: np.ndarray):
        good = good_pixels(x, e)
        y = np.where(good, x - self.mean[None, :], 0.0).astype(np.float64)
        v = self.components.astype(np.float64)
        c = y @ v.T
        for _ in range(N_FILL):
            rec = c @ v
            y = np.where(good, y, rec)
            c = y @ v.T
        r = np.where(good, y - c @ v, 0.0)
        return good, c, r

    def expected_chi2(self, share) -> np.ndarray:
        """In-domain 98th percentile of χ² at model-error share(s) ``share``."""
        return curve_value(share, *self.curve)

    def parts(self, x, x_err, batch: int = BATCH) -> DomainParts:
        """Score and terms of normalised spectra ``x`` (N, 7514) with errors ``x_err``."""
        x, e = _check_batch(x, x_err)
        n = x.shape[0]
        chi2, share, dist2, ngood = np.empty(n), np.empty(n), np.empty(n), np.empty(n, int)
        inv_lam = 1.0 / self.coef_var
        s2 = self.model_var[None, :]
        for a in range(0, n, batch):
            b = min(a + batch, n)
            xb = x[a:a + batch].astype(np.float64)
            eb = e[a:a + batch].astype(np.float64)
            good, c, r = self._project(xb, eb)
            ng = good.sum(axis=1)
            inv = np.where(good, 1.0 / (np.where(good, eb, 1.0) ** 2 + s2), 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                chi2[a:b] = np.where(ng > 0, (r * r * inv).sum(axis=1) / np.maximum(ng, 1), np.inf)
            share[a:b] = (s2 * inv).sum(axis=1) / np.maximum(ng, 1)
            dist2[a:b] = (c * c * inv_lam[None, :]).mean(axis=1)
            ngood[a:b] = ng
        expected = self.expected_chi2(share)
        return DomainParts(chi2 / expected, chi2, share, expected, dist2, ngood)

    def score(self, x, x_err, batch: int = BATCH) -> np.ndarray:
        """DOMAIN_SCORE of each spectrum (below ~1 in domain at any SNR; larger = less like
        the training set)."""
        return self.parts(x, x_err, batch).score

    def flag(self, x=None, x_err=None, score=None) -> np.ndarray:
        """Out-of-domain flag (score > threshold) of spectra, or of precomputed scores."""
        if not np.isfinite(self.threshold):
            raise DomainError("the domain model has no threshold yet (run calibrate)")
        s = self.score(x, x_err) if score is None else np.asarray(score)
        return ~(s <= self.threshold)   # NaN / inf scores are flagged

    # ------------------------------------------------------------------ storage
    def save(self, path) -> Path:
        """Write the model to ``path`` (.npz, atomically)."""
        from astronn_paper.cache import atomic_path

        path = Path(path)
        with atomic_path(path, suffix=".tmp.npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, format=np.array(FORMAT), mean=self.mean.astype(np.float32),
                components=self.components.astype(np.float32),
                coef_var=self.coef_var.astype(np.float64),
                model_var=self.model_var.astype(np.float32),
                curve=np.asarray(self.curve, np.float64), dist2_ref=np.float64(self.dist2_ref),
                threshold=np.float64(self.threshold),
                meta=np.array(json.dumps(self.meta, sort_keys=True)))
        return path

    @classmethod
    def load(cls, path) -> DomainModel:
        path = Path(path)
        if not path.is_file():
            raise DomainError(f"no domain model at {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["format"]) != FORMAT:
                    raise DomainError(f"{path}: format {str(z['format'])!r}, expected {FORMAT!r} "
                                      "(rebuild it with astronn_paper.model.domain.build)")
                return cls(mean=z["mean"].astype(np.float64), components=z["components"],
                           coef_var=z["coef_var"], model_var=z["model_var"].astype(np.float64),
                           curve=tuple(float(v) for v in z["curve"]),
                           dist2_ref=float(z["dist2_ref"]), threshold=float(z["threshold"]),
                           meta=json.loads(str(z["meta"])))
        except (KeyError, ValueError, OSError) as exc:
            if isinstance(exc, DomainError):
                raise
            raise DomainError(f"{path}: not a readable domain model ({exc})") from None

    @classmethod
    def load_for(cls, folder) -> DomainModel:
        """The domain model stored in a model folder (:data:`DOMAIN_FILE`)."""
        return cls.load(Path(folder) / DOMAIN_FILE)


def find(folder) -> DomainModel | None:
    """The domain model of a model folder, or None when the folder has none."""
    p = Path(folder) / DOMAIN_FILE
    return DomainModel.load(p) if p.is_file() else None


# ====================================================================== fitting
def _top_components(y: np.ndarray, k: int, rng: np.random.Generator, oversample: int = 20,
                    n_power: int = 4) -> np.ndarray:
    """The first ``k`` right singular vectors of ``y`` (n, P), (k, P): randomized range
    finder with ``n_power`` power iterations (Halko, Martinsson & Tropp 2011), then an exact
    SVD in the small subspace. Deterministic for a given ``rng``."""
    q = y.T @ rng.standard_normal((y.shape[0], k + oversample))      # (P, k+o)
    for _ in range(n_power):
        q, _ = np.linalg.qr(q)
        q, _ = np.linalg.qr(y @ q)                                   # (n, k+o)
        q = y.T @ q
    q, _ = np.linalg.qr(q)                                           # basis of the row space
    _, _, vt = np.linalg.svd(y @ q, full_matrices=False)             # (k+o, k+o)
    return vt[:k] @ q.T


def holdout_rows(n: int, fraction: float = HOLDOUT, seed: int = 0) -> np.ndarray:
    """Sorted rows of ``n`` training spectra held out of the components (seeded)."""
    if not 0 < fraction < 1:
        raise DomainError(f"the held-out fraction must be in (0, 1), got {fraction}")
    k = min(max(int(round(fraction * n)), 1), n - 1)
    return np.sort(np.random.default_rng([int(seed), 28]).choice(n, k, replace=False))


def fit_curve(chi2, share, quantile: float = QUANTILE) -> tuple[float, float]:
    """``(a, b)`` of the curve ``1 + sqrt(a² + (b w)²)`` that is the ``quantile`` of ``chi2``
    at model-error share ``w`` (``share``): minimum of the pinball (quantile) loss, from the
    best point of a grid refined by Nelder-Mead (deterministic)."""
    from scipy.optimize import minimize

    chi2, w = np.asarray(chi2, np.float64), np.asarray(share, np.float64)
    ok = np.isfinite(chi2) & np.isfinite(w)
    chi2, w = chi2[ok], w[ok]
    if chi2.size < 20:
        raise DomainError(f"need at least 20 in-domain spectra to fit the curve, got {chi2.size}")

    def loss(p):
        d = chi2 - curve_value(w, p[0], p[1])
        return float(np.mean(np.maximum(quantile * d, (quantile - 1.0) * d)))

    grid = [(loss((a, b)), a, b) for a in np.linspace(0.0, 0.5, 26) for b in np.linspace(0.0, 20.0, 41)]
    _, a0, b0 = min(grid)
    res = minimize(loss, np.array([a0, b0]), method="Nelder-Mead",
                   options={"xatol": 1e-5, "fatol": 1e-9, "maxiter": 2000})
    a, b = (float(v) for v in np.abs(res.x))
    return a, b


def _curve_report(model: DomainModel, chi2, share, names) -> dict:
    """How the fitted curve sits on its own sample: fraction above it per share bin."""
    above = chi2 > model.expected_chi2(share)
    rows = []
    for lo, hi in zip(SHARE_BINS[:-1], SHARE_BINS[1:]):
        s = (share >= lo) & (share < hi)
        rows.append({"share": [lo, hi], "n": int(s.sum()),
                     "above": round(float(above[s].mean()), 4) if s.any() else None})
    return {"a": model.curve[0], "b": model.curve[1], "quantile": QUANTILE,
            "n_spectra": int(chi2.size), "above": round(float(above.mean()), 4),
            "sets": names, "by_share": rows}


def fit(x, x_err, n_components: int = N_COMPONENTS, seed: int = 0, heldout=None,
        curve_sets=()) -> DomainModel:
    """Fit the domain model to training spectra (N, 7514) and their errors.

    The components come from the training spectra except the held-out rows ``heldout``
    (default: :func:`holdout_rows`, :data:`HOLDOUT` of them); the held-out spectra give the
    model error ``s²`` and the coefficient variances. The curve χ²₉₈(w) is fitted
    (:func:`fit_curve`) on the held-out spectra and on ``curve_sets``: more in-domain spectra
    the components never saw, an iterable of ``(x, x_err)`` or ``(name, x, x_err)`` (visits
    of the held-out stars, the test set: lower SNRs than a training set's). The threshold is
    set afterwards by :func:`calibrate`.
    """
    x, e = _check_batch(x, x_err)
    n = x.shape[0]
    held = holdout_rows(n, HOLDOUT, seed) if heldout is None else np.unique(np.asarray(heldout, np.int64))
    if held.size and (held[0] < 0 or held[-1] >= n):
        raise DomainError(f"held-out rows out of range (0..{n - 1})")
    fit_rows = np.setdiff1d(np.arange(n), held)
    if fit_rows.size <= n_components:
        raise DomainError(f"need more training spectra ({fit_rows.size} not held out) than "
                          f"components ({n_components})")
    if held.size < 20:
        raise DomainError(f"need at least 20 held-out training spectra, got {held.size}")
    xf, ef = x[fit_rows], e[fit_rows]
    good = good_pixels(xf, ef)
    cnt = good.sum(axis=0)
    mean = np.where(cnt > 0, np.where(good, xf, 0.0).sum(axis=0, dtype=np.float64) / np.maximum(cnt, 1), 1.0)
    y = np.where(good, xf - mean[None, :].astype(np.float32), np.float32(0.0)).astype(np.float32)
    del xf, ef
    rng = np.random.default_rng(seed)
    comps = None
    for _ in range(N_FILL + 1):
        if comps is not None:    # fill masked pixels with the current reconstruction
            y = np.where(good, y, (y @ comps.T) @ comps)
        comps = _top_components(y, n_components, rng).astype(np.float32)
    del y, good
    # fixed sign convention (largest |loading| positive) for reproducible files
    comps *= np.sign(comps[np.arange(n_components), np.abs(comps).argmax(axis=1)])[:, None]
    model = DomainModel(mean=mean.astype(np.float32).astype(np.float64), components=comps,
                        coef_var=np.ones(n_components), model_var=np.zeros(x.shape[1]))
    # held-out residuals: coefficient variances and the model error s^2 = mean(r^2 - e^2)
    coefs, excess, count = [], np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for a in range(0, held.size, BATCH):
        rows = held[a:a + BATCH]
        eb = e[rows].astype(np.float64)
        g, c, r = model._project(x[rows].astype(np.float64), eb)
        coefs.append(c)
        excess += np.where(g, r * r - eb * eb, 0.0).sum(axis=0)
        count += g.sum(axis=0)
    model.coef_var = np.concatenate(coefs).var(axis=0)
    s2 = np.where(count > 0, excess / np.maximum(count, 1), 0.0)
    # the stored precision (float32), so that a saved and reloaded model scores identically
    model.model_var = np.maximum(s2, 0.0).astype(np.float32).astype(np.float64)
    # the in-domain curve, on spectra the components never saw
    p = model.parts(x[held], e[held])
    model.dist2_ref = float(np.median(p.dist2))
    chi2, share, names = [p.chi2], [p.share], {"held-out training spectra": int(held.size)}
    for k, item in enumerate(curve_sets):
        name, xs, es = item if len(item) == 3 else (f"set {k + 1}", *item)
        q = model.parts(xs, es)
        chi2.append(q.chi2), share.append(q.share)
        names[name] = names.get(name, 0) + int(len(q.chi2))
    chi2, share = np.concatenate(chi2), np.concatenate(share)
    model.curve = fit_curve(chi2, share)
    model.meta = {"format": FORMAT, "n_components": int(n_components), "n_fit": int(fit_rows.size),
                  "n_heldout": int(held.size), "n_fill": N_FILL, "max_err": MAX_ERR, "seed": int(seed),
                  "curve": _curve_report(model, chi2, share, names)}
    return model


def calibrate(model: DomainModel, x, x_err, max_fraction: float = MAX_TEST_FLAGGED) -> dict:
    """Set ``model.threshold`` so that at most ``max_fraction`` of the spectra (the standard
    high-SNR test set) score above it; returns the calibration numbers."""
    if not 0 < max_fraction < 1:
        raise DomainError(f"max_fraction must be in (0, 1), got {max_fraction}")
    s = model.score(x, x_err)
    n = s.size
    n_allowed = int(np.floor(max_fraction * n))
    srt = np.sort(s)
    # midway between the last unflagged and the first flagged score: at most n_allowed
    # spectra above it, with a margin against rounding of the stored model
    lo = float(srt[n - n_allowed - 1])
    thr = 0.5 * (lo + float(srt[n - n_allowed])) if n_allowed > 0 else lo
    model.threshold = thr
    frac = float(np.mean(s > thr))
    cal = {"threshold": thr, "n_calibration": int(n), "flagged_fraction": frac,
           "max_fraction": float(max_fraction)}
    model.meta.setdefault("calibration", {}).update(cal)
    return cal


# ====================================================================== model folders
def _visit_chunks(path: Path, rows=None, chunk: int = 4096):
    """``(x, x_err)`` of the visits of a dataset (those of ``rows``, indices into the visits
    group), in chunks; nothing when the dataset has no visits."""
    from astronn_paper import dataset

    if "visits" not in dataset.info(path)["n"]:
        return
    if rows is None:
        rows = np.arange(dataset.info(path)["n"]["visits"])
    for a in range(0, len(rows), chunk):
        xv, _, ev, _ = dataset.load(path, kind="visits", rows=rows[a:a + chunk])
        yield xv, ev


def build(model_folder, train_path=None, test_path=None, profile=None,
          n_components: int = N_COMPONENTS, write: bool = True) -> DomainModel:
    """Fit the domain model of a model folder on its training set (combined spectra of
    ``train_path``; :data:`HOLDOUT` of them held out), fit the in-domain curve on the held-out
    spectra, their visits, the standard high-SNR test set (``test_path``) and its visits,
    calibrate the threshold on the test set's combined spectra and write
    ``<model_folder>/domain.npz``.

    Paths default to the profile's ``datasets/{train,test}.h5``. The file records what made
    it (dataset fingerprints, profile, seed, timings, curve, calibration). To refit the
    shipped model's file on the default datasets::

        from astronn_paper.model import domain
        domain.build("astroNN_0617_run001", profile="default")
    """
    from astronn_paper import __version__, config, dataset

    folder = Path(model_folder)
    if not folder.is_dir():
        raise DomainError(f"model folder {folder} does not exist or is not a folder")
    prof = config.get_profile(profile)
    train_path = Path(train_path) if train_path else config.datasets_dir(prof) / "train.h5"
    test_path = Path(test_path) if test_path else config.datasets_dir(prof) / "test.h5"
    for p in (train_path, test_path):
        if not p.is_file():
            raise DomainError(f"dataset {p} does not exist (compile it first)")
    seed = config.seed_for("domain:pca", prof)
    t0 = time.perf_counter()
    x, _, x_err, _, cols = dataset.load(train_path, kind="combined", columns=["allstar_index"])
    held = holdout_rows(len(x), HOLDOUT, seed)
    held_stars = cols["allstar_index"][held]

    def curve_sets():
        if "visits" in dataset.info(train_path)["n"]:
            star = dataset.load_columns(train_path, ["allstar_index"], kind="visits")["allstar_index"]
            for xv, ev in _visit_chunks(train_path, np.flatnonzero(np.isin(star, held_stars))):
                yield "visits of the held-out training stars", xv, ev
        xt, _, et, _ = dataset.load(test_path, kind="combined")
        yield "high-SNR test set", xt, et
        del xt, et
        for xv, ev in _visit_chunks(test_path):
            yield "visits of the test set", xv, ev

    t1 = time.perf_counter()
    model = fit(x, x_err, n_components=n_components, seed=seed, heldout=held, curve_sets=curve_sets())
    t2 = time.perf_counter()
    del x, x_err
    xt, _, xt_err, _ = dataset.load(test_path, kind="combined")
    t3 = time.perf_counter()
    cal = calibrate(model, xt, xt_err)
    t4 = time.perf_counter()
    model.meta.update({
        "model_folder": folder.name, "profile": prof.name, "package_version": __version__,
        "train": {"path": config.shown_path(train_path), "fingerprint": dataset.fingerprint(train_path),
                  "group": "combined"},
        "test": {"path": config.shown_path(test_path), "fingerprint": dataset.fingerprint(test_path),
                 "group": "combined"},
        "score": ("chi2 / chi2_98(w): residual chi2 against the first n_components PCs "
                  "(noise + held-out model error), over the in-domain 98th percentile at the "
                  "spectrum's model-error share w"),
        "timing_s": {"load": round(t1 - t0, 2), "fit": round(t2 - t1, 2), "score_test": round(t4 - t3, 2),
                     "per_spectrum_ms": round(1e3 * (t4 - t3) / max(len(xt), 1), 3)},
    })
    model.meta["calibration"] = cal
    if write:
        model.save(folder / DOMAIN_FILE)
    return model


def ensure(model_folder, train_path=None, test_path=None, profile=None) -> DomainModel:
    """The model folder's domain model, (re)built by :func:`build` when it is absent, of an
    older format, or was fitted on other training/test spectra than ``train_path``/``test_path``
    (their content fingerprints: a recompile of the same spectra keeps the model)."""
    from astronn_paper import config, dataset

    prof = config.get_profile(profile)
    train_path = Path(train_path) if train_path else config.datasets_dir(prof) / "train.h5"
    test_path = Path(test_path) if test_path else config.datasets_dir(prof) / "test.h5"
    try:
        dom = find(model_folder)
    except DomainError:
        dom = None           # an older format or an unreadable file: rebuilt
    if (dom is not None and train_path.is_file() and test_path.is_file()
            and dom.meta.get("train", {}).get("fingerprint") == dataset.fingerprint(train_path)
            and dom.meta.get("test", {}).get("fingerprint") == dataset.fingerprint(test_path)):
        return dom
    return build(model_folder, train_path, test_path, profile=prof)
