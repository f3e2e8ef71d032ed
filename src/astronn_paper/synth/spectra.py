"""Forward model of the intrinsic (continuum-normalised, LSF-convolved) APOGEE spectrum.

A one-layer ("Schuster-Schwarzschild") model with the physics that makes H-band spectra
informative, evaluated for many stars at once:

1. **Atmosphere scalings** (:func:`atmosphere`). The electron pressure comes from the
   Saha ionisation of the electron donors (Na, K, Ca, Al when cool; Mg, Si, Fe; H when
   hot) in an H⁻-dominated atmosphere in hydrostatic equilibrium: ``P_g P_e ∝ g`` and
   ``P_e = P_g Σ A_i x_i(T, P_e)`` (solved per star), so roughly ``P_e ∝ g^(1/3)`` and
   ``P_g ∝ g^(2/3)``. The continuum is H⁻: ``κ ∝ P_e θ^2.5 10^(0.754 θ)`` per H atom,
   θ = 5040/Teff.
2. **Line opacities** (:func:`line_opacities`), for N stars × L lines as one array:
   ``S ∝ 10^[X/H] gf 10^(−θχ) f_stage / κ``, with the Saha ionisation fraction
   ``f_stage`` (neutral or singly ionised) of each element at the star's ``P_e`` — so
   Ti II and the neutral lines of partly ionised elements carry logg — and the molecular
   balance: CO from the C + O ⇌ CO equilibrium (saturating when cool, ``K_p ∝ T^1.5
   10^(−θ D0)``), OH from the O left over, CN from the C left over times N, each
   ``∝ n_A n_B 10^(θ D0) / P_H``. Hydrogen (Brackett, n = 4 lower level at 12.75 eV)
   appears above ≈ 5500 K.
3. **Profiles** (:func:`render`): integrated opacities are dropped as sticks on a fine
   grid (3 points per apStar pixel) and convolved, in Fourier space, with per-star Voigt
   kernels — Gaussian core from thermal + microturbulent motion, Lorentzian wings from
   van der Waals broadening growing with gas pressure (``∝ P_g``, so dwarfs show
   pressure-broadened Mg/Si/Al/Fe lines) or Stark broadening for H. Emergent flux
   ``1 − D (1 − e^(−τ))`` saturates (curve of growth), then macroturbulence, the APOGEE
   LSF (R ≈ 22,500: σ ≈ 1.4 px including the pixel width) and pixel integration are
   applied by one more Fourier multiplication, and the result is sampled on the apStar
   grid, with zeros in the chip gaps.

Cost: 6 real FFTs of 26,244 points per star and a sparse matrix product; no Python loop
over stars or lines.

Simplifications (documented, deliberate): the atmosphere (P_e, P_g, κ) depends on Teff and
logg only, i.e. on a solar-scaled composition, so that each abundance acts on its own lines
(ASPCAP likewise holds the atmosphere fixed when fitting individual elements in their
windows); N₂, H₂, H₂O and partition functions are ignored; one line-forming layer.
"""
from __future__ import annotations

import functools

import numpy as np
import scipy.fft
import scipy.sparse

from astronn_paper import apogee
from astronn_paper.synth import lines as _lines

