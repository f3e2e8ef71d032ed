"""The synthetic allStar table, its truth table and the cluster membership table.

:func:`build_catalog` turns the true :class:`~.population.Population` into

* an allStar table (numpy structured array, DR14 column names, dtypes and order of the
  columns the chain reads) whose ASPCAP-like labels are the truth plus SNR-, Teff-,
  [Fe/H]- and element-dependent noise and small systematics, ``-9999`` where ASPCAP would
  fail, and STARFLAG / ASPCAPFLAG bits for a fraction of the stars;
* a truth table keyed by APOGEE_ID (one row per allStar row, the 22 targets in
  ``apogee.TARGETS`` order plus population information);
* the survey design: fields, LOCATION_ID, telescope, number of visits and the SNR of
  each visit (:func:`visit_snr`, ``SNR**2 == sum(SNRVIS**2)``); the fields of the 18
  clusters are calibration fields with many visits (:data:`CLUSTER_FIELD_MIN_VISITS`).

SNR and NVISITS are drawn so that the paper's cuts on the full table give about the
paper's counts (33,407 training stars with SNR > 200, 28,692 with 100 < SNR < 200).

The Meszaros et al. (2013) cluster table layout is written and read by
:mod:`astronn_paper.survey.meszaros` (works on the real table too).
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np

from astronn_paper import apogee
from astronn_paper.survey.meszaros import format_meszaros, read_meszaros
from astronn_paper.synth import population as popmod
from astronn_paper.synth.population import (
    CLUSTERS,
    COMPONENTS,
    KINDS,
    Population,
    rng_for,
)

MISSING = apogee.MISSING

# ----------------------------------------------------------------------------- bits
#: DR14 STARFLAG bits used here.
STARFLAG_BITS = {
    "BAD_PIXELS": 0, "COMMISSIONING": 1, "BRIGHT_NEIGHBOR": 2, "VERY_BRIGHT_NEIGHBOR": 3,
    "LOW_SNR": 4, "PERSIST_HIGH": 9, "PERSIST_MED": 10, "PERSIST_LOW": 11,
    "PERSIST_JUMP_POS": 12, "PERSIST_JUMP_NEG": 13, "SUSPECT_RV_COMBINATION": 16,
    "SUSPECT_BROAD_LINES": 17,
}
#: DR14 ASPCAPFLAG bits used here.
ASPCAPFLAG_BITS = {
    "TEFF_WARN": 0, "LOGG_WARN": 1, "VMICRO_WARN": 2, "M_H_WARN": 3, "ALPHA_M_WARN": 4,
    "C_M_WARN": 5, "N_M_WARN": 6, "STAR_WARN": 7, "CHI2_WARN": 8, "COLORTE_WARN": 9,
    "ROTATION_WARN": 10, "SN_WARN": 11, "TEFF_BAD": 16, "LOGG_BAD": 17, "STAR_BAD": 23,
    "CHI2_BAD": 24, "SN_BAD": 27, "NO_ASPCAP_RESULT": 31,
}

# ----------------------------------------------------------------------------- survey design
#: Design number of visits of a field and its probability (mean ~3, as the paper's stars).
FIELD_VISITS = np.array([1, 2, 3, 4, 6, 8, 12, 24])
FIELD_VISITS_P = np.array([0.15, 0.08, 0.62, 0.06, 0.05, 0.02, 0.015, 0.005])
#: Cluster fields were APOGEE's calibration fields, observed repeatedly: their design is
#: drawn from the many-visit designs (at least this many visits). The members of the
#: Meszaros et al. (2013) table reach a median S/N ~ 200 at H = 11, against ~ 130 for a
#: typical three-visit field.
CLUSTER_FIELD_MIN_VISITS = 6
#: Combined SNR = SNR_H11 * 10**(-0.2 (H - 11)) * sqrt(NVISITS / 3) * lognormal(SNR_SCATTER):
#: APOGEE reaches SNR ~ 100 at H ~ 12.2 in three visits. Tuned so that the paper's cuts on
#: the full table give the paper's counts.
SNR_H11 = 128.0
SNR_SCATTER = 0.30
SNR_MAX = 1500.0
#: Log-normal scatter of the visit SNRs of one star about their mean (weather, moon, airmass):
#: makes the median visit SNR of the 100 < SNR < 200 test stars ~55-60 with ~3 visits.
VISIT_SNR_SCATTER = 0.6
#: Cell size (deg) of the synthetic plate fields in (l, b).
FIELD_CELL_DEG = 3.0

# ----------------------------------------------------------------------------- ASPCAP-like noise
#: Per-label measurement noise at SNR 150 for a 4600 K solar-metallicity giant (``sigma``),
#: base failure fraction (``fail``), systematic offset (``bias``) and Teff trend of the
#: systematic per 1000 K (``bias_t``); ``mol`` marks labels from molecular features (CNO).
LABEL_NOISE: dict[str, dict] = {
    "C": dict(sigma=0.030, fail=0.02, bias=0.01, bias_t=-0.02, mol=True),
    "CI": dict(sigma=0.050, fail=0.04, bias=0.03, bias_t=0.03, mol=False),
    "N": dict(sigma=0.040, fail=0.03, bias=-0.01, bias_t=0.03, mol=True),
    "O": dict(sigma=0.035, fail=0.03, bias=0.02, bias_t=-0.02, mol=True),
    "Na": dict(sigma=0.120, fail=0.15, bias=0.04, bias_t=0.05, mol=False),
    "Mg": dict(sigma=0.022, fail=0.01, bias=-0.01, bias_t=0.01, mol=False),
    "Al": dict(sigma=0.050, fail=0.03, bias=0.02, bias_t=-0.03, mol=False),
    "Si": dict(sigma=0.025, fail=0.01, bias=0.01, bias_t=0.02, mol=False),
    "P": dict(sigma=0.110, fail=0.25, bias=0.05, bias_t=0.04, mol=False),
    "S": dict(sigma=0.055, fail=0.08, bias=0.02, bias_t=0.03, mol=False),
    "K": dict(sigma=0.040, fail=0.04, bias=-0.02, bias_t=0.01, mol=False),
    "Ca": dict(sigma=0.025, fail=0.02, bias=0.00, bias_t=0.02, mol=False),
    "TI": dict(sigma=0.040, fail=0.04, bias=-0.03, bias_t=0.05, mol=False),
    "TiII": dict(sigma=0.120, fail=0.10, bias=0.05, bias_t=-0.04, mol=False),
    "V": dict(sigma=0.080, fail=0.10, bias=-0.03, bias_t=0.06, mol=False),
    "Cr": dict(sigma=0.040, fail=0.04, bias=0.01, bias_t=0.02, mol=False),
    "Mn": dict(sigma=0.030, fail=0.02, bias=-0.01, bias_t=0.02, mol=False),
    "Fe": dict(sigma=0.015, fail=0.005, bias=0.00, bias_t=0.01, mol=False),
    "Co": dict(sigma=0.120, fail=0.12, bias=0.03, bias_t=0.05, mol=False),
    "Ni": dict(sigma=0.022, fail=0.01, bias=0.00, bias_t=0.01, mol=False),
}
#: Elements 20-25 (Cu, Ge, Ce, Rb, Y, Nd) were not released in DR14: always -9999.
UNRELEASED = ("Cu", "Ge", "Ce", "Rb", "Y", "Nd")
TEFF_SIGMA150 = 30.0
LOGG_SIGMA150 = 0.05
LOGG_FAIL = 0.03
#: ASPCAP's grids end here: hotter or cooler stars get no result.
ASPCAP_TEFF_RANGE = (3500.0, 8000.0)

#: DR14 named abundance columns: ``<EL>_FE`` (``FE_H`` for iron), in ASPCAP order.
XFE_COLUMNS = tuple("FE_H" if e == "Fe" else f"{e.upper()}_FE" for e in apogee.ASPCAP_ELEMENTS)

#: allStar columns (DR14 names, dtypes and order; a subset of the real table). In memory
#: the byte order is native; the FITS file stores them big-endian, as every FITS table.
ALLSTAR_DTYPE = np.dtype(
    [
        ("APOGEE_ID", "S18"), ("TELESCOPE", "S8"), ("LOCATION_ID", "<i2"), ("FIELD", "S16"),
        ("J", "<f4"), ("J_ERR", "<f4"), ("H", "<f4"), ("H_ERR", "<f4"), ("K", "<f4"), ("K_ERR", "<f4"),
        ("RA", "<f8"), ("DEC", "<f8"), ("GLON", "<f8"), ("GLAT", "<f8"),
        ("APOGEE_TARGET1", "<i4"), ("APOGEE_TARGET2", "<i4"), ("AK_TARG", "<f4"),
        ("NVISITS", "<i4"), ("SNR", "<f4"), ("STARFLAG", "<i4"), ("ANDFLAG", "<i4"),
        ("VHELIO_AVG", "<f4"), ("VSCATTER", "<f4"), ("VERR", "<f4"), ("VERR_MED", "<f4"),
        ("PARAM", "<f4", (9,)), ("FPARAM", "<f4", (9,)), ("ASPCAPFLAG", "<i4"),
        ("TEFF", "<f4"), ("TEFF_ERR", "<f4"), ("LOGG", "<f4"), ("LOGG_ERR", "<f4"),
        ("VMICRO", "<f4"), ("VMACRO", "<f4"), ("VSINI", "<f4"),
        ("M_H", "<f4"), ("M_H_ERR", "<f4"), ("ALPHA_M", "<f4"), ("ALPHA_M_ERR", "<f4"),
        ("X_H", "<f4", (26,)), ("X_H_ERR", "<f4", (26,)),
    ]
    + [(c, "<f4") for c in XFE_COLUMNS]
    + [("FE_H_ERR", "<f4")]
)

#: Truth table: APOGEE_ID, the 22 targets (apogee.TARGETS order) and population facts.
TRUTH_DTYPE = np.dtype(
    [("APOGEE_ID", "S18"), ("LOCATION_ID", "<i2")]
    + [(t, "<f4") for t in apogee.TARGETS]
    + [("vmicro", "<f4"), ("M_H", "<f4"), ("ALPHA_FE", "<f4"), ("in_box", "?"),
       ("component", "S8"), ("kind", "S6"), ("cluster", "S8"), ("dist", "<f4"),
       ("R", "<f4"), ("z", "<f4"), ("star", "<i4"), ("pollution", "<f4")]
)


# ----------------------------------------------------------------------------- identifiers
def apogee_ids(ra: np.ndarray, dec: np.ndarray, star: np.ndarray | None = None) -> np.ndarray:
    """2MASS-style designations ``2MHHMMSSss+DDMMSSs`` (truncated, as 2MASS does).

    Rows of the same ``star`` share their designation; distinct stars whose truncated
    designations would collide (closer than ~0.1") get the declination's last digit bumped,
    so that a designation names one star.
    """
    if star is None:
        star = np.arange(len(ra))
    _, first, inverse = np.unique(star, return_index=True, return_inverse=True)
    ra_cs = np.floor(np.mod(ra[first], 360.0) / 15.0 * 360000.0 + 1e-6).astype(np.int64)  # 0.01 s
    ds = np.floor(np.abs(dec[first]) * 36000.0 + 1e-6).astype(np.int64)  # 0.1 arcsec
    neg = dec[first] < 0
    for _ in range(10):  # resolve collisions between distinct stars
        key = (ra_cs * 2 + neg) * 10_000_000 + ds
        _, idx, counts = np.unique(key, return_index=True, return_counts=True)
        if counts.max() == 1:
            break
        dup = np.ones(len(key), bool)
        dup[idx] = False  # the first star of each key keeps it
        ds[dup] += 1
    hh, mm, ss = ra_cs // 360000, (ra_cs // 6000) % 60, ra_cs % 6000
    dd, dm, dsec = ds // 36000, (ds // 600) % 60, ds % 600
    # fixed-width ASCII, built digit by digit (vectorised; no Python loop over stars)
    chars = np.empty((len(ra_cs), 18), dtype=np.uint8)
    chars[:, 0], chars[:, 1] = ord("2"), ord("M")
    col = 2
    for value, width in ((hh, 2), (mm, 2), (ss, 4)):
        for k in range(width):
            chars[:, col] = ord("0") + (value // 10 ** (width - 1 - k)) % 10
            col += 1
    chars[:, col] = np.where(neg, ord("-"), ord("+"))
    col += 1
    for value, width in ((dd, 2), (dm, 2), (dsec, 3)):
        for k in range(width):
            chars[:, col] = ord("0") + (value // 10 ** (width - 1 - k)) % 10
            col += 1
    ids = chars.view("S18").ravel()
    return ids[inverse]


def _fields(pop: Population, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TELESCOPE, FIELD, LOCATION_ID): 3-degree cells in (l, b) named like DR14 fields
    (``LLL+BB``), the cluster fields by the cluster's name; repeated observations of a star
    go to a different field (``<field>_btx``, ``<field>_2``, ...) or to the 1-m telescope
    (LOCATION_ID 1, FIELD ``calibration``)."""
    n = len(pop)
    li = np.floor(np.mod(pop.glon, 360.0) / FIELD_CELL_DEG).astype(np.int64)
    bi = np.floor((pop.glat + 90.0) / FIELD_CELL_DEG).astype(np.int64)
    cell = li * 1000 + bi
    for k, cl in enumerate(CLUSTERS):
        near = popmod.angular_separation(pop.ra, pop.dec, cl.ra, cl.dec) < 1.0
        cell = np.where(near, -1 - k, cell)
    # name each (cell, repeat) once, then index: a few thousand strings, not 277k
    key = cell * 64 + np.minimum(pop.dup_rank, 63)
    ukey, inv = np.unique(key, return_inverse=True)

    def name(k: int) -> str:
        c, rank = divmod(int(k), 64)
        if c < 0:
            base = CLUSTERS[-1 - c].name
        else:
            lc = int(round((c // 1000 + 0.5) * FIELD_CELL_DEG)) % 360
            bc = int(round((c % 1000 + 0.5) * FIELD_CELL_DEG - 90.0))
            base = f"{lc:03d}{'-' if bc < 0 else '+'}{abs(bc):02d}"
        return base + ("" if rank == 0 else "_btx" if rank == 1 else f"_{rank}")

    field = np.array([name(k) for k in ukey], dtype="U16")[inv]
    telescope = np.full(n, "apo25m", dtype="U8")
    one_m = (pop.dup_rank == 1) & (pop.hmag < 10.0) & (rng.random(n) < 0.08)
    telescope[one_m] = "apo1m"
    field[one_m] = "calibration"
    names, inv = np.unique(field[~one_m], return_inverse=True)
    location = np.ones(n, dtype=np.int16)
    location[~one_m] = 4000 + inv
    if len(names) > 28000:  # pragma: no cover - int16 guard
        raise RuntimeError("too many synthetic fields for an int16 LOCATION_ID")
    return telescope.astype("S8"), field.astype("S16"), location


def _design_visits(u, p) -> np.ndarray:
    """Design numbers of visits for uniform deviates ``u`` under probabilities ``p``."""
    cum = np.cumsum(p) / np.sum(p)
    return FIELD_VISITS[np.searchsorted(cum, u, side="right").clip(0, len(FIELD_VISITS) - 1)]


def _nvisits(pop: Population, location, rng, cluster_field=None) -> np.ndarray:
    """Visits per star: the field's design number, minus a few missed visits. Cluster
    (calibration) fields (``cluster_field``, per row) have many-visit designs."""
    uloc, inv = np.unique(location, return_inverse=True)
    # a field's design depends only on its LOCATION_ID (crc32: deterministic, seed-mixed)
    u = np.array([(zlib.crc32(f"{pop.seed}:{l}".encode()) % 10_000) / 10_000 for l in uloc])
    design = _design_visits(u, FIELD_VISITS_P)
    if cluster_field is not None:
        calib = np.zeros(len(uloc), bool)
        calib[inv[np.asarray(cluster_field, bool) & (location != 1)]] = True
        deep = np.where(FIELD_VISITS >= CLUSTER_FIELD_MIN_VISITS, FIELD_VISITS_P, 0.0)
        design = np.where(calib, _design_visits(u, deep), design)
    design = design[inv]
    missed = rng.binomial(np.maximum(design - 1, 0), 0.08)
    nv = np.maximum(design - missed, 1)
    nv = np.where(location == 1, rng.integers(1, 4, len(nv)), nv)  # 1-m: a few visits
    return nv.astype(np.int32)


def _snr(pop: Population, nvisits, rng) -> np.ndarray:
    # fields with many visits target fainter stars: SNR grows slowly with NVISITS
    snr = SNR_H11 * 10 ** (-0.2 * (pop.hmag - 11.0)) * (nvisits / 3.0) ** 0.25
    snr = snr * rng.lognormal(0.0, SNR_SCATTER, len(snr))
    return np.clip(snr, 1.0, SNR_MAX).astype(np.float32)


def visit_snr(snr: float, nvisits: int, seed: int, index: int) -> np.ndarray:
    """SNR of each visit of allStar row ``index`` (``sqrt(sum SNRVIS**2) == SNR``);
    deterministic in (seed, index)."""
    rng = np.random.default_rng([int(seed), int(index), 1])
    w = rng.lognormal(0.0, VISIT_SNR_SCATTER, int(nvisits))
    return (float(snr) * w / np.sqrt(np.sum(w * w))).astype(np.float64)


# ----------------------------------------------------------------------------- measured labels
def _noise_scale(snr):
    """Noise relative to SNR 150: photon noise plus a floor (35 % of the variance)."""
    return np.sqrt(0.35 + 0.65 * (150.0 / np.maximum(snr, 1.0)) ** 2)


def _measure(pop: Population, snr, rng):
    """ASPCAP-like Teff, logg, [X/H] (26) with errors and failures; plus flags inputs."""
    n = len(pop)
    s = _noise_scale(snr)
    teff, logg, feh = pop.teff, pop.logg, pop.feh
    hot_f = 1.0 + np.clip((teff - 5000.0) / 1000.0, 0, None) ** 2
    poor_f = 10 ** (-0.3 * np.clip(feh, -2.5, 0.0))
    failed = (teff < ASPCAP_TEFF_RANGE[0]) | (teff > ASPCAP_TEFF_RANGE[1]) | (snr < 10) \
        | (rng.random(n) < 0.015) | ((snr < 30) & (rng.random(n) < 0.3))

    t_err = TEFF_SIGMA150 * s * hot_f * np.sqrt(poor_f)
    t_meas = teff + t_err * rng.standard_normal(n) + 15.0 * feh - 10.0
    g_err = LOGG_SIGMA150 * s * hot_f * np.where(pop.kind == 2, 1.6, 1.0)
    rc_bias = np.where(pop.kind == 1, 0.05, 0.0)
    g_meas = logg + g_err * rng.standard_normal(n) + rc_bias
    g_fail = failed | (rng.random(n) < LOGG_FAIL * np.where(pop.kind >= 2, 3.0, 1.0))

    xh = np.full((n, 26), MISSING)
    xh_err = np.full((n, 26), MISSING)
    dt = (teff - 4600.0) / 1000.0
    for j, el in enumerate(apogee.ASPCAP_ELEMENTS):
        if el in UNRELEASED:
            continue
        p = LABEL_NOISE[el]
        weak = np.exp(dt / (0.6 if p["mol"] else 0.9)) * poor_f ** (1.5 if p["mol"] else 1.0)
        sig = p["sigma"] * s * np.clip(weak, 0.5, 8.0)
        val = pop.xh[:, j] + p["bias"] + p["bias_t"] * dt + sig * rng.standard_normal(n)
        pf = p["fail"] * (1 + 3 * (teff > 5200) + 3 * (feh < -1.0) + 2 * (snr < 70))
        bad = failed | (rng.random(n) < np.clip(pf, 0, 0.95)) | (sig > 0.5)
        xh[:, j] = np.where(bad, MISSING, val)
        xh_err[:, j] = np.where(bad, MISSING, sig * rng.lognormal(0.0, 0.15, n))
    m_h = np.where(failed, MISSING, feh + 0.3 * 0.0 + 0.02 * s * rng.standard_normal(n))
    alpha_m = np.where(failed, MISSING, pop.alpha + 0.02 * s * rng.standard_normal(n))
    return dict(
        failed=failed, teff=np.where(failed, MISSING, t_meas), teff_err=np.where(failed, MISSING, t_err),
        logg=np.where(g_fail, MISSING, g_meas), logg_err=np.where(g_fail, MISSING, g_err),
        xh=xh, xh_err=xh_err, m_h=m_h, alpha_m=alpha_m,
    )


def _flags(pop: Population, snr, nvisits, meas, rng):
    n = len(pop)
    b = STARFLAG_BITS
    star = np.zeros(n, dtype=np.int64)

    def setbit(arr, bit, mask):
        arr |= np.where(mask, 1 << bit, 0)

    # persistence in the blue chip affected about a third of the APOGEE-1 fibres
    for name, frac in (("BAD_PIXELS", 0.03), ("BRIGHT_NEIGHBOR", 0.03), ("VERY_BRIGHT_NEIGHBOR", 0.005),
                       ("PERSIST_HIGH", 0.14), ("PERSIST_MED", 0.10), ("PERSIST_LOW", 0.12),
                       ("PERSIST_JUMP_POS", 0.01), ("PERSIST_JUMP_NEG", 0.01)):
        setbit(star, b[name], rng.random(n) < frac)
    setbit(star, b["LOW_SNR"], snr < 5)
    binary = rng.random(n) < 0.06
    vscatter = np.where(nvisits > 1, np.abs(rng.normal(0, 0.15, n)) + 0.02, 0.0)
    vscatter = np.where(binary & (nvisits > 1), rng.lognormal(np.log(3.0), 0.8, n), vscatter)
    setbit(star, b["SUSPECT_RV_COMBINATION"], vscatter > 3.0)
    rotator = (pop.kind >= 2) & (rng.random(n) < 0.15)
    setbit(star, b["SUSPECT_BROAD_LINES"], rotator & (rng.random(n) < 0.3))

    a = ASPCAPFLAG_BITS
    asp = np.zeros(n, dtype=np.int64)
    setbit(asp, a["STAR_BAD"], meas["failed"])
    setbit(asp, a["NO_ASPCAP_RESULT"], meas["failed"] & (snr < 10))
    setbit(asp, a["SN_WARN"], snr < 70)
    setbit(asp, a["SN_BAD"], snr < 30)
    setbit(asp, a["CHI2_WARN"], rng.random(n) < np.where(pop.teff > 5500, 0.25, 0.15))
    setbit(asp, a["COLORTE_WARN"], rng.random(n) < 0.06)
    setbit(asp, a["ROTATION_WARN"], rotator)
    setbit(asp, a["TEFF_WARN"], (pop.teff > 7000) | (pop.teff < 3700))
    setbit(asp, a["M_H_WARN"], pop.feh < -2.0)
    warn = (asp & sum(1 << a[k] for k in ("TEFF_WARN", "LOGG_WARN", "CHI2_WARN", "COLORTE_WARN",
                                          "ROTATION_WARN", "SN_WARN"))) != 0
    setbit(asp, a["STAR_WARN"], warn)
    return star.astype(np.int32), asp.astype(np.int32), vscatter


# ----------------------------------------------------------------------------- the catalog
@dataclass
class Catalog:
    """The synthetic survey's tables (all one row per allStar row)."""

    allstar: np.ndarray
    truth: np.ndarray
    population: Population
    seed: int
    #: True for the decorrelated variant of the survey (``build_population(decorrelated=True)``)
    decorrelated: bool = False

    def __len__(self) -> int:
        return len(self.allstar)


def build_catalog(seed: int = 2019, decorrelated: bool = False) -> Catalog:
    """Build the allStar and truth tables of the synthetic survey (~3 s for 277,371 rows).

    ``decorrelated=True``: the same survey on a population whose field labels around the
    training box are decorrelated (:func:`~.population.decorrelate_labels`)."""
    pop = popmod.build_population(seed, decorrelated=decorrelated)
    n = len(pop)
    telescope, field, location = _fields(pop, rng_for(seed, "fields"))
    rng = rng_for(seed, "design")
    cluster_field = np.isin(np.char.partition(field, b"_")[:, 0],
                            np.array([c.name for c in CLUSTERS], dtype="S16"))
    nvisits = _nvisits(pop, location, rng, cluster_field)
    snr = _snr(pop, nvisits, rng)
    meas = _measure(pop, snr, rng_for(seed, "measure"))
    starflag, aspcapflag, vscatter = _flags(pop, snr, nvisits, meas, rng_for(seed, "flags"))
    rng = rng_for(seed, "catalog")

    a = np.zeros(n, dtype=ALLSTAR_DTYPE)
    ids = apogee_ids(pop.ra, pop.dec, pop.star)
    a["APOGEE_ID"], a["TELESCOPE"], a["FIELD"], a["LOCATION_ID"] = ids, telescope, field, location
    for band, true in (("J", pop.jmag), ("H", pop.hmag), ("K", pop.kmag)):
        err = 0.02 + 0.03 * np.clip(10 ** (0.4 * (true - 13.5)), 0, 3)
        a[band] = true + err * rng.standard_normal(n)
        a[f"{band}_ERR"] = err
    a["RA"], a["DEC"], a["GLON"], a["GLAT"] = pop.ra, pop.dec, pop.glon, pop.glat
    a["APOGEE_TARGET2"] = np.where(pop.kind == 3, 1 << 9, 0)  # telluric standards
    a["AK_TARG"] = np.clip(pop.ak + rng.normal(0, 0.03, n), 0, None)
    a["NVISITS"], a["SNR"], a["STARFLAG"], a["ANDFLAG"] = nvisits, snr, starflag, starflag
    a["VHELIO_AVG"] = pop.vhelio + rng.normal(0, 0.1, n)
    a["VSCATTER"] = vscatter
    a["VERR"] = a["VERR_MED"] = 0.05 + 20.0 / np.maximum(snr, 1)

    failed = meas["failed"]
    a["TEFF"], a["TEFF_ERR"] = meas["teff"], meas["teff_err"]
    a["LOGG"], a["LOGG_ERR"] = meas["logg"], meas["logg_err"]
    a["VMICRO"] = np.where(failed, MISSING, pop.vmicro + rng.normal(0, 0.05, n))
    a["VMACRO"] = MISSING
    a["VSINI"] = np.where(failed | (pop.kind < 2), MISSING, np.abs(rng.normal(3, 3, n)))
    a["M_H"] = meas["m_h"]
    a["M_H_ERR"] = np.where(failed, MISSING, 0.03)
    a["ALPHA_M"] = meas["alpha_m"]
    a["ALPHA_M_ERR"] = np.where(failed, MISSING, 0.03)
    a["X_H"], a["X_H_ERR"] = meas["xh"], meas["xh_err"]
    ix = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}
    fe = meas["xh"][:, ix["Fe"]]
    for j, col in enumerate(XFE_COLUMNS):
        x = meas["xh"][:, j]
        if col == "FE_H":
            a[col] = x
        else:
            a[col] = np.where((x == MISSING) | (fe == MISSING), MISSING, x - fe)
    a["FE_H_ERR"] = meas["xh_err"][:, ix["Fe"]]
    cm = np.where((a["C_FE"] == MISSING), MISSING, a["C_FE"])
    nm = np.where((a["N_FE"] == MISSING), MISSING, a["N_FE"])
    param = np.stack([a["TEFF"], a["LOGG"], a["VMICRO"], a["M_H"], cm, nm, a["ALPHA_M"],
                      a["VSINI"], a["VMACRO"]], axis=1)
    a["PARAM"] = param
    fparam = param.copy()
    fparam[:, 1] = np.where(meas["failed"], MISSING, pop.logg + (a["LOGG"] - pop.logg))
    a["FPARAM"] = fparam
    a["ASPCAPFLAG"] = aspcapflag
    return Catalog(allstar=a, truth=_truth_table(pop, ids, location), population=pop, seed=int(seed),
                   decorrelated=bool(decorrelated))


def _truth_table(pop: Population, ids, location) -> np.ndarray:
    t = np.zeros(len(pop), dtype=TRUTH_DTYPE)
    t["APOGEE_ID"], t["LOCATION_ID"] = ids, location
    t["teff"], t["logg"] = pop.teff, pop.logg
    xh20 = pop.xh20
    for k, name in enumerate(apogee.ABUNDANCES):
        t[name] = xh20[:, k]
    t["vmicro"], t["M_H"], t["ALPHA_FE"] = pop.vmicro, pop.feh, pop.alpha
    t["in_box"] = pop.in_box
    t["component"] = np.array(COMPONENTS, dtype="S8")[pop.component]
    t["kind"] = np.array(KINDS, dtype="S6")[pop.kind]
    names = np.array([c.name for c in CLUSTERS] + [""], dtype="S8")
    t["cluster"] = names[pop.cluster]  # -1 -> ""
    t["dist"], t["R"], t["z"], t["star"] = pop.dist, pop.R, pop.z, pop.star
    t["pollution"] = pop.pollution  # second-generation pollution fraction (0: none)
    return t


@functools.lru_cache(maxsize=2)
def cached_catalog(seed: int = 2019, decorrelated: bool = False) -> Catalog:
    """:func:`build_catalog`, cached per process (treat the arrays as read-only)."""
    cat = build_catalog(seed, decorrelated=decorrelated)
    for arr in (cat.allstar, cat.truth):
        arr.flags.writeable = False
    return cat


# ----------------------------------------------------------------------------- paper's cuts
def paper_cuts(allstar: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of the paper's training (SNR > 200) and high-SNR test (100 < SNR < 200)
    selections: 4000 < TEFF < 5500, STARFLAG == 0, ASPCAPFLAG == 0, VSCATTER < 1."""
    base = ((allstar["TEFF"] > 4000) & (allstar["TEFF"] < 5500) & (allstar["STARFLAG"] == 0)
            & (allstar["ASPCAPFLAG"] == 0) & (allstar["VSCATTER"] < 1))
    return {"train": base & (allstar["SNR"] > 200),
            "test": base & (allstar["SNR"] > 100) & (allstar["SNR"] < 200)}


# ----------------------------------------------------------------------------- cluster members
def membership_rows(cat: Catalog) -> list[dict]:
    """Cluster members (first allStar row of each member star) as Meszaros-layout dicts,
    filled with the synthetic ASPCAP-like measurements (blank where -9999)."""
    a, pop = cat.allstar, cat.population
    rows = []
    order = np.lexsort((a["APOGEE_ID"], pop.cluster))
    for i in order:
        if pop.cluster[i] < 0 or pop.dup_rank[i] != 0:
            continue

        def ok(x):
            return None if x == MISSING else float(x)

        teff, logg, mh = ok(a["TEFF"][i]), ok(a["LOGG"][i]), ok(a["M_H"][i])
        rows.append({
            "2MASS": a["APOGEE_ID"][i].decode(), "Cluster": CLUSTERS[pop.cluster[i]].name,
            "RV": float(a["VHELIO_AVG"][i]), "Teff": teff, "Teffc": teff, "logg": logg, "loggc": logg,
            "[M/H]": mh, "[M/H]c": mh, "[C/M]": ok(a["PARAM"][i, 4]), "[N/M]": ok(a["PARAM"][i, 5]),
            "[a/M]": ok(a["ALPHA_M"][i]), "S/N": min(float(a["SNR"][i]), 9999.9),
            "Jmag": float(a["J"][i]), "Hmag": float(a["H"][i]), "Ksmag": float(a["K"][i]),
            "e_Teffc": None if teff is None else min(float(a["TEFF_ERR"][i]), 999.9),
            "e_[M/H]c": None if mh is None else float(a["M_H_ERR"][i]),
        })
    return rows


def members_table(cat: Catalog):
    """Cluster membership as an astropy Table in the Meszaros layout (through the text
    format, so that the in-memory and the exported tables are identical)."""
    return read_meszaros(format_meszaros(membership_rows(cat)).splitlines())
