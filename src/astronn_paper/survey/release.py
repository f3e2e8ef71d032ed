"""APOGEE data releases: the DR14 and DR17 SAS layouts and apStar row rules, in one place.

Paths are relative to the mirror root (``SDSS_LOCAL_SAS_MIRROR``) and are exactly the ones
astroNN 1.1.0's ``allstar(dr=...)``, ``visit_spectra(dr=...)`` and
``combined_spectra(dr=...)`` build (``astroNN/apogee/downloader.py``); they are built here,
never through astroNN, because astroNN downloads a file it finds missing or whose checksum
differs.

=========  ==========================================================================
release    layout
=========  ==========================================================================
``dr14``   allStar ``dr14/apogee/spectro/redux/r8/stars/l31c/l31c.2/allStar-l31c.2.fits``;
           apStar ``dr14/apogee/spectro/redux/r8/stars/<TELESCOPE>/<LOCATION_ID>/apStar-r8-<ID>.fits``
           (apo1m: ``apo1m/<FIELD>/``) with ``r8_stars_<TELESCOPE>_<LOCATION_ID>.sha1sum``;
           aspcapStar ``.../stars/l31c/l31c.2/<LOCATION_ID>/aspcapStar-r8-l31c.2-<ID>.fits``
           with ``stars_l31c_l31c.2_<LOCATION_ID>.sha1sum``. Stars keyed by LOCATION_ID.
``dr17``   allStar ``dr17/apogee/spectro/aspcap/dr17/synspec_rev1/allStar-dr17-synspec_rev1.fits``;
           apStar ``dr17/apogee/spectro/redux/dr17/stars/<TELESCOPE>/<FIELD>/apStar-dr17-<ID>.fits``
           (lco25m: ``asStar-dr17-<ID>.fits``) with ``dr17_stars_<TELESCOPE>_<FIELD>.sha1sum``;
           aspcapStar ``dr17/apogee/spectro/aspcap/dr17/synspec_rev1/<TELESCOPE>/<FIELD>/aspcapStar-dr17-<ID>.fits``
           with ``dr17_synspec_<TELESCOPE>_<FIELD>.sha1sum`` (lco25m:
           ``dr17_synspec_rev1_lco25m_<FIELD>.sha1sum``). Stars keyed by TELESCOPE + FIELD.
=========  ==========================================================================

**apStar row rules** (HDUs 1-3 flux, error, PIXMASK; ``N`` = the NVISITS header keyword).
Row 0 is always a combined spectrum:

* ``dr14-single``: N = 1, one row (1-d images) - the visit is the combined spectrum (row 0).
* ``dr17-single``: N = 1, two rows - row 0 the combined spectrum (the one visit, resampled);
  row 1 is not a separate visit (the DR17 pipeline leaves it empty or fills it with an
  LSF-homogenised copy), so the visit is row 0 too.
* ``multi``: N >= 2, N + 2 rows (DR14 and DR17) - row 0 the pixel-weighted, row 1 the
  global-weighted combination (the one the paper uses), rows 2 .. N + 1 the visits.
* ``single-n+2``: N = 1 written with the N + 2 rule (three rows, as the SDSS-V pipeline
  writes them) - row 0 the combined spectrum, row 2 the visit.

Any other number of rows is a :class:`RowRuleError` naming these rules.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

#: The releases the chain reads and writes.
RELEASES: tuple[str, ...] = ("dr14", "dr17")
#: The paper's release.
DEFAULT_RELEASE = "dr14"


def check(release) -> str:
    """``"dr14"`` or ``"dr17"`` from ``release`` (``"DR17"``, ``17`` and ``"17"`` work too);
    a one-line ValueError otherwise."""
    s = str("dr14" if release is None else release).strip().lower()
    if s.isdigit():
        s = f"dr{s}"
    if s not in RELEASES:
        raise ValueError(f"unknown APOGEE release {release!r}: use one of {', '.join(RELEASES)}")
    return s


def argtype(value: str) -> str:
    """argparse ``type=`` for ``--release``: a one-line usage error for anything else."""
    try:
        return check(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def as_text(x) -> str:
    """An allStar / FITS string value as ``str`` (bytes decoded, padding stripped)."""
    return x.decode().strip() if isinstance(x, bytes) else str(x).strip()


# ============================================================================ row rules
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


def apstar_nrows(nvisits, release=DEFAULT_RELEASE) -> int:
    """Rows the pipeline of ``release`` writes for a star of ``nvisits`` visits."""
    n = int(nvisits)
    if n >= 2:
        return n + 2
    return 1 if check(release) == "dr14" else 2


def to_release_rows(a: np.ndarray, nvisits, release=DEFAULT_RELEASE) -> np.ndarray:
    """The rows of an apStar array (shape (rows, 8575), DR14 layout) laid out as ``release``
    writes them: only a single-visit DR17 star differs (two rows, the second a copy of the
    combined spectrum, standing for DR17's LSF-homogenised row of a single visit)."""
    a = np.atleast_2d(a)
    want = apstar_nrows(nvisits, release)
    if a.shape[0] == want:
        return a
    if a.shape[0] == 1 and want == 2:
        return np.concatenate([a, a], axis=0)
    raise RowRuleError(f"cannot lay out {a.shape[0]} rows of a {int(nvisits)}-visit star as "
                       f"{check(release)} ({want} rows)")


# ============================================================================ layouts
@dataclass(frozen=True)
class Layout:
    """The SAS layout of one release (all paths relative to the mirror root)."""

    name: str
    dr: int
    allstar_relpath: str

    def folder_key(self, telescope, location_id, field) -> tuple[str, str]:
        """(TELESCOPE, folder) of a star's apStar folder: how the release keys stars."""
        raise NotImplementedError

    def apstar_relpath(self, apogee_id, telescope="apo25m", location_id=None, field=None) -> str:
        raise NotImplementedError

    def apstar_sha1sum_name(self, telescope="apo25m", location_id=None, field=None) -> str:
        raise NotImplementedError

    def aspcapstar_relpath(self, apogee_id, telescope="apo25m", location_id=None, field=None) -> str:
        raise NotImplementedError

    def aspcapstar_sha1sum_name(self, telescope="apo25m", location_id=None, field=None) -> str:
        raise NotImplementedError

    def apfield_name(self, telescope, location_id, field) -> str:
        """File name of the field summary beside the apStar files."""
        return f"apField-{self.folder_key(telescope, location_id, field)[1]}.fits"

    def aspcapfield_name(self, telescope, location_id, field) -> str:
        raise NotImplementedError

    def apstar_nrows(self, nvisits) -> int:
        return apstar_nrows(nvisits, self.name)


class _DR14(Layout):
    REDUX = "dr14/apogee/spectro/redux/r8/stars"

    def folder_key(self, telescope, location_id, field):
        tel = as_text(telescope)
        return tel, (as_text(field) if tel == "apo1m" else str(int(location_id)))

    def apstar_relpath(self, apogee_id, telescope="apo25m", location_id=None, field=None):
        tel, folder = self.folder_key(telescope, location_id, field)
        return f"{self.REDUX}/{tel}/{folder}/apStar-r8-{as_text(apogee_id)}.fits"

    def apstar_sha1sum_name(self, telescope="apo25m", location_id=None, field=None):
        tel, folder = self.folder_key(telescope, location_id, field)
        return f"r8_stars_{tel}_{folder}.sha1sum"

    def aspcapstar_relpath(self, apogee_id, telescope="apo25m", location_id=None, field=None):
        return f"{self.REDUX}/l31c/l31c.2/{int(location_id)}/aspcapStar-r8-l31c.2-{as_text(apogee_id)}.fits"

    def aspcapstar_sha1sum_name(self, telescope="apo25m", location_id=None, field=None):
        return f"stars_l31c_l31c.2_{int(location_id)}.sha1sum"

    def aspcapfield_name(self, telescope, location_id, field):
        return f"aspcapField-{int(location_id)}.fits"


class _DR17(Layout):
    REDUX = "dr17/apogee/spectro/redux/dr17/stars"
    ASPCAP = "dr17/apogee/spectro/aspcap/dr17/synspec_rev1"

    def folder_key(self, telescope, location_id, field):
        return as_text(telescope), as_text(field)

    def apstar_relpath(self, apogee_id, telescope="apo25m", location_id=None, field=None):
        tel, fld = self.folder_key(telescope, location_id, field)
        prefix = "asStar" if tel == "lco25m" else "apStar"  # LCO files are asStar-*
        return f"{self.REDUX}/{tel}/{fld}/{prefix}-dr17-{as_text(apogee_id)}.fits"

    def apstar_sha1sum_name(self, telescope="apo25m", location_id=None, field=None):
        tel, fld = self.folder_key(telescope, location_id, field)
        return f"dr17_stars_{tel}_{fld}.sha1sum"

    def aspcapstar_relpath(self, apogee_id, telescope="apo25m", location_id=None, field=None):
        tel, fld = self.folder_key(telescope, location_id, field)
        return f"{self.ASPCAP}/{tel}/{fld}/aspcapStar-dr17-{as_text(apogee_id)}.fits"

    def aspcapstar_sha1sum_name(self, telescope="apo25m", location_id=None, field=None):
        tel, fld = self.folder_key(telescope, location_id, field)
        # as astroNN 1.1.0 expects: synspec_rev1 re-ran only lco25m
        return f"dr17_synspec_rev1_{tel}_{fld}.sha1sum" if tel == "lco25m" else f"dr17_synspec_{tel}_{fld}.sha1sum"

    def aspcapfield_name(self, telescope, location_id, field):
        return f"aspcapField-{self.folder_key(telescope, location_id, field)[1]}.fits"


DR14 = _DR14("dr14", 14, f"{_DR14.REDUX}/l31c/l31c.2/allStar-l31c.2.fits")
DR17 = _DR17("dr17", 17, f"{_DR17.ASPCAP}/allStar-dr17-synspec_rev1.fits")
_LAYOUTS = {"dr14": DR14, "dr17": DR17}


def layout(release=DEFAULT_RELEASE) -> Layout:
    """The :class:`Layout` of ``release`` (``"dr14"`` or ``"dr17"``)."""
    return _LAYOUTS[check(release)]


# ============================================================================ headers
_MISSING = -9999.0  # FITS headers cannot hold NaN
#: Keywords of a DR14 apStar primary header that DR17 files do not carry.
_DR14_ONLY = ("TELESCOP", "LOCID")


def apstar_header(header: dict, release=DEFAULT_RELEASE, row=None) -> dict:
    """The primary header of an apStar file of ``release`` from a DR14-style header dict.

    DR17 (keywords of real DR17 apStar files): no TELESCOP / LOCID (stars are keyed by the
    folder's TELESCOPE and FIELD); FIELD, OBJID, NVISITS, SNR, SNREV, RA, DEC, GLON, GLAT,
    J/H/K with errors, AKTARG, APTARG1/2, AP2TARG1-4, STARFLAG, ANDFLAG, N_COMP, VHELIO,
    VSCATTER, VERR, VERR_MED, RV_TEFF/LOGG/FEH, MEANFIB, SIGFIB, NRES, then per visit n:
    SFILEn, DATEn, JDn, FIBERn, VHELIOn, SNRVISn, FLAGn. ``row`` (the allStar row) fills what
    the DR14 header lacks.
    """
    if check(release) == "dr14":
        return dict(header)
    h = {k: v for k, v in header.items() if k not in _DR14_ONLY}
    if "ORIGIN" in h:
        h["ORIGIN"] = f"{h['ORIGIN']}, DR17 layout"
    nv = int(h.get("NVISITS", 1))
    if row is not None:
        def get(name, default):
            return row[name] if name in row.dtype.names else default

        extra = {
            "GLON": float(get("GLON", _MISSING)), "GLAT": float(get("GLAT", _MISSING)),
            "AKTARG": float(get("AK_TARG", _MISSING)),
            "APTARG1": int(get("APOGEE_TARGET1", 0)), "APTARG2": int(get("APOGEE_TARGET2", 0)),
            "AP2TARG1": 0, "AP2TARG2": 0, "AP2TARG3": 0, "AP2TARG4": 0,
            "VERR_MED": float(get("VERR_MED", get("VERR", _MISSING))),
        }
        for k, v in extra.items():
            h.setdefault(k, v)
    h.setdefault("SNREV", h.get("SNR", _MISSING))
    h.setdefault("N_COMP", 1)
    h.setdefault("MEANFIB", 150.0)
    h.setdefault("SIGFIB", 0.0)
    h.setdefault("NRES", " 5.00 4.25 3.50")
    oid = as_text(h.get("OBJID", ""))
    for i in range(1, nv + 1):
        h.setdefault(f"SFILE{i}", f"apVisit-dr17-synthetic-{56000 + 30 * (i - 1)}-{oid}.fits")
        h.setdefault(f"DATE{i}", "")
        h.setdefault(f"JD{i}", 2456000.5 + 30.0 * (i - 1))
        h.setdefault(f"FIBER{i}", 150)
        h.setdefault(f"VHELIO{i}", float(h.get("VHELIO", _MISSING)))
        h.setdefault(f"FLAG{i}", int(h.get("STARFLAG", 0)))
    return h
