"""True labels of the synthetic DR14 survey: a Galactic population on the real allStar rows.

Every one of the 277,371 DR14 allStar rows keeps its real position and Gaia DR2 parallax
(astroNN's ``gaiadr2_apogeedr14_parallax.npz``, in allStar order). On top of them we draw

* a **distance**: ``1/parallax`` where the parallax is good (``parallax/error > 5``), else
  a prior per stellar kind (distant giants, nearby dwarfs);
* a **Galactic component** (thin disc, thick disc, halo) from the density of each at the
  star's galactocentric (R, z) (astropy's ``Galactocentric`` frame);
* **chemistry**: a thin disc with a radial [Fe/H] gradient (:data:`FEH_RADIAL_GRADIENT`)
  and a vertical one, on the low-alpha sequence; a thick disc on the high-alpha sequence;
  a metal-poor halo; 20 element abundances (:data:`ELEMENT_TRENDS`) with [X/Fe] trends
  along the alpha sequence and with [Fe/H], intrinsic scatter with shared (correlated)
  components; C and N changed by first dredge-up and extra mixing on the upper giant branch;
* a **stellar kind** and Teff, logg: red giants on a metallicity-dependent track
  Teff(logg, [M/H]) and red clump stars (both fitted to PARSEC v1.2S 5 Gyr isochrones,
  coefficients below), main-sequence dwarfs (classified from the real Gaia absolute
  magnitude where the parallax is good), hot telluric-standard stars, very metal-poor halo
  stars;
* **clusters** on the real rows nearest to their centres (:data:`CLUSTERS`): M67,
  NGC 6819 and NGC 6791 chemically homogeneous (spread <= 0.02 dex), M13 with Na-O and
  Mg-Al anticorrelations and a N spread;
* photometry (2MASS J, H, Ks) and extinction A_K consistent with the real Gaia G.

Rows sharing a position are the same star observed in different fields (as in DR14):
they share every true label. Everything is vectorised and deterministic in ``seed``.
"""
from __future__ import annotations

import functools
import os
import zlib
from dataclasses import dataclass

import numpy as np

from .. import apogee

# ----------------------------------------------------------------------------- constants
#: Injected radial [Fe/H] gradient of the thin disc (dex/kpc); later notebooks compare the
#: gradient recovered from the network's abundances with this value.
FEH_RADIAL_GRADIENT = -0.06
#: Injected vertical [Fe/H] gradient of the thin disc (dex/kpc).
FEH_VERTICAL_GRADIENT = -0.20
#: Solar galactocentric radius (kpc) used for the gradient's zero point.
R_SUN = 8.0

#: Component codes (truth column ``component``).
COMPONENTS = ("thin", "thick", "halo", "cluster")
#: Stellar kinds (truth column ``kind``).
KINDS = ("rgb", "rc", "dwarf", "hot")

#: Scale lengths / heights (kpc) and local normalisations of the density model.
DISC_MODEL = {
    "thin": {"hR": 2.6, "hz": 0.30, "norm": 1.0},
    "thick": {"hR": 2.0, "hz": 0.90, "norm": 0.12},
    "halo": {"r0": 8.0, "slope": 3.5, "norm": 0.006},
}

#: RGB track fitted to PARSEC v1.2S 5 Gyr isochrones ([M/H] = -1.75, -0.75, -0.25, +0.25;
#: label 3, 0.5 < logg < 3.6): Teff = c . (1, g, m, g m, g^2, m^2), rms 16 K.
RGB_TEFF_COEF = np.array([3139.45, 679.70, -533.03, 7.96, -40.77, -108.00])
#: Red clump (core-He burning) median Teff and logg of the same isochrones vs [M/H].
RC_MH = np.array([-1.75, -0.75, -0.25, 0.25])
RC_TEFF = np.array([5444.0, 5159.0, 4851.0, 4568.0])
RC_LOGG = np.array([2.46, 2.435, 2.425, 2.43])
#: Main-sequence logg fitted to the same isochrones (label 1, Teff > 3900 K):
#: logg = c0 + c1 x + c2 x^2 + c3 [M/H], x = (Teff - 5000)/1000, rms 0.07 dex.
MS_LOGG_COEF = np.array([4.569, -0.166, -0.071, -0.169])
#: Intrinsic (G - H)_0 colour vs theta = 5040/Teff from the same isochrones, rms 0.08 mag.
G_MINUS_H_COEF = np.array([-2.109, 4.195, -0.274])

