"""Progress bars for the long steps (compile, export, catalog, MC-dropout inference, response).

One tqdm factory, so that every bar looks the same and can be switched off in one place: text
bars (readable in a terminal and in Jupyter without ipywidgets), off when ``enabled`` is false or
``$ASTRONN_PAPER_PROGRESS`` is ``0``. The pipeline sets that variable while it executes the
notebooks: a bar is for the person waiting, not for the reader of the committed notebook on
nbviewer, where it would be a stderr stream with one machine's timings.
"""
from __future__ import annotations

import os

PROGRESS_ENV = "ASTRONN_PAPER_PROGRESS"


def enabled(requested: bool = True) -> bool:
    """Whether a bar asked for with ``requested`` is shown."""
    return bool(requested) and os.environ.get(PROGRESS_ENV, "1") != "0"


def bar(requested: bool = True, **kw):
    """A tqdm bar (``total``, ``desc``, ``unit``, ...), silent unless :func:`enabled`."""
    from tqdm import tqdm

    kw.setdefault("smoothing", 0.1)
    return tqdm(disable=not enabled(requested), **kw)
