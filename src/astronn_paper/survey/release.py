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

**allStar of each release** (:func:`chain_view_dr17`, :class:`AllStarFormatError`). The chain
reads the allStar through the DR14 column names the paper's code used (``PARAM``, ``X_H`` in
DR14's element order, ``STARFLAG``, ...): a DR14 file as it is, a DR17 file through its *chain
view*, built from DR17's own columns by name (the table ``DR17 allStar`` below). A file that
lacks a column its release's data model has and the chain reads is refused in one line naming
the column and the release it was read as.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from astronn_paper import apogee
from astronn_paper.apogee import ROW_RULES_TEXT, RowRule, RowRuleError, apstar_rows  # noqa: F401
from astronn_paper.survey.types import SpectrumError

#: The releases the chain reads and writes.
RELEASES: tuple[str, ...] = ("dr14", "dr17")
#: The paper's release.
DEFAULT_RELEASE = "dr14"


def check(release) -> str:
    """``"dr14"`` or ``"dr17"`` from ``release`` (``"DR17"``, ``17`` and ``"17"`` work too);
    a one-line ValueError otherwise."""
    s = str(DEFAULT_RELEASE if release is None else release).strip().lower()
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
# RowRule, RowRuleError, ROW_RULES_TEXT and apstar_rows live in astronn_paper.apogee (the
# apStar layout, beneath every stage); imported here as part of this module's API.


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


