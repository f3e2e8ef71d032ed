"""The APOGEE instrument applied to an intrinsic spectrum: apStar-like rows for one star.

:func:`observe` turns the intrinsic normalised spectrum of :mod:`.spectra` into what the
pipeline stores in an apStar file:

* **flux** in 1e-17 erg/s/cm²/Å: the star's continuum (a blackbody slope at Teff scaled to
  the 2MASS H magnitude) times a smooth per-chip response (quadratic in pixel, a few per
  cent different per visit), times the intrinsic spectrum and a weak telluric residual;
* **noise** per visit σ = F / SNR_visit (so that the median per-pixel S/N is the visit's
  SNR), inflated near airglow OH sky lines; sky lines are fixed in the observed frame, so
  they move in the stellar rest frame from visit to visit (barycentric shifts);
* **PIXMASK** bits: SIG_SKYLINE (12) around sky lines, SIG_TELLURIC (13) at telluric
  residuals, BADPIX/CRPIX/SATPIX/... (0-6) for detector defects and cosmic rays,
  PERSIST_* (9-11) on part of the blue chip for some stars; chip gaps are flux 0 with
  BADPIX set;
* **combined rows** as in apStar: row 0 pixel-weighted (1/σ² per pixel), row 1
  global-weighted (weights SNR²), then the visits; one row if there is one visit.
  Inverse-variance combination gives SNR_combined² ≈ Σ SNR_visit².

:func:`aspcap_normalised` gives an aspcapStar-like spectrum: ASPCAP's own normalisation
(an iteratively clipped polynomial per chip through the *noisy* spectrum, i.e. a
pseudo-continuum that sits below the true continuum by an amount that grows with line
blanketing), different from the paper's Chebyshev fit through fixed continuum pixels.
"""
from __future__ import annotations

import functools

import numpy as np

from astronn_paper import apogee

BIT = apogee.PIXMASK_BITS
#: 2MASS H zero-point flux density, in 1e-17 erg/s/cm²/Å.
H_ZERO_FLUX = 1.133e-10 / 1e-17
#: Seed of the fixed sky-line / telluric / bad-pixel lists (instrument, not star).
INSTRUMENT_SEED = 22_500


@functools.lru_cache(maxsize=1)
def chip_slices() -> tuple[slice, slice, slice]:
    """The three detector ranges (blue, green, red) on the 8575 grid."""
    gi = apogee.gap_delete_index()
    cut = np.flatnonzero(np.diff(gi) > 1)
    return (slice(gi[0], gi[cut[0]] + 1), slice(gi[cut[0] + 1], gi[cut[1]] + 1),
            slice(gi[cut[1] + 1], gi[-1] + 1))


@functools.lru_cache(maxsize=1)
def _on_chip() -> np.ndarray:
    keep = np.zeros(apogee.N_PIX, bool)
    keep[apogee.gap_delete_index()] = True
    return keep


@functools.lru_cache(maxsize=1)
def instrument_features() -> dict[str, np.ndarray]:
    """Fixed lists (observed frame): OH sky-line pixels and strengths, telluric lines,
    bad detector pixels. Deterministic."""
    rng = np.random.default_rng(INSTRUMENT_SEED)
    on = np.flatnonzero(_on_chip())
    # ~ 80 strong airglow lines (APOGEE's H band holds roughly this many strong OH lines)
    sky_pix = np.sort(rng.choice(on[5:-5], 80, replace=False)).astype(float)
    sky_amp = 10.0 ** rng.uniform(0.0, 1.2, sky_pix.size)   # σ inflation at the line core
    tell_pix = np.sort(rng.choice(on, 60, replace=False)).astype(float)
    tell_depth = 10.0 ** rng.uniform(-2.5, -1.3, tell_pix.size)
    bad_pix = np.sort(rng.choice(on, 40, replace=False))
    bad_bit = rng.choice([BIT["BADPIX"], BIT["BADDARK"], BIT["BADFLAT"], BIT["UNFIXABLE"]], bad_pix.size)
    return {"sky_pix": sky_pix, "sky_amp": sky_amp, "tell_pix": tell_pix,
            "tell_depth": tell_depth, "bad_pix": bad_pix, "bad_bit": bad_bit}