# ---------------------------------------------------------------------------- constants
#: Reference star of the line list's ``log_s_ref``.
REF_TEFF, REF_LOGG = 4500.0, 2.5
#: Fine grid: OVERSAMPLE points per apStar pixel, padded for the periodic convolution.
OVERSAMPLE = 3
N_FINE = 26_244                      # 2^2 3^8 >= 3 * 8575 + padding
PAD = (N_FINE - OVERSAMPLE * apogee.N_PIX) // 2
#: Velocity step of the fine grid, km/s.
DV_FINE = 299_792.458 * np.log(10.0) * apogee.CDELT1 / OVERSAMPLE
#: LSF Gaussian sigma in apStar pixels before pixel integration (total σ ≈ 1.4 px,
#: FWHM ≈ 3.3 px with the 1-pixel boxcar).
LSF_SIGMA_PIX = float(np.sqrt(1.4 ** 2 - 1.0 / 12.0))
#: Maximum line depth of the emergent flux (source function floor).
D_MAX = 0.93
_LOG_C_HYDRO = 1.63                  # log(P_g P_e / g): log P_g ≈ 4.2 in the reference giant
_C_KP = 7.82                         # log K_p = C + 1.5 log T − θ D0 (dyn cm^-2)
_KT_OVER_AMU = 8.254e-3              # k/amu in km^2 s^-2 K^-1
_MEAN_MASS = 40.0                    # amu, metals and molecules
_GAMMA_NARROW = 0.02                 # Lorentz HWHM (fine px) in the reference giant
_GAMMA_STRONG = 0.15
_GAMMA_H = 20.0                      # Stark HWHM (fine px) at log Pe = _LOG_PE_H_REF
_LOG_PE_H_REF = 1.0                  # (Teff 6000 K, logg 4.0)
_GAMMA_H_MAX = 60.0                  # fine px: the Stark wings stop growing once H ionises


def default_vmicro(logg: np.ndarray) -> np.ndarray:
    """Microturbulence (km/s) from logg, as ASPCAP's DR13/14 giant relation."""
    return np.clip(2.478 - 0.325 * np.asarray(logg, float), 0.5, 3.0)


def default_vmacro(teff: np.ndarray, logg: np.ndarray) -> np.ndarray:
    """Gaussian macroturbulent dispersion (km/s): larger in luminous giants."""
    teff, logg = np.broadcast_arrays(np.asarray(teff, float), np.asarray(logg, float))
    return np.clip(3.2 - 0.35 * logg, 1.2, 3.2)


# ---------------------------------------------------------------------------- physics
def _logaddexp10(a, b):
    """log10(10**a + 10**b) without overflow."""
    return np.logaddexp(np.asarray(a) * np.log(10.0), np.asarray(b) * np.log(10.0)) / np.log(10.0)


def _log_saha(teff: np.ndarray, chi_ion: float | np.ndarray, log_u_ratio: float = 0.3) -> np.ndarray:
    """log10 Φ = log10(N_II P_e / N_I) (cgs) from the Saha equation."""
    return 2.5 * np.log10(teff) - (5040.0 / teff) * chi_ion - 0.4772 + log_u_ratio


#: Electron donors of the (solar-scaled) atmosphere: low-χ Na, K, Ca, Al dominate in cool
#: stars, Mg, Si, Fe in warmer ones, H above ~7000 K.
_DONORS = ("Na", "K", "Ca", "Al", "Mg", "Si", "Fe", "H")


def _log_pe(teff: np.ndarray, logg: np.ndarray, n_iter: int = 45) -> np.ndarray:
    """Electron pressure from charge conservation with hydrostatic equilibrium.

    ``P_g P_e = C g`` (H⁻ continuum, optical depth ~1) and ``P_e = P_g Σ_i A_i x_i(P_e)``
    with the Saha ionised fraction ``x_i = Φ_i / (P_e + Φ_i)`` of each donor, solved for
    log P_e by bisection (vectorised; the residual is monotonic)."""
    log_a = np.array([_lines.LOG_EPS_SUN[e] - 12.0 for e in _DONORS])
    log_phi = np.stack([_log_saha(teff, _lines.CHI_ION[e], 0.0 if e == "H" else 0.3) for e in _DONORS],
                       axis=-1)
    lo = np.full(teff.shape, -8.0)
    hi = np.full(teff.shape, 8.0)
    for _ in range(n_iter):
        y = 0.5 * (lo + hi)
        # log Σ A_i x_i  with x_i = 1 / (1 + Pe/Φ_i)
        log_sum = np.log10(np.sum(10.0 ** (log_a - _logaddexp10(0.0, y[..., None] - log_phi)), axis=-1))
        resid = 2.0 * y - (_LOG_C_HYDRO + logg) - log_sum      # log(Pe²) − log(P_g Pe Σ)
        hi = np.where(resid > 0, y, hi)
        lo = np.where(resid > 0, lo, y)
    return 0.5 * (lo + hi)