# ============================================================================ allStar
# DR17 allStar (allStar-dr17-synspec_rev1.fits), from these sources (letters used below):
#
# [DM] the SDSS data model of allStar, release DR17:
#      https://data.sdss.org/datamodel/files/APOGEE_ASPCAP/APRED_VERS/ASPCAP_VERS/allStar.html
#      (read in its machine-readable form, datamodel/products/yaml/allStar.yaml of
#      github.com/sdss/datamodel, commit b90b518): HDUs, column names, types and order.
# [BM] the DR17 bitmasks, https://www.sdss4.org/dr17/irspec/apogee-bitmasks/ (APOGEE_STARFLAG,
#      APOGEE_ASPCAPFLAG, APOGEE_PARAMFLAG); its names, bits and texts are those of
#      python/apogee/utils/bitmask.py of github.com/sdss/apogee (commit e134409), which also
#      gives each bit's level (BAD or WARN).
# [TB] EXTRATARG, https://www.sdss4.org/dr17/irspec/targettingbits/ ("If no bits in EXTRATARG
#      are set, then this star meets the criteria for the Main Red Star Sample"); its bits as
#      ExtratargBitMask of the same bitmask.py gives them (DUPLICATE: "Non-primary (not highest
#      S/N) duplicate").
# [AB] https://www.sdss4.org/dr17/irspec/abundances/: DR17 releases 20 species (C, C I, N, O,
#      Na, Mg, Al, Si, S, K, Ca, Ti, Ti II, V, Cr, Mn, Fe, Co, Ni, Ce); Ge, Rb, Yb were not
#      attempted; P, Cu, Nd and 13C were attempted and judged unsuccessful.
# [PL] the DR17 pipeline, github.com/sdss/apogee (commit e134409): aspcap.py ``elems()`` and
#      ``params()`` (what HDU 3's ELEM_SYMBOL, ELEMTOH and PARAM_SYMBOL hold), allstar.py
#      ``add_named_tags`` (how the named columns are filled) and ``add_extratarg`` (the
#      duplicate rule).
#
# What the data model does *not* say, and how this module deals with it:
# * the element order of X_H / X_H_ERR: [DM] only says "in order given in ELEM_SYMBOL array in
#   HDU3". The reader therefore takes the order from the file's own HDU 3; DR17_ELEM_SYMBOL
#   below ([PL]) is only what the synthetic export writes.
# * the missing-value sentinel: DR14 wrote -9999; the DR17 pipeline fills NaN ([PL]). The
#   reader turns both into the chain's -9999.
# * which LOCATION_ID an apo1m row carries (the paper's apo1m cut is LOCATION_ID > 1): not
#   said; EXTRATARG bit 3 (APO1M) exists but the chain keeps the DR14 cut.
# * the content of HDU 2 (an int64 image of 360 values) and HDU 4 (TELESCOPE, FIELD,
#   APOGEE_VERS): not described; the export writes zeros and the fields of the survey.
#
# =========  ==========================================================================
# DR17       allStar facts (source)
# =========  ==========================================================================
# HDUs       0 primary (VERSION); 1 the table; 2 int64 image (360); 3 one row: WAVE (7514),
#            PARAM_SYMBOL (9), ELEM_SYMBOL (27), ELEMTOH (27), ELEM_VALUE (27), GRIDS; 4 table
#            TELESCOPE, FIELD, APOGEE_VERS [DM]
# keys       TELESCOPE char[6] + FIELD char[20] (and LOCATION_ID int32); APOGEE_ID char[30] [DM]
# X_H        X_H, X_H_ERR, X_M, X_M_ERR, FELEM: float32[27] "in order given in ELEM_SYMBOL
#            array in HDU3" [DM]; ELEM_SYMBOL = C CI N O Na Mg Al Si P S K Ca Ti TiII V Cr Mn
#            Fe Co Ni Cu Ge Rb Ce Nd Yb C13 [PL]. DR14: 26, ... Cu Ge Ce Rb Y Nd.
# named      <X>_FE (FE_H for iron) with _SPEC, _ERR, _FLAG for C CI N O NA MG AL SI P S K CA
#            TI TIII V CR MN FE CO NI CU CE YB; none for Ge, Rb, Nd, C13 [DM]. [X/Fe] =
#            X_H[X] - X_H[Fe], _ERR = X_H_ERR[X], _FLAG = ELEMFLAG[X]; filled only where
#            ASPCAPFLAG has no BAD bit (nor CHI2_BAD) and neither the element's nor iron's
#            ELEMFLAG has a PARAMFLAG BAD bit, NaN elsewhere [PL]. So [X/H] = [X/Fe] + [Fe/H].
# params     TEFF, TEFF_ERR, LOGG, LOGG_ERR, M_H, M_H_ERR, ALPHA_M, ALPHA_M_ERR, VMICRO, VMACRO,
#            VSINI [DM], filled under the same ASPCAPFLAG rule [PL]; PARAM / FPARAM float32[9]
#            in PARAM_SYMBOL order [DM] = TEFF LOGG LOGVMICRO M_H C_M N_M ALPHA_M LGVSINI
#            PARAM_O [PL]
# flags      STARFLAG, ANDFLAG, ASPCAPFLAG int64; PARAMFLAG int64[9]; ELEMFLAG int64[27];
#            EXTRATARG int32 [DM]; bits: DR17_STARFLAG_BITS, DR17_ASPCAPFLAG_BITS,
#            DR17_PARAMFLAG_BAD, DR17_EXTRATARG_BITS below [BM, TB]
# duplicate  EXTRATARG bit 4 DUPLICATE: "Non-primary (not highest S/N) duplicate" [TB]; the
#            pipeline sets it on every row of an APOGEE_ID but the one of highest SNR [PL]
# no spectra rows with NVISITS = 0 (no good visit: STARFLAG RV_FAIL) [PL]
# =========  ==========================================================================
#
# The paper's cuts on DR17 (how the chain reads a DR17 file, :func:`chain_view_dr17`): Teff,
# log g and the 20 [X/H] are taken by name - TEFF, LOGG, and for [X/H] the X_H entry the file's
# ELEM_SYMBOL names (without HDU 3: <X>_FE + FE_H) - and are -9999 where DR17 has no value or
# flags it: NaN, a BAD bit of ASPCAPFLAG (DR17 then empties the named columns), a PARAMFLAG BAD
# bit in <X>_FE_FLAG, or an empty <X>_FE beside a published FE_H. "STARFLAG == 0 and
# ASPCAPFLAG == 0" test DR17's own bits (the paper cut any flagged star; DR17 defines bits DR14
# lacked, such as SPEC_HOLE_WARN or MTPFLUX_LT_75, and a star with any of them is cut too). A row
# DR17 marks as a non-primary duplicate (EXTRATARG bit 4) or lists without spectrum
# (NVISITS = 0) passes the cuts as it would in DR14 but is skipped when its spectra are read
# (reason ``duplicate`` / ``missing_file``, :meth:`MirrorSource.set_aside
# <astronn_paper.survey.mirror.MirrorSource.set_aside>`), so that the paper's seeded subsets of
# the cuts stay the same stars in both releases.

