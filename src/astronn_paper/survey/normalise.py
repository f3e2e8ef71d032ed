"""Spectrum normalisation of the paper, shared by ``compile`` and ``predict``.

Two normalisations of a batch of apStar-grid spectra (N, 8575) into the network's input
(N, 7514), both vectorised over the batch:

* :func:`continuum` - the paper's own: astroNN's ``apogee_continuum`` with the paper's
  settings (a degree-2 Chebyshev polynomial fitted per chip to astroNN's DR14 continuum
  pixels, weighted by the inverse variance; pixels flagged with the PIXMASK bits
  :data:`~astronn_paper.apogee.PAPER_MASK_BITS` (0-7, 12) set to flux 1 and error 1);
* :func:`aspcap` - the ASPCAP pseudo-continuum normalised aspcapStar spectra, gap-deleted
  (the comparison of the paper's Section 5.4); aspcapStar files carry no bitmask but inflate
  the error of bad pixels, so pixels with an error above :data:`ASPCAP_BAD_ERR` (or none)
  are set to flux 1 and error 1, as the flagged pixels of :func:`continuum` are.

Before normalising, every spectrum is checked (:func:`check`); a bad one gives a
:class:`~astronn_paper.survey.source.SpectrumError` whose ``reason`` says why:

===============  =====================================================================
``bad_layout``   wrong shape (not 8575 pixels, or flux/err/bitmask shapes differ)
``nonfinite``    NaN or inf flux/error in an unmasked pixel or a continuum pixel
``all_masked``   every pixel masked, an all-zero flux, or a chip with fewer than
                 :data:`MIN_CONTINUUM_PIXELS` unmasked continuum pixels
``bad_error``    zero or negative error in an unmasked pixel
===============  =====================================================================

After normalising, :func:`normalise_batch` also rejects a spectrum whose normalisation
failed (:func:`failed_normalisation`, reason ``failed_normalisation``): a continuum fit that
crosses zero or leaves the spectrum far from 1.

:func:`continuum` and :func:`aspcap` raise on the first bad spectrum;
:func:`normalise_batch` normalises the good ones and returns the errors of the others, so
that a compile can skip bad stars and report them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from astronn_paper import apogee
from astronn_paper.survey.types import SpectrumError

#: A chip needs at least this many unmasked continuum pixels for its degree-2 fit to be
#: meaningful (astroNN's DR14 continuum has 241 / 108 / 180 pixels on the blue / green /
#: red chip).
MIN_CONTINUUM_PIXELS = 10

#: Flux and error given to masked pixels (astroNN's ``mask_value``; the paper's choice).
MASK_VALUE = 1.0

METHODS = ("continuum", "aspcap")

#: aspcapStar pixels whose error (in normalised flux) exceeds this, or is not positive, are
#: masked: good pixels of a spectrum with SNR > 10 have errors below 0.1.
ASPCAP_BAD_ERR = 0.3


@lru_cache(maxsize=1)
def _layout() -> tuple[np.ndarray, np.ndarray, tuple[slice, slice, slice]]:
    """(kept-pixel index into 8575, continuum mask over 7514, chip slices over 7514)."""
    from astroNN.apogee.chips import chips_pix_info

    info = chips_pix_info(dr=14)
    n_b, n_g = info[1] - info[0], info[3] - info[2]
    chips = (slice(0, n_b), slice(n_b, n_b + n_g), slice(n_b + n_g, info[6]))
    return apogee.gap_delete_index(), apogee.continuum_pixels(), chips


def mask_of(bitmask: np.ndarray | None, bits=apogee.PAPER_MASK_BITS) -> np.ndarray | None:
    """Boolean mask of pixels flagged with any of ``bits`` (same shape as ``bitmask``;
    astroNN's ``bitmask_boolean``)."""
    if bitmask is None:
        return None
    from astroNN.apogee import bitmask_boolean

    bitmask = np.asarray(bitmask).astype(np.int64)
    return bitmask_boolean(bitmask, list(bits)).reshape(bitmask.shape)


def _as_batch(name: str, a, n_pix: int = apogee.N_PIX) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != n_pix:
        raise SpectrumError(
            "bad_layout",
            f"{name} has shape {np.shape(a)}; expected (N, {n_pix}) on the apStar grid "
            f"(log10 lambda = {apogee.CRVAL1} + {apogee.CDELT1} i)",
        )
    return a


def check(flux, err, bitmask=None, *, method: str = "continuum") -> list[SpectrumError | None]:
    """Validate a batch: one ``SpectrumError`` (or None when fine) per spectrum.

    Raises ``SpectrumError('bad_layout')`` for the whole batch when the shapes are wrong.
    Only the 7514 pixels the network sees are checked (the chip gaps are ignored).
    """
    flux = _as_batch("flux", flux)
    err = _as_batch("err", err)
    if err.shape != flux.shape or (bitmask is not None and np.shape(bitmask) != flux.shape
                                   and np.shape(bitmask) != flux.shape[1:]):
        raise SpectrumError("bad_layout", f"flux {flux.shape}, err {err.shape} and bitmask "
                            f"{np.shape(bitmask)} must have the same shape")
    keep, cont, chips = _layout()
    f, e = flux[:, keep], err[:, keep]
    masked = np.zeros(f.shape, bool) if bitmask is None else mask_of(
        np.broadcast_to(np.asarray(bitmask), flux.shape)[:, keep])
    used = ~masked | cont[None, :] if method == "continuum" else np.ones_like(masked)
    bad_value = ~(np.isfinite(f) & np.isfinite(e)) & used
    with np.errstate(invalid="ignore"):
        bad_err = (e <= 0) & ~masked
    n_cont = [((~masked[:, c]) & cont[c]).sum(axis=1) for c in chips]

    out: list[SpectrumError | None] = []
    for i in range(f.shape[0]):
        if bad_value[i].any():
            out.append(SpectrumError(
                "nonfinite", f"{bad_value[i].sum()} pixels with NaN/inf flux or error "
                f"(first at gap-deleted pixel {np.argmax(bad_value[i])})"))
        elif masked[i].all():
            out.append(SpectrumError("all_masked", "every pixel is flagged with a masked "
                                     f"PIXMASK bit {list(apogee.PAPER_MASK_BITS)}"))
        elif not np.any(f[i][~masked[i]]):
            out.append(SpectrumError("all_masked", "the flux is zero in every unmasked pixel"))
        elif method == "continuum" and min(n[i] for n in n_cont) < MIN_CONTINUUM_PIXELS:
            counts = ", ".join(f"{chip} {int(n[i])}" for chip, n in zip(("blue", "green", "red"), n_cont))
            out.append(SpectrumError("all_masked", "too few unmasked continuum pixels for the "
                                     f"per-chip fit ({counts}; need {MIN_CONTINUUM_PIXELS})"))
        elif method == "continuum" and bad_err[i].any():
            out.append(SpectrumError(
                "bad_error", f"{bad_err[i].sum()} unmasked pixels with zero or negative error"))
        else:
            out.append(None)
    return out


def _continuum_unchecked(flux, err, bitmask) -> tuple[np.ndarray, np.ndarray]:
    from astroNN.apogee import apogee_continuum

    _, cont, _ = _layout()
    spec, spec_err = apogee_continuum(
        np.asarray(flux, dtype=np.float32), np.asarray(err, dtype=np.float32),
        cont_mask=cont, deg=apogee.CONTINUUM_DEG, dr=14,
        bitmask=None if bitmask is None else np.asarray(bitmask).astype(np.int64),
        target_bit=list(apogee.PAPER_MASK_BITS), mask_value=MASK_VALUE,
    )
    return spec.astype(np.float32, copy=False), spec_err.astype(np.float32, copy=False)


def _aspcap_unchecked(flux, err, bitmask) -> tuple[np.ndarray, np.ndarray]:
    from astroNN.apogee import gap_delete

    spec = gap_delete(np.asarray(flux, dtype=np.float32), dr=14).astype(np.float32)
    spec_err = gap_delete(np.asarray(err, dtype=np.float32), dr=14).astype(np.float32)
    m = ~(spec_err > 0) | (spec_err > ASPCAP_BAD_ERR)
    if bitmask is not None:
        m |= mask_of(gap_delete(np.asarray(bitmask).astype(np.int64), dr=14))
    spec[m] = MASK_VALUE
    spec_err[m] = MASK_VALUE
    return spec, spec_err


_IMPL = {"continuum": _continuum_unchecked, "aspcap": _aspcap_unchecked}


def _strict(method, flux, err, bitmask):
    for i, problem in enumerate(check(flux, err, bitmask, method=method)):
        if problem is not None:
            raise SpectrumError(problem.reason, f"spectrum {i}: {problem}")
    return _IMPL[method](_as_batch("flux", flux), _as_batch("err", err),
                         None if bitmask is None else np.atleast_2d(bitmask))


def continuum(flux, err, bitmask=None) -> tuple[np.ndarray, np.ndarray]:
    """The paper's continuum normalisation of apStar spectra.

    ``flux``, ``err``, ``bitmask``: (N, 8575) or (8575,) arrays on the apStar grid (the
    bitmask is the PIXMASK of apStar HDU 3; None masks nothing). Returns ``(spec,
    spec_err)``, float32 (N, 7514). Raises :class:`SpectrumError` for the first bad
    spectrum (use :func:`normalise_batch` to skip bad ones instead).
    """
    return _strict("continuum", flux, err, bitmask)


def aspcap(flux, err, bitmask=None) -> tuple[np.ndarray, np.ndarray]:
    """ASPCAP-normalised aspcapStar spectra (N, 8575) -> gap-deleted float32 (N, 7514).

    Pixels with an error above :data:`ASPCAP_BAD_ERR` or not positive, and with a ``bitmask``
    (the apStar PIXMASK) the flagged pixels, are set to flux 1 and error 1 as in
    :func:`continuum`.
    """
    return _strict("aspcap", flux, err, bitmask)


@dataclass
class Normalised:
    """Result of :func:`normalise_batch`: the good spectra and why the others failed."""

    spec: np.ndarray            # (n_good, 7514) float32
    err: np.ndarray             # (n_good, 7514) float32
    good: np.ndarray            # (N,) bool, which input rows are in ``spec``
    errors: dict[int, SpectrumError] = field(default_factory=dict)  # input row -> problem


#: A continuum-normalised H-band spectrum of a star lies below its continuum: absorption lines
#: reach down to ~0.2 and the continuum scatters about 1 with the noise; nothing in a late-type
#: star's APOGEE spectrum rises to 1.5 (sky lines and persistence are masked by PIXMASK).
#: An unmasked pixel counts as out of range when it lies more than :data:`OUT_OF_RANGE_SIGMA`
#: of its own error above :data:`MAX_NORMALISED_FLUX` or below 0.
MAX_NORMALISED_FLUX = 1.5
OUT_OF_RANGE_SIGMA = 3.0
#: A spectrum with more than this fraction of its unmasked pixels out of range failed its
#: normalisation (a noisy good spectrum has ~0.1 % of its pixels beyond 3 sigma by chance).
MAX_OUT_OF_RANGE_FRACTION = 0.01


def failed_normalisation(spec: np.ndarray, spec_err: np.ndarray) -> list[SpectrumError | None]:
    """Normalised spectra (N, 7514) whose normalisation failed: a ``SpectrumError`` (reason
    ``failed_normalisation``) or None per spectrum.

    Failed when an unmasked pixel has a non-positive or non-finite normalised error (the
    continuum fit crossed zero), or when more than :data:`MAX_OUT_OF_RANGE_FRACTION` of the
    unmasked pixels lie more than :data:`OUT_OF_RANGE_SIGMA` errors above
    :data:`MAX_NORMALISED_FLUX` or below zero. Masked pixels (flux and error
    :data:`MASK_VALUE`) are ignored.
    """
    f, e = np.atleast_2d(spec), np.atleast_2d(spec_err)
    unmasked = ~((f == MASK_VALUE) & (e == MASK_VALUE))
    with np.errstate(invalid="ignore"):
        bad_err = unmasked & ~(np.isfinite(e) & (e > 0) & np.isfinite(f))
        beyond = ((f - MAX_NORMALISED_FLUX) > OUT_OF_RANGE_SIGMA * e) | (f < -OUT_OF_RANGE_SIGMA * e)
    n_bad_err = bad_err.sum(axis=1)
    frac = (beyond & unmasked & ~bad_err).sum(axis=1) / np.maximum(unmasked.sum(axis=1), 1)
    out: list[SpectrumError | None] = []
    for i in range(f.shape[0]):
        if n_bad_err[i]:
            out.append(SpectrumError(
                "failed_normalisation", f"{int(n_bad_err[i])} unmasked pixels with a "
                "non-positive or non-finite error after normalisation (the continuum fit "
                "crosses zero)"))
        elif frac[i] > MAX_OUT_OF_RANGE_FRACTION:
            out.append(SpectrumError(
                "failed_normalisation", f"{frac[i]:.1%} of the unmasked pixels lie more than "
                f"{OUT_OF_RANGE_SIGMA:g} sigma above {MAX_NORMALISED_FLUX} or below 0 after "
                f"normalisation (normalised flux {np.nanmin(f[i]):.3g} to {np.nanmax(f[i]):.3g}); "
                f"allowed {MAX_OUT_OF_RANGE_FRACTION:.0%}"))
        else:
            out.append(None)
    return out


def normalise_batch(flux, err, bitmask=None, method: str = "continuum") -> Normalised:
    """Normalise the valid spectra of a batch, collecting a ``SpectrumError`` per bad one
    (checks before normalising, :func:`check`, and after it, :func:`failed_normalisation`)."""
    if method not in _IMPL:
        raise ValueError(f"unknown normalisation {method!r}; choose one of {METHODS}")
    flux, err = _as_batch("flux", flux), _as_batch("err", err)
    problems = check(flux, err, bitmask, method=method)
    good = np.array([p is None for p in problems], dtype=bool)
    errors = {i: p for i, p in enumerate(problems) if p is not None}
    if good.any():
        bm = None if bitmask is None else np.broadcast_to(np.asarray(bitmask), flux.shape)[good]
        spec, spec_err = _IMPL[method](flux[good], err[good], bm)
        rows = np.flatnonzero(good)
        failed = failed_normalisation(spec, spec_err)
        ok = np.array([p is None for p in failed], dtype=bool)
        for k, problem in zip(rows, failed):
            if problem is not None:
                errors[int(k)] = problem
                good[k] = False
        spec, spec_err = spec[ok], spec_err[ok]
    else:
        spec = spec_err = np.empty((0, apogee.N_PIX_GAP_DELETED), np.float32)
    return Normalised(spec, spec_err, good, errors)
