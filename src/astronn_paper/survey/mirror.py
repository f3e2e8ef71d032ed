"""The SAS-mirror survey source: a DR14 or DR17 mirror on disk, real or exported synthetic.

The mirror root is ``SDSS_LOCAL_SAS_MIRROR`` (as astroNN finds it) unless given. Paths
follow the layout of the release (``MirrorSource(root, release="dr14"|"dr17")``) that
astroNN's ``allstar(dr=...)``, ``visit_spectra(dr=...)`` and ``combined_spectra(dr=...)``
use (:mod:`astronn_paper.survey.release`); they are built here, never through astroNN, because astroNN downloads a file it finds
missing or whose checksum differs - this source never touches the network. Every spectrum
is verified against its folder's ``.sha1sum`` file (when the file lists it) before use.

The allStar is read as its release's data model has it (:func:`formats.read_allstar` with the
release): a DR14 file as it is, a DR17 file through its chain view (DR14 column names built
from DR17's own columns by name, :func:`astronn_paper.survey.release.chain_view_dr17`); a file
that does not follow that data model is refused in one line
(:class:`~astronn_paper.survey.release.AllStarFormatError`). With DR17 the batch readers
(:meth:`MirrorSource.apstars`, :meth:`MirrorSource.aspcapstars`: how compile, catalog and
clusters read spectra) skip the rows DR17 itself sets aside: a non-primary duplicate
(EXTRATARG bit 4; reason ``duplicate``) and a row without spectrum (NVISITS = 0; reason
``missing_file``).

An exported synthetic mirror also carries ``astronn_paper_synthetic/`` with the truth
table and the cluster membership table; then :meth:`MirrorSource.truth` and
:meth:`MirrorSource.cluster_members` return them.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np

from astronn_paper import cache, config
from astronn_paper.survey import formats
from astronn_paper.survey import release as release_
from astronn_paper.survey.release import as_text
from astronn_paper.survey.source import (
    ApStar,
    AspcapStar,
    MirrorFileMissing,
    SpectrumError,
    SurveySource,
)

#: The environment variable naming the mirror root, as astroNN reads it.
MIRROR_ENV = config.MIRROR_ENV
#: Folder (relative to the mirror root) with the synthetic survey's extra tables.
SYNTH_DIR = "astronn_paper_synthetic"
TRUTH_FILE = "truth.fits"
MEMBERS_FILE = "members_meszaros2013.txt"
PROVENANCE_FILE = "provenance.json"


# ----------------------------------------------------------------------------- layouts
# The layouts live in :mod:`astronn_paper.survey.release`; these helpers keep the DR14
# defaults of the callers that predate DR17.
def allstar_relpath(release=release_.DEFAULT_RELEASE) -> str:
    return release_.layout(release).allstar_relpath


def apstar_relpath(apogee_id, telescope="apo25m", location_id=None, field=None,
                   release=release_.DEFAULT_RELEASE) -> str:
    """DR14 ``.../apo25m/<LOCATION_ID>/apStar-r8-<ID>.fits`` (apo1m: ``apo1m/<FIELD>/``);
    DR17 ``.../<TELESCOPE>/<FIELD>/apStar-dr17-<ID>.fits``."""
    return release_.layout(release).apstar_relpath(apogee_id, telescope, location_id, field)


def apstar_sha1sum_name(telescope="apo25m", location_id=None, field=None,
                        release=release_.DEFAULT_RELEASE) -> str:
    """Name of the apStar folder's checksum file (DR14 ``r8_stars_apo25m_<LOCATION_ID>.sha1sum``)."""
    return release_.layout(release).apstar_sha1sum_name(telescope, location_id, field)


def aspcapstar_relpath(apogee_id, location_id=None, telescope="apo25m", field=None,
                       release=release_.DEFAULT_RELEASE) -> str:
    """DR14 ``l31c/l31c.2/<LOCATION_ID>/aspcapStar-r8-l31c.2-<ID>.fits``; DR17
    ``synspec_rev1/<TELESCOPE>/<FIELD>/aspcapStar-dr17-<ID>.fits``."""
    return release_.layout(release).aspcapstar_relpath(apogee_id, telescope, location_id, field)


