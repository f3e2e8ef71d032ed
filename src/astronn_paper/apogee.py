"""APOGEE DR14 constants: the one place for targets, elements, grid and bits.

Facts from the SDSS DR14 data model (allStar, apStar, aspcapStar) and astroNN 1.1.0.
"""
from __future__ import annotations

from dataclasses import dataclass

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
#: Plain-text name of each target (column descriptions of the output files).
TARGET_TEXT: dict[str, str] = {"teff": "Teff", "logg": "log g",
                               **{t: f"[{t}/H]" for t in TARGETS[2:]}, "C1": "[C I/H]",
                               "Ti2": "[Ti II/H]"}
_ELEMENT_NAMES = {
    "C": "carbon", "C1": "carbon from atomic (neutral) C I lines", "N": "nitrogen",
    "O": "oxygen", "Na": "sodium", "Mg": "magnesium", "Al": "aluminium", "Si": "silicon",
    "P": "phosphorus", "S": "sulphur", "K": "potassium", "Ca": "calcium", "Ti": "titanium",
    "Ti2": "titanium from ionised Ti II lines", "V": "vanadium", "Cr": "chromium",
    "Mn": "manganese", "Fe": "iron", "Co": "cobalt", "Ni": "nickel",
}
#: What each target is, in words: the ASPCAP labels the paper trained on; an [X/H] is the
#: abundance of X relative to hydrogen in dex relative to the Sun (log10 of the number
#: ratio X/H of the star minus the Sun's).
TARGET_DESCRIPTIONS: dict[str, str] = {
    "teff": "effective temperature Teff, in K",
    "logg": "surface gravity log g: log10 of g in cm s^-2, in dex",
    **{t: f"{TARGET_TEXT[t]}: {name}, dex relative to the Sun" for t, name in _ELEMENT_NAMES.items()},
}

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


class RowRuleError(ValueError):
    """An apStar file whose number of rows fits none of the row rules."""


@dataclass(frozen=True)
class RowRule:
    """Which apStar rows hold the combined spectrum and the visits."""

    name: str
    combined: int
    visits: tuple[int, ...]


#: One line per rule, for error messages.
ROW_RULES_TEXT = ("dr14-single: NVISITS=1, 1 row; dr17-single: NVISITS=1, 2 rows; "
                  "multi: NVISITS=N>=2, N+2 rows (combined rows 0-1, visits 2..); "
                  "single-n+2: NVISITS=1, 3 rows")


def apstar_rows(nvisits, nrows) -> RowRule:
    """The row rule of an apStar file with ``nrows`` rows and ``NVISITS = nvisits``.

    The combined spectrum the chain uses is row 1 (global-weighted) when the file holds
    several visits, as in the paper, else row 0. Raises :class:`RowRuleError`.
    """
    n, r = int(nvisits), int(nrows)
    if n < 1:
        raise RowRuleError(f"NVISITS={n}: an apStar file holds at least one visit")
    if n == 1 and r == 1:
        return RowRule("dr14-single", 0, (0,))
    if n == 1 and r == 2:
        return RowRule("dr17-single", 0, (0,))
    if r == n + 2:
        if n == 1:
            return RowRule("single-n+2", 0, (2,))
        return RowRule("multi", 1, tuple(range(2, n + 2)))
    raise RowRuleError(f"{r} rows with NVISITS={n} fit no apStar row rule ({ROW_RULES_TEXT})")


def _dr14_nrows(nvisits: int) -> int:
    """Rows of a DR14 apStar file: one for a single visit, else N + 2."""
    return 1 if int(nvisits) == 1 else int(nvisits) + 2


def combined_row(nvisits: int, nrows: int | None = None) -> int:
    """Row of the apStar arrays holding the combined spectrum the paper uses
    (:func:`apstar_rows`); without ``nrows`` the DR14 layout is assumed (one row for one
    visit, else row 1, the global-weighted combination)."""
    return apstar_rows(nvisits, _dr14_nrows(nvisits) if nrows is None else nrows).combined


def visit_rows(nvisits: int, nrows: int | None = None) -> list[int]:
    """Rows of the apStar arrays holding the individual visits; ``nrows`` as in
    :func:`combined_row`."""
    return list(apstar_rows(nvisits, _dr14_nrows(nvisits) if nrows is None else nrows).visits)


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


def kept_wavelength() -> np.ndarray:
    """Vacuum wavelength (Angstrom) of the 7514 pixels the networks see (astroNN's gap-deleted
    apStar grid), float64."""
    return wavelength()[gap_delete_index()]
