"""APOGEE DR14 constants: the one place for targets, elements, grid and bits.

Facts from the SDSS DR14 data model (allStar, apStar, aspcapStar) and astroNN 1.1.0.
"""
from __future__ import annotations

import numpy as np

#: Number of rows of the DR14 allStar file (allStar-l31c.2.fits).
N_ALLSTAR_DR14 = 277_371

# --------------------------------------------------------------------------- labels
#: The 22 network targets in the paper's order, spelled as astroNN's ApogeeBCNNCensored
#: expects them (``model.targetname``).
TARGETS: tuple[str, ...] = (
    "teff", "logg", "C", "C1", "N", "O", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca",
    "Ti", "Ti2", "V", "Cr", "Mn", "Fe", "Co", "Ni",
)
#: The 20 abundance targets ([X/H]) among TARGETS.
ABUNDANCES: tuple[str, ...] = TARGETS[2:]

#: Human-readable labels for figures (LaTeX for matplotlib).
TARGET_LATEX: dict[str, str] = {
    "teff": r"$T_\mathrm{eff}$", "logg": r"$\log g$",
    **{t: rf"[{t}/H]" for t in TARGETS[2:]},
}
TARGET_LATEX.update({"C1": "[C I/H]", "Ti2": "[Ti II/H]"})
#: Units of each target.
TARGET_UNITS: dict[str, str] = {"teff": "K", "logg": "dex", **{t: "dex" for t in TARGETS[2:]}}

#: The 26 ASPCAP elements of the allStar X_H / X_H_ERR columns, in ASPCAP order.
ASPCAP_ELEMENTS: tuple[str, ...] = (
    "C", "CI", "N", "O", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca", "TI", "TiII",
    "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Ge", "Ce", "Rb", "Y", "Nd",
)
#: Target name -> ASPCAP element name (the spelling of the allStar / window bitmask).
TARGET_TO_ASPCAP: dict[str, str] = {
    **{t: t for t in ABUNDANCES}, "C1": "CI", "Ti": "TI", "Ti2": "TiII",
}
#: Target name -> column index in allStar X_H (e.g. Fe -> 17).
X_H_INDEX: dict[str, int] = {t: ASPCAP_ELEMENTS.index(TARGET_TO_ASPCAP[t]) for t in ABUNDANCES}

#: Columns of the allStar PARAM array (DR14): PARAM[:, i].
PARAM_NAMES: tuple[str, ...] = (
    "TEFF", "LOGG", "VMICRO", "M_H", "C_M", "N_M", "ALPHA_M", "VSINI", "VMACRO",
)
PARAM_INDEX: dict[str, int] = {n: i for i, n in enumerate(PARAM_NAMES)}

#: Missing-value sentinel used by allStar and astroNN.
MISSING = -9999.0

# --------------------------------------------------------------------------- wavelength grid
#: apStar wavelength grid: log10(lambda/Angstrom) = CRVAL1 + CDELT1 * i, i = 0 .. N_PIX-1.
N_PIX = 8575
CRVAL1 = 4.179
CDELT1 = 6e-6
#: Pixels left by astroNN ``gap_delete(dr=14)`` (the network's input length).
N_PIX_GAP_DELETED = 7514
#: Spectral resolving power of APOGEE.
RESOLUTION = 22_500


def wavelength(n_pix: int = N_PIX) -> np.ndarray:
    """Vacuum wavelength (Angstrom) of the apStar grid, float64."""
    return 10.0 ** (CRVAL1 + CDELT1 * np.arange(n_pix))


# --------------------------------------------------------------------------- bits
#: APOGEE_PIXMASK bit numbers (apStar HDU 3).
PIXMASK_BITS: dict[str, int] = {
    "BADPIX": 0, "CRPIX": 1, "SATPIX": 2, "UNFIXABLE": 3, "BADDARK": 4, "BADFLAT": 5,
    "BADERR": 6, "NOSKY": 7, "LITTROW_GHOST": 8, "PERSIST_HIGH": 9, "PERSIST_MED": 10,
    "PERSIST_LOW": 11, "SIG_SKYLINE": 12, "SIG_TELLURIC": 13, "NOT_ENOUGH_PSF": 14,
}
#: The bits masked (flux set to 1) by the paper's continuum normalisation.
PAPER_MASK_BITS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 12)
#: Chebyshev degree of the paper's per-chip continuum fit.
CONTINUUM_DEG = 2

#: apStar HDU indices.
APSTAR_HDU = {"flux": 1, "err": 2, "bitmask": 3, "sky": 4, "sky_err": 5, "telluric": 6,
              "telluric_err": 7, "lsf": 8, "rv": 9}


def combined_row(nvisits: int, nrows: int | None = None) -> int:
    """Row of the apStar arrays holding the combined spectrum the paper uses.

    The row rules of DR14 and DR17 live in :mod:`astronn_paper.survey.release`
    (:func:`~astronn_paper.survey.release.apstar_rows`); without ``nrows`` the DR14 layout
    is assumed (one row for one visit, else row 1, the global-weighted combination).
    """
    from astronn_paper.survey import release

    if nrows is None:
        nrows = release.apstar_nrows(nvisits, "dr14")
    return release.apstar_rows(nvisits, nrows).combined


def visit_rows(nvisits: int, nrows: int | None = None) -> list[int]:
    """Rows of the apStar arrays holding the individual visits; ``nrows`` as in
    :func:`combined_row` (rules: :func:`astronn_paper.survey.release.apstar_rows`)."""
    from astronn_paper.survey import release

    if nrows is None:
        nrows = release.apstar_nrows(nvisits, "dr14")
    return list(release.apstar_rows(nvisits, nrows).visits)


# --------------------------------------------------------------------------- ASPCAP windows
def aspcap_windows() -> dict[str, np.ndarray]:
    """Boolean ASPCAP window of each of the 20 abundance targets over the 7514 pixels.

    Read from astroNN's ``aspcap_l31c_masks.npy`` (bit k = element k in ASPCAP order).
    """
    import os

    import astroNN.data

    bits = np.load(os.path.join(os.path.dirname(astroNN.data.__file__), "aspcap_l31c_masks.npy"))
    return {t: (bits & (1 << X_H_INDEX[t])) != 0 for t in ABUNDANCES}


def continuum_pixels() -> np.ndarray:
    """astroNN's DR14 continuum pixels (boolean over the 7514 gap-deleted pixels)."""
    import os

    import astroNN.data

    return np.load(os.path.join(os.path.dirname(astroNN.data.__file__), "dr14_contmask.npy"))


def gap_delete_index() -> np.ndarray:
    """Indices into the 8575-pixel apStar grid of the 7514 pixels kept by astroNN."""
    from astroNN.apogee import gap_delete

    return gap_delete(np.arange(N_PIX, dtype=float)[None, :], dr=14)[0].astype(int)
