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
* **clusters** on the real rows nearest to their centres (:data:`CLUSTERS`): the 18 open
  and globular clusters of the Meszaros et al. (2013) ASPCAP calibration table, with member
  counts of that table's order (M5 100, M13 and M3 70, M92 48, ..., NGC 4147 3). The seven
  open clusters (M67, NGC 6819, NGC 6791, NGC 188, NGC 2158, NGC 2420, NGC 7789) are
  chemically homogeneous (spread <= 0.02 dex); the eleven globular clusters (M13, M92, M15,
  M53, M2, M3, M5, NGC 5466, NGC 4147, M107, M71) carry multiple populations -- Na-O and
  Mg-Al anticorrelations, N and Al spreads from one pollution fraction per star
  (:data:`MP_PATTERN`) -- with a per-cluster amplitude (``Cluster.mp_amplitude``,
  ``Cluster.mg_depletion``): large Al spreads in the massive metal-poor clusters, small
  ones in M107 and M71;
* **field second-generation stars**: 2.5 % of the halo and 1 % of the thick disc with
  [Fe/H] < -0.7 carry the same pattern (:data:`FIELD_SG_FRACTION`; Martell et al. 2011,
  2016; Schiavon et al. 2017), so that N-, Al-rich, Mg-, O-poor metal-poor giants are in
  the training set as they are in the real one;
* photometry (2MASS J, H, Ks) and extinction A_K consistent with the real Gaia G.

Rows sharing a position are the same star observed in different fields (as in DR14):
they share every true label. Everything is vectorised and deterministic in ``seed``.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from astronn_paper import apogee
from astronn_paper.survey.positions import R_SUN, angular_separation, galactocentric, real_positions

# ----------------------------------------------------------------------------- constants
#: Injected radial [Fe/H] gradient of the thin disc (dex/kpc); later notebooks compare the
#: gradient recovered from the network's abundances with this value.
FEH_RADIAL_GRADIENT = -0.06
#: Injected vertical [Fe/H] gradient of the thin disc (dex/kpc).
FEH_VERTICAL_GRADIENT = -0.20
#: Solar galactocentric radius (kpc) used for the gradient's zero point.

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

    name: str          # Meszaros et al. (2013) spelling: M67, N6819, N6791, M13, N5466, ...
    ra: float          # deg (J2000)
    dec: float         # deg
    n_members: int     # stars made members (all the rows of a star are members)
    feh: float         # [Fe/H]
    alpha: float       # [alpha/Fe]
    dist: float        # kpc
    age_like_logg: tuple[float, float]  # logg range of the observed giants
    spread: float      # intrinsic abundance spread (dex) of the homogeneous elements
    globular: bool = False
    vhelio: float = 0.0   # heliocentric radial velocity (km/s)
    vdisp: float = 1.0    # velocity dispersion of the observed giants (km/s)
    #: Amplitude of the multiple-population pattern (:data:`MP_PATTERN`; 1 = M13, 0 = a
    #: chemically homogeneous cluster): scales every light-element shift of the pattern.
    mp_amplitude: float = 0.0
    #: Depth of the Mg depletion (and of the Al -> Si leakage) relative to the pattern's
    #: (1 = M13): the hot Mg-Al cycle, strongest in the massive, most metal-poor clusters.
    mg_depletion: float = 1.0


#: Clusters with members among the real rows: the open and globular clusters of the
#: Meszaros et al. (2013) ASPCAP calibration table, with member counts of the order of that
#: table's. Globular clusters: centres, distances, [Fe/H] and radial velocities from Harris
#: (1996; 2010 edition); open clusters: M67, NGC 6819, NGC 6791 as before, NGC 188 (Friel et
#: al. 2010; Meibom et al. 2009; Geller et al. 2008), NGC 2158 (Jacobson et al. 2009), NGC 2420
#: and NGC 7789 (Jacobson et al. 2011; Gim et al. 1998). The logg ranges are those of the
#: giants APOGEE observed (Meszaros et al. 2013). Multiple populations (``mp_amplitude``,
#: ``mg_depletion``) in the spirit of Meszaros et al. (2015, 2020): large Al spreads in the
#: massive metal-poor clusters, Mg depletion strongest in M92, M15 and M13, small spreads in
#: the metal-rich M107 and M71, moderate ones in the low-mass NGC 5466 and NGC 4147.
CLUSTERS: tuple[Cluster, ...] = (
    # the paper's benchmark clusters first (indices 0-3, as in earlier generator versions)
    Cluster("M67", 132.846, 11.814, 24, 0.00, 0.00, 0.85, (2.0, 3.6), 0.015, vhelio=33.6),
    Cluster("N6819", 295.327, 40.190, 30, 0.05, 0.00, 2.40, (2.0, 3.3), 0.015, vhelio=2.5),
    Cluster("N6791", 290.221, 37.772, 23, 0.35, 0.02, 4.10, (2.0, 3.4), 0.015, vhelio=-47.0),
    Cluster("M13", 250.42183, 36.45986, 70, -1.53, 0.30, 7.1, (0.8, 2.8), 0.02, globular=True,
            vhelio=-244.2, vdisp=6.0, mp_amplitude=1.00, mg_depletion=1.0),
    # further globular clusters (multiple populations)
    Cluster("M92", 259.28079, 43.13594, 48, -2.31, 0.30, 8.3, (0.9, 3.0), 0.02, globular=True,
            vhelio=-120.0, vdisp=5.0, mp_amplitude=0.95, mg_depletion=1.3),
    Cluster("M15", 322.49304, 12.16700, 11, -2.37, 0.30, 10.4, (0.6, 2.3), 0.02, globular=True,
            vhelio=-107.0, vdisp=8.0, mp_amplitude=0.90, mg_depletion=1.2),
    Cluster("M53", 198.23021, 18.16817, 16, -2.10, 0.30, 17.9, (0.8, 2.0), 0.02, globular=True,
            vhelio=-62.9, vdisp=3.5, mp_amplitude=0.85, mg_depletion=0.7),
    Cluster("M2", 323.36258, -0.82325, 19, -1.65, 0.30, 11.5, (1.1, 2.5), 0.02, globular=True,
            vhelio=-5.3, vdisp=7.0, mp_amplitude=0.85, mg_depletion=0.6),
    Cluster("M3", 205.54842, 28.37728, 70, -1.50, 0.30, 10.2, (0.9, 3.2), 0.02, globular=True,
            vhelio=-147.6, vdisp=4.5, mp_amplitude=0.85, mg_depletion=0.4),
    Cluster("M5", 229.63842, 2.08103, 100, -1.29, 0.30, 7.5, (1.1, 3.2), 0.02, globular=True,
            vhelio=53.2, vdisp=5.5, mp_amplitude=0.75, mg_depletion=0.4),
    Cluster("N5466", 211.36371, 28.53444, 8, -1.98, 0.30, 16.0, (1.0, 2.3), 0.02, globular=True,
            vhelio=110.7, vdisp=1.5, mp_amplitude=0.50, mg_depletion=0.4),
    Cluster("N4147", 182.52625, 18.54264, 3, -1.80, 0.30, 19.3, (1.3, 2.4), 0.02, globular=True,
            vhelio=183.2, vdisp=2.5, mp_amplitude=0.50, mg_depletion=0.4),
    Cluster("M107", 248.13275, -13.05378, 18, -1.02, 0.28, 6.4, (1.1, 3.0), 0.02, globular=True,
            vhelio=-34.1, vdisp=3.5, mp_amplitude=0.30, mg_depletion=0.2),
    Cluster("M71", 298.44371, 18.77919, 7, -0.78, 0.25, 4.0, (1.1, 2.3), 0.02, globular=True,
            vhelio=-22.8, vdisp=2.5, mp_amplitude=0.20, mg_depletion=0.1),
    # further open clusters (chemically homogeneous)
    Cluster("N188", 12.108, 85.255, 5, -0.03, 0.00, 1.77, (2.4, 3.5), 0.015, vhelio=-42.4),
    Cluster("N2158", 91.854, 24.097, 10, -0.28, 0.00, 4.00, (2.2, 3.1), 0.015, vhelio=27.0),
    Cluster("N2420", 114.596, 21.573, 9, -0.20, 0.00, 2.50, (1.9, 3.1), 0.015, vhelio=73.6),
    Cluster("N7789", 359.350, 56.708, 5, 0.02, 0.00, 2.00, (2.3, 3.1), 0.015, vhelio=-54.7),
)

#: Light-element pattern of multiple populations (Na-O, Mg-Al anticorrelations, N-C, Al->Si
#: leakage) as a function of one pollution fraction ``p`` in [0, 1] (share of
#: second-generation material; 0 = first generation): the shift of [X/Fe] is
#: ``amplitude * (a + b p)`` in a cluster (``a`` puts the first generation below the
#: cluster's mean), ``amplitude * b p`` for a field star (whose first-generation
#: composition is the field's). Mg and Si shifts are further scaled by ``mg_depletion``.
MP_PATTERN: dict[str, tuple[float, float]] = {
    "O": (0.30, -0.60), "Na": (-0.20, 0.60), "Mg": (0.07, -0.15), "Al": (-0.30, 0.85),
    "Si": (0.00, 0.08), "N": (-0.20, 1.00), "C": (0.10, -0.30),
}
#: Elements whose shift follows the hot Mg-Al cycle (scaled by ``mg_depletion``).
_MG_AL_CYCLE = ("Mg", "Si")

#: Field second-generation (N-, Al-rich) stars: fraction of the halo and of the metal-poor
#: thick disc ([Fe/H] < :data:`FIELD_SG_THICK_FEH`) with the :data:`MP_PATTERN` chemistry.
#: Halo: Martell et al. (2016) find the N-Al signature in 2 % of APOGEE DR12 halo giants,
#: Martell et al. (2011) 3 % CN-strong giants in the SEGUE halo; we take 2.5 %. Metal-poor
#: thick disc / inner Galaxy: the N-rich giants of Schiavon et al. (2017) and
#: Fernandez-Trincado et al. (2017), of the order of 1 % of the [Fe/H] < -0.7 field.
FIELD_SG_FRACTION = {"halo": 0.025, "thick": 0.010}
FIELD_SG_THICK_FEH = -0.7
#: Field second-generation stars are the clearly polluted ones (that is how they are found:
#: p uniform in this range), with an M13-like amplitude and a moderate Mg depletion.
FIELD_SG_POLLUTION = (0.3, 1.0)
FIELD_SG_AMPLITUDE = 1.0
FIELD_SG_MG_DEPLETION = 0.5

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
def star_groups(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first_row, inverse): rows at the same position (1e-6 deg) are one star.

    ``inverse[i]`` is the star number of row ``i``; ``first_row[k]`` the first row of star k.
    """
    key = np.round(ra * 1e6).astype(np.int64) * 1_000_000_000 + np.round((dec + 90) * 1e6).astype(np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse


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
    pollution: np.ndarray   # second-generation pollution fraction p (MP_PATTERN); 0 = none
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


def build_population(seed: int = 2019, decorrelated: bool = False) -> Population:
    """Draw the true population of all 277,371 rows (deterministic in ``seed``).

    ``decorrelated=True`` draws the same survey (same rows, positions, distances, Teff,
    [Fe/H], clusters, photometry, hence the same SNRs and noise model) but breaks the
    label correlations of the field stars around the training box
    (:func:`decorrelate_labels`); the default is the standard survey, unchanged.
    """
    pos = real_positions()
    first, inverse = star_groups(pos["ra"], pos["dec"])
    ns = len(first)
    spos = {k: v[first] for k, v in pos.items()}

    kind, dist = _kinds_and_distances(rng_for(seed, "kinds"), spos, ns)
    geo = galactocentric(spos["ra"], spos["dec"], dist)
    R, z = geo["R"], geo["z"]

    rng = rng_for(seed, "chemistry")
    comp = _draw_categorical(rng, _component_probabilities(R, z)).astype(np.int8)
    feh_thin = (0.05 + FEH_RADIAL_GRADIENT * (R - R_SUN) + FEH_VERTICAL_GRADIENT * np.abs(z)
                + rng.normal(0, 0.18, ns))
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
    pollution = np.zeros(ns)
    _cluster_labels(seed, cluster, kind, teff, logg, feh, alpha, xh, spos["gmag"], pollution)
    _field_second_generation(rng_for(seed, "field_second_generation"), cluster, comp, feh, xh,
                             pollution)
    dist = np.where(cluster >= 0, cl_dist, dist)
    geo = galactocentric(spos["ra"], spos["dec"], dist)
    _mixing(rng_for(seed, "mixing"), xh, logg, kind, feh)
    ix_fe = apogee.ASPCAP_ELEMENTS.index("Fe")
    xh[:, ix_fe] = feh
    if decorrelated:
        decorrelate_labels(rng_for(seed, "decorrelate"), cluster, kind, teff, logg, feh, alpha, xh)

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
    cl_v = np.array([c.vhelio for c in CLUSTERS])[np.maximum(cluster, 0)]
    cl_sv = np.array([c.vdisp for c in CLUSTERS])[np.maximum(cluster, 0)]
    vhelio = np.where(cluster >= 0, cl_v + cl_sv * rng.normal(0, 1.0, ns), vhelio)
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
        jmag=jmag[s], hmag=hmag[s], kmag=kmag[s], vhelio=vhelio[s], pollution=pollution[s],
        seed=int(seed),
    )


#: True Teff range (K) of the field stars whose labels :func:`decorrelate_labels` shuffles:
#: the training box (4000-5500 K in ASPCAP's Teff) widened by ~3 sigma of its Teff noise.
DECORRELATE_TEFF = (3700.0, 5800.0)
#: Alpha elements whose mean [X/Fe] is the ``alpha`` of a decorrelated star.
_ALPHA_ELEMENTS = ("O", "Mg", "Si", "S", "Ca", "TI")


def decorrelate_labels(rng, cluster, kind, teff, logg, feh, alpha, xh) -> np.ndarray:
    """Break the label correlations of the field stars around the training box (in place).

    The stars are the field (non-cluster) giants, clump stars and dwarfs with true Teff in
    :data:`DECORRELATE_TEFF`. Among them, each star keeps its Teff and [Fe/H]; its log g
    (with its stellar kind, which carries the kind-dependent parts of the ASPCAP-like noise
    model) is that of a random other star of the set, and each element's [X/Fe] is that of
    an independently chosen random star (one independent permutation per element): every
    label keeps the population's marginal distribution over this set, while log g becomes
    independent of Teff, and the [X/Fe] independent of each other, of [Fe/H], Teff and
    log g. ``alpha`` becomes the mean [X/Fe] of :data:`_ALPHA_ELEMENTS`. Returns the indices
    of the shuffled stars.
    """
    sel = np.flatnonzero((cluster < 0) & (kind <= 2) & (teff >= DECORRELATE_TEFF[0])
                         & (teff <= DECORRELATE_TEFF[1]))
    perm = rng.permutation(sel)
    logg[sel], kind[sel] = logg[perm], kind[perm]
    ix = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}
    xfe = xh[sel] - feh[sel, None]
    for el, j in ix.items():
        if el in ("Fe", "CI", "TiII"):
            continue
        xfe[:, j] = xfe[rng.permutation(len(sel)), j]
    xh[sel] = feh[sel, None] + xfe
    xh[sel, ix["Fe"]] = feh[sel]
    _tie_duplicates(xh)
    alpha[sel] = np.mean([xh[sel, ix[e]] - feh[sel] for e in _ALPHA_ELEMENTS], axis=0)
    return sel


def _dup_rank(inverse):
    """0 for the first row of each star, 1 for its second row, ..."""
    order = np.argsort(inverse, kind="stable")
    sorted_inv = inverse[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_inv)) + 1]
    run_start = np.repeat(start, np.diff(np.r_[start, len(order)]))
    rank = np.empty(len(order), dtype=np.int8)
    rank[order] = np.arange(len(order)) - run_start
    return rank


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


def pollution_shifts(p, amplitude=1.0, mg_depletion=1.0, field=False) -> dict[str, np.ndarray]:
    """Shifts of [X/Fe] (dex) of the :data:`MP_PATTERN` elements for pollution fractions ``p``.

    In a cluster (``field=False``) the shift is ``amplitude * (a + b p)``: first-generation
    stars (p = 0) sit O-, Mg-, C-rich and Na-, Al-, N-poor relative to the cluster's mean.
    A field star's first generation is the field itself: the shift is ``amplitude * b p``.
    Mg and Si shifts are multiplied by ``mg_depletion``.
    """
    p = np.asarray(p, float)
    out = {}
    for el, (a, b) in MP_PATTERN.items():
        scale = amplitude * (mg_depletion if el in _MG_AL_CYCLE else 1.0)
        out[el] = scale * ((0.0 if field else a) + b * p)
    return out


def _apply_shifts(xh, rows, shifts):
    ix = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}
    for el, d in shifts.items():
        xh[rows, ix[el]] += d


def _cluster_labels(seed, cluster, kind, teff, logg, feh, alpha, xh, gmag, pollution):
    """Cluster members: giants on the cluster's track over its observed logg range (brighter
    members higher on the giant branch), homogeneous chemistry for open clusters, multiple
    populations for globular clusters (Na-O, Mg-Al anticorrelations, N and Al spreads from one
    pollution fraction per star, :func:`pollution_shifts` with the cluster's amplitude).
    Each cluster draws from its own stream, so adding a cluster leaves the others unchanged."""
    for k, cl in enumerate(CLUSTERS):
        rng = rng_for(seed, f"cluster_labels:{cl.name}")
        m = np.flatnonzero(cluster == k)
        n = len(m)
        is_rc = (rng.random(n) < (0.0 if cl.globular else 0.3))
        # giant-branch position from the real star's brightness: the brighter a member's
        # Gaia G, the lower its logg (rows without G get a random place)
        g = gmag[m]
        ok = g > 0
        g_lo, g_hi = (g[ok].min(), g[ok].max()) if ok.any() else (0.0, 1.0)
        key = np.where(ok, g, rng.uniform(g_lo, g_hi, n))
        rank = np.argsort(np.argsort(key, kind="stable"), kind="stable")
        q = (rank + rng.random(n)) / max(n, 1)
        lo, hi = cl.age_like_logg
        lg = lo + (hi - lo) * q
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
        if cl.globular and cl.mp_amplitude > 0:
            p = rng.random(n)  # fraction of second-generation (polluted) material
            _apply_shifts(xh, m, pollution_shifts(p, cl.mp_amplitude, cl.mg_depletion))
            pollution[m] = p
        _tie_duplicates(xh)


def _field_second_generation(rng, cluster, comp, feh, xh, pollution):
    """Field second-generation stars (:data:`FIELD_SG_FRACTION`): a few per cent of the halo
    and ~1 % of the metal-poor thick disc get the multiple-population pattern on top of
    their field chemistry, with a random pollution fraction in :data:`FIELD_SG_POLLUTION`.
    Every draw has the length of the population, so the stream is independent of the rest."""
    n = len(comp)
    u = rng.random(n)
    p = rng.uniform(*FIELD_SG_POLLUTION, n)
    frac = np.select([comp == 2, (comp == 1) & (feh < FIELD_SG_THICK_FEH)],
                     [FIELD_SG_FRACTION["halo"], FIELD_SG_FRACTION["thick"]], 0.0)
    sg = np.flatnonzero((cluster < 0) & (u < frac))
    _apply_shifts(xh, sg, pollution_shifts(p[sg], FIELD_SG_AMPLITUDE, FIELD_SG_MG_DEPLETION,
                                           field=True))
    pollution[sg] = p[sg]
    _tie_duplicates(xh)