#: DR17 ELEM_SYMBOL (allStar HDU 3) as the DR17 pipeline writes it [PL].
DR17_ELEM_SYMBOL: tuple[str, ...] = (
    "C", "CI", "N", "O", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca", "Ti", "TiII", "V", "Cr",
    "Mn", "Fe", "Co", "Ni", "Cu", "Ge", "Rb", "Ce", "Nd", "Yb", "C13",
)
#: ELEMTOH: 1 where FELEM is relative to H, 0 where to M [DM, PL].
DR17_ELEMTOH: tuple[int, ...] = (0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                 1, 1, 1, 1, 0)
#: PARAM_SYMBOL (order of PARAM / FPARAM) [PL].
DR17_PARAM_SYMBOL: tuple[str, ...] = ("TEFF", "LOGG", "LOGVMICRO", "M_H", "C_M", "N_M", "ALPHA_M",
                                      "LGVSINI", "PARAM_O")
#: The elements with named columns in DR17 [DM], in the data model's column order.
DR17_NAMED_ELEMENTS: tuple[str, ...] = (
    "C", "CI", "N", "O", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca", "Ti", "TiII", "V", "Cr",
    "Mn", "Fe", "Co", "Ni", "Cu", "Ce", "Yb",
)

#: APOGEE_STARFLAG bits of DR17 [BM].
DR17_STARFLAG_BITS: dict[str, int] = {
    "BAD_PIXELS": 0, "COMMISSIONING": 1, "BRIGHT_NEIGHBOR": 2, "VERY_BRIGHT_NEIGHBOR": 3,
    "LOW_SNR": 4, "PERSIST_HIGH": 9, "PERSIST_MED": 10, "PERSIST_LOW": 11, "PERSIST_JUMP_POS": 12,
    "PERSIST_JUMP_NEG": 13, "SUSPECT_RV_COMBINATION": 16, "SUSPECT_BROAD_LINES": 17,
    "BAD_RV_COMBINATION": 18, "RV_REJECT": 19, "RV_SUSPECT": 20, "MULTIPLE_SUSPECT": 21,
    "RV_FAIL": 22, "SUSPECT_ROTATION": 23, "MTPFLUX_LT_75": 24, "MTPFLUX_LT_50": 25,
}
#: APOGEE_ASPCAPFLAG bits of DR17 [BM].
DR17_ASPCAPFLAG_BITS: dict[str, int] = {
    "TEFF_WARN": 0, "LOGG_WARN": 1, "VMICRO_WARN": 2, "M_H_WARN": 3, "ALPHA_M_WARN": 4,
    "C_M_WARN": 5, "N_M_WARN": 6, "STAR_WARN": 7, "CHI2_WARN": 8, "COLORTE_WARN": 9,
    "ROTATION_WARN": 10, "SN_WARN": 11, "SPEC_HOLE_WARN": 12, "ATMOS_HOLE_WARN": 13,
    "VSINI_WARN": 14, "TEFF_BAD": 16, "LOGG_BAD": 17, "VMICRO_BAD": 18, "M_H_BAD": 19,
    "ALPHA_M_BAD": 20, "C_M_BAD": 21, "N_M_BAD": 22, "STAR_BAD": 23, "CHI2_BAD": 24,
    "COLORTE_BAD": 25, "ROTATION_BAD": 26, "SN_BAD": 27, "SPEC_HOLE_BAD": 28, "ATMOS_HOLE_BAD": 29,
    "VSINI_BAD": 30, "NO_ASPCAP_RESULT": 31, "MISSING_APSTAR": 32, "NO_GRID": 33,
    "BAD_FRAC_LOWSNR": 34, "BAD_FRAC_BADPIX": 35, "FERRE_FAIL": 36, "PROBLEM_TARGET": 40,
    "MULTIPLE_SUSPECT": 41,
}
#: ASPCAPFLAG bits of BAD level [BM, PL] and CHI2_BAD: where any is set the DR17 pipeline
#: leaves the named parameter and abundance columns empty (NaN) [PL].
DR17_ASPCAPFLAG_BAD: tuple[str, ...] = (
    "TEFF_BAD", "LOGG_BAD", "STAR_BAD", "CHI2_BAD", "COLORTE_BAD", "ROTATION_BAD",
    "SPEC_HOLE_BAD", "NO_ASPCAP_RESULT", "MISSING_APSTAR", "NO_GRID", "BAD_FRAC_LOWSNR",
    "BAD_FRAC_BADPIX", "FERRE_FAIL", "PROBLEM_TARGET", "MULTIPLE_SUSPECT",
)
#: APOGEE_PARAMFLAG bits of BAD level (also the bits of ELEMFLAG and <X>_FE_FLAG) [BM, PL].
DR17_PARAMFLAG_BAD: dict[str, int] = {"GRIDEDGE_BAD": 0, "OTHER_BAD": 2, "FERRE_FAIL": 3,
                                      "TEFF_CUT": 6}
