"""Out-of-domain score: how unlike the training spectra an input spectrum is.

The network only knows the spectra it was trained on. A spectrum of a kind it never saw
(another temperature regime, a different line-spread function, a wavelength solution off
by a pixel, a spectrum left in the observed frame, different molecular physics) still gets
labels, and the MC-dropout σ barely notices. :class:`DomainModel` measures the distance
directly in spectrum space, per spectrum and in batch (numpy only):

1. **Principal components** of the training set's continuum-normalised, gap-deleted
   spectra (the network's own inputs): the mean spectrum and the first ``k`` components
   (``k`` = :data:`N_COMPONENTS`), computed by a truncated SVD (ARPACK, fixed start vector).
2. For an input spectrum ``x`` with errors ``e`` (pixels masked by the normalisation -
   flux 1, error 1 - or with an error above :data:`MAX_ERR` are left out), the
   coefficients ``c`` of ``x - mean`` on the components, with the masked pixels filled
   by the reconstruction (:data:`N_FILL` iterations), and the residual
   ``r = x - mean - c V``.
3. **Residual χ²** per good pixel, ``mean(r² / (e² + s²))``, where ``s²`` is the
   per-pixel variance that the ``k`` components leave unexplained in noise-free terms in
   the training set itself (the residual variance minus the noise variance, median
   based): pixels where in-domain spectra are poorly described by ``k`` components count
   less, so the score measures the *unusual* part of the residual.
4. A diagnostic **distance in component space**, ``mean(c² / λ)`` with λ the training
   variance of each coefficient (a Mahalanobis distance per component; reported in
   :class:`DomainParts`, not part of the score: on the physics variants of issue 23 it
   caught nothing the residual missed, and its heavy in-domain tail costs false flags).

The score is ``DOMAIN_SCORE = χ² / χ²_ref``, scaled by the median over the training set (so
an in-domain spectrum scores ≈ 1). The threshold is chosen on the standard high-SNR test set
so that at most :data:`MAX_TEST_FLAGGED` of it is flagged (:func:`calibrate`).

What it cannot see: a change that the training spectra themselves span. Molecular bands 30 %
stronger (or absent, in the warmer giants) look like other C, N, O abundances, which the
training set covers; those spectra are in domain for this score (and the network reads them
as abundance changes). See :func:`ood_table` for the measured fractions. The fitted model is stored in the model folder as ``domain.npz``
(:data:`DOMAIN_FILE`), next to astroNN's own files (``load_folder`` ignores it).

Usage::

    dom = DomainModel.load_for("astroNN_0617_run001")
    scores = dom.score(x, x_err)            # (N,) DOMAIN_SCORE
    flags = dom.flag(x, x_err)              # (N,) bool, score > dom.threshold
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper import apogee

#: File name of the domain model inside a model folder.
DOMAIN_FILE = "domain.npz"
FORMAT = "astronn_paper.domain/1"
#: Principal components kept.
N_COMPONENTS = 100
#: Iterations filling masked pixels with the reconstruction.
N_FILL = 2
#: Pixels with an error at or above this (normalised flux; masked pixels have 1) are left out.
MAX_ERR = 0.5
#: At most this fraction of the standard high-SNR test spectra may be flagged.
MAX_TEST_FLAGGED = 0.02
#: Spectra per batch of :meth:`DomainModel.score` (memory ~ 4 x 7514 x 8 bytes per spectrum).
BATCH = 1024


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


@dataclass
class DomainParts:
    """The score and its two terms, per spectrum."""

    score: np.ndarray        # DOMAIN_SCORE
    chi2: np.ndarray         # residual chi^2 per good pixel (with the intrinsic floor)
    dist2: np.ndarray        # mean c^2 / lambda over the components
    n_good: np.ndarray       # good pixels used


@dataclass
class DomainModel:
    """PCA domain model of a training set (see the module docstring)."""

    mean: np.ndarray                 # (P,) float32
    components: np.ndarray           # (k, P) float32, orthonormal rows
    coef_var: np.ndarray             # (k,) training variance of each coefficient
    floor_var: np.ndarray            # (P,) intrinsic residual variance s^2
    chi2_ref: float = 1.0            # median training chi2 (scale of the chi2 term)
    dist2_ref: float = 1.0           # median training dist2
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

    def parts(self, x, x_err, batch: int = BATCH) -> DomainParts:
        """Score and terms of normalised spectra ``x`` (N, 7514) with errors ``x_err``."""
        x, e = _check_batch(x, x_err)
        n = x.shape[0]
        chi2, dist2, ngood = np.empty(n), np.empty(n), np.empty(n, int)
        inv_lam = 1.0 / self.coef_var
        for a in range(0, n, batch):
            b = min(a + batch, n)
            xb = x[a:b].astype(np.float64)
            eb = e[a:b].astype(np.float64)
            good, c, r = self._project(xb, eb)
            ng = good.sum(axis=1)
            w = np.where(good, 1.0 / (np.where(good, eb, 1.0) ** 2 + self.floor_var[None, :]), 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                chi2[a:b] = np.where(ng > 0, (r * r * w).sum(axis=1) / np.maximum(ng, 1), np.inf)
            dist2[a:b] = (c * c * inv_lam[None, :]).mean(axis=1)
            ngood[a:b] = ng
        score = chi2 / self.chi2_ref
        return DomainParts(score, chi2, dist2, ngood)

    def score(self, x, x_err, batch: int = BATCH) -> np.ndarray:
        """DOMAIN_SCORE of each spectrum (≈ 1 in domain; larger = less like the training set)."""
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
                floor_var=self.floor_var.astype(np.float32),
                chi2_ref=np.float64(self.chi2_ref), dist2_ref=np.float64(self.dist2_ref),
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
                    raise DomainError(f"{path}: format {str(z['format'])!r}, expected {FORMAT!r}")
                return cls(mean=z["mean"].astype(np.float64), components=z["components"],
                           coef_var=z["coef_var"], floor_var=z["floor_var"].astype(np.float64),
                           chi2_ref=float(z["chi2_ref"]), dist2_ref=float(z["dist2_ref"]),
                           threshold=float(z["threshold"]), meta=json.loads(str(z["meta"])))
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


def fit(x, x_err, n_components: int = N_COMPONENTS, seed: int = 0) -> DomainModel:
    """Fit the PCA domain model to training spectra (N, 7514) and their errors."""
    x, e = _check_batch(x, x_err)
    n = x.shape[0]
    if n <= n_components:
        raise DomainError(f"need more training spectra ({n}) than components ({n_components})")
    good = good_pixels(x, e)
    cnt = good.sum(axis=0)
    mean = np.where(cnt > 0, np.where(good, x, 0.0).sum(axis=0, dtype=np.float64) / np.maximum(cnt, 1), 1.0)
    y = np.where(good, x - mean[None, :].astype(np.float32), np.float32(0.0)).astype(np.float32)
    rng = np.random.default_rng(seed)
    comps = None
    for _ in range(N_FILL + 1):
        if comps is not None:    # fill masked pixels with the current reconstruction
            y = np.where(good, y, (y @ comps.T) @ comps)
        comps = _top_components(y, n_components, rng).astype(np.float32)
    del y
    # fixed sign convention (largest |loading| positive) for reproducible files
    comps *= np.sign(comps[np.arange(n_components), np.abs(comps).argmax(axis=1)])[:, None]
    model = DomainModel(mean=mean, components=comps,
                        coef_var=np.ones(n_components), floor_var=np.zeros(x.shape[1]))
    # residuals of the training set itself (batched): coefficient variances and the
    # intrinsic (noise-free) residual variance per pixel, median based (robust to outliers)
    coefs, r2, e2 = [], np.empty(x.shape, np.float32), np.empty(x.shape, np.float32)
    for a in range(0, n, BATCH):
        xb, eb = x[a:a + BATCH].astype(np.float64), e[a:a + BATCH].astype(np.float64)
        g, c, r = model._project(xb, eb)
        coefs.append(c)
        r2[a:a + BATCH] = np.where(g, r * r, np.nan)
        e2[a:a + BATCH] = np.where(g, eb * eb, np.nan)
    model.coef_var = np.concatenate(coefs).var(axis=0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN columns (always masked)
        # median of chi^2_1 is 0.4549: r^2 median / 0.4549 estimates the residual variance
        floor = np.nanmedian(r2, axis=0) / 0.4549 - np.nanmedian(e2, axis=0)
    del r2, e2
    model.floor_var = np.where(np.isfinite(floor), np.maximum(floor, 0.0), 0.0)
    # the stored precision (float32), so that a saved and reloaded model scores identically
    model.mean = model.mean.astype(np.float32).astype(np.float64)
    model.floor_var = model.floor_var.astype(np.float32).astype(np.float64)
    p = model.parts(x, e)
    model.chi2_ref = float(np.median(p.chi2))
    model.dist2_ref = float(np.median(p.dist2))
    model.meta = {"format": FORMAT, "n_components": int(n_components), "n_fit": int(n),
                  "n_fill": N_FILL, "max_err": MAX_ERR, "seed": int(seed)}
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


# ====================================================================== physics variants
# ====================================================================== model folders
def build(model_folder, train_path=None, test_path=None, profile=None,
          n_components: int = N_COMPONENTS, write: bool = True) -> DomainModel:
    """Fit the domain model of a model folder on its training set (combined spectra of
    ``train_path``), calibrate the threshold on the standard high-SNR test set
    (``test_path``, combined group) and write ``<model_folder>/domain.npz``.

    Paths default to the profile's ``datasets/{train,test}.h5``. The file records what made
    it (dataset fingerprints, profile, seed, timings, calibration).
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
    x, _, x_err, _ = dataset.load(train_path, kind="combined")
    t1 = time.perf_counter()
    model = fit(x, x_err, n_components=n_components, seed=seed)
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
        "score": "chi2/chi2_ref of the residual against the first n_components PCs",
        "chi2_ref": model.chi2_ref,
        "timing_s": {"fit": round(t2 - t1, 2), "score_test": round(t4 - t3, 2),
                     "per_spectrum_ms": round(1e3 * (t4 - t3) / max(len(xt), 1), 3)},
    })
    model.meta["calibration"] = cal
    if write:
        model.save(folder / DOMAIN_FILE)
    return model


def ensure(model_folder, train_path=None, test_path=None, profile=None) -> DomainModel:
    """The model folder's domain model, (re)built by :func:`build` when it is absent or was
    fitted on other training/test spectra than ``train_path``/``test_path`` (their content
    fingerprints: a recompile of the same spectra keeps the model)."""
    from astronn_paper import config, dataset

    prof = config.get_profile(profile)
    train_path = Path(train_path) if train_path else config.datasets_dir(prof) / "train.h5"
    test_path = Path(test_path) if test_path else config.datasets_dir(prof) / "test.h5"
    dom = find(model_folder)
    if (dom is not None and train_path.is_file() and test_path.is_file()
            and dom.meta.get("train", {}).get("fingerprint") == dataset.fingerprint(train_path)
            and dom.meta.get("test", {}).get("fingerprint") == dataset.fingerprint(test_path)):
        return dom
    return build(model_folder, train_path, test_path, profile=prof)