#: Extinction ratios used for photometry: A_X / A_Ks.
EXT_RATIO = {"J": 2.5, "H": 1.55, "Ks": 1.0, "G": 6.9}


@dataclass(frozen=True)
class Cluster:
    """A star cluster placed on the allStar rows nearest to its centre."""

    name: str          # Meszaros et al. (2013) spelling: M67, N6819, N6791, M13
    ra: float          # deg (J2000)
    dec: float         # deg
    n_members: int     # rows made members
    feh: float         # [Fe/H]
    alpha: float       # [alpha/Fe]
    dist: float        # kpc
    age_like_logg: tuple[float, float]  # logg range of the observed giants
    spread: float      # intrinsic abundance spread (dex) of the homogeneous elements
    globular: bool = False


#: Clusters with members among the real rows (centres from the literature; member counts of
#: the order of the paper's M67 14, NGC 6819 20, M13 23 stars).
CLUSTERS: tuple[Cluster, ...] = (
    Cluster("M67", 132.846, 11.814, 22, 0.00, 0.00, 0.85, (2.0, 3.6), 0.015),
    Cluster("N6819", 295.327, 40.190, 28, 0.05, 0.00, 2.40, (2.0, 3.3), 0.015),
    Cluster("N6791", 290.221, 37.772, 22, 0.35, 0.02, 4.10, (2.0, 3.4), 0.015),
    Cluster("M13", 250.423, 36.461, 28, -1.55, 0.30, 7.10, (0.8, 2.8), 0.02, globular=True),
)

