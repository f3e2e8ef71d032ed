"""Survey sources: where the chain reads allStar and apStar/aspcapStar spectra from.

Two backends behind one small interface (:class:`SurveySource`):

* :class:`MirrorSource` - a SAS mirror on disk with the real DR14 layout (a real mirror,
  or the synthetic survey exported with ``python -m astronn_paper synth``), found through
  ``SDSS_LOCAL_SAS_MIRROR`` exactly as astroNN finds it;
* :class:`~astronn_paper.synth.source.SyntheticSource` - the synthetic DR14 survey (the
  generator's), generated deterministically in
  memory (spectra on demand, per star and seed).

A star exported to FITS and read back through :class:`MirrorSource` gives the same
arrays as :class:`SyntheticSource`.

Bad input raises a :class:`SpectrumError` whose ``reason`` is one of
:data:`SKIP_REASONS`; the compile step counts skipped stars by reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from astronn_paper import apogee
from astronn_paper.survey.release import as_text
from astronn_paper.survey.types import (
    SKIP_REASONS,
    ApStar,
    AspcapStar,
    MirrorFileMissing,
    SpectrumError,
)

__all__ = ["ApStar", "AspcapStar", "MirrorFileMissing", "NormalisedSpectra", "SKIP_REASONS",
           "SpectrumError", "SurveySource"]


@dataclass
class NormalisedSpectra:
    """What :meth:`SurveySource.read_normalised` returns: the normalised spectra of the rows
    that could be used, and a record of every one that could not.

    ``skipped`` holds one dict per skipped spectrum: ``allstar_index``, ``APOGEE_ID``,
    ``visit`` (-1 for the combined spectrum), ``reason`` (one of :data:`SKIP_REASONS`),
    ``message`` (naming the file) and ``path``.
    """

    rows: np.ndarray                   # (n_good,) allStar indices of the combined spectra
    spec: np.ndarray                   # (n_good, 7514) float32
    err: np.ndarray                    # (n_good, 7514) float32
    skipped: list = field(default_factory=list)
    #: with ``visits=True``: spec, err, allstar_index, visit (0-based), SNR of every usable
    #: visit of the stars in ``rows`` with NVISITS > 1
    visits: dict | None = None


class SurveySource:
    """Interface of a survey source. Rows are addressed by their allStar index.

    A backend implements :meth:`allstar`, :meth:`apstar`, :meth:`aspcapstar`,
    :meth:`fingerprint` and :meth:`spec` (and :meth:`truth` when it knows the true labels);
    the batch readers :meth:`apstars`, :meth:`aspcapstars` and :meth:`read_normalised`, the
    one path by which compile, catalog and clusters read spectra, are built on them (a
    backend may override :meth:`apstars` with a faster batch reader).
    """

    #: short name recorded in provenance ("synthetic" or "mirror")
    kind: str = "abstract"
    #: whether true labels are known (:meth:`truth` returns them)
    is_synthetic: bool = False

    def allstar(self) -> np.ndarray:
        """The allStar table as a numpy structured array (DR14 column names and dtypes)."""
        raise NotImplementedError

    def apstar(self, index: int) -> ApStar:
        """apStar arrays of allStar row ``index``; raises :class:`SpectrumError`."""
        raise NotImplementedError

    def aspcapstar(self, index: int) -> AspcapStar:
        """aspcapStar arrays of allStar row ``index``; raises :class:`SpectrumError`."""
        raise NotImplementedError

    def truth(self, rows=None) -> np.ndarray | None:
        """The truth table (synthetic sources; ``None`` for real data): a structured array with
        a field per target of :data:`apogee.TARGETS` and one row per allStar row, or only the
        rows ``rows``."""
        return None

    def true_labels(self, rows) -> np.ndarray | None:
        """True labels of allStar ``rows`` as float32 (n, 22) in TARGETS order, or None."""
        t = self.truth(np.asarray(rows, np.int64))
        if t is None:
            return None
        missing = [n for n in apogee.TARGETS if n not in (t.dtype.names or ())]
        if missing:
            raise KeyError(f"the truth table of {self!r} lacks the targets {missing}")
        return np.stack([t[n] for n in apogee.TARGETS], axis=1).astype(np.float32)

    def cluster_members(self):
        """Cluster membership table (Meszaros et al. 2013 layout) as an astropy Table, or None."""
        return None

    def fingerprint(self) -> str:
        """A short hash identifying the source's content (recorded in provenance)."""
        raise NotImplementedError

    def spec(self) -> dict:
        """A small picklable description from which :func:`open_source` rebuilds the source
        (used to hand the source to worker processes)."""
        raise NotImplementedError

    # -- batch readers ------------------------------------------------------------------
    def apstars(self, rows) -> list:
        """apStar of each row: an :class:`ApStar`, or the :class:`SpectrumError` it raised."""
        return [_try(self.apstar, int(i)) for i in np.atleast_1d(rows)]

    def aspcapstars(self, rows) -> list:
        """aspcapStar of each row: an :class:`AspcapStar`, or the :class:`SpectrumError`."""
        return [_try(self.aspcapstar, int(i)) for i in np.atleast_1d(rows)]

    def read_normalised(self, rows, method: str = "continuum", visits: bool = False) -> NormalisedSpectra:
        """Read the spectra of allStar ``rows`` and normalise them as the paper does.

        ``method="continuum"``: the combined apStar spectrum (and, with ``visits``, each visit of
        stars with NVISITS > 1: a single visit *is* the combined spectrum), continuum-normalised
        (:func:`astronn_paper.survey.normalise.continuum`); ``"aspcap"``: the aspcapStar
        spectrum. A star whose file or spectrum is bad is skipped with its reason, never zeroed.
        """
        from astronn_paper.survey import normalise

        rows = np.atleast_1d(np.asarray(rows, np.int64))
        ids = self.allstar()["APOGEE_ID"][rows] if len(rows) else np.empty(0, "S18")
        id_of = {int(i): as_text(a) for i, a in zip(rows, ids)}
        aspcap = method == "aspcap"
        stars = self.aspcapstars(rows) if aspcap else self.apstars(rows)
        skipped: list[dict] = []
        flux, err, mask, good_rows, paths = [], [], [], [], {}
        vis = {k: [] for k in ("flux", "err", "mask", "allstar_index", "visit", "SNR")}
        for index, s in zip(rows, stars):
            index = int(index)
            if isinstance(s, SpectrumError):
                skipped.append(_skip(index, id_of[index], -1, s))
                continue
            f, e, m = (s.flux, s.err, np.zeros(apogee.N_PIX, np.int64)) if aspcap else s.combined()
            paths[index] = s.path
            flux.append(f), err.append(e), mask.append(m), good_rows.append(index)
            if visits and not aspcap and s.nvisits > 1:
                vf, ve, vm = s.visits()
                vis["flux"].append(vf), vis["err"].append(ve), vis["mask"].append(vm)
                vis["allstar_index"].append(np.full(len(vf), index, np.int64))
                vis["visit"].append(np.arange(len(vf))), vis["SNR"].append(s.visit_snr())

        def batch(parts):
            return np.array(parts).reshape(-1, apogee.N_PIX)

        good_rows = np.array(good_rows, np.int64)
        n = normalise.normalise_batch(batch(flux), batch(err), None if aspcap else batch(mask),
                                      method=method)
        for k, problem in n.errors.items():
            i = int(good_rows[k])
            skipped.append(_skip(i, id_of[i], -1, problem, paths.get(i)))
        out = NormalisedSpectra(good_rows[n.good], n.spec, n.err, skipped)
        if visits:
            out.visits = self._normalised_visits(vis, set(out.rows.tolist()), id_of, paths, skipped)
        skipped.sort(key=lambda s: (s["allstar_index"], s["visit"]))
        return out

    @staticmethod
    def _normalised_visits(vis, kept, id_of, paths, skipped) -> dict:
        from astronn_paper.survey import normalise

        def cat(name, shape=(0, apogee.N_PIX), dtype=float):
            return np.concatenate(vis[name]) if vis[name] else np.empty(shape, dtype)

        star = cat("allstar_index", (0,), np.int64)
        keep = np.isin(star, list(kept))   # visits of stars whose combined spectrum failed: dropped
        star, number, snr = star[keep], cat("visit", (0,), np.int64)[keep], cat("SNR", (0,))[keep]
        n = normalise.normalise_batch(cat("flux")[keep], cat("err")[keep],
                                      cat("mask", dtype=np.int64)[keep], method="continuum")
        for k, problem in n.errors.items():
            i = int(star[k])
            skipped.append(_skip(i, id_of[i], int(number[k]), problem, paths.get(i)))
        return {"spec": n.spec, "err": n.err, "allstar_index": star[n.good],
                "visit": number[n.good].astype(np.int16), "SNR": snr[n.good].astype(np.float32)}


def _try(read, index: int):
    try:
        return read(index)
    except SpectrumError as err:
        return err


def _skip(index: int, apogee_id: str, visit: int, err: SpectrumError, path: str | None = None) -> dict:
    """One skipped spectrum; ``path`` names the file when the error itself does not (a
    spectrum rejected by the normalisation checks)."""
    message, path = str(err), err.path or path
    if path and path not in message:
        message = f"{path}" + (f" (visit {visit})" if visit >= 0 else "") + f": {message}"
    return {"allstar_index": int(index), "APOGEE_ID": apogee_id, "visit": int(visit),
            "reason": err.reason, "message": message, "path": path}