def aspcapstar_sha1sum_name(location_id=None, telescope="apo25m", field=None,
                            release=release_.DEFAULT_RELEASE) -> str:
    return release_.layout(release).aspcapstar_sha1sum_name(telescope, location_id, field)


def mirror_root(root=None) -> Path:
    """The mirror root: ``root`` or ``SDSS_LOCAL_SAS_MIRROR`` (a clear error if neither)."""
    root = root or os.environ.get(MIRROR_ENV)
    if not root:
        raise RuntimeError(
            f"no SAS mirror: set the environment variable {MIRROR_ENV} to the folder holding "
            "dr14/apogee/... or dr17/apogee/... (or export the synthetic survey there with "
            "'python -m astronn_paper synth --mirror DIR')")
    return Path(root).expanduser().resolve()


# ----------------------------------------------------------------------------- the source
class MirrorSource(SurveySource):
    """A DR14 or DR17 SAS mirror on disk (rows addressed by allStar index)."""

    kind = "mirror"

    def __init__(self, root=None, verify: bool = True, columns=None, release=release_.DEFAULT_RELEASE):
        """``verify``: check every spectrum against its folder's sha1sum file;
        ``columns``: read only these allStar columns (default: all); ``release``: ``"dr14"``
        or ``"dr17"``, the SAS layout (:mod:`astronn_paper.survey.release`)."""
        self.release = release_.check(release)
        self.layout = release_.layout(self.release)
        self.root = mirror_root(root)
        self.verify = verify
        self.columns = None if columns is None else tuple(columns)
        self._allstar = None
        self._set_aside = None   # DR17: {allStar index: SpectrumError} of the rows DR17 sets aside
        self._truth = None       # the truth table, False when the mirror has none
        self._sums: dict[Path, dict[str, str]] = {}

    # -- paths --------------------------------------------------------------------------
    @property
    def allstar_path(self) -> Path:
        return self.root / self.layout.allstar_relpath

    def _row(self, index: int):
        a = self.allstar()
        if not 0 <= index < len(a):
            raise IndexError(f"allStar index {index} out of range (0..{len(a) - 1})")
        return a[index]

    def apstar_path(self, index: int) -> Path:
        r = self._row(index)
        return self.root / self.layout.apstar_relpath(r["APOGEE_ID"], r["TELESCOPE"], r["LOCATION_ID"], r["FIELD"])

    def aspcapstar_path(self, index: int) -> Path:
        r = self._row(index)
        return self.root / self.layout.aspcapstar_relpath(r["APOGEE_ID"], r["TELESCOPE"], r["LOCATION_ID"],
                                                          r["FIELD"])

    def _expected_sha1(self, path: Path, sha1sum_name: str) -> str | None:
        if not self.verify:
            return None
        sums_path = path.parent / sha1sum_name
        if sums_path not in self._sums:
            self._sums[sums_path] = formats.read_sha1sum(sums_path) if sums_path.is_file() else {}
        return self._sums[sums_path].get(path.name)

    # -- SurveySource -------------------------------------------------------------------
    @property
    def is_synthetic(self) -> bool:  # type: ignore[override]
        return (self.root / SYNTH_DIR / TRUTH_FILE).is_file()

    def allstar(self) -> np.ndarray:
        """The allStar table as the chain reads it: DR14's as it is, DR17's chain view."""
        if self._allstar is None:
            self._allstar = formats.read_allstar(self.allstar_path, self.columns, release=self.release)
        return self._allstar

    def set_aside(self) -> dict[int, SpectrumError]:
        """DR17: the allStar rows whose spectra the batch readers skip, with why - every
        non-primary duplicate (EXTRATARG bit 4 DUPLICATE: the same APOGEE_ID in another field,
        at lower SNR) and every row without spectrum (NVISITS = 0). Empty for DR14."""
        if self._set_aside is None:
            self._set_aside = {}
            if self.release == "dr17":
                view = (self.allstar() if self.columns is None     # read once, kept for the rows
                        else formats.read_allstar(self.allstar_path, release="dr17"))
                dup, nospec = release_.dr17_exclusions(view)
                ids = np.char.strip(np.asarray(view["APOGEE_ID"]).astype("S"))
                primary = {}
                for i in np.flatnonzero(~dup & np.isin(ids, ids[dup])):
                    primary[ids[i]] = int(i)
                for i in np.flatnonzero(dup):
                    j = primary.get(ids[i])
                    where = (f"its primary row is {j} ({as_text(view['TELESCOPE'][j])}/"
                             f"{as_text(view['FIELD'][j])}, SNR {float(view['SNR'][j]):.1f})"
                             if j is not None else "the allStar has no primary row of it")
                    self._set_aside[int(i)] = SpectrumError(
                        "duplicate", f"allStar row {i} ({as_text(ids[i])}, "
                        f"{as_text(view['TELESCOPE'][i])}/{as_text(view['FIELD'][i])}, SNR "
                        f"{float(view['SNR'][i]):.1f}) is a DR17 non-primary duplicate (EXTRATARG "
                        f"bit 4 DUPLICATE): {where}")
                for i in np.flatnonzero(nospec & ~dup):
                    self._set_aside[int(i)] = SpectrumError(
                        "missing_file", f"allStar row {i} ({as_text(ids[i])}) has NVISITS = 0: "
                        "DR17 lists it without a combined spectrum")
        return self._set_aside

    def apstars(self, rows) -> list:
        """apStar of each row, or its :class:`SpectrumError`; with DR17 the rows of
        :meth:`set_aside` give their reason without being read."""
        skip = self.set_aside()
        return [skip[int(i)] if int(i) in skip else _try(self.apstar, int(i)) for i in np.atleast_1d(rows)]

    def aspcapstars(self, rows) -> list:
        """aspcapStar of each row, or its :class:`SpectrumError` (DR17: as :meth:`apstars`)."""
        skip = self.set_aside()
        return [skip[int(i)] if int(i) in skip else _try(self.aspcapstar, int(i))
                for i in np.atleast_1d(rows)]

    def apstar(self, index: int) -> ApStar:
        r = self._row(index)
        path = self.apstar_path(index)
        sha1 = self._expected_sha1(path, self.layout.apstar_sha1sum_name(r["TELESCOPE"], r["LOCATION_ID"],
                                                                         r["FIELD"]))
        return formats.read_apstar(path, sha1=sha1, apogee_id=as_text(r["APOGEE_ID"]))

    def aspcapstar(self, index: int) -> AspcapStar:
        r = self._row(index)
        path = self.aspcapstar_path(index)
        sha1 = self._expected_sha1(path, self.layout.aspcapstar_sha1sum_name(r["TELESCOPE"], r["LOCATION_ID"],
                                                                             r["FIELD"]))
        return formats.read_aspcapstar(path, sha1=sha1, apogee_id=as_text(r["APOGEE_ID"]))

    def truth(self, rows=None) -> np.ndarray | None:
        """The exported synthetic survey's truth table (read once), or None for real data."""
        if self._truth is None:
            path = self.root / SYNTH_DIR / TRUTH_FILE
            self._truth = formats.read_allstar(path) if path.is_file() else False
        if self._truth is False:
            return None
        return self._truth if rows is None else self._truth[rows]

    def cluster_members(self):
        path = self.root / SYNTH_DIR / MEMBERS_FILE
        if not path.is_file():
            return None
        from astronn_paper.survey.meszaros import read_meszaros

        return read_meszaros(path)

    def provenance(self) -> dict | None:
        path = self.root / SYNTH_DIR / PROVENANCE_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def fingerprint(self) -> str:
        """SHA-1 (16 hex) of the allStar file's content (spectra are pinned by the sha1sums)."""
        return _file_fingerprint(str(self.allstar_path), *_stat_key(self.allstar_path))

    def spec(self) -> dict:
        spec = {"kind": "mirror", "root": str(self.root), "release": self.release}
        if self.columns is not None:
            spec["columns"] = list(self.columns)
        return spec

    def __repr__(self) -> str:
        return f"MirrorSource(root={str(self.root)!r}, release={self.release!r})"


def _try(read, index: int):
    try:
        return read(index)
    except SpectrumError as err:
        return err


def _stat_key(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MirrorFileMissing(str(path)) from None
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _file_fingerprint(path: str, size: int, mtime_ns: int) -> str:
    return cache.file_sha1(path)[:16]