#: [X/Fe] trends of the 26 ASPCAP elements (ASPCAP order; CI == C and TiII == Ti in truth):
#: [X/Fe] = c0 + c_alpha [alpha/Fe] + c_feh [Fe/H] + sigma * (sqrt(rho) shared + sqrt(1-rho) own),
#: where ``shared`` is the latent of the element's ``group`` ("alpha", "oddz", "fepeak",
#: "cno", "heavy"): elements of a group scatter together (correlated).
ELEMENT_TRENDS: dict[str, dict] = {
    "C": dict(c0=0.00, ca=0.35, cf=-0.05, sigma=0.05, group="cno", rho=0.3),
    "N": dict(c0=0.05, ca=-0.10, cf=0.10, sigma=0.05, group="cno", rho=0.3),
    "O": dict(c0=0.00, ca=1.10, cf=-0.05, sigma=0.03, group="alpha", rho=0.5),
    "Na": dict(c0=0.02, ca=0.10, cf=0.15, sigma=0.06, group="oddz", rho=0.4),
    "Mg": dict(c0=0.00, ca=1.00, cf=0.00, sigma=0.02, group="alpha", rho=0.6),
    "Al": dict(c0=0.00, ca=0.85, cf=0.05, sigma=0.04, group="oddz", rho=0.4),
    "Si": dict(c0=0.00, ca=0.80, cf=-0.03, sigma=0.025, group="alpha", rho=0.6),
    "P": dict(c0=0.05, ca=0.40, cf=0.00, sigma=0.08, group="oddz", rho=0.2),
    "S": dict(c0=0.00, ca=0.90, cf=-0.05, sigma=0.05, group="alpha", rho=0.4),
    "K": dict(c0=0.00, ca=0.50, cf=0.00, sigma=0.04, group="oddz", rho=0.3),
    "Ca": dict(c0=0.00, ca=0.70, cf=-0.02, sigma=0.025, group="alpha", rho=0.5),
    "TI": dict(c0=0.00, ca=0.70, cf=0.00, sigma=0.03, group="alpha", rho=0.4),
    "V": dict(c0=0.00, ca=0.30, cf=0.05, sigma=0.05, group="fepeak", rho=0.3),
    "Cr": dict(c0=0.00, ca=-0.10, cf=0.00, sigma=0.03, group="fepeak", rho=0.4),
    "Mn": dict(c0=-0.05, ca=-0.40, cf=0.20, sigma=0.03, group="oddz", rho=0.3),
    "Fe": dict(c0=0.00, ca=0.00, cf=0.00, sigma=0.00, group="fepeak", rho=0.0),
    "Co": dict(c0=0.00, ca=0.15, cf=0.05, sigma=0.05, group="fepeak", rho=0.3),
    "Ni": dict(c0=0.00, ca=0.05, cf=0.05, sigma=0.02, group="fepeak", rho=0.5),
    "Cu": dict(c0=-0.05, ca=0.10, cf=0.15, sigma=0.06, group="fepeak", rho=0.2),
    "Ge": dict(c0=0.00, ca=0.10, cf=0.00, sigma=0.10, group="heavy", rho=0.2),
    "Ce": dict(c0=0.05, ca=-0.20, cf=-0.10, sigma=0.08, group="heavy", rho=0.5),
    "Rb": dict(c0=0.00, ca=0.00, cf=0.00, sigma=0.10, group="heavy", rho=0.2),
    "Y": dict(c0=0.05, ca=-0.20, cf=-0.10, sigma=0.08, group="heavy", rho=0.5),
    "Nd": dict(c0=0.05, ca=0.10, cf=-0.10, sigma=0.08, group="heavy", rho=0.5),
}
_GROUPS = ("alpha", "oddz", "fepeak", "cno", "heavy")

#: Index of each of the 20 network abundances (apogee.ABUNDANCES order) in the 26 ASPCAP ones.
ABUNDANCE_COLUMNS = np.array([apogee.X_H_INDEX[t] for t in apogee.ABUNDANCES])


def rng_for(seed: int, purpose: str) -> np.random.Generator:
    """An independent generator for one purpose of one survey seed."""
    return np.random.default_rng([int(seed), zlib.crc32(purpose.encode())])


# ----------------------------------------------------------------------------- positions
@functools.lru_cache(maxsize=1)
def real_positions() -> dict[str, np.ndarray]:
    """RA, DEC (deg), Gaia DR2 parallax and error (mas) and G of the DR14 allStar rows,
    from astroNN's ``gaiadr2_apogeedr14_parallax.npz`` (-9999 where missing)."""
    import astroNN.data

    path = os.path.join(os.path.dirname(astroNN.data.__file__), "gaiadr2_apogeedr14_parallax.npz")
    with np.load(path) as f:
        out = {
            "ra": f["RA"].astype(np.float64), "dec": f["DEC"].astype(np.float64),
            "parallax": f["parallax"].astype(np.float64),
            "parallax_error": f["parallax_error"].astype(np.float64),
            "gmag": f["g"].astype(np.float64),
        }
    if len(out["ra"]) != apogee.N_ALLSTAR_DR14:
        raise RuntimeError(f"{path} has {len(out['ra'])} rows, expected {apogee.N_ALLSTAR_DR14}")
    return out


