"""Checks of the synthetic spectra's realism: window localisation, blanketing, and the
information content measured with The Cannon.

Used by ``tests/test_synth_spectra.py``, ``tests/test_synth_information.py`` and
``benchmarks/cannon_information.py``.
"""
from __future__ import annotations

import numpy as np

from astronn_paper import apogee
from astronn_paper.synth import instrument, spectra

#: Teff, logg and the 18 distinct abundances: the labels of the generator's Cannon check (C1
#: and Ti2 equal C and Ti in the truth, so they would make the label design singular).
DISTINCT_LABELS: tuple[str, ...] = ("teff", "logg") + tuple(
    t for t in apogee.ABUNDANCES if t not in ("C1", "Ti2"))
WEAK_LINE_ELEMENTS = ("Na", "P", "S", "V", "Co")
STRONG_LINE_ELEMENTS = ("Fe", "Mg", "Si", "Ni")


# ------------------------------------------------------------------------ label sampling
def training_box_giants(n: int, seed: int) -> dict[str, np.ndarray]:
    """Realistic, correlated labels of ``n`` giants in the paper's training box.

    Drawn from the synthetic Galactic population (:mod:`.population`: giants and red clump
    on metallicity-dependent tracks, α-bimodal chemistry, mixing of C and N), restricted to
    4000 < Teff < 5500 K, -1 < [Fe/H] < 0.4, logg < 3.5 and one row per star.
    """
    from astronn_paper.synth import population

    pop = population.build_population(seed)
    ok = ((pop.dup_rank == 0) & (pop.teff > 4000) & (pop.teff < 5500) & (pop.logg < 3.5)
          & (pop.feh > -1.0) & (pop.feh < 0.4) & (pop.cluster < 0))
    idx = np.flatnonzero(ok)
    rng = np.random.default_rng([seed, 3])
    pick = np.sort(rng.choice(idx, n, replace=False))
    return {"teff": pop.teff[pick], "logg": pop.logg[pick], "xh": pop.xh20[pick],
            "vmicro": pop.vmicro[pick], "hmag": pop.hmag[pick]}


# ------------------------------------------------------------------ paper normalisation
def observe_and_normalise(intrinsic: np.ndarray, snr: float, teff: np.ndarray, seed: int
                          ) -> tuple[np.ndarray, np.ndarray]:
    """One-visit observation at ``snr`` of each spectrum, then the paper's continuum
    normalisation (astroNN ``apogee_continuum``, degree 2, DR14 continuum pixels, the
    paper's PIXMASK bits set to 1). Returns (flux, err) on the 7514 gap-deleted pixels;
    err = 0 where masked."""
    from astroNN.apogee import apogee_continuum

    n = intrinsic.shape[0]
    flux = np.empty((n, apogee.N_PIX))
    err = np.empty_like(flux)
    mask = np.empty((n, apogee.N_PIX), dtype=np.int64)
    for i in range(n):  # the instrument works star by star (visits, masks)
        o = instrument.observe(intrinsic[i], [snr], np.random.default_rng([seed, i]), teff[i],
                               persistence_prob=0.0)
        flux[i], err[i], mask[i] = o["flux"][0], o["err"][0], o["bitmask"][0]
    nf, ne = apogee_continuum(flux, err, dr=14, bitmask=mask, target_bit=list(apogee.PAPER_MASK_BITS))
    from astroNN.apogee import gap_delete

    bad = (gap_delete(mask, dr=14).astype(np.int64) & sum(1 << b for b in apogee.PAPER_MASK_BITS)) != 0
    ne = np.where(bad, 0.0, ne)
    return nf, ne


# ------------------------------------------------------------------ window localisation
def window_fractions(teff: float = 4500.0, logg: float = 2.4, xh: np.ndarray | None = None,
                     step: float = 0.05) -> dict[str, float]:
    """Fraction of the squared norm of d(normalised spectrum)/d[X/H] (central finite
    difference, over the 7514 pixels) inside element X's ASPCAP windows."""
    xh0 = np.zeros(len(apogee.ABUNDANCES)) if xh is None else np.asarray(xh, float)
    k = len(apogee.ABUNDANCES)
    labels = np.repeat(xh0[None, :], 2 * k, axis=0)
    labels[np.arange(k) * 2, np.arange(k)] += step
    labels[np.arange(k) * 2 + 1, np.arange(k)] -= step
    f = spectra.render(np.full(2 * k, teff), np.full(2 * k, logg), labels)[:, apogee.gap_delete_index()]
    deriv = (f[0::2] - f[1::2]) / (2 * step)
    win = apogee.aspcap_windows()
    out = {}
    for j, t in enumerate(apogee.ABUNDANCES):
        d2 = deriv[j] ** 2
        out[t] = float(d2[win[t]].sum() / d2.sum()) if d2.sum() > 0 else float("nan")
    return out


