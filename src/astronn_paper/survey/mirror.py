"""The SAS-mirror survey source: a DR14 mirror on disk, real or exported synthetic.

The mirror root is ``SDSS_LOCAL_SAS_MIRROR`` (as astroNN finds it) unless given. Paths
follow the DR14 layout that astroNN's ``allstar(dr=14)``, ``visit_spectra(dr=14, ...)`` and
``combined_spectra(dr=14, ...)`` use (see :func:`apstar_relpath`, :func:`aspcapstar_relpath`);
they are built here, never through astroNN, because astroNN downloads a file it finds
missing or whose checksum differs - this source never touches the network. Every spectrum
is verified against its folder's ``.sha1sum`` file (when the file lists it) before use.

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

from astronn_paper import apogee
from astronn_paper.survey import formats
from astronn_paper.survey.source import ApStar, AspcapStar, MirrorFileMissing, SurveySource

MIRROR_ENV = "SDSS_LOCAL_SAS_MIRROR"
#: Folder (relative to the mirror root) with the synthetic survey's extra tables.
SYNTH_DIR = "astronn_paper_synthetic"
TRUTH_FILE = "truth.fits"
MEMBERS_FILE = "members_meszaros2013.txt"
PROVENANCE_FILE = "provenance.json"


def _s(x) -> str:
    return x.decode().strip() if isinstance(x, bytes) else str(x).strip()


# ----------------------------------------------------------------------------- DR14 layout
def allstar_relpath() -> str:
    return apogee.ALLSTAR_RELPATH


def apstar_relpath(apogee_id, telescope="apo25m", location_id=None, field=None) -> str:
    """``apo25m/<LOCATION_ID>/apStar-r8-<ID>.fits`` (apo1m: ``apo1m/<FIELD>/...``)."""
    aid, tel = _s(apogee_id), _s(telescope)
    folder = _s(field) if tel == "apo1m" else str(int(location_id))
    return f"{apogee.DR14_REDUX}/{tel}/{folder}/apStar-r8-{aid}.fits"


def apstar_sha1sum_name(telescope="apo25m", location_id=None, field=None) -> str:
    """Name of the apStar folder's checksum file (``r8_stars_apo25m_<LOCATION_ID>.sha1sum``)."""
    tel = _s(telescope)
    folder = _s(field) if tel == "apo1m" else str(int(location_id))
    return f"r8_stars_{tel}_{folder}.sha1sum"


def aspcapstar_relpath(apogee_id, location_id) -> str:
    """``l31c/l31c.2/<LOCATION_ID>/aspcapStar-r8-l31c.2-<ID>.fits``."""
    return f"{apogee.DR14_REDUX}/l31c/l31c.2/{int(location_id)}/aspcapStar-r8-l31c.2-{_s(apogee_id)}.fits"


def aspcapstar_sha1sum_name(location_id) -> str:
    return f"stars_l31c_l31c.2_{int(location_id)}.sha1sum"


def mirror_root(root=None) -> Path:
    """The mirror root: ``root`` or ``SDSS_LOCAL_SAS_MIRROR`` (a clear error if neither)."""
    root = root or os.environ.get(MIRROR_ENV)
    if not root:
        raise RuntimeError(
            f"no SAS mirror: set the environment variable {MIRROR_ENV} to the folder holding "
            "dr14/apogee/... (or export the synthetic survey there with "
            "'python -m astronn_paper synth --mirror DIR')")
    return Path(root).expanduser().resolve()


# ----------------------------------------------------------------------------- the source
class MirrorSource(SurveySource):
    """A DR14 SAS mirror on disk (rows addressed by allStar index)."""

    kind = "mirror"

    def __init__(self, root=None, verify: bool = True, columns=None):
        """``verify``: check every spectrum against its folder's sha1sum file;
        ``columns``: read only these allStar columns (default: all)."""
        self.root = mirror_root(root)
        self.verify = verify
        self.columns = None if columns is None else tuple(columns)
        self._allstar = None
        self._sums: dict[Path, dict[str, str]] = {}

    # -- paths --------------------------------------------------------------------------
    @property
    def allstar_path(self) -> Path:
        return self.root / allstar_relpath()

    def _row(self, index: int):
        a = self.allstar()
        if not 0 <= index < len(a):
            raise IndexError(f"allStar index {index} out of range (0..{len(a) - 1})")
        return a[index]

    def apstar_path(self, index: int) -> Path:
        r = self._row(index)
        return self.root / apstar_relpath(r["APOGEE_ID"], r["TELESCOPE"], r["LOCATION_ID"], r["FIELD"])

    def aspcapstar_path(self, index: int) -> Path:
        r = self._row(index)
        return self.root / aspcapstar_relpath(r["APOGEE_ID"], r["LOCATION_ID"])

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
        if self._allstar is None:
            self._allstar = formats.read_allstar(self.allstar_path, self.columns)
        return self._allstar

    def apstar(self, index: int) -> ApStar:
        r = self._row(index)
        path = self.apstar_path(index)
        sha1 = self._expected_sha1(path, apstar_sha1sum_name(r["TELESCOPE"], r["LOCATION_ID"], r["FIELD"]))
        return formats.read_apstar(path, sha1=sha1, apogee_id=_s(r["APOGEE_ID"]))

    def aspcapstar(self, index: int) -> AspcapStar:
        r = self._row(index)
        path = self.aspcapstar_path(index)
        sha1 = self._expected_sha1(path, aspcapstar_sha1sum_name(r["LOCATION_ID"]))
        return formats.read_aspcapstar(path, sha1=sha1, apogee_id=_s(r["APOGEE_ID"]))

    def truth(self) -> np.ndarray | None:
        path = self.root / SYNTH_DIR / TRUTH_FILE
        return formats.read_allstar(path) if path.is_file() else None

    def cluster_members(self):
        path = self.root / SYNTH_DIR / MEMBERS_FILE
        if not path.is_file():
            return None
        from astronn_paper.synth.catalog import read_meszaros

        return read_meszaros(path)

    def provenance(self) -> dict | None:
        path = self.root / SYNTH_DIR / PROVENANCE_FILE
        return json.loads(path.read_text()) if path.is_file() else None

    def fingerprint(self) -> str:
        """SHA-1 (16 hex) of the allStar file's content (spectra are pinned by the sha1sums)."""
        return _file_fingerprint(str(self.allstar_path), *_stat_key(self.allstar_path))

    def spec(self) -> dict:
        spec = {"kind": "mirror", "root": str(self.root)}
        if self.columns is not None:
            spec["columns"] = list(self.columns)
        return spec

    def __repr__(self) -> str:
        return f"MirrorSource(root={str(self.root)!r})"


def _stat_key(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise MirrorFileMissing(str(path)) from None
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _file_fingerprint(path: str, size: int, mtime_ns: int) -> str:
    return formats.sha1_file(path)[:16]