def star_groups(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first_row, inverse): rows at the same position (1e-6 deg) are one star.

    ``inverse[i]`` is the star number of row ``i``; ``first_row[k]`` the first row of star k.
    """
    key = np.round(ra * 1e6).astype(np.int64) * 1_000_000_000 + np.round((dec + 90) * 1e6).astype(np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse


def galactocentric(ra, dec, dist_kpc) -> dict[str, np.ndarray]:
    """Galactic l, b (deg) and galactocentric R, z, X, Y (kpc) with astropy's frames."""
    import astropy.units as u
    from astropy.coordinates import Galactocentric, SkyCoord

    c = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, distance=dist_kpc * u.kpc, frame="icrs")
    gal = c.galactic
    gc = c.transform_to(Galactocentric(galcen_distance=R_SUN * u.kpc, z_sun=20.8 * u.pc))
    x, y, z = (gc.x.to_value(u.kpc), gc.y.to_value(u.kpc), gc.z.to_value(u.kpc))
    return {"glon": gal.l.deg, "glat": gal.b.deg, "X": x, "Y": y, "z": z, "R": np.hypot(x, y)}


# ----------------------------------------------------------------------------- stellar tracks
def rgb_teff(logg, mh):
    """Teff (K) of the red giant branch at (logg, [M/H]) (PARSEC fit, valid 0.5-3.6 dex)."""
    g, m = np.broadcast_arrays(np.asarray(logg, float), np.clip(np.asarray(mh, float), -2.5, 0.6))
    basis = np.stack([np.ones_like(g), g, m, g * m, g * g, m * m])
    return np.tensordot(RGB_TEFF_COEF, basis, axes=1)


def rc_teff_logg(mh):
    """(Teff, logg) of the red clump at [M/H] (interpolated PARSEC core-He burning stars)."""
    m = np.asarray(mh, float)
    return np.interp(m, RC_MH, RC_TEFF), np.interp(m, RC_MH, RC_LOGG)


def ms_logg(teff, mh):
    """Main-sequence logg at (Teff, [M/H]) (PARSEC fit)."""
    x = (np.asarray(teff, float) - 5000.0) / 1000.0
    c = MS_LOGG_COEF
    return c[0] + c[1] * x + c[2] * x * x + c[3] * np.clip(mh, -2.5, 0.6)


def vmicro_of(logg):
    """Microturbulence (km/s) as the DR14-like relation of logg used by ASPCAP."""
    return np.clip(2.478 - 0.325 * np.asarray(logg, float), 0.5, 3.0)


def g_minus_h0(teff):
    """Intrinsic Gaia G - 2MASS H colour (PARSEC fit)."""
    th = 5040.0 / np.clip(teff, 3000.0, 15000.0)
    return G_MINUS_H_COEF[0] + G_MINUS_H_COEF[1] * th + G_MINUS_H_COEF[2] * th * th


def j_minus_ks0(teff):
    """Intrinsic 2MASS J - Ks colour (empirical, ~0.36 for the Sun, ~0.7 for a K giant)."""
    return np.clip(-0.6 + 1.15 * 5040.0 / np.clip(teff, 3000.0, 15000.0), -0.1, 1.3)


# ----------------------------------------------------------------------------- population
@dataclass
class Population:
    """True properties of every allStar row (arrays of length N, one row per allStar row)."""

    ra: np.ndarray
    dec: np.ndarray
    parallax: np.ndarray
    parallax_error: np.ndarray
    gmag: np.ndarray
    star: np.ndarray        # star number (rows at the same position share it)
    dup_rank: np.ndarray    # 0 for the first row of a star, 1, 2, ... for repeats
    dist: np.ndarray        # kpc
    glon: np.ndarray
    glat: np.ndarray
    R: np.ndarray
    z: np.ndarray
    component: np.ndarray   # index into COMPONENTS
    kind: np.ndarray        # index into KINDS
    cluster: np.ndarray     # index into CLUSTERS, -1 if none
    teff: np.ndarray
    logg: np.ndarray
    vmicro: np.ndarray
    feh: np.ndarray
    alpha: np.ndarray       # [alpha/Fe]
    xh: np.ndarray          # (N, 26) true [X/H] in ASPCAP order (CI == C, TiII == TI)
    ak: np.ndarray          # A_Ks
    jmag: np.ndarray
    hmag: np.ndarray
    kmag: np.ndarray
    vhelio: np.ndarray      # km/s
    seed: int

    def __len__(self) -> int:
        return len(self.ra)

    @property
    def xh20(self) -> np.ndarray:
        """(N, 20) true [X/H] of the network's abundances in ``apogee.ABUNDANCES`` order."""
        return self.xh[:, ABUNDANCE_COLUMNS]

    @property
    def in_box(self) -> np.ndarray:
        """True labels inside the paper's training box (4000 < Teff < 5500 K, [Fe/H] > -2)."""
        return (self.teff > 4000) & (self.teff < 5500) & (self.feh > -2.0)