#: EXTRATARG bits of DR17 [TB].
DR17_EXTRATARG_BITS: dict[str, int] = {"NOT_MAIN": 0, "COMMISSIONING": 1, "TELLURIC": 2,
                                       "APO1M": 3, "DUPLICATE": 4}
DUPLICATE_BIT = 1 << DR17_EXTRATARG_BITS["DUPLICATE"]


def bits_value(bits: dict[str, int], names) -> int:
    """The bitmask value of the bit ``names`` of ``bits``."""
    return int(sum(1 << bits[n] for n in names))


def translate_bits(values, source: dict[str, int], target: dict[str, int], what: str) -> np.ndarray:
    """Bitmask ``values`` (array) with bits defined by ``source`` re-encoded with the bits of the
    same names in ``target`` (int64). A set bit ``source`` does not name, or ``target`` lacks,
    is a ValueError naming it: bits are translated by name, never by number."""
    values = np.asarray(values)
    if values.dtype.kind == "i" and values.dtype.itemsize < 8:   # DR14's int32: bit 31 is the sign
        values = values.astype(np.int64) & ((1 << (8 * values.dtype.itemsize)) - 1)
    values = values.astype(np.int64)
    out = np.zeros(values.shape, np.int64)
    known = 0
    for name, bit in source.items():
        known |= 1 << bit
        on = (values >> bit) & 1 == 1
        if on.any():
            if name not in target:
                raise ValueError(f"{what} bit {name} ({bit}) has no bit of that name in the target release")
            out[on] |= np.int64(1) << target[name]
    stray = int(np.bitwise_or.reduce(values.ravel() & ~np.int64(known))) if values.size else 0
    if stray:
        raise ValueError(f"{what} bit {(stray & -stray).bit_length() - 1} is set but not defined")
    return out


def named_column(element: str) -> str:
    """The DR14/DR17 named abundance column of an ASPCAP element: ``FE_H`` for iron,
    ``<ELEMENT>_FE`` otherwise (``TiII`` -> ``TIII_FE``, ``CI`` -> ``CI_FE``)."""
    key = element.strip().upper()
    return "FE_H" if key == "FE" else f"{key}_FE"


def element_key(element) -> str:
    """An element name as compared across releases (``Ti`` / ``TI``, ``TiII`` / ``TIII``)."""
    return as_text(element).upper()


# ---------------------------------------------------------------------------- format errors
class AllStarFormatError(SpectrumError, KeyError):
    """An allStar file whose columns do not follow the data model of the release it was read
    as. Its message is one line naming the file, the column and that release (and the other
    release when the file has that one's columns). A :class:`SpectrumError` (reason
    ``bad_layout``; a user error, printed by the command line as ``error: ...``, exit status 2)
    and a ``KeyError``, as the missing-column error of the paper's cuts was."""

    def __init__(self, path, column: str, release: str, problem: str = "", other: str | None = None):
        rel = check(release)
        what = problem or f"no column {column}"
        hint = (f"; it has the columns of a {other.upper()} allStar: read it with --release {other}"
                if other else "")
        message = f"{path}: {what}: not an allStar of the {rel.upper()} data model (read as {rel}{hint})"
        super().__init__("bad_layout", message, str(path))
        self.column, self.release, self.other = column, rel, other
        self._init = (path, column, release, problem, other)

    def __str__(self) -> str:           # not KeyError's quoted repr: one plain line
        return str(self.args[0])

    def __reduce__(self):               # picklable for worker processes
        return (type(self), self._init)


#: Columns of a DR14 allStar the chain reads (the cuts, the labels, the apStar paths), and the
#: number of elements of its arrays [DM, release DR14].
DR14_REQUIRED: tuple[str, ...] = ("APOGEE_ID", "TELESCOPE", "LOCATION_ID", "FIELD", "NVISITS", "SNR",
                                  "STARFLAG", "ASPCAPFLAG", "VSCATTER", "PARAM", "X_H", "X_H_ERR")
DR14_WIDTHS: dict[str, int] = {"PARAM": 9, "X_H": len(apogee.ASPCAP_ELEMENTS),
                               "X_H_ERR": len(apogee.ASPCAP_ELEMENTS)}