def atmosphere(teff, logg) -> dict[str, np.ndarray]:
    """θ, log P_e, log P_g, log κ (relative H⁻ opacity per H) of the line-forming layer."""
    teff = np.asarray(teff, float)
    logg = np.asarray(logg, float)
    theta = 5040.0 / teff
    log_pe = _log_pe(teff, logg)
    log_pg = _LOG_C_HYDRO + logg - log_pe
    log_kappa = log_pe + 2.5 * np.log10(theta) + 0.754 * theta
    return {"theta": theta, "log_pe": log_pe, "log_pg": log_pg, "log_kappa": log_kappa}


def species_terms(teff, logg, xh) -> np.ndarray:
    """log10 of the per-species factor of the line opacity, (N, n_species).

    For an atom of element X in stage s: ``[X/H] + log f_s − log κ``; for molecules the
    balance described in the module docstring; for H the neutral fraction. Excitation
    (−θχ) is applied per line.
    """
    teff = np.atleast_1d(np.asarray(teff, float))
    logg = np.atleast_1d(np.asarray(logg, float))
    xh = np.atleast_2d(np.asarray(xh, float))
    atm = atmosphere(teff, logg)
    col = {t: i for i, t in enumerate(apogee.ABUNDANCES)}
    out = np.empty((teff.size, len(_lines.SPECIES)))
    # molecular balance (partial pressures per H atom)
    eps = {e: 10.0 ** (_lines.LOG_EPS_SUN[e] - 12.0 + xh[:, col[e]]) for e in ("C", "N", "O")}
    log_t = np.log10(teff)
    log_k = {m: _C_KP + 1.5 * log_t - atm["theta"] * d0 for m, d0 in _lines.D0.items()}
    q = 10.0 ** (log_k["CO"] - atm["log_pg"])
    s = eps["C"] + eps["O"] + q
    x_co = 2.0 * eps["C"] * eps["O"] / (s + np.sqrt(s * s - 4.0 * eps["C"] * eps["O"]))
    c_free = np.maximum(eps["C"] - x_co, 1e-30)
    o_free = np.maximum(eps["O"] - x_co, 1e-30)
    for i, sp in enumerate(_lines.SPECIES):
        if sp.stage == 0:
            if sp.name == "CO":
                val = np.log10(x_co)
            elif sp.name == "OH":
                val = np.log10(o_free) + atm["log_pg"] - log_k["OH"]
            else:  # CN
                val = np.log10(c_free) + np.log10(eps["N"]) + atm["log_pg"] - log_k["CN"]
            out[:, i] = val - atm["log_kappa"]
            continue
        log_ratio = (_log_saha(teff, _lines.CHI_ION[sp.element], 0.0 if sp.element == "H" else 0.3)
                     - atm["log_pe"])
        # log f_I = −log(1 + Φ/Pe), log f_II = log(Φ/Pe) − log(1 + Φ/Pe)
        log_f = -_logaddexp10(0.0, log_ratio) + (log_ratio if sp.stage == 2 else 0.0)
        if sp.element == "H":
            out[:, i] = log_f - atm["log_kappa"]
            continue
        ab = xh[:, sp.column]
        if sp.name == "C I":  # atomic C is what CO leaves free
            log_f = log_f + np.log10(c_free / eps["C"])
        out[:, i] = ab + log_f - atm["log_kappa"]
    return out


@functools.lru_cache(maxsize=1)
def _reference_terms() -> np.ndarray:
    return species_terms(np.array([REF_TEFF]), np.array([REF_LOGG]),
                         np.zeros((1, len(apogee.ABUNDANCES))))[0]