def _component_probabilities(R, z):
    m = DISC_MODEL
    r_sph = np.sqrt(R**2 + z**2)
    thin = m["thin"]["norm"] * np.exp(-(R - R_SUN) / m["thin"]["hR"] - np.abs(z) / m["thin"]["hz"])
    thick = m["thick"]["norm"] * np.exp(-(R - R_SUN) / m["thick"]["hR"] - np.abs(z) / m["thick"]["hz"])
    halo = m["halo"]["norm"] * (np.maximum(r_sph, 1.0) / m["halo"]["r0"]) ** -m["halo"]["slope"]
    p = np.stack([thin, thick, halo], axis=1)
    return p / p.sum(axis=1, keepdims=True)


def _draw_categorical(rng, p):
    """One category per row of the probability matrix ``p`` (N, K)."""
    u = rng.random(len(p))[:, None]
    return np.minimum((u > np.cumsum(p, axis=1)).sum(axis=1), p.shape[1] - 1)


def _alpha_sequences(rng, comp, feh):
    n = len(feh)
    low = np.clip(-0.12 * feh, -0.05, 0.12) + rng.normal(0, 0.025, n)
    high = np.interp(feh, [-0.7, 0.2], [0.30, 0.10]) + rng.normal(0, 0.03, n)
    halo = np.where(rng.random(n) < 0.2, 0.10, 0.30) + rng.normal(0, 0.05, n)
    return np.select([comp == 0, comp == 1], [low, high], halo)


def _abundances(rng, feh, alpha):
    """(N, 26) [X/H] with trends and correlated intrinsic scatter (before mixing)."""
    n = len(feh)
    latent = {g: rng.standard_normal(n) for g in _GROUPS}
    xh = np.empty((n, len(apogee.ASPCAP_ELEMENTS)))
    own = rng.standard_normal((n, len(apogee.ASPCAP_ELEMENTS)))
    for j, el in enumerate(apogee.ASPCAP_ELEMENTS):
        key = {"CI": "C", "TiII": "TI"}.get(el, el)
        t = ELEMENT_TRENDS[key]
        if el in ("CI", "TiII"):
            continue
        scatter = t["sigma"] * (np.sqrt(t["rho"]) * latent[t["group"]] + np.sqrt(1 - t["rho"]) * own[:, j])
        xh[:, j] = feh + t["c0"] + t["ca"] * alpha + t["cf"] * feh + scatter
    _tie_duplicates(xh)
    return xh


def _tie_duplicates(xh):
    """True C I == C and Ti II == Ti (they differ only as measurements)."""
    ix = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}
    xh[:, ix["CI"]] = xh[:, ix["C"]]
    xh[:, ix["TiII"]] = xh[:, ix["TI"]]


def _mixing(rng, xh, logg, kind, feh):
    """First dredge-up (logg 3.8 -> 3.0) and extra mixing above the bump (logg < 2.2):
    C down, N up, stronger for metal-poor giants; dwarfs and hot stars unchanged."""
    giant = (kind == 0) | (kind == 1)
    fdu = np.clip((3.8 - logg) / 0.8, 0.0, 1.0) * giant
    extra = np.clip((2.2 - logg) / 1.5, 0.0, 1.0) * (kind == 0)
    extra = np.where(kind == 1, 0.6, extra) * giant  # clump stars went through the tip
    mp = np.clip(-feh, 0.0, 1.5)                     # metal-poor giants mix more
    mass_term = rng.uniform(0.0, 0.25, len(logg))     # dredge-up depth grows with mass
    d_c = -(0.12 + 0.5 * mass_term) * fdu - (0.10 + 0.12 * mp) * extra
    d_n = (0.25 + mass_term) * fdu + (0.10 + 0.15 * mp) * extra
    ix = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}
    xh[:, ix["C"]] += d_c
    xh[:, ix["N"]] += d_n
    _tie_duplicates(xh)


