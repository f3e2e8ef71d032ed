"""A tiny in-memory :class:`SurveySource` for the dataset / normalisation tests.

A dozen-odd stars with simple spectra: a smooth per-chip "blaze" continuum times
absorption lines placed only outside astroNN's continuum pixels, small Gaussian noise,
a few flagged pixels (masked bits 0 and 12, and the unmasked bit 9). ``bad`` maps an
allStar index to a failure, to exercise every skip reason.
"""
from __future__ import annotations

import time

import numpy as np

from astronn_paper import apogee
from astronn_paper.survey import source

#: Failure kinds the fake can inject (allStar index -> kind).
BAD_KINDS = ("missing_file", "bad_checksum", "corrupt_fits", "all_masked", "nonfinite",
             "bad_error", "bad_visit")


def blaze(n: int = apogee.N_PIX) -> np.ndarray:
    """A smooth, positive continuum (quadratic per chip, zero in the chip gaps)."""
    x = np.arange(n, dtype=float)
    keep = np.zeros(n, bool)
    keep[apogee.gap_delete_index()] = True
    c = 200 + 0.01 * x - 1.5e-6 * (x - 4000) ** 2
    return np.where(keep, c, 0.0)


def line_pixels() -> np.ndarray:
    """Boolean (8575,) of the pixels given absorption lines (never continuum pixels)."""
    keep = apogee.gap_delete_index()
    cont = np.zeros(apogee.N_PIX, bool)
    cont[keep[apogee.continuum_pixels()]] = True
    lines = np.zeros(apogee.N_PIX, bool)
    lines[keep[::7]] = True
    return lines & ~cont


class FakeSource(source.SurveySource):
    kind = "fake"
    is_synthetic = True

    def __init__(self, n: int = 16, seed: int = 0, bad: dict | None = None,
                 delay: float = 0.0, noise: float = 0.002):
        self.n, self.seed, self.delay, self.noise = n, seed, delay, noise
        self.bad = {int(k): v for k, v in (bad or {}).items()}
        rng = np.random.default_rng(seed)
        dt = [("APOGEE_ID", "S18"), ("TELESCOPE", "S8"), ("LOCATION_ID", ">i2"),
              ("FIELD", "S16"), ("RA", ">f8"), ("DEC", ">f8"), ("SNR", ">f4"),
              ("NVISITS", ">i4"), ("STARFLAG", ">i4"), ("ASPCAPFLAG", ">i8"),
              ("VSCATTER", ">f4"), ("PARAM", ">f4", (9,)), ("TEFF_ERR", ">f4"),
              ("LOGG_ERR", ">f4"), ("X_H", ">f4", (26,)), ("X_H_ERR", ">f4", (26,))]
        a = np.zeros(n, dtype=dt)
        a["APOGEE_ID"] = [f"2M{i:08d}+0000000" for i in range(n)]
        a["TELESCOPE"] = "apo25m"
        a["LOCATION_ID"] = 4000 + np.arange(n) % 3
        a["LOCATION_ID"][n - 1] = 1  # an apo1m star
        a["FIELD"] = "FAKE"
        a["RA"], a["DEC"] = rng.uniform(0, 360, n), rng.uniform(-30, 80, n)
        a["SNR"] = rng.uniform(50, 500, n)
        a["NVISITS"] = 1 + np.arange(n) % 4
        a["STARFLAG"] = np.where(np.arange(n) % 11 == 5, 4, 0)
        a["ASPCAPFLAG"] = np.where(np.arange(n) % 13 == 7, 1 << 23, 0)
        a["VSCATTER"] = rng.uniform(0, 1.5, n)
        a["PARAM"][:, 0] = rng.uniform(3800, 5800, n)
        a["PARAM"][:, 1] = rng.uniform(1, 3.5, n)
        a["PARAM"][::5, 1] = -9999
        a["TEFF_ERR"], a["LOGG_ERR"] = 50, 0.05
        a["X_H"] = rng.normal(0, 0.2, (n, 26))
        a["X_H"][::4, 8] = -9999
        a["X_H_ERR"] = 0.03
        self._allstar = a
        truth = rng.normal(0, 0.2, (n, len(apogee.TARGETS))).astype(np.float32)
        self._truth = np.zeros(n, [(t, "<f4") for t in apogee.TARGETS])
        for j, name in enumerate(apogee.TARGETS):
            self._truth[name] = truth[:, j]

    # -- interface
    def allstar(self):
        return self._allstar

    def truth(self, rows=None):
        return self._truth if rows is None else self._truth[rows]

    def fingerprint(self):
        return f"fake-{self.n}-{self.seed}-{sorted(self.bad.items())}-{self.noise}"

    def spec(self):
        return {"factory": "fakesurvey:FakeSource",
                "kwargs": {"n": self.n, "seed": self.seed, "bad": self.bad,
                           "delay": self.delay, "noise": self.noise}}

    def _rows(self, index: int, nrows: int):
        rng = np.random.default_rng([self.seed, index])
        depth = 0.05 + 0.3 * rng.random()
        norm = np.where(line_pixels(), 1 - depth, 1.0)
        flux = blaze() * norm * (1 + self.noise * rng.standard_normal((nrows, apogee.N_PIX)))
        err = np.broadcast_to(self.noise * blaze() + 1e-3, flux.shape).copy()
        bitmask = np.zeros(flux.shape, np.int32)
        keep = apogee.gap_delete_index()
        for r in range(nrows):
            hit = rng.choice(keep, 30, replace=False)
            bitmask[r, hit[:10]] |= 1 << 0   # BADPIX (masked)
            bitmask[r, hit[10:20]] |= 1 << 12  # SIG_SKYLINE (masked)
            bitmask[r, hit[20:]] |= 1 << 9   # PERSIST_HIGH (not masked by the paper)
        return flux.astype(np.float32), err.astype(np.float32), bitmask

    def apstar(self, index: int) -> source.ApStar:
        if self.delay:
            time.sleep(self.delay)
        a = self._allstar[index]
        aid = a["APOGEE_ID"].decode()
        path = f"/fake/apo25m/{a['LOCATION_ID']}/apStar-r8-{aid}.fits"
        kind = self.bad.get(index)
        if kind == "missing_file":
            raise source.MirrorFileMissing(path)
        if kind in ("bad_checksum", "corrupt_fits"):
            raise source.SpectrumError(kind, f"{path}: injected {kind}", path)
        nv = int(a["NVISITS"])
        nrows = 1 if nv == 1 else nv + 2
        flux, err, bitmask = self._rows(index, nrows)
        if kind == "all_masked":
            bitmask[:] |= 1
        elif kind == "nonfinite":
            flux[:, 5000] = np.nan
        elif kind == "bad_error":
            err[:, 4000] = 0.0
        elif kind == "bad_visit":
            flux[apogee.visit_rows(nv)[0], 4500] = np.inf
        elif kind == "failed_normalisation":   # a bright bump over 5 % of the pixels
            flux[:, 2000:2430] *= 3.0
        header = {"NVISITS": nv, "SNR": float(a["SNR"])}
        header.update({f"SNRVIS{i + 1}": float(a["SNR"]) / np.sqrt(nv) for i in range(nv)})
        return source.ApStar(aid, flux, err, bitmask, header, path)

    def aspcapstar(self, index: int) -> source.AspcapStar:
        s = self.apstar(index)
        f, e, _ = s.combined()
        c = np.where(blaze() > 0, blaze(), 1.0)
        return source.AspcapStar(s.apogee_id, (f / c).astype(np.float32),
                                  (e / c).astype(np.float32), {}, s.path)