#: Columns of a DR17 allStar the chain reads [DM, release DR17]: keys, cuts, Teff / log g and
#: the named columns of the paper's 20 elements (with their _ERR and _FLAG).
DR17_REQUIRED: tuple[str, ...] = (
    ("APOGEE_ID", "TELESCOPE", "LOCATION_ID", "FIELD", "RA", "DEC", "NVISITS", "SNR", "STARFLAG",
     "ASPCAPFLAG", "VSCATTER", "EXTRATARG", "TEFF", "TEFF_ERR", "LOGG", "LOGG_ERR")
    + tuple(f"{named_column(apogee.TARGET_TO_ASPCAP[t])}{s}" for t in apogee.ABUNDANCES
            for s in ("", "_ERR", "_FLAG"))
)
#: Columns of a DR17 allStar the chain view uses when they are there (else -9999 / 0).
DR17_OPTIONAL: tuple[str, ...] = (
    "GLON", "GLAT", "J", "J_ERR", "H", "H_ERR", "K", "K_ERR", "AK_TARG", "APOGEE_TARGET1",
    "APOGEE_TARGET2", "ANDFLAG", "VHELIO_AVG", "VERR", "PARAM", "M_H", "M_H_ERR", "ALPHA_M",
    "ALPHA_M_ERR", "VMICRO", "VMACRO", "VSINI", "X_H", "X_H_ERR",
)


def _missing(columns: dict, release: str) -> str | None:
    """The first column of ``release``'s data model the chain needs that ``columns``
    (``{name: number of elements}``) lacks or has with another number of elements."""
    if check(release) == "dr14":
        for name in DR14_REQUIRED:
            if name not in columns:
                return name
        for name, width in DR14_WIDTHS.items():
            if columns[name] != width:
                return f"{name}[{columns[name]}]"
        return None
    return next((name for name in DR17_REQUIRED if name not in columns), None)


def check_allstar_columns(path, columns: dict, release) -> None:
    """Raise :class:`AllStarFormatError` unless the allStar at ``path`` (its HDU-1 columns
    ``{name: number of elements}``) has the columns ``release``'s data model gives and the
    chain reads (:data:`DR14_REQUIRED` with :data:`DR14_WIDTHS`, :data:`DR17_REQUIRED`)."""
    rel = check(release)
    bad = _missing(columns, rel)
    if bad is None:
        return
    other = next(r for r in RELEASES if r != rel)
    other = other if _missing(columns, other) is None else None
    if "[" in bad:
        name, n = bad.rstrip("]").split("[")
        raise AllStarFormatError(path, name, rel, f"{name} holds {n} elements where the "
                                 f"{rel.upper()} data model has {DR14_WIDTHS[name]}", other)
    raise AllStarFormatError(path, bad, rel, other=other)


# ---------------------------------------------------------------------------- DR17 chain view
#: Columns (DR14 names) of the chain view of a DR17 allStar, in this order.
CHAIN_VIEW_COLUMNS: tuple[str, ...] = (
    "APOGEE_ID", "TELESCOPE", "LOCATION_ID", "FIELD", "RA", "DEC", "GLON", "GLAT", "J", "J_ERR",
    "H", "H_ERR", "K", "K_ERR", "AK_TARG", "APOGEE_TARGET1", "APOGEE_TARGET2", "NVISITS", "SNR",
    "STARFLAG", "ANDFLAG", "VHELIO_AVG", "VSCATTER", "VERR", "PARAM", "ASPCAPFLAG", "TEFF",
    "TEFF_ERR", "LOGG", "LOGG_ERR", "VMICRO", "VMACRO", "VSINI", "M_H", "M_H_ERR", "ALPHA_M",
    "ALPHA_M_ERR", "X_H", "X_H_ERR", "EXTRATARG",
)
#: The DR14 PARAM entries (apogee.PARAM_NAMES) and the DR17 named column each is read from.
_PARAM_FROM_NAMED = {"TEFF": "TEFF", "LOGG": "LOGG", "VMICRO": "VMICRO", "M_H": "M_H",
                     "ALPHA_M": "ALPHA_M", "VSINI": "VSINI", "VMACRO": "VMACRO"}
_MISSING_F = np.float32(apogee.MISSING)


def _value(a) -> np.ndarray:
    """float32 with NaN / inf / <= -9999 as -9999 (DR17 writes NaN, DR14 -9999)."""
    a = np.asarray(a, np.float32)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(a) & (a > apogee.MISSING), a, _MISSING_F).astype(np.float32)