def _kinds_and_distances(rng, pos, n):
    """Stellar kind and distance (kpc) of each star (arrays over stars)."""
    plx, eplx, g = pos["parallax"], pos["parallax_error"], pos["gmag"]
    good = (plx > 0) & (eplx > 0) & (plx / np.where(eplx > 0, eplx, 1) > 5)
    d_plx = np.where(good, 1.0 / np.where(plx > 0, plx, 1.0), np.nan)
    # absolute magnitude (no extinction yet: a crude, generous extinction allowance)
    mg = np.where(good & (g > 0), g + 5 * np.log10(np.where(good, plx, 1.0) / 100.0), np.nan)
    u = rng.random(n)
    kind = np.zeros(n, dtype=np.int8)  # rgb
    # good parallax: dwarfs are intrinsically faint
    dwarf_g = good & (mg > 3.6)
    kind[dwarf_g] = 2
    # poor parallax: mostly distant giants
    kind[~good & (u < 0.05)] = 2
    # hot telluric standards: ~4 % of all stars, bright and nearby-ish
    hot = rng.random(n) < 0.04
    kind[hot] = 3
    # red clump among giants: ~30 %
    giant = kind == 0
    kind[giant & (rng.random(n) < 0.30)] = 1
    prior = np.where(
        kind == 2, rng.lognormal(np.log(0.5), 0.5, n),
        np.where(kind == 3, rng.lognormal(np.log(1.0), 0.5, n), rng.lognormal(np.log(4.0), 0.6, n)),
    )
    dist = np.where(good, d_plx, np.clip(prior, 0.05, 30.0))
    return kind, dist


