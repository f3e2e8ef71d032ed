"""The synthetic DR14 survey as an in-memory :class:`~astronn_paper.survey.source.SurveySource`.

The catalog (allStar + truth, 277,371 rows) is built once per process and seed (a few
seconds, :func:`~.catalog.cached_catalog`). Spectra are generated on demand and are
deterministic per star: the random generator of allStar row ``i`` is seeded from
``(seed, i)``, so a star's apStar arrays do not depend on which other stars are asked for
or in which order. :meth:`SyntheticSource.apstars` renders a batch with one vectorised
call of the forward model (:func:`.spectra.render`).

Usage::

    src = SyntheticSource(seed=2019)
    allstar = src.allstar()                 # numpy structured array, DR14 columns
    star = src.apstar(12345)                # ApStar: flux/err/bitmask rows + header
    flux, err, mask = star.combined()
"""
from __future__ import annotations

import collections
import functools
import hashlib
from pathlib import Path

import numpy as np

from astronn_paper import apogee
from astronn_paper.survey.release import as_text
from astronn_paper.survey.source import ApStar, AspcapStar, SurveySource
from astronn_paper.synth import catalog as _catalog

#: Bump when the generator's output changes in a way its source files don't show.
GENERATOR_VERSION = "2"
#: The generator's source files whose content is part of the fingerprint (synth/ and this module).
_SOURCE_FILES = ("population.py", "catalog.py", "spectra.py", "instrument.py", "lines.py")
_PERSIST_BITS = sum(1 << _catalog.STARFLAG_BITS[k] for k in ("PERSIST_HIGH", "PERSIST_MED", "PERSIST_LOW"))


