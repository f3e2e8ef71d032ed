"""FITS binary tables that describe themselves, written one way for every product (``predict``'s
labels, the catalog): an astropy :class:`~astropy.table.Table` turned into a ``BinTableHDU``
with a unit (``TUNITn``), a short description (the ``TTYPEn`` comment) and a full one
(``TCOMMn``) for every column, a comment on every keyword (:func:`card`), written atomically
with checksums (:func:`write`)."""
from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from astronn_paper import cache

#: FITS ``TFORMn`` letters in words (the comment of the ``TFORMn`` card).
FORM_WORDS = {"A": "text", "L": "logical", "B": "8-bit integer", "I": "16-bit integer",
              "J": "32-bit integer", "K": "64-bit integer", "E": "32-bit float", "D": "64-bit float"}


def card(header, key: str, value, comment: str, after: str | None = None) -> None:
    """Set ``key`` with its comment (after the card ``after`` if it is new); when value and
    comment do not fit on one card, the comment goes on a COMMENT card ``KEY: comment``
    (astropy would cut it)."""
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("error", fits.verify.VerifyWarning)
        try:
            fits.Card(key, value, comment).image
            together = True
        except fits.verify.VerifyWarning:
            together = False
    entry = (key, value, comment) if together else (key, value)
    if key in header:
        header[key] = entry[1:]
    elif after is not None:
        header.insert(after, entry, after=True)
    else:
        header.append(entry, bottom=True)
    if not together:
        name = key[len("HIERARCH "):] if key.startswith("HIERARCH ") else key
        header.add_comment(f"{name}: {comment}")


def table_hdu(table, name: str, describe: Mapping[str, tuple[str, str]],
              units: Mapping[str, str] | None = None, comments: Sequence[str] = ()):
    """``table`` as a FITS binary table extension ``name``. ``describe[column]`` is its
    (short, full) description, ``units[column]`` its unit (any text: ``dex`` and ``K; dex``,
    which astropy's unit parser refuses, are written as they are); ``comments`` are COMMENT
    lines. The table's ``meta`` is not written (set keywords with :func:`card`)."""
    from astropy.io import fits

    t = table.copy(copy_data=False)
    t.meta = {}
    for col in t.itercols():
        col.unit = None
        col.description = None
    hdu = fits.table_to_hdu(t)
    hdu.name = name
    h = hdu.header
    for i, column in enumerate(t.colnames, start=1):
        short, full = describe[column]
        card(h, f"TTYPE{i}", column, short)
        form = h[f"TFORM{i}"]
        card(h, f"TFORM{i}", form, f"format: {FORM_WORDS.get(form.strip()[-1:], form)}")
        last = f"TFORM{i}"
        if f"TDIM{i}" in h:
            card(h, f"TDIM{i}", h[f"TDIM{i}"], "shape of the array in each row")
        unit = (units or {}).get(column, "")
        if unit:
            card(h, f"TUNIT{i}", unit, "unit" + (" (dex: log10 of a ratio)" if unit == "dex" else ""),
                 after=last)
            last = f"TUNIT{i}"
        card(h, f"TCOMM{i}", full, "", after=last)
    for line in comments:
        h.add_comment(line)
    return hdu


def write(path: os.PathLike, hdus: Sequence, checksum: bool = True) -> Path:
    """Write ``hdus`` (a primary HDU first) to ``path`` atomically, with checksums."""
    from astropy.io import fits

    path = Path(path)
    with cache.atomic_path(path, suffix=f".tmp{path.suffix}") as tmp:
        fits.HDUList(list(hdus)).writeto(tmp, overwrite=True, checksum=checksum)
    return path
