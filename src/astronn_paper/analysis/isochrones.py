"""Reader of user-supplied PARSEC isochrones (CMD 3.0 output), for overlays on Kiel diagrams.

No isochrone ships with this package. To overlay real giant branches on real data, download
isochrone tables from the CMD web interface (http://stev.oapd.inaf.it/cmd, "isochrone
tables", any photometric system) and pass the files to :func:`read_parsec`. The format is
plain text: ``#`` comment lines, one of which names the columns (it starts with
``# Zini``; CMD 3.0 writes e.g. ``Zini Age Mini Mass logL logTe logg label ...``), then one
whitespace-separated row per stellar mass. A file may hold several isochrones (several
ages or metallicities), each preceded by its own header line; they are concatenated.

Only ``logTe``, ``logg`` and ``label`` are required; ``Zini`` gives each row's [M/H]
(:func:`mh_of_z`). PARSEC's evolutionary-phase ``label``
is 0 pre-main sequence, 1 main sequence, 2 subgiant branch, 3 red giant branch, 4-6 core-He
burning (4 = red clump for low masses), 7 early AGB, 8 TP-AGB, 9 post-AGB.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: PARSEC v1.2S solar (Z/X): Z_sun = 0.0152, X_sun = 0.7350 (Bressan et al. 2012).
PARSEC_ZX_SUN = 0.0152 / 0.7350
#: Columns a file must provide.
REQUIRED = ("logTe", "logg", "label")
#: PARSEC phase labels.
PHASES = {0: "PMS", 1: "MS", 2: "SGB", 3: "RGB", 4: "CHEB", 5: "CHEB_blue", 6: "CHEB_red",
          7: "EAGB", 8: "TPAGB", 9: "postAGB", 10: "WD"}


def mh_of_z(z):
    """[M/H] of a PARSEC initial metallicity Z: log10(Z/X) - log10(Z/X)_sun with the initial
    helium of PARSEC v1.2S, Y = 0.2485 + 1.78 Z (Bressan et al. 2012), X = 1 - Y - Z."""
    z = np.asarray(z, dtype=np.float64)
    x = 1.0 - (0.2485 + 1.78 * z) - z
    return np.log10(z / x) - np.log10(PARSEC_ZX_SUN)


def read_parsec(path: os.PathLike) -> dict[str, np.ndarray]:
    """Read a CMD 3.0 PARSEC isochrone table.

    Returns a dict of float arrays, one per column of the file (``label`` as int), plus
    ``teff`` = 10**logTe (K) and ``mh`` (from ``Zini`` by :func:`mh_of_z`). Raises
    :class:`FileNotFoundError` for a missing file and :class:`ValueError` naming the file
    and line for a file without a header line, without the required columns or with a
    malformed row.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no isochrone file at {path} (download PARSEC isochrone "
                                "tables from http://stev.oapd.inaf.it/cmd)")
    columns: list[str] | None = None
    rows: list[list[float]] = []
    with open(path, "r", encoding="ascii", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            text = line.strip()
            if not text:
                continue
            if text.startswith("#"):
                words = text.lstrip("#").split()
                if words and words[0] == "Zini":
                    if columns is not None and words != columns:
                        raise ValueError(f"{path}:{lineno}: the columns change within the file")
                    columns = words
                continue
            if columns is None:
                raise ValueError(f"{path}:{lineno}: data before the '# Zini ...' header line; "
                                 "not a CMD 3.0 PARSEC isochrone table")
            values = text.split()
            if len(values) != len(columns):
                raise ValueError(f"{path}:{lineno}: {len(values)} values for {len(columns)} columns")
            try:
                rows.append([float(v) for v in values])
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from None
    if columns is None:
        raise ValueError(f"{path}: no '# Zini ...' header line; not a CMD 3.0 PARSEC isochrone table")
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {columns}")
    if not rows:
        raise ValueError(f"{path}: no isochrone rows")
    data = np.array(rows, dtype=np.float64)
    out = {name: data[:, i] for i, name in enumerate(columns)}
    out["label"] = out["label"].astype(int)
    out["teff"] = 10.0 ** out["logTe"]
    if "Zini" in out:
        out["mh"] = mh_of_z(out["Zini"])
    return out


def giant_branch(iso: dict, logg_range: tuple[float, float] = (0.5, 3.8), phases=(2, 3)):
    """(Teff, logg) of an isochrone's subgiant + red giant branch (PARSEC labels 2 and 3)
    within ``logg_range``, ordered by decreasing logg (ready to plot as a line)."""
    sel = np.isin(iso["label"], phases) & (iso["logg"] >= logg_range[0]) & (iso["logg"] <= logg_range[1])
    order = np.argsort(-iso["logg"][sel])
    return iso["teff"][sel][order], iso["logg"][sel][order]
