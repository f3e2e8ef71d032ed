"""The cluster membership table of Meszaros et al. (2013, AJ 146, 133), Table 4: its
fixed-width layout, read (the published machine-readable table, or the synthetic survey's
own) and written (the synthetic survey's members, in the same layout).
"""
from __future__ import annotations

import numpy as np

#: Fixed-width layout of Meszaros et al. (2013) Table 4: (name, first byte, last byte, unit),
#: bytes 1-based inclusive.
MESZAROS_COLUMNS = (
    ("2MASS", 1, 18, ""), ("Cluster", 20, 27, ""), ("RV", 29, 35, "km/s"),
    ("Teff", 37, 42, "K"), ("Teffc", 44, 49, "K"), ("logg", 51, 54, "dex"),
    ("loggc", 56, 60, "dex"), ("[M/H]", 62, 66, "dex"), ("[M/H]c", 68, 72, "dex"),
    ("[C/M]", 74, 78, "dex"), ("[N/M]", 80, 84, "dex"), ("[a/M]", 86, 90, "dex"),
    ("S/N", 92, 97, ""), ("Jmag", 99, 104, "mag"), ("Hmag", 106, 111, "mag"),
    ("Ksmag", 113, 118, "mag"), ("e_Teffc", 120, 124, "K"), ("e_[M/H]c", 126, 130, "dex"),
)
_MESZAROS_FORMATS = {"RV": "{:7.2f}", "Teff": "{:6.1f}", "Teffc": "{:6.1f}", "logg": "{:4.2f}",
                     "loggc": "{:5.2f}", "[M/H]": "{:5.2f}", "[M/H]c": "{:5.2f}", "[C/M]": "{:5.2f}",
                     "[N/M]": "{:5.2f}", "[a/M]": "{:5.2f}", "S/N": "{:6.1f}", "Jmag": "{:6.3f}",
                     "Hmag": "{:6.3f}", "Ksmag": "{:6.3f}", "e_Teffc": "{:5.1f}", "e_[M/H]c": "{:5.3f}"}


def read_meszaros(path):
    """Read a cluster table in the Meszaros et al. (2013) Table 4 fixed-width layout.

    ``path`` is a file name (or a list of lines). Returns an astropy Table with the columns
    of :data:`MESZAROS_COLUMNS` (blank fields masked). Works on the real machine-readable
    table (header removed) and on ours.
    """
    from astropy.io import ascii

    tab = ascii.read(
        path if isinstance(path, list) else str(path), format="fixed_width_no_header",
        names=[c[0] for c in MESZAROS_COLUMNS],
        col_starts=[c[1] - 1 for c in MESZAROS_COLUMNS], col_ends=[c[2] - 1 for c in MESZAROS_COLUMNS],
        delimiter="\x00", guess=False, comment="#",
    )
    for name, *_, unit in MESZAROS_COLUMNS:
        if unit:
            tab[name].unit = unit
    return tab


def format_meszaros(rows: list[dict]) -> str:
    """Lines of the Meszaros layout from dicts keyed by the column names (missing -> blank)."""
    lines = []
    for r in rows:
        line = [" "] * MESZAROS_COLUMNS[-1][2]
        for name, first, last, _ in MESZAROS_COLUMNS:
            v = r.get(name)
            if v is None or (isinstance(v, float) and not np.isfinite(v)):
                continue
            width = last - first + 1
            text = (str(v).ljust(width) if name in ("2MASS", "Cluster")
                    else _MESZAROS_FORMATS[name].format(v).rjust(width))
            if len(text) > width:
                raise ValueError(f"{name}={v!r} does not fit in {width} bytes")
            line[first - 1:last] = list(text)
        lines.append("".join(line).rstrip() + "\n")
    return "".join(lines)