def star_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The random generator of allStar row ``index`` (stream 0: apStar, 1: visit SNRs,
    2: aspcapStar)."""
    return np.random.default_rng([int(seed), int(index), 100 + int(stream)])


def apstar_header(row: np.ndarray, visit_snr: np.ndarray, seed: int) -> dict:
    """Primary header of the apStar file of one allStar row (DR14 keys)."""
    h = {
        "OBJID": as_text(row["APOGEE_ID"]), "TELESCOP": as_text(row["TELESCOPE"]),
        "LOCID": int(row["LOCATION_ID"]), "FIELD": as_text(row["FIELD"]),
        "RA": float(row["RA"]), "DEC": float(row["DEC"]),
        "J": float(row["J"]), "J_ERR": float(row["J_ERR"]), "H": float(row["H"]),
        "H_ERR": float(row["H_ERR"]), "K": float(row["K"]), "K_ERR": float(row["K_ERR"]),
        "NVISITS": int(row["NVISITS"]), "SNR": float(row["SNR"]),
    }
    for i, s in enumerate(visit_snr):
        h[f"SNRVIS{i + 1}"] = float(s)
    h.update({
        "VHELIO": float(row["VHELIO_AVG"]), "VSCATTER": float(row["VSCATTER"]),
        "VERR": float(row["VERR"]), "STARFLAG": int(row["STARFLAG"]), "ANDFLAG": int(row["ANDFLAG"]),
        "ORIGIN": "astronn_paper synthetic DR14", "SYNSEED": int(seed),
    })
    return h


class SyntheticSource(SurveySource):
    """The synthetic DR14 survey, generated deterministically in memory."""

    kind = "synthetic"
    is_synthetic = True

    def __init__(self, seed: int = 2019, cache_spectra: int = 64):
        self.seed = int(seed)
        self._intrinsic: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        self._cache_size = int(cache_spectra)

    # -- tables -------------------------------------------------------------------------
    @property
    def catalog(self) -> _catalog.Catalog:
        return _catalog.cached_catalog(self.seed)

    def allstar(self) -> np.ndarray:
        return self.catalog.allstar

    def truth(self, rows=None) -> np.ndarray:
        t = self.catalog.truth
        return t if rows is None else t[rows]

    def cluster_members(self):
        return _catalog.members_table(self.catalog)

    def visit_snr(self, index: int) -> np.ndarray:
        """SNR of each visit of row ``index`` (``sqrt(sum(snr**2)) == allStar SNR``)."""
        row = self.allstar()[index]
        return _catalog.visit_snr(row["SNR"], row["NVISITS"], self.seed, index)

    # -- spectra ------------------------------------------------------------------------
    def _check(self, index) -> int:
        index = int(index)
        if not 0 <= index < len(self.allstar()):
            raise IndexError(f"allStar index {index} out of range (0..{len(self.allstar()) - 1})")
        return index

    def intrinsic(self, indices) -> np.ndarray:
        """(N, 8575) noiseless normalised spectra of the rows (one :func:`render` call)."""
        from astronn_paper.synth.spectra import render

        idx = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        out = np.empty((len(idx), apogee.N_PIX))
        todo = [k for k, i in enumerate(idx) if int(i) not in self._intrinsic]
        if todo:
            pop = self.catalog.population
            sel = idx[todo]
            spectra = render(pop.teff[sel], pop.logg[sel], pop.xh20[sel], pop.vmicro[sel])
            for k, i, s in zip(todo, sel, spectra):
                out[k] = s
                self._remember(int(i), s)
        for k, i in enumerate(idx):
            if k not in todo:
                out[k] = self._intrinsic[int(i)]
        return out

    def _remember(self, index: int, spectrum: np.ndarray) -> None:
        if self._cache_size <= 0:
            return
        self._intrinsic[index] = spectrum
        self._intrinsic.move_to_end(index)
        while len(self._intrinsic) > self._cache_size:
            self._intrinsic.popitem(last=False)

    def observe(self, index: int, intrinsic: np.ndarray, teff: float | None = None,
                snr: float | None = None) -> ApStar:
        """Observe an intrinsic spectrum as allStar row ``index`` is observed: its visits,
        noise draw, persistence and continuum (the star's own random stream). ``teff``
        (continuum shape) and ``snr`` (total SNR, split over the visits as the row's) replace
        the row's own values, e.g. to observe a star re-rendered with other labels."""
        from astronn_paper.synth.instrument import observe

        row = self.allstar()[index]
        pop = self.catalog.population
        vsnr = (self.visit_snr(index) if snr is None
                else _catalog.visit_snr(snr, row["NVISITS"], self.seed, index))
        obs = observe(intrinsic, vsnr, star_rng(self.seed, index),
                      teff=float(pop.teff[index] if teff is None else teff),
                      hmag=float(pop.hmag[index]),
                      persistence_prob=1.0 if int(row["STARFLAG"]) & _PERSIST_BITS else 0.0)
        header = apstar_header(row, vsnr, self.seed)
        header["SNRMEAS"] = float(obs["header"].get("SNR", np.nan))  # median flux/err of the file
        return ApStar(apogee_id=as_text(row["APOGEE_ID"]), flux=obs["flux"], err=obs["err"],
                      bitmask=obs["bitmask"], header=header)

    def apstar(self, index: int) -> ApStar:
        index = self._check(index)
        return self.observe(index, self.intrinsic([index])[0])

    def apstars(self, indices) -> list[ApStar]:
        """apStar arrays of several rows, rendering their spectra in one vectorised call."""
        idx = [self._check(i) for i in np.atleast_1d(indices)]
        spectra = self.intrinsic(idx)
        return [self.observe(i, s) for i, s in zip(idx, spectra)]

    def aspcapstar(self, index: int, apstar: ApStar | None = None) -> AspcapStar:
        """ASPCAP-normalised spectrum of row ``index`` (noise of its combined apStar spectrum)."""
        from astronn_paper.synth.instrument import aspcap_normalised

        index = self._check(index)
        intrinsic = self.intrinsic([index])[0]
        star = apstar if apstar is not None else self.observe(index, intrinsic)
        f, e, _ = star.combined()
        rel = np.where(f > 0, e / np.where(f > 0, f, 1.0), 0.0)
        flux, err = aspcap_normalised(intrinsic, rel, star_rng(self.seed, index, 2))
        row = self.allstar()[index]
        header = {"OBJID": as_text(row["APOGEE_ID"]), "LOCID": int(row["LOCATION_ID"]),
                  "FIELD": as_text(row["FIELD"]), "TELESCOP": as_text(row["TELESCOPE"]),
                  "SNR": float(row["SNR"]), "ORIGIN": "astronn_paper synthetic DR14",
                  "SYNSEED": self.seed}
        return AspcapStar(apogee_id=as_text(row["APOGEE_ID"]), flux=flux.astype(np.float32),
                          err=err.astype(np.float32), header=header)

    # -- provenance ---------------------------------------------------------------------
    def fingerprint(self) -> str:
        return generator_fingerprint(self.seed)

    def spec(self) -> dict:
        return {"kind": "synthetic", "seed": self.seed}

    def __repr__(self) -> str:
        return f"SyntheticSource(seed={self.seed})"


@functools.lru_cache(maxsize=8)
def generator_fingerprint(seed: int) -> str:
    """SHA-1 (16 hex) of the seed, the generator version and the generator's source files."""
    h = hashlib.sha1(f"synthetic-dr14:{GENERATOR_VERSION}:{int(seed)}".encode())
    synth_dir = Path(_catalog.__file__).parent
    for p in [synth_dir / name for name in _SOURCE_FILES] + [Path(__file__)]:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