def line_opacities(teff, logg, xh, linelist: _lines.LineList | None = None,
                   species_scale: np.ndarray | None = None) -> np.ndarray:
    """Integrated line opacities (fine-grid pixels, relative to the continuum), (N, L).

    ``species_scale`` (optional, ``(len(SPECIES),)``): a multiplier of every line opacity of
    each species (a physics variant, e.g. :func:`species_scale` of the molecules; None = 1).
    """
    ll = _lines.line_list() if linelist is None else linelist
    teff = np.atleast_1d(np.asarray(teff, float))
    g = species_terms(teff, logg, xh) - _reference_terms()[None, :]
    dtheta = 5040.0 / teff - 5040.0 / REF_TEFF
    log_s = ll.log_s_ref[None, :] + g[:, ll.species] - dtheta[:, None] * ll.chi[None, :]
    if species_scale is None:
        return 10.0 ** log_s
    return 10.0 ** log_s * np.asarray(species_scale, float)[ll.species][None, :]


def species_scale(**factors: float) -> np.ndarray:
    """A ``(len(SPECIES),)`` opacity multiplier for :func:`render`'s ``species_scale``:
    1 for every species except the ones named (``"molecules"`` = CO, CN and OH; or a
    species name with spaces removed, e.g. ``CO=1.3``, ``FeI=0.5``)."""
    out = np.ones(len(_lines.SPECIES))
    names = {s.name.replace(" ", ""): i for i, s in enumerate(_lines.SPECIES)}
    for key, val in factors.items():
        if key == "molecules":
            idx = [names[m] for m in _MOLECULES]
        elif key in names:
            idx = [names[key]]
        else:
            raise ValueError(f"species_scale: unknown species {key!r}; "
                             f"use 'molecules' or one of {sorted(names)}")
        if not (np.isfinite(val) and val >= 0):
            raise ValueError(f"species_scale: {key}={val!r} must be a finite number >= 0")
        out[idx] = float(val)
    return out


#: The molecules of the model (species names).
_MOLECULES = ("CO", "CN", "OH")


# ---------------------------------------------------------------------------- profiles
@functools.lru_cache(maxsize=1)
def _placement() -> tuple[list[scipy.sparse.csr_matrix], list[np.ndarray]]:
    """Per profile class: sparse (L_c, N_FINE) linear-interpolation placement matrix and
    the indices of its lines in the line list."""
    ll = _lines.line_list()
    x = OVERSAMPLE * ll.pix + PAD
    i0 = np.floor(x).astype(int)
    fr = x - i0
    mats, idx = [], []
    for kind in (_lines.KIND_NARROW, _lines.KIND_STRONG, _lines.KIND_HYDROGEN):
        sel = np.flatnonzero(ll.kind == kind)
        n = sel.size
        rows = np.repeat(np.arange(n), 2)
        cols = np.stack([i0[sel], i0[sel] + 1], axis=1).ravel()
        vals = np.stack([1.0 - fr[sel], fr[sel]], axis=1).ravel()
        mats.append(scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(n, N_FINE)))
        idx.append(sel)
    return mats, idx


_FREQ = np.fft.rfftfreq(N_FINE)      # cycles per fine pixel


