"""Figures: one module per notebook, one function per figure, each returning the Figure.

:func:`save` writes a figure as PDF (for the paper) and PNG (for nbviewer) under the
profile's figures folder (:func:`astronn_paper.config.figs_dir`). It returns nothing, so that a
notebook cell ending in ``save(...)`` shows the figure and no paths.
"""
from __future__ import annotations

from astronn_paper import cache, config


def save(fig, name: str, profile=None, dpi: int = 110) -> None:
    """Save ``fig`` as ``<figs>/<name>.pdf`` and ``.png`` (atomic writes)."""
    out = config.figs_dir(profile)
    for ext in ("pdf", "png"):
        with cache.atomic_path(out / f"{name}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