#: DR14's widths of the string keys [DM]: the chain view takes them when every value fits, so
#: that a dataset compiled from either release holds the same bytes (DR17's APOGEE_ID is
#: char[30], TELESCOPE char[6], FIELD char[20]); a longer value keeps DR17's width.
_DR14_KEY_WIDTHS = {"APOGEE_ID": 18, "TELESCOPE": 8, "FIELD": 16}


def _narrow(a: np.ndarray, width: int) -> np.ndarray:
    a = np.char.rstrip(a.astype("S"))
    return a.astype(f"S{width}") if a.size == 0 or int(np.char.str_len(a).max()) <= width else a


def chain_view_dr17(raw, elem_symbol=None, param_symbol=None) -> np.ndarray:
    """The chain view of a DR17 allStar table: the DR14 columns the chain reads
    (:data:`CHAIN_VIEW_COLUMNS`, ``X_H`` / ``X_H_ERR`` in DR14's 26-element order), from DR17's
    own columns by name.

    ``raw`` (a structured array, or a dict of column arrays) holds the DR17 columns
    (:data:`DR17_REQUIRED`, and those of :data:`DR17_OPTIONAL` the file has); ``elem_symbol``
    / ``param_symbol`` are the file's HDU-3 ELEM_SYMBOL and PARAM_SYMBOL (None when the file
    has no HDU 3). Teff and log g come from TEFF / LOGG (which
    DR17 leaves empty for a star with a BAD ASPCAPFLAG bit); an element's [X/H] from the X_H
    entry ELEM_SYMBOL names (without HDU 3: ``<X>_FE + FE_H``), -9999 where it has no value,
    where ``<X>_FE_FLAG`` has a PARAMFLAG BAD bit or ASPCAPFLAG a BAD bit (DR17's rule for its
    named columns), or where ``<X>_FE`` is empty although ``FE_H`` is published (DR17 withholds
    the element); elements without a named column in DR17 (Ge, Rb, Nd; DR14's Y) are -9999.
    PARAM's C_M and N_M come from PARAM via PARAM_SYMBOL. Flags and keys are copied (DR17
    bits); NaN becomes -9999 in the label columns.
    """
    if isinstance(raw, np.ndarray):
        raw = {name: raw[name] for name in raw.dtype.names}
    names = tuple(raw)
    n = len(raw["APOGEE_ID"])

    def col(name, default=None):
        if name in names:
            return np.asarray(raw[name])
        return None if default is None else np.full(n, default)

    x_h = col("X_H")
    x_h_err = col("X_H_ERR")
    sym = [element_key(e) for e in elem_symbol] if elem_symbol is not None else None
    use_array = (sym is not None and x_h is not None and x_h_err is not None
                 and x_h.ndim == 2 and x_h.shape[1] == len(sym))
    bad_flag = np.int64(bits_value(DR17_PARAMFLAG_BAD, DR17_PARAMFLAG_BAD))
    star_ok = (col("ASPCAPFLAG").astype(np.int64)
               & np.int64(bits_value(DR17_ASPCAPFLAG_BITS, DR17_ASPCAPFLAG_BAD))) == 0
    fe = np.asarray(col("FE_H"), np.float32)
    fe_ok = (col("FE_H_FLAG", 0).astype(np.int64) & bad_flag) == 0
    fe_published = np.isfinite(fe) & fe_ok
    xh = np.full((n, len(apogee.ASPCAP_ELEMENTS)), _MISSING_F, np.float32)
    xh_err = np.full_like(xh, _MISSING_F)
    for k, element in enumerate(apogee.ASPCAP_ELEMENTS):
        key = element_key(element)
        name = named_column(key)
        if name not in names:
            continue                       # DR17 publishes no value of it by name
        ok = star_ok & ((col(f"{name}_FLAG", 0).astype(np.int64) & bad_flag) == 0)
        if use_array and key in sym:       # [X/H] itself, where the file's ELEM_SYMBOL says
            j = sym.index(key)
            v, e = x_h[:, j], x_h_err[:, j]
            # an empty <X>_FE beside a published [Fe/H]: DR17 withholds the element itself
            # (without [Fe/H] no [X/Fe] can be written, and [X/H] stands on its own)
            withheld = ~np.isfinite(np.asarray(raw[name], np.float32))
            ok &= ~(withheld & (fe_published | (key == "FE")))
        else:                              # [X/Fe] + [Fe/H]
            named = np.asarray(raw[name], np.float32)
            v = named if key == "FE" else named + fe
            e = col(f"{name}_ERR", np.nan)
            if key != "FE":
                ok &= fe_ok
        v = _value(v)
        ok &= v > apogee.MISSING
        xh[:, k] = np.where(ok, v, _MISSING_F)
        xh_err[:, k] = np.where(ok, _value(e), _MISSING_F)

    def named_param(name):                 # DR17 leaves them empty for a BAD star
        return np.where(star_ok, _value(col(name, np.nan)), _MISSING_F)

    param = np.full((n, len(apogee.PARAM_NAMES)), _MISSING_F, np.float32)
    psym = [element_key(p) for p in param_symbol] if param_symbol is not None else []
    for k, pname in enumerate(apogee.PARAM_NAMES):
        if pname in _PARAM_FROM_NAMED and _PARAM_FROM_NAMED[pname] in names:
            param[:, k] = named_param(_PARAM_FROM_NAMED[pname])
        elif pname in psym and "PARAM" in names and np.ndim(raw["PARAM"]) == 2 \
                and psym.index(pname) < raw["PARAM"].shape[1]:
            param[:, k] = np.where(star_ok, _value(raw["PARAM"][:, psym.index(pname)]), _MISSING_F)

    floats = {"TEFF", "TEFF_ERR", "LOGG", "LOGG_ERR", "VMICRO", "VMACRO", "VSINI", "M_H", "M_H_ERR",
              "ALPHA_M", "ALPHA_M_ERR"}
    computed = {"PARAM": param, "X_H": xh, "X_H_ERR": xh_err}
    defaults = {"GLON": np.nan, "GLAT": np.nan, "J": np.nan, "J_ERR": np.nan, "H": np.nan,
                "H_ERR": np.nan, "K": np.nan, "K_ERR": np.nan, "AK_TARG": np.nan,
                "APOGEE_TARGET1": 0, "APOGEE_TARGET2": 0, "ANDFLAG": 0, "VHELIO_AVG": np.nan,
                "VERR": np.nan}
    columns = {}
    for name in CHAIN_VIEW_COLUMNS:
        if name in _DR14_KEY_WIDTHS:
            columns[name] = _narrow(np.asarray(raw[name]), _DR14_KEY_WIDTHS[name])
        elif name in computed:
            columns[name] = computed[name]
        elif name in floats:
            columns[name] = named_param(name)
        elif name in names:
            columns[name] = np.asarray(raw[name])
        else:
            columns[name] = np.full(n, defaults[name], np.float32 if isinstance(defaults[name], float)
                                    else np.int64)
    out = np.empty(n, dtype=[(k, v.dtype, v.shape[1:]) for k, v in columns.items()])
    for k, v in columns.items():
        out[k] = v
    return out