def build_population(seed: int = 2019) -> Population:
    """Draw the true population of all 277,371 rows (deterministic in ``seed``)."""
    pos = real_positions()
    first, inverse = star_groups(pos["ra"], pos["dec"])
    ns = len(first)
    spos = {k: v[first] for k, v in pos.items()}

    kind, dist = _kinds_and_distances(rng_for(seed, "kinds"), spos, ns)
    geo = galactocentric(spos["ra"], spos["dec"], dist)
    R, z = geo["R"], geo["z"]

    rng = rng_for(seed, "chemistry")
    comp = _draw_categorical(rng, _component_probabilities(R, z)).astype(np.int8)
    feh_thin = 0.05 + FEH_RADIAL_GRADIENT * (R - R_SUN) + FEH_VERTICAL_GRADIENT * np.abs(z) + rng.normal(0, 0.18, ns)
    feh_thick = -0.40 + rng.normal(0, 0.22, ns)
    feh_halo = rng.normal(-1.5, 0.45, ns)
    feh = np.select([comp == 0, comp == 1], [np.clip(feh_thin, -1.2, 0.55), np.clip(feh_thick, -1.5, 0.35)],
                    np.clip(feh_halo, -2.8, -0.4))
    alpha = _alpha_sequences(rng, comp, feh)

    # Teff and logg by kind
    rng = rng_for(seed, "hr")
    teff = np.empty(ns)
    logg = np.empty(ns)
    rgb = kind == 0
    # luminosity function: more stars at high logg (time spent ~ 10**(0.35 logg))
    u = rng.random(ns)
    lo, hi = 0.3, 3.7
    a = 0.35 * np.log(10)
    logg_rgb = np.log(np.exp(a * lo) + u * (np.exp(a * hi) - np.exp(a * lo))) / a
    teff[rgb] = rgb_teff(logg_rgb[rgb], feh[rgb] + 0.3 * alpha[rgb]) + rng.normal(0, 60, rgb.sum())
    logg[rgb] = logg_rgb[rgb]
    rc = kind == 1
    t_rc, g_rc = rc_teff_logg(feh[rc] + 0.3 * alpha[rc])
    teff[rc] = t_rc + rng.normal(0, 70, rc.sum())
    logg[rc] = g_rc + rng.normal(0, 0.07, rc.sum())
    dw = kind == 2
    t_dw = np.select(
        [u < 0.15, u < 0.85], [rng.uniform(3200, 4000, ns), rng.uniform(4000, 5800, ns)],
        rng.uniform(5800, 6600, ns))
    teff[dw] = t_dw[dw]
    logg[dw] = ms_logg(teff[dw], feh[dw]) + rng.normal(0, 0.08, dw.sum())
    # a fraction of the "dwarfs" are subgiants
    sg = dw & (rng.random(ns) < 0.12)
    logg[sg] = rng.uniform(3.5, 4.0, sg.sum())
    hot = kind == 3
    teff[hot] = np.exp(rng.uniform(np.log(6500), np.log(9000), hot.sum()))  # the forward model's range
    logg[hot] = rng.uniform(3.8, 4.4, hot.sum())
    feh[hot] = np.clip(feh[hot], -1.0, 0.5)

    cluster = np.full(ns, -1, dtype=np.int8)
    cl_dist = _place_clusters(rng_for(seed, "clusters"), spos, cluster)
    xh = _abundances(rng_for(seed, "abundances"), feh, alpha)
    _cluster_labels(rng_for(seed, "cluster_labels"), cluster, comp, kind, teff, logg, feh, alpha, xh)
    dist = np.where(cluster >= 0, cl_dist, dist)
    geo = galactocentric(spos["ra"], spos["dec"], dist)
    _mixing(rng_for(seed, "mixing"), xh, logg, kind, feh)
    ix_fe = apogee.ASPCAP_ELEMENTS.index("Fe")
    xh[:, ix_fe] = feh

    # extinction and photometry tied to the real G
    rng = rng_for(seed, "photometry")
    h_dust = 0.12
    sinb = np.maximum(np.abs(np.sin(np.radians(geo["glat"]))), 1e-3)
    column = h_dust / sinb * (1 - np.exp(-dist * sinb / h_dust))
    ak = np.clip(0.13 * column * rng.lognormal(0, 0.3, ns), 0.0, 2.5)
    g = spos["gmag"]
    hmag = np.where(g > 0, g - g_minus_h0(teff) - (EXT_RATIO["G"] - EXT_RATIO["H"]) * ak,
                    rng.uniform(8.0, 12.5, ns))
    hmag = np.where((hmag < 5.0) | (hmag > 14.5), rng.uniform(8.0, 12.5, ns), hmag)
    jk = j_minus_ks0(teff) + (EXT_RATIO["J"] - EXT_RATIO["Ks"]) * ak
    hk = 0.25 * j_minus_ks0(teff) + (EXT_RATIO["H"] - EXT_RATIO["Ks"]) * ak
    kmag = hmag - hk
    jmag = kmag + jk
    vhelio = np.select([comp == 0, comp == 1], [rng.normal(0, 30, ns), rng.normal(-20, 60, ns)],
                       rng.normal(0, 140, ns))
    vhelio = np.where(cluster >= 0, np.array([33.6, 2.5, -47.0, -245.0])[np.maximum(cluster, 0)]
                      + rng.normal(0, 1.0, ns), vhelio)
    comp = np.where(cluster >= 0, COMPONENTS.index("cluster"), comp).astype(np.int8)

    # broadcast stars -> rows
    dup_rank = _dup_rank(inverse)
    s = inverse
    return Population(
        ra=pos["ra"], dec=pos["dec"], parallax=pos["parallax"], parallax_error=pos["parallax_error"],
        gmag=pos["gmag"], star=s.astype(np.int64), dup_rank=dup_rank, dist=dist[s],
        glon=geo["glon"][s], glat=geo["glat"][s], R=geo["R"][s], z=geo["z"][s],
        component=comp[s], kind=kind[s], cluster=cluster[s], teff=teff[s], logg=logg[s],
        vmicro=vmicro_of(logg)[s], feh=feh[s], alpha=alpha[s], xh=xh[s], ak=ak[s],
        jmag=jmag[s], hmag=hmag[s], kmag=kmag[s], vhelio=vhelio[s], seed=int(seed),
    )