def continuum_shape(teff: float, hmag: float, rng: np.random.Generator) -> np.ndarray:
    """Stellar continuum × per-chip instrumental response on the 8575 grid (0 in gaps)."""
    lam = apogee.wavelength() * 1e-8                       # cm
    c2 = 1.4388                                             # hc/k, cm K
    bb = 1.0 / (lam ** 5 * np.expm1(c2 / (lam * teff)))
    bb /= bb[np.argmin(np.abs(apogee.wavelength() - 16_500))]
    out = np.zeros(apogee.N_PIX)
    for sl in chip_slices():
        x = np.linspace(-1.0, 1.0, sl.stop - sl.start)
        resp = 1.0 + rng.normal(0.0, 0.04) * x - (0.12 + rng.normal(0.0, 0.02)) * x ** 2
        out[sl] = bb[sl] * resp * rng.uniform(0.9, 1.1)
    return out * H_ZERO_FLUX * 10.0 ** (-0.4 * hmag)


def _gauss_bumps(centres: np.ndarray, amps: np.ndarray, width: float) -> np.ndarray:
    """Sum of Gaussian bumps on the 8575 grid (vectorised over the bumps' ±4σ)."""
    out = np.zeros(apogee.N_PIX)
    off = np.arange(-int(4 * width) - 1, int(4 * width) + 2)
    pix = np.rint(centres)[:, None].astype(int) + off[None, :]
    val = amps[:, None] * np.exp(-0.5 * ((pix - centres[:, None]) / width) ** 2)
    ok = (pix >= 0) & (pix < apogee.N_PIX)
    np.add.at(out, pix[ok], val[ok])
    return out