def blanketing(teff, logg, feh) -> dict[str, np.ndarray]:
    """Median normalised flux and fraction of pixels below 0.9 (noise-free, paper
    normalisation) for solar-scaled stars."""
    from astroNN.apogee import apogee_continuum

    teff = np.atleast_1d(np.asarray(teff, float))
    xh = np.repeat(np.atleast_1d(np.asarray(feh, float))[:, None], len(apogee.ABUNDANCES), axis=1)
    f = spectra.render(teff, np.atleast_1d(np.asarray(logg, float)), xh)
    nf, _ = apogee_continuum(f, np.full_like(f, 0.01), dr=14)
    return {"median": np.median(nf, axis=1), "frac_below_0p9": (nf < 0.9).mean(axis=1)}


# ------------------------------------------------------------- information of the spectra
#: Free labels of the Fisher analysis: Teff, logg and the 18 distinct abundances (C1 follows
#: C and Ti2 follows Ti, as in the truth).
FISHER_LABELS: tuple[str, ...] = DISTINCT_LABELS
_TIED = {"C1": "C", "Ti2": "Ti"}


def spectrum_jacobian(teff: float, logg: float, xh: np.ndarray, d_teff: float = 10.0,
                      d_logg: float = 0.02, d_xh: float = 0.01) -> np.ndarray:
    """d(intrinsic normalised flux)/d(label) of one star by central differences, on the 7514
    gap-deleted pixels, (7514, 20) in :data:`FISHER_LABELS` order (per K, per dex)."""
    keep = apogee.gap_delete_index()
    ab = list(apogee.ABUNDANCES)
    xh = np.asarray(xh, float)

    def f(t, g, x):
        return spectra.render(np.array([t]), np.array([g]), x[None, :])[0][keep]

    cols = [(f(teff + d_teff, logg, xh) - f(teff - d_teff, logg, xh)) / (2 * d_teff),
            (f(teff, logg + d_logg, xh) - f(teff, logg - d_logg, xh)) / (2 * d_logg)]
    for el in FISHER_LABELS[2:]:
        idx = [ab.index(el)] + [ab.index(k) for k, v in _TIED.items() if v == el]
        up, down = xh.copy(), xh.copy()
        up[idx] += d_xh
        down[idx] -= d_xh
        cols.append((f(teff, logg, up) - f(teff, logg, down)) / (2 * d_xh))
    return np.stack(cols, axis=1)


def fisher_bounds(teff: float, logg: float, xh: np.ndarray, snr: float) -> dict[str, float]:
    """Cramér-Rao bounds of one star's labels from its spectrum at per-pixel ``snr``
    (Gaussian noise sigma = flux / snr, the forward model known exactly): the marginal 1-sigma
    bound of every label of :data:`FISHER_LABELS` (all the others free), and
    ``"logg|rest"``, the bound on logg when every other label is known."""
    keep = apogee.gap_delete_index()
    jac = spectrum_jacobian(teff, logg, xh)
    flux = spectra.render(np.array([teff]), np.array([logg]), np.asarray(xh, float)[None, :])[0][keep]
    w = (snr / flux) ** 2
    fisher = (jac * w[:, None]).T @ jac
    out = dict(zip(FISHER_LABELS, np.sqrt(np.diag(np.linalg.inv(fisher)))))
    out["logg|rest"] = float(1.0 / np.sqrt(fisher[1, 1]))
    return {k: float(v) for k, v in out.items()}


def ridge_scatter(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                  y_test: np.ndarray, lam: float) -> float:
    """``mad_std`` of the test residuals of a ridge regression (penalty ``lam``) of a label on
    the flux, the simplest data-driven baseline: what a linear read of the spectrum gives."""
    from astropy.stats import mad_std

    mu = x_train.mean(axis=0)
    u, s, vt = np.linalg.svd(np.asarray(x_train, float) - mu, full_matrices=False)
    m = float(np.mean(y_train))
    w = vt.T @ ((s / (s ** 2 + lam)) * (u.T @ (np.asarray(y_train, float) - m)))
    return float(mad_std((np.asarray(x_test, float) - mu) @ w + m - y_test))