def _dup_rank(inverse):
    """0 for the first row of each star, 1 for its second row, ..."""
    order = np.argsort(inverse, kind="stable")
    sorted_inv = inverse[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_inv)) + 1]
    run_start = np.repeat(start, np.diff(np.r_[start, len(order)]))
    rank = np.empty(len(order), dtype=np.int8)
    rank[order] = np.arange(len(order)) - run_start
    return rank


def angular_separation(ra1, dec1, ra2, dec2):
    """Great-circle separation (deg), vectorised (haversine)."""
    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0, 1))))


def _place_clusters(rng, spos, cluster):
    """Mark the stars nearest to each cluster centre as members; returns their distances."""
    dist = np.full(len(cluster), np.nan)
    for k, cl in enumerate(CLUSTERS):
        sep = angular_separation(spos["ra"], spos["dec"], cl.ra, cl.dec)
        near = np.argsort(sep)
        near = near[cluster[near] < 0][: cl.n_members]
        cluster[near] = k
        dist[near] = cl.dist * (1 + rng.normal(0, 0.01, len(near)))
    return dist


def _cluster_labels(rng, cluster, comp, kind, teff, logg, feh, alpha, xh):
    """Cluster members: giants on the cluster's track, homogeneous or multiple-population
    chemistry (M13: Na-O, Mg-Al anticorrelations and a N spread from one pollution
    fraction per star)."""
    ix = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}
    for k, cl in enumerate(CLUSTERS):
        m = np.flatnonzero(cluster == k)
        n = len(m)
        is_rc = (rng.random(n) < (0.0 if cl.globular else 0.3))
        lg = rng.uniform(*cl.age_like_logg, n)
        mh = cl.feh + 0.3 * cl.alpha
        t = rgb_teff(lg, mh) + rng.normal(0, 25, n)
        t_rc, g_rc = rc_teff_logg(np.full(n, mh))
        teff[m] = np.where(is_rc, t_rc, t)
        logg[m] = np.where(is_rc, g_rc, lg)
        kind[m] = np.where(is_rc, 1, 0)
        feh[m] = cl.feh + rng.normal(0, cl.spread, n)
        alpha[m] = cl.alpha
        for j, el in enumerate(apogee.ASPCAP_ELEMENTS):
            t_el = ELEMENT_TRENDS[{"CI": "C", "TiII": "TI"}.get(el, el)]
            xfe = t_el["c0"] + t_el["ca"] * cl.alpha + t_el["cf"] * cl.feh
            xh[m, j] = cl.feh + xfe + rng.normal(0, cl.spread, n)
        if cl.globular:
            p = rng.random(n)  # fraction of second-generation (polluted) material
            xh[m, ix["O"]] += 0.30 - 0.60 * p
            xh[m, ix["Na"]] += -0.20 + 0.60 * p
            xh[m, ix["Mg"]] += 0.07 - 0.15 * p
            xh[m, ix["Al"]] += -0.30 + 0.85 * p
            xh[m, ix["Si"]] += 0.08 * p
            xh[m, ix["N"]] += -0.20 + 1.00 * p
            xh[m, ix["C"]] += 0.10 - 0.30 * p
        _tie_duplicates(xh)