def observe(intrinsic: np.ndarray, visit_snr, rng: np.random.Generator, teff: float,
            hmag: float | None = None, persistence_prob: float = 0.15) -> dict:
    """apStar-like flux, error and PIXMASK rows for one star (see the module docstring).

    Parameters
    ----------
    intrinsic : (8575,) intrinsic normalised spectrum (0 in the gaps).
    visit_snr : (nvisits,) median per-pixel S/N of each visit.
    rng : the star's random generator (all noise and per-visit draws come from it).
    teff : effective temperature, K (continuum slope).
    hmag : 2MASS H (flux level); 11 if None.
    persistence_prob : probability that the star falls on the blue chip's persistence
        region (bits 9-11 set on part of the blue chip, a small spurious excess).

    Returns
    -------
    dict with "flux", "err" (float32) and "bitmask" (int16), each (nrows, 8575), and
    "header" (NVISITS, SNR, SNRVIS1..n).
    """
    intrinsic = np.asarray(intrinsic, float)
    if intrinsic.shape != (apogee.N_PIX,):
        raise ValueError(f"observe: intrinsic must have shape ({apogee.N_PIX},), got {intrinsic.shape}")
    snr = np.atleast_1d(np.asarray(visit_snr, float))
    if snr.size < 1 or np.any(~np.isfinite(snr)) or np.any(snr <= 0):
        raise ValueError(f"observe: visit_snr must be positive and finite, got {snr}")
    nv = snr.size
    hmag = 11.0 if hmag is None else float(hmag)
    on = _on_chip()
    feat = instrument_features()
    cont = continuum_shape(float(teff), hmag, rng)
    persist = rng.random() < persistence_prob

    fluxes = np.zeros((nv, apogee.N_PIX))
    errs = np.zeros((nv, apogee.N_PIX))
    masks = np.zeros((nv, apogee.N_PIX), dtype=np.int64)
    blue = chip_slices()[0]
    pix = np.arange(apogee.N_PIX)
    for v in range(nv):  # a handful of visits per star: per-visit work is whole-array
        shift = rng.uniform(-7.0, 7.0)                    # barycentric shift, pixels
        sky = _gauss_bumps(feat["sky_pix"] + shift, feat["sky_amp"], 1.2)
        tell = _gauss_bumps(feat["tell_pix"] + shift, feat["tell_depth"], 1.5)
        tilt = 1.0 + rng.normal(0.0, 0.01) * np.linspace(-1.0, 1.0, apogee.N_PIX)
        model = cont * tilt * intrinsic
        # telluric correction leaves residuals of ~20 % of the absorption
        model = model * (1.0 - 0.2 * tell)
        med = np.median(model[on])
        sigma = np.where(on, np.maximum(model, 0.0) / snr[v] * (1.0 + sky), 0.0)
        f = model + sigma * rng.standard_normal(apogee.N_PIX)
        m = np.zeros(apogee.N_PIX, dtype=np.int64)
        m |= np.where(sky > 0.3, 1 << BIT["SIG_SKYLINE"], 0)
        m |= np.where(tell > 0.01, 1 << BIT["SIG_TELLURIC"], 0)
        # fixed bad detector pixels (observed frame)
        bp = np.clip(np.rint(feat["bad_pix"] + shift).astype(int), 0, apogee.N_PIX - 1)
        m[bp] |= 1 << feat["bad_bit"]
        # cosmic rays and rarer defects (bits 0-6)
        ncr = rng.poisson(8)
        cr = rng.choice(np.flatnonzero(on), ncr, replace=False)
        f[cr] += np.abs(rng.normal(0.0, 10.0, ncr)) * sigma[cr]
        m[cr] |= 1 << BIT["CRPIX"]
        rare = rng.choice(np.flatnonzero(on), rng.poisson(2), replace=False)
        m[rare] |= 1 << rng.choice([BIT["SATPIX"], BIT["BADERR"]])
        sigma[bp] *= 10.0
        if persist:
            region = (pix >= blue.start) & (pix < blue.start + (blue.stop - blue.start) // 3)
            level = rng.uniform(0.005, 0.03)
            f = f + np.where(region, level * med, 0.0)
            bit = (BIT["PERSIST_HIGH"] if level > 0.02
                   else (BIT["PERSIST_MED"] if level > 0.01 else BIT["PERSIST_LOW"]))
            m |= np.where(region, 1 << bit, 0)
        m[~on] |= 1 << BIT["BADPIX"]
        fluxes[v] = np.where(on, f, 0.0)
        errs[v] = np.where(on, sigma, 0.0)
        masks[v] = m

    header = {"NVISITS": nv, **{f"SNRVIS{v + 1}": float(snr[v]) for v in range(nv)}}
    if nv == 1:
        flux, err, mask = fluxes, errs, masks
    else:
        good = (masks & _BAD_FOR_COMBINATION) == 0
        ivar = np.where(good & on, 1.0 / np.where(errs > 0, errs, np.inf) ** 2, 0.0)
        # row 0: pixel-weighted; row 1: global-weighted (weights ∝ SNR²)
        wsum = ivar.sum(axis=0)
        f0 = np.where(wsum > 0, (ivar * fluxes).sum(axis=0) / np.where(wsum > 0, wsum, 1.0), 0.0)
        e0 = np.where(wsum > 0, 1.0 / np.sqrt(np.where(wsum > 0, wsum, 1.0)), 0.0)
        gw = (snr ** 2)[:, None] * (good & on)
        gsum = gw.sum(axis=0)
        gs = np.where(gsum > 0, gsum, 1.0)
        f1 = np.where(gsum > 0, (gw * fluxes).sum(axis=0) / gs, 0.0)
        e1 = np.where(gsum > 0, np.sqrt((gw ** 2 * errs ** 2).sum(axis=0)) / gs, 0.0)
        # pixels bad in every visit: plain mean, flagged
        allbad = on & (gsum == 0)
        f0[allbad] = f1[allbad] = fluxes[:, allbad].mean(axis=0)
        e0[allbad] = e1[allbad] = errs[:, allbad].max(axis=0) * 10.0
        mcomb = np.bitwise_or.reduce(masks, axis=0)
        flux = np.vstack([f0, f1, fluxes])
        err = np.vstack([e0, e1, errs])
        mask = np.vstack([mcomb, mcomb, masks])
    row = apogee.combined_row(nv)
    ok = on & (err[row] > 0)
    header["SNR"] = float(np.median(flux[row, ok] / err[row, ok]))
    return {"flux": flux.astype(np.float32), "err": err.astype(np.float32),
            "bitmask": mask.astype(np.int16), "header": header}


#: Bits whose pixels are left out of the visit combination.
_BAD_FOR_COMBINATION = sum(1 << b for b in (0, 1, 2, 3, 4, 5, 6))


#: Pixels with a larger relative error (err/flux) are left out of the ASPCAP-like
#: pseudo-continuum fit.
ASPCAP_FIT_MAX_REL_ERR = 0.3
#: Error floor (normalised flux) added in quadrature in the fit's rejection band.
ASPCAP_FIT_TOLERANCE = 0.002
#: Error given to pixels without a usable combined value (aspcapStar marks them so).
ASPCAP_NO_DATA_ERR = 1e10


def aspcap_normalised(intrinsic: np.ndarray, combined_err_rel: np.ndarray,
                      rng: np.random.Generator, order: int = 4, n_iter: int = 5
                      ) -> tuple[np.ndarray, np.ndarray]:
    """aspcapStar-like normalised flux and error, (8575,) each, 0 in the gaps.

    ASPCAP normalises the observed spectrum itself: per chip, a polynomial fitted with
    iterative rejection of points below the fit (absorption) and far above it (noise
    spikes). The result is a pseudo-continuum that lies under the true continuum by an
    amount that grows with line blanketing, so cool metal-rich stars come out with a
    level bias (normalised flux > intrinsic), unlike the paper's fit through fixed
    continuum pixels.

    ``combined_err_rel`` is the relative error (err/flux) of the combined spectrum (0, NaN
    or inf: no usable pixel, error :data:`ASPCAP_NO_DATA_ERR`). The fit
    is weighted by the inverse error and leaves out the pixels whose relative error exceeds
    :data:`ASPCAP_FIT_MAX_REL_ERR` (bad, sky-line and persistence pixels: they keep their
    large error in the output, as in aspcapStar files); the rejection band is measured in
    units of the error plus a :data:`ASPCAP_FIT_TOLERANCE` floor, and an iteration that would
    leave fewer than ``10 (order + 1)`` pixels is not taken. (An unweighted fit let one
    bad pixel, kept because its huge error never rejects it, drag the polynomial of a chip
    to zero at very high SNR, where the rejection band is narrow.)
    """
    intrinsic = np.asarray(intrinsic, float)
    rel = np.asarray(combined_err_rel, float)
    data = np.isfinite(rel) & (rel > 0)        # 0 / NaN / inf: no usable combined pixel
    on = _on_chip()
    noise = np.where(data, rel, 0.0)
    noisy = intrinsic * (1.0 + noise * rng.standard_normal(apogee.N_PIX))
    flux = np.zeros(apogee.N_PIX)
    err = np.zeros(apogee.N_PIX)
    for sl in chip_slices():
        y = noisy[sl]
        s = np.maximum(noise[sl] * np.maximum(intrinsic[sl], 1e-3), 1e-4)
        x = np.linspace(-1.0, 1.0, y.size)
        fit_ok = data[sl] & (noise[sl] < ASPCAP_FIT_MAX_REL_ERR)
        scale = np.sqrt(s ** 2 + ASPCAP_FIT_TOLERANCE ** 2)
        use = fit_ok.copy()
        for _ in range(n_iter):
            coef = np.polynomial.chebyshev.chebfit(x[use], y[use], order, w=1.0 / scale[use])
            fit = np.polynomial.chebyshev.chebval(x, coef)
            r = (y - fit) / scale
            new = fit_ok & (r > -1.0) & (r < 4.0)
            if new.sum() < 10 * (order + 1):
                break
            use = new
        fit = np.where(fit > 0.05, fit, 1.0)
        flux[sl] = y / fit
        err[sl] = np.where(data[sl], s, ASPCAP_NO_DATA_ERR) / fit
    return np.where(on, flux, 0.0), np.where(on, err, 0.0)
