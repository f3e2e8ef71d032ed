"""Figures: one module per notebook, one function per figure, each returning the Figure.

:func:`save` writes a figure as PDF (for the paper) and PNG (for nbviewer) under the
profile's figures folder (:func:`astronn_paper.config.figs_dir`).
"""
from __future__ import annotations

from pathlib import Path

from astronn_paper import cache, config


def save(fig, name: str, profile=None, dpi: int = 110) -> list[Path]:
    """Save ``fig`` as ``<figs>/<name>.pdf`` and ``.png``; returns the two paths."""
    out = config.figs_dir(profile)
    paths = []
    for ext in ("pdf", "png"):
        path = out / f"{name}.{ext}"
        with cache.atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths
