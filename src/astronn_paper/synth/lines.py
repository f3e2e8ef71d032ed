"""The line list of the synthetic H-band forward model.

A deterministic (fixed seed) list of atomic, molecular and hydrogen lines on the apStar
wavelength range, stored as flat arrays (:class:`LineList`). Positions follow the data
that define APOGEE abundances:

* atomic lines of each of the 18 ASPCAP elements sit at the centres of that element's
  ASPCAP windows (astroNN's ``aspcap_l31c_masks.npy``): Fe I hundreds, Mg I / Si I / Al I
  strong, K I (two, ~15,165 Å), Na I (two weak, ~16,378/16,393 Å), a single Ti II line,
  C I lines in the C I windows, and the weak-line elements (Na, P, S, V, Co, Ti II) weak;
* CO second-overtone bands (Δv = 3, v'' = 0..6) computed from the CO Dunham constants, so
  the band heads fall near 15,580, 15,780, ... 16,840 Å and the R/P branches extend
  redward; OH lines in the O windows; CN lines densely in the N windows;
* weak blends of Fe and other species outside the windows;
* Brackett lines (n = 11..22 -> 4) from the Rydberg formula (Br 11 at 16,811 Å).

Molecular lines never fall within 2 pixels of astroNN's DR14 continuum pixels; atomic
lines sit at the point of their window farthest from them, and the few that cannot be
>= 3 pixels away are capped in strength (:data:`_CONT_CAP`), so the paper's Chebyshev
continuum fit sees a nearly unabsorbed pseudo-continuum, as real giants do on those
pixels. Strong lines are also capped by the width of their window (a saturated line's
abundance signal lives in its wings, which ASPCAP's windows were cut to contain).

Strengths are stored as ``log_s_ref``: log10 of the integrated line opacity (in fine-grid
pixels, relative to the continuum) in the reference star of :mod:`.spectra`
(Teff 4500 K, logg 2.5, solar). :func:`astronn_paper.synth.spectra.line_opacities` scales
them to any star with the excitation potential ``chi`` and the species' ionisation or
molecular balance; ``log_gf`` is the equivalent oscillator strength with the model's
zero-point folded in.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from astronn_paper import apogee

#: Seed of the line list: the list is part of the model, never redrawn.
LINELIST_SEED = 20_190_101

# ----------------------------------------------------------------------------- species
#: Solar photospheric abundances log eps (Asplund et al. 2009) and first ionisation
#: potentials (eV) of the modelled elements.
LOG_EPS_SUN = {
    "H": 12.0, "C": 8.43, "N": 7.83, "O": 8.69, "Na": 6.24, "Mg": 7.60, "Al": 6.45,
    "Si": 7.51, "P": 5.41, "S": 7.12, "K": 5.03, "Ca": 6.34, "Ti": 4.95, "V": 3.93,
    "Cr": 5.64, "Mn": 5.43, "Fe": 7.50, "Co": 4.99, "Ni": 6.22,
}
CHI_ION = {
    "H": 13.598, "C": 11.260, "N": 14.534, "O": 13.618, "Na": 5.139, "Mg": 7.646,
    "Al": 5.986, "Si": 8.152, "P": 10.487, "S": 10.360, "K": 4.341, "Ca": 6.113,
    "Ti": 6.828, "V": 6.746, "Cr": 6.767, "Mn": 7.434, "Fe": 7.902, "Co": 7.881,
    "Ni": 7.640,
}
#: Molecular dissociation energies D0 (eV).
D0 = {"CO": 11.09, "CN": 7.72, "OH": 4.39}

#: Profile classes: 0 = metals and molecules (small damping), 1 = strong atomic lines with
#: van der Waals wings, 2 = hydrogen (Stark wings).
KIND_NARROW, KIND_STRONG, KIND_HYDROGEN = 0, 1, 2


@dataclass(frozen=True)
class Species:
    """One absorber. ``column`` is the index into the 20-column [X/H] array that drives
    its abundance (``None`` for molecules and hydrogen, handled in the balance)."""

    name: str          # e.g. "Fe I", "Ti II", "CO", "H I"
    element: str       # "Fe", "Ti", ... ; "CO"/"CN"/"OH" for molecules
    stage: int         # 1 neutral, 2 singly ionised, 0 molecule
    column: int | None


def _species_table() -> tuple[Species, ...]:
    col = {t: i for i, t in enumerate(apogee.ABUNDANCES)}
    atoms = ["C", "Na", "Mg", "Al", "Si", "P", "S", "K", "Ca", "Ti", "V", "Cr", "Mn",
             "Fe", "Co", "Ni"]
    out = [Species(f"{e} I", e, 1, col["C1"] if e == "C" else col[e]) for e in atoms]
    out.append(Species("Ti II", "Ti", 2, col["Ti2"]))
    out += [Species(m, m, 0, None) for m in ("CO", "CN", "OH")]
    out.append(Species("H I", "H", 1, None))
    return tuple(out)


#: All species of the model, in the order of ``LineList.species``.
SPECIES: tuple[Species, ...] = _species_table()
SPECIES_INDEX = {s.name: i for i, s in enumerate(SPECIES)}

# ------------------------------------------------------------------ per-element recipes
# (log_s_ref range, chi range eV, profile kind, extra blends outside windows)
# log_s_ref ~ 0 gives a ~8 % deep line after the LSF in the reference giant; ~2 is a
# strongly saturated line.
_ATOMIC_RECIPE = {
    "Fe": ((-0.8, 1.2), (4.2, 6.4), KIND_NARROW, 60),
    "Mg": ((1.2, 2.4), (5.1, 6.7), KIND_STRONG, 1),
    "Si": ((0.8, 2.1), (5.6, 7.1), KIND_STRONG, 1),
    "Al": ((0.7, 1.2), (4.0, 4.1), KIND_STRONG, 0),     # 3 strong red-chip lines below
    "Ca": ((0.5, 1.0), (4.5, 5.3), KIND_STRONG, 1),
    "K": ((0.6, 0.9), (2.67, 2.67), KIND_STRONG, 0),
    "Ti": ((0.1, 0.8), (1.7, 2.3), KIND_NARROW, 1),
    "Ti2": ((-0.15, -0.05), (3.1, 3.1), KIND_NARROW, 0),
    "Cr": ((-0.3, 0.4), (3.2, 4.2), KIND_NARROW, 2),
    "Mn": ((-0.1, 0.7), (4.1, 5.0), KIND_NARROW, 2),
    "Ni": ((-0.3, 0.8), (4.9, 6.0), KIND_NARROW, 5),
    "Co": ((-0.6, -0.2), (3.0, 3.6), KIND_NARROW, 0),
    "V": ((-0.6, -0.15), (2.0, 2.4), KIND_NARROW, 0),
    "Na": ((-0.25, -0.05), (3.75, 3.75), KIND_NARROW, 0),
    "P": ((-1.1, -0.8), (7.1, 7.2), KIND_NARROW, 0),
    "S": ((-0.7, -0.45), (6.5, 8.0), KIND_NARROW, 0),
    "C1": ((-0.6, 0.0), (9.0, 9.6), KIND_NARROW, 0),
}
_SPECIES_OF = {"Ti2": "Ti II", "C1": "C I"}

# Molecules (reference-giant strengths; the balance in spectra.py scales them).
_CO_LOG_S0 = -0.75        # log_s_ref of an R(J=1) line of the 3-0 band (+ log J)
_CO_OUTSIDE_C = 0.15      # CO lines whose centre is outside the C windows are damped
_OH_LOG_S = (0.2, 1.0)
_CN_LOG_S = (-0.65, 0.30)  # mean, sd of the log-normal CN strengths
_CN_PER_PIXEL = 0.33
_H_LOG_S0 = -1.8          # Br 11 in the reference giant (invisible; appears > 5500 K)


@dataclass(frozen=True)
class LineList:
    """Flat arrays, one entry per line."""

    wave: np.ndarray        # vacuum wavelength, Angstrom
    pix: np.ndarray         # position on the 8575-pixel apStar grid (float)
    species: np.ndarray     # index into SPECIES
    chi: np.ndarray         # lower-level excitation potential, eV
    log_s_ref: np.ndarray   # log10 integrated opacity in the reference star (fine px)
    kind: np.ndarray        # profile class (KIND_*)
    upper_n: np.ndarray     # Brackett upper level (0 for non-hydrogen lines)

    def __len__(self) -> int:
        return len(self.wave)

    def select(self, mask: np.ndarray) -> "LineList":
        return LineList(**{k: getattr(self, k)[mask] for k in self.__dataclass_fields__})

    def count(self) -> dict[str, int]:
        """Number of lines per species name."""
        return {SPECIES[i].name: int((self.species == i).sum()) for i in np.unique(self.species)}


def pix_of_wave(wave: np.ndarray) -> np.ndarray:
    """Fractional apStar pixel of a vacuum wavelength."""
    return (np.log10(wave) - apogee.CRVAL1) / apogee.CDELT1


def wave_of_pix(pix: np.ndarray) -> np.ndarray:
    return 10.0 ** (apogee.CRVAL1 + apogee.CDELT1 * np.asarray(pix, float))


def _grid_masks():
    """Windows, continuum distance and chip membership on the 8575 grid."""
    gi = apogee.gap_delete_index()
    windows = {k: np.zeros(apogee.N_PIX, bool) for k in apogee.ABUNDANCES}
    for k, w in apogee.aspcap_windows().items():
        windows[k][gi[w]] = True
    cont = gi[apogee.continuum_pixels()]
    d = np.abs(np.arange(apogee.N_PIX)[:, None] - cont[None, :]).min(axis=1)
    on_chip = np.zeros(apogee.N_PIX, bool)
    on_chip[gi] = True
    return windows, d, on_chip


def _segments(mask: np.ndarray) -> list[np.ndarray]:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    return np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)


#: Upper limit of log_s_ref for a line centred 0, 1, 2, >=3 pixels from a continuum pixel.
_CONT_CAP = np.array([-0.7, -0.2, 0.5, np.inf])


def near_int(p: np.ndarray) -> np.ndarray:
    """Nearest apStar pixel (clipped to the grid)."""
    return np.clip(np.rint(p).astype(int), 0, apogee.N_PIX - 1)


def _atomic_lines(rng, windows, dcont, on_chip):
    rows = []
    for elem, ((s_lo, s_hi), (c_lo, c_hi), kind, n_blend) in _ATOMIC_RECIPE.items():
        sp = SPECIES_INDEX[_SPECIES_OF.get(elem, f"{elem} I")]
        segs = [s for s in _segments(windows[elem]) if len(s) >= 3]
        if len(segs) < 3:  # elements with few windows (S): use the short ones too
            segs = [s for s in _segments(windows[elem]) if len(s) >= 2]
        centres, seg_len = [], []
        for s in segs:
            # several lines in long Fe windows, one elsewhere
            n_here = 1 + (len(s) >= 12) + (len(s) >= 24) if elem == "Fe" else 1
            for k in range(n_here):
                sub = s[k * len(s) // n_here:(k + 1) * len(s) // n_here]
                # the pixel of the sub-window farthest from continuum pixels, nearest its middle
                score = np.minimum(dcont[sub], 4) - 0.01 * np.abs(sub - sub.mean())
                centres.append(sub[np.argmax(score)] + rng.uniform(-0.3, 0.3))
                seg_len.append(len(sub))
        centres = np.asarray(centres)
        n = centres.size
        log_s = rng.uniform(s_lo, s_hi, n)
        if elem == "Al":  # the three strong red-chip Al I lines
            log_s[wave_of_pix(centres) > 16700] = rng.uniform(1.7, 2.0, (wave_of_pix(centres) > 16700).sum())
        if elem == "Fe":  # a handful of strong Fe I lines with wings
            strong = log_s > 1.3
        else:
            strong = np.zeros(n, bool)
        # real DR14 continuum pixels sit where real lines are weak: cap the strength of
        # the few lines whose window leaves no room away from them
        log_s = np.minimum(log_s, _CONT_CAP[np.minimum(dcont[near_int(centres)], 3)])
        # a saturated line's abundance signal lives in its wings: keep the strongest lines
        # in windows wide enough to hold them (ASPCAP's windows were cut around real lines)
        log_s = np.minimum(log_s, 0.2 * np.asarray(seg_len, float) - 0.2)
        chi = rng.uniform(c_lo, c_hi, n)
        k_arr = np.where(strong, KIND_STRONG, kind)
        rows.append((centres, np.full(n, sp), chi, log_s, k_arr))
        if n_blend:
            # weak blends of the same species outside its windows (never on continuum pixels)
            ok = np.flatnonzero(on_chip & ~windows[elem] & (dcont >= 3))
            pos = rng.choice(ok, n_blend, replace=False) + rng.uniform(-0.3, 0.3, n_blend)
            rows.append((pos, np.full(n_blend, sp), rng.uniform(c_lo, c_hi, n_blend),
                         rng.uniform(s_lo - 1.0, s_lo - 0.3, n_blend),
                         np.full(n_blend, KIND_NARROW)))
    return rows


def co_band_lines(j_max: int = 110) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """12C16O second-overtone (v'-v'' = 3) lines for v'' = 0..6: wavelength (Å, vacuum),
    lower-level energy (eV) and log of the rotational line strength factor."""
    we, wexe, be, ae = 2169.81358, 13.28831, 1.93128087, 0.01750441  # cm^-1
    cm_to_ev = 1.239841984e-4
    waves, chis, logf = [], [], []
    for v in range(7):
        gl = we * (v + 0.5) - wexe * (v + 0.5) ** 2
        gu = we * (v + 3.5) - wexe * (v + 3.5) ** 2
        bl, bu = be - ae * (v + 0.5), be - ae * (v + 3.5)
        g0 = we * 0.5 - wexe * 0.25
        j = np.arange(0, j_max + 1)
        for jl, ju in ((j, j + 1), (j[1:], j[1:] - 1)):       # R, P branches
            nu = gu - gl + bu * ju * (ju + 1) - bl * jl * (jl + 1)
            waves.append(1e8 / nu)
            chis.append((gl - g0 + bl * jl * (jl + 1)) * cm_to_ev)
            # Hönl-London factor ~ (J'+J''+1)/2 ; hot bands slightly stronger per line
            logf.append(np.log10((ju + jl + 1) / 2.0) + 0.15 * np.log10(v + 1))
    return np.concatenate(waves), np.concatenate(chis), np.concatenate(logf)


def brackett_wavelengths(n_upper: np.ndarray) -> np.ndarray:
    """Vacuum wavelengths (Å) of the Brackett lines n_upper -> 4 (Rydberg formula)."""
    r_h = 109677.583  # cm^-1
    return 1e8 / (r_h * (1 / 16.0 - 1.0 / np.asarray(n_upper, float) ** 2))


@functools.lru_cache(maxsize=1)
def line_list() -> LineList:
    """The model's line list (deterministic; cached)."""
    rng = np.random.default_rng(LINELIST_SEED)
    windows, dcont, on_chip = _grid_masks()
    rows = _atomic_lines(rng, windows, dcont, on_chip)

    # CO bands: physical positions; none on/near continuum pixels; damped outside C windows.
    w, chi, logf = co_band_lines()
    p = pix_of_wave(w)
    keep = (p > 0) & (p < apogee.N_PIX - 1)
    p, chi, logf = p[keep], chi[keep], logf[keep]
    ip = near_int(p)
    keep = on_chip[ip] & (dcont[ip] >= 2)
    p, chi, logf, ip = p[keep], chi[keep], logf[keep], ip[keep]
    theta_ref = 5040.0 / 4500.0   # Boltzmann factor of the reference star (spectra.REF_TEFF)
    log_s = _CO_LOG_S0 + logf - theta_ref * chi + np.where(windows["C"][ip], 0.0, np.log10(_CO_OUTSIDE_C))
    log_s = np.minimum(log_s, _CONT_CAP[np.minimum(dcont[ip], 3)])
    rows.append((p, np.full(p.size, SPECIES_INDEX["CO"]), chi, log_s, np.full(p.size, KIND_NARROW)))

    # OH: one line (a Lambda-doublet in wide windows) at the centre of each O window.
    cen = []
    for s in _segments(windows["O"]):
        if len(s) < 2:
            continue
        mid = s[np.argmax(np.minimum(dcont[s], 4) - 0.01 * np.abs(s - s.mean()))]
        cen.append(mid + rng.uniform(-0.3, 0.3))
        if len(s) >= 8:
            cen.append(mid + rng.choice([-1, 1]) * rng.uniform(2.0, 3.0))
    cen = np.asarray(cen)
    log_s = np.minimum(rng.uniform(*_OH_LOG_S, cen.size), _CONT_CAP[np.minimum(dcont[near_int(cen)], 3)])
    rows.append((cen, np.full(cen.size, SPECIES_INDEX["OH"]), rng.uniform(0.1, 1.3, cen.size),
                 log_s, np.full(cen.size, KIND_NARROW)))

    # CN: dense in the N windows, away from continuum pixels.
    ok = np.flatnonzero(windows["N"] & (dcont >= 2))
    n_cn = int(_CN_PER_PIXEL * ok.size)
    pos = np.sort(rng.choice(ok, n_cn, replace=False)) + rng.uniform(-0.45, 0.45, n_cn)
    rows.append((pos, np.full(n_cn, SPECIES_INDEX["CN"]), rng.uniform(0.2, 1.6, n_cn),
                 np.clip(rng.normal(*_CN_LOG_S, n_cn), -1.6, 0.6), np.full(n_cn, KIND_NARROW)))

    # Brackett series.
    n_up = np.arange(11, 23)
    p = pix_of_wave(brackett_wavelengths(n_up))
    # oscillator strengths fall roughly as n^-3 along the series
    log_s = _H_LOG_S0 - 3.0 * np.log10(n_up / 11.0)
    rows.append((p, np.full(n_up.size, SPECIES_INDEX["H I"]), np.full(n_up.size, 12.75),
                 log_s, np.full(n_up.size, KIND_HYDROGEN)))

    pix = np.concatenate([r[0] for r in rows])
    order = np.argsort(pix, kind="stable")
    upper = np.concatenate([np.zeros(sum(len(r[0]) for r in rows[:-1]), int), n_up])
    ll = LineList(
        wave=wave_of_pix(pix)[order], pix=pix[order],
        species=np.concatenate([r[1] for r in rows]).astype(np.int16)[order],
        chi=np.concatenate([r[2] for r in rows])[order],
        log_s_ref=np.concatenate([r[3] for r in rows])[order],
        kind=np.concatenate([r[4] for r in rows]).astype(np.int8)[order],
        upper_n=upper[order],
    )
    for a in ll.__dataclass_fields__:
        getattr(ll, a).setflags(write=False)
    return ll
