"""The paper's cuts: which allStar rows go into a dataset, and their ASPCAP labels.

:class:`Selection` holds the cuts of one set (the paper's training cuts by default);
:func:`select` applies them to an allStar table; :func:`standard_selections` gives the
profile's training and high-SNR test sets; :func:`labels_from_allstar` reads the labels the
network is trained on (-9999 where ASPCAP has none).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

from astronn_paper import apogee, config

NORMALISATIONS = ("continuum", "aspcap")


@dataclass(frozen=True)
class Selection:
    """The cuts of one dataset, applied to the allStar table by :func:`select`.

    Defaults are the paper's training cuts. Teff is ASPCAP's ``PARAM[:, 0]`` and is cut
    inclusively (as astroNN's compiler did), SNR strictly; [Fe/H] is ``X_H[:, 17]``
    (the default floor keeps stars with no [Fe/H], as the paper did: the censored loss
    ignores -9999 labels). ``exclude_apo1m`` drops the NMSU 1-m stars (LOCATION_ID 1).
    ``max_stars`` keeps a seeded random subset (``seed``) of the passing rows, in allStar
    order.
    """

    name: str = "train"
    teff_min: float = 4000.0
    teff_max: float = 5500.0
    snr_min: float = 200.0
    snr_max: float = float("inf")
    starflag_zero: bool = True
    aspcapflag_zero: bool = True
    vscatter_max: float = 1.0
    feh_min: float = -10000.0
    exclude_apo1m: bool = True
    normalisation: str = "continuum"
    visits: bool = True
    max_stars: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {NORMALISATIONS}, "
                             f"got {self.normalisation!r}")
        if self.normalisation == "aspcap" and self.visits:
            raise ValueError("aspcapStar files hold only the combined spectrum: "
                             "an ASPCAP-normalised selection needs visits=False")

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["snr_max"] = None if np.isinf(self.snr_max) else self.snr_max
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Selection":
        d = json.loads(text)
        if d.get("snr_max") is None:
            d["snr_max"] = float("inf")
        return cls(**d)

    def describe(self) -> str:
        snr = (f"SNR > {self.snr_min:g}" if np.isinf(self.snr_max)
               else f"{self.snr_min:g} < SNR < {self.snr_max:g}")
        cuts = [f"{self.teff_min:g} <= Teff <= {self.teff_max:g} K", snr]
        cuts += ["STARFLAG == 0"] * self.starflag_zero + ["ASPCAPFLAG == 0"] * self.aspcapflag_zero
        cuts += [f"VSCATTER < {self.vscatter_max:g} km/s"]
        if self.feh_min > apogee.MISSING:
            cuts.append(f"[Fe/H] > {self.feh_min:g}")
        if self.exclude_apo1m:
            cuts.append("LOCATION_ID > 1")
        return ", ".join(cuts)


def standard_selections(profile=None, normalisation: str = "continuum") -> dict[str, Selection]:
    """The paper's training set (SNR > 200) and high-SNR test set (100 < SNR < 200), both
    4000-5500 K, sized by the profile (``n_train``, ``n_test``; None = every passing star)."""
    p = config.get_profile(profile)
    visits = p.visits and normalisation == "continuum"
    return {
        "train": Selection(name="train", snr_min=200.0, normalisation=normalisation,
                           visits=visits, max_stars=p.n_train,
                           seed=config.seed_for("dataset:train", p)),
        "test": Selection(name="test", snr_min=100.0, snr_max=200.0,
                          normalisation=normalisation, visits=visits, max_stars=p.n_test,
                          seed=config.seed_for("dataset:test", p)),
    }


def _column(allstar: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.asarray(allstar[name])
    except (ValueError, KeyError):
        raise KeyError(f"the allStar table has no column {name!r}; columns: "
                       f"{', '.join(allstar.dtype.names or ())}") from None


def selection_mask(allstar: np.ndarray, sel: Selection) -> np.ndarray:
    """Boolean mask of the allStar rows passing ``sel`` (before ``max_stars``)."""
    teff = _column(allstar, "PARAM")[:, apogee.PARAM_INDEX["TEFF"]]
    snr = _column(allstar, "SNR")
    feh = _column(allstar, "X_H")[:, apogee.X_H_INDEX["Fe"]]
    with np.errstate(invalid="ignore"):
        ok = (teff >= sel.teff_min) & (teff <= sel.teff_max)
        ok &= (snr > sel.snr_min) & (snr < sel.snr_max)
        ok &= _column(allstar, "VSCATTER") < sel.vscatter_max
        ok &= feh > sel.feh_min
    if sel.starflag_zero:
        ok &= _column(allstar, "STARFLAG") == 0
    if sel.aspcapflag_zero:
        ok &= _column(allstar, "ASPCAPFLAG") == 0
    if sel.exclude_apo1m:
        ok &= _column(allstar, "LOCATION_ID") > 1
    return ok


def select(allstar: np.ndarray, sel: Selection) -> np.ndarray:
    """Sorted allStar indices of the rows passing ``sel`` (a seeded subset if max_stars)."""
    idx = np.flatnonzero(selection_mask(allstar, sel))
    if sel.max_stars is not None and idx.size > sel.max_stars:
        rng = np.random.default_rng(sel.seed)
        idx = np.sort(rng.choice(idx, size=int(sel.max_stars), replace=False))
    return idx


def drop_duplicates(allstar: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """Keep the first of selected allStar rows that point to the same apStar file (same
    APOGEE_ID, TELESCOPE and LOCATION_ID / FIELD); the others become ``duplicate`` skips.

    DR14 lists a star observed in several fields once per field (distinct files, all kept);
    two rows naming the same file would put one spectrum twice into a dataset.
    """
    names = allstar.dtype.names or ()
    parts = [np.char.strip(np.asarray(allstar[c][indices]).astype(str))
             for c in ("APOGEE_ID", "TELESCOPE", "LOCATION_ID", "FIELD") if c in names]
    if not parts or indices.size < 2:
        return indices, []
    key = parts[0]
    for p in parts[1:]:
        key = np.char.add(np.char.add(key, "|"), p)
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    keep = np.zeros(indices.size, bool)
    keep[first] = True
    skips = [{"allstar_index": int(indices[j]), "APOGEE_ID": str(parts[0][j]), "visit": -1,
              "reason": "duplicate", "path": None,
              "message": f"allStar row {int(indices[j])} repeats row {int(indices[first[group[j]]])} "
                         f"({key[j]}): the same apStar file, compiled once"}
             for j in np.flatnonzero(~keep)]
    return indices[keep], skips


def labels_from_allstar(allstar: np.ndarray, rows: np.ndarray,
                        targets=apogee.TARGETS) -> tuple[np.ndarray, np.ndarray]:
    """ASPCAP labels and errors (float32, (n, len(targets))) of allStar ``rows``.

    Teff and logg from PARAM (errors from TEFF_ERR / LOGG_ERR, else the PARAM_COV
    diagonal), abundances from X_H / X_H_ERR via :data:`apogee.X_H_INDEX`. Missing values
    (-9999 or non-finite) are -9999.
    """
    rows = np.asarray(rows)
    names = allstar.dtype.names
    y = np.empty((rows.size, len(targets)), np.float64)
    e = np.empty_like(y)
    for j, t in enumerate(targets):
        if t in ("teff", "logg"):
            k = apogee.PARAM_INDEX[t.upper()]
            y[:, j] = _column(allstar, "PARAM")[rows, k]
            if f"{t.upper()}_ERR" in names:
                e[:, j] = allstar[f"{t.upper()}_ERR"][rows]
            elif "PARAM_COV" in names:
                var = allstar["PARAM_COV"][rows, k, k].astype(np.float64)
                e[:, j] = np.where(var > 0, np.sqrt(np.abs(var)), apogee.MISSING)
            else:
                e[:, j] = apogee.MISSING
        else:
            k = apogee.X_H_INDEX[t]
            y[:, j] = _column(allstar, "X_H")[rows, k]
            e[:, j] = _column(allstar, "X_H_ERR")[rows, k]
    for a in (y, e):
        a[~np.isfinite(a) | (a <= apogee.MISSING)] = apogee.MISSING
    return y.astype(np.float32), e.astype(np.float32)