def dr17_exclusions(view: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(non-primary duplicate, no spectrum) masks of a DR17 chain view: EXTRATARG bit 4
    DUPLICATE [TB], NVISITS = 0 [PL]."""
    dup = (np.asarray(view["EXTRATARG"]).astype(np.int64) & DUPLICATE_BIT) != 0
    return dup, np.asarray(view["NVISITS"]) <= 0


def dr17_duplicate_flags(apogee_id, snr) -> np.ndarray:
    """EXTRATARG bit 4 as the DR17 pipeline sets it [PL]: on every row of an APOGEE_ID but the
    one of highest SNR (ties: the last row of the file). Boolean per row."""
    ids = np.char.strip(np.asarray(apogee_id).astype("S"))
    _, group = np.unique(ids, return_inverse=True)
    snr = np.nan_to_num(np.asarray(snr, np.float64), nan=-np.inf)
    order = np.lexsort((np.arange(len(ids)), snr, group))
    g = group[order]
    primary_in_order = np.r_[g[1:] != g[:-1], True] if len(g) else np.zeros(0, bool)
    dup = np.zeros(len(ids), bool)
    dup[order[~primary_in_order]] = True
    return dup


# ---------------------------------------------------------------------------- DR17 columns
def _dr17_named_columns() -> list[tuple]:
    out = []
    for e in DR17_NAMED_ELEMENTS:
        name = named_column(e)
        out += [(name, "f4"), (f"{name}_ERR", "f4"), (f"{name}_FLAG", "i4")]
    return out


#: The DR17 allStar columns the synthetic export writes: a subset of the data model's HDU 1
#: [DM] with its names, types and order (strings of its widths), holding every column the
#: chain view and astroNN's DR17 functions read. Not written: the other ~150 columns
#: (photometry beyond 2MASS, Gaia, RV fit details, grids, X_M, FELEM, ELEMFLAG, the *_SPEC
#: values, the verbose flag strings, VISIT_PK...), which the synthetic survey does not model.
DR17_EXPORT_COLUMNS: tuple[tuple, ...] = tuple(
    [("FILE", "S64"), ("APOGEE_ID", "S30"), ("TELESCOPE", "S6"), ("LOCATION_ID", "i4"),
     ("FIELD", "S20"), ("RA", "f8"), ("DEC", "f8"), ("GLON", "f8"), ("GLAT", "f8"),
     ("J", "f4"), ("J_ERR", "f4"), ("H", "f4"), ("H_ERR", "f4"), ("K", "f4"), ("K_ERR", "f4"),
     ("AK_TARG", "f4"), ("APOGEE_TARGET1", "i4"), ("APOGEE_TARGET2", "i4"), ("NVISITS", "i4"),
     ("SNR", "f4"), ("SNREV", "f4"), ("STARFLAG", "i8"), ("ANDFLAG", "i8"), ("VHELIO_AVG", "f4"),
     ("VSCATTER", "f4"), ("VERR", "f4"), ("FPARAM", "f4", (9,)), ("PARAM", "f4", (9,)),
     ("PARAMFLAG", "i8", (9,)), ("ASPCAPFLAG", "i8"), ("X_H", "f4", (27,)), ("X_H_ERR", "f4", (27,)),
     ("EXTRATARG", "i4"), ("TEFF", "f4"), ("TEFF_ERR", "f4"), ("LOGG", "f4"), ("LOGG_ERR", "f4"),
     ("M_H", "f4"), ("M_H_ERR", "f4"), ("ALPHA_M", "f4"), ("ALPHA_M_ERR", "f4"), ("VMICRO", "f4"),
     ("VMACRO", "f4"), ("VSINI", "f4")]
    + _dr17_named_columns()
)
#: HDU 3 of a DR17 allStar [DM]: one row. The data model gives each column's total width
#: (PARAM_SYMBOL char[576], ELEM_SYMBOL char[540], ELEM_VALUE char[1296], GRIDS char[420]);
#: the per-entry widths (9 x 64, 27 x 20, 27 x 48, 5 x 84) are inferred from the numbers of
#: entries [PL].
DR17_KEY_DTYPE = np.dtype([("WAVE", "f4", (7514,)), ("PARAM_SYMBOL", "S64", (9,)),
                           ("ELEM_SYMBOL", "S20", (27,)), ("ELEMTOH", "i4", (27,)),
                           ("ELEM_VALUE", "S48", (27,)), ("GRIDS", "S84", (5,))])
#: HDU 4 of a DR17 allStar [DM].
DR17_FIELDS_DTYPE = np.dtype([("TELESCOPE", "S12"), ("FIELD", "S32"), ("APOGEE_VERS", "S12")])
#: The ASPCAP grids of DR17 [PL] (GRIDS of HDU 3).
DR17_GRIDS: tuple[str, ...] = ("GKg", "GKd", "Mg", "Md", "Fd")
#: ASPCAP's wavelength grid (WAVE of HDU 3): per chip log10(lambda) start and pixels [PL].
_ASPCAP_CHIPS = ((4.180476, 3028), (4.200510, 2495), (4.217064, 1991))


def dr17_key_row() -> np.ndarray:
    """HDU 3 of a DR17 allStar (one row), as the DR17 pipeline writes it [PL]."""
    key = np.zeros(1, DR17_KEY_DTYPE)
    key["WAVE"][0] = np.concatenate([10.0 ** (w0 + apogee.CDELT1 * np.arange(n)) for w0, n in _ASPCAP_CHIPS])
    key["PARAM_SYMBOL"][0] = DR17_PARAM_SYMBOL
    key["ELEM_SYMBOL"][0] = DR17_ELEM_SYMBOL
    key["ELEMTOH"][0] = DR17_ELEMTOH
    # ELEM_VALUE: "the nature of values in FELEM arrays in HDU1, i.e. [X/H] or [X/M]" [DM]
    key["ELEM_VALUE"][0] = [f"[{e}/{'H' if h else 'M'}]" for e, h in zip(DR17_ELEM_SYMBOL, DR17_ELEMTOH)]
    key["GRIDS"][0] = DR17_GRIDS
    return key