def _voigt_ft(sigma: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Fourier transform of unit-area Voigt profiles, (N, n_freq); σ, γ in fine px."""
    f = _FREQ[None, :]
    return np.exp(-2.0 * np.pi ** 2 * (sigma[:, None] * f) ** 2 - 2.0 * np.pi * gamma[:, None] * f)


def lsf_ft(sigma_extra_pix: np.ndarray | float = 0.0, lsf_scale: np.ndarray | float = 1.0) -> np.ndarray:
    """Fourier transform of LSF (width × ``lsf_scale``) ⊗ extra Gaussian ⊗ 1-pixel boxcar
    on the fine grid, (N, n_freq)."""
    sig = OVERSAMPLE * np.sqrt((LSF_SIGMA_PIX * np.atleast_1d(lsf_scale)) ** 2
                               + np.atleast_1d(sigma_extra_pix) ** 2)
    f = _FREQ[None, :]
    return np.exp(-2.0 * np.pi ** 2 * (sig[:, None] * f) ** 2) * np.sinc(OVERSAMPLE * f)


def broadening(teff, logg, vmicro=None, vmacro=None) -> dict[str, np.ndarray]:
    """Per-star Gaussian (σ) and Lorentzian (γ) widths in fine pixels for each profile
    class, and the macroturbulent σ in apStar pixels."""
    teff = np.atleast_1d(np.asarray(teff, float))
    logg = np.atleast_1d(np.asarray(logg, float))
    xi = default_vmicro(logg) if vmicro is None else np.broadcast_to(np.asarray(vmicro, float), teff.shape)
    atm = atmosphere(teff, logg)
    ref = atmosphere(np.array([REF_TEFF]), np.array([REF_LOGG]))
    sig_metal = np.sqrt(_KT_OVER_AMU * teff / _MEAN_MASS + 0.5 * xi ** 2) / DV_FINE
    sig_h = np.sqrt(_KT_OVER_AMU * teff + 0.5 * xi ** 2) / DV_FINE
    press = 10.0 ** (atm["log_pg"] - ref["log_pg"]) * (teff / REF_TEFF) ** 0.3
    gam_h = np.minimum(_GAMMA_H * 10.0 ** (0.67 * (atm["log_pe"] - _LOG_PE_H_REF)), _GAMMA_H_MAX)
    vmac = (default_vmacro(teff, logg) if vmacro is None
            else np.broadcast_to(np.asarray(vmacro, float), teff.shape))
    mac = vmac / (OVERSAMPLE * DV_FINE)
    return {"sigma": np.stack([sig_metal, sig_metal, sig_h]),
            "gamma": np.stack([_GAMMA_NARROW * press, _GAMMA_STRONG * press, gam_h]),
            "macro_pix": mac}


def _render_chunk(teff, logg, xh, vmicro, vmacro, lsf_scale, shift_pix=None,
                  species_scale=None) -> np.ndarray:
    mats, idx = _placement()
    s_all = line_opacities(teff, logg, xh, species_scale=species_scale)
    wid = broadening(teff, logg, vmicro, vmacro)
    tau_ft = None
    for c, (mat, sel) in enumerate(zip(mats, idx)):
        if sel.size == 0:
            continue
        sticks = np.asarray(mat.T.dot(s_all[:, sel].T).T)          # (N, N_FINE)
        ft = scipy.fft.rfft(sticks, axis=1) * _voigt_ft(wid["sigma"][c], wid["gamma"][c])
        tau_ft = ft if tau_ft is None else tau_ft + ft
    if shift_pix is not None:
        # shift every line by shift_pix apStar pixels (redward if > 0): a phase ramp
        tau_ft = tau_ft * np.exp(-2j * np.pi * _FREQ[None, :] * OVERSAMPLE * shift_pix[:, None])
    tau = scipy.fft.irfft(tau_ft, n=N_FINE, axis=1)
    depth = D_MAX * -np.expm1(-np.maximum(tau, 0.0))
    depth = scipy.fft.irfft(scipy.fft.rfft(depth, axis=1) * lsf_ft(wid["macro_pix"], lsf_scale),
                            n=N_FINE, axis=1)
    return 1.0 - depth[:, PAD:PAD + OVERSAMPLE * apogee.N_PIX:OVERSAMPLE]


@functools.lru_cache(maxsize=1)
def _gap_mask() -> np.ndarray:
    keep = np.zeros(apogee.N_PIX, bool)
    keep[apogee.gap_delete_index()] = True
    return keep


def render(teff, logg, xh, vmicro=None, chunk: int = 32, vmacro=None, lsf_scale=None,
           shift_pix=None, rv_kms=None, species_scale=None) -> np.ndarray:
    """Intrinsic normalised spectra on the apStar grid.

    Parameters
    ----------
    teff, logg : (N,) effective temperature (K) and log10 surface gravity (cgs).
    xh : (N, 20) true [X/H] in ``apogee.ABUNDANCES`` order. The C1 column drives the
        C I lines and the Ti2 column the Ti II line (equal to C and Ti in the truth).
    vmicro : optional (N,) microturbulence in km/s (default: :func:`default_vmicro`).
    chunk : stars per vectorised batch (memory ~ 2 MB per star in flight).
    vmacro : optional (N,) Gaussian macroturbulent dispersion, km/s
        (default: :func:`default_vmacro`).
    lsf_scale : optional (N,) multiplier of the LSF width (APOGEE's LSF differs by
        ~10 % from fibre to fibre); default 1.
    shift_pix, rv_kms : optional (N,) shifts of every line, in apStar pixels and as a
        radial velocity (km/s, ``log10(1 + v/c) / CDELT1`` pixels), added together; for
        physics variants (a line list off by a pixel, a spectrum left in the observed
        frame). Default: none (rest frame).
    species_scale : optional ``(len(lines.SPECIES),)`` multiplier of each species' line
        opacities (see :func:`species_scale`; e.g. stronger or no molecular bands).
        Default: none.

    Returns
    -------
    (N, 8575) float64, continuum = 1, LSF applied, 0 outside the pixels kept by
    ``apogee.gap_delete_index()``.
    """
    teff = np.atleast_1d(np.asarray(teff, float))
    logg = np.atleast_1d(np.asarray(logg, float))
    xh = np.atleast_2d(np.asarray(xh, float))
    n = teff.size
    if logg.shape != (n,) or xh.shape != (n, len(apogee.ABUNDANCES)):
        raise ValueError(f"render: need teff (N,), logg (N,), xh (N, {len(apogee.ABUNDANCES)}); "
                         f"got {teff.shape}, {logg.shape}, {xh.shape}")
    if not (np.all(np.isfinite(teff)) and np.all(np.isfinite(logg)) and np.all(np.isfinite(xh))):
        raise ValueError("render: non-finite labels")
    if np.any(teff < 2500) or np.any(teff > 9000):
        raise ValueError("render: Teff outside the model's range 2500-9000 K")
    vm = None if vmicro is None else np.broadcast_to(np.asarray(vmicro, float), (n,))
    vmac = None if vmacro is None else np.broadcast_to(np.asarray(vmacro, float), (n,))
    lsf = np.ones(n) if lsf_scale is None else np.broadcast_to(np.asarray(lsf_scale, float), (n,))
    shift = None
    if shift_pix is not None or rv_kms is not None:
        shift = np.zeros(n)
        if shift_pix is not None:
            shift = shift + np.broadcast_to(np.asarray(shift_pix, float), (n,))
        if rv_kms is not None:
            shift = shift + np.log10(1.0 + np.broadcast_to(np.asarray(rv_kms, float), (n,))
                                     / 299_792.458) / apogee.CDELT1
        if not np.all(np.isfinite(shift)) or np.any(np.abs(shift) > PAD / OVERSAMPLE):
            raise ValueError(f"render: line shifts must be finite and within +-{PAD // OVERSAMPLE} pixels")
    if species_scale is not None:
        species_scale = np.asarray(species_scale, float)
        if species_scale.shape != (len(_lines.SPECIES),) or not np.all(np.isfinite(species_scale)):
            raise ValueError(f"render: species_scale must be {len(_lines.SPECIES)} finite numbers")
    out = np.zeros((n, apogee.N_PIX))
    gaps = ~_gap_mask()
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        out[a:b] = _render_chunk(teff[a:b], logg[a:b], xh[a:b], None if vm is None else vm[a:b],
                                 None if vmac is None else vmac[a:b], lsf[a:b],
                                 None if shift is None else shift[a:b], species_scale)
    out[:, gaps] = 0.0
    return out


def render_one(teff: float, logg: float, xh: np.ndarray, vmicro: float | None = None) -> np.ndarray:
    """One star (convenience, and the per-star baseline of the benchmark)."""
    return render(np.array([teff]), np.array([logg]), np.asarray(xh, float)[None, :],
                  None if vmicro is None else np.array([vmicro]))[0]
