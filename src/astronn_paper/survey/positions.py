"""Where the APOGEE DR14 stars are: the real positions and Gaia DR2 parallaxes of the allStar
rows (from the file astroNN ships), galactocentric coordinates and angular separations
(astropy), used by the synthetic survey and by the analysis of real catalogs alike.
"""
from __future__ import annotations

import functools
import os

import numpy as np

from astronn_paper import apogee

#: Galactocentric distance of the Sun (kpc) of the frames used here.
R_SUN = 8.0


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


def galactocentric(ra, dec, dist_kpc) -> dict[str, np.ndarray]:
    """Galactic l, b (deg) and galactocentric R, z, X, Y (kpc) with astropy's frames."""
    import astropy.units as u
    from astropy.coordinates import Galactocentric, SkyCoord

    c = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, distance=dist_kpc * u.kpc, frame="icrs")
    gal = c.galactic
    gc = c.transform_to(Galactocentric(galcen_distance=R_SUN * u.kpc, z_sun=20.8 * u.pc))
    x, y, z = (gc.x.to_value(u.kpc), gc.y.to_value(u.kpc), gc.z.to_value(u.kpc))
    return {"glon": gal.l.deg, "glat": gal.b.deg, "X": x, "Y": y, "z": z, "R": np.hypot(x, y)}


def angular_separation(ra1, dec1, ra2, dec2):
    """Great-circle separation (deg) of positions in degrees, vectorised (astropy)."""
    from astropy.coordinates import angular_separation as _sep

    r1, d1, r2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    return np.degrees(_sep(r1, d1, r2, d2))
