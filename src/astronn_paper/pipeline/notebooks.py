"""Write the top-level notebooks from their plain-Python sources.

Each notebook's source lives in ``tools/notebooks/<Name>.py`` in jupytext's "percent"
format (``# %% [markdown]`` starts a markdown cell, ``# %%`` a code cell, and
``# %% tags=["parameters"]`` the papermill parameters cell), read with jupytext. Reviewing a
``.py`` diff is easier than a notebook diff; ``python tools/notebooks/build.py`` writes the
``.ipynb`` files (without outputs), and the pipeline fills in the outputs.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from astronn_paper import cache


def parse_percent(text: str) -> list[nbformat.NotebookNode]:
    """Cells of a percent-format script (jupytext), with only their type, source and tags."""
    import jupytext

    cells = []
    for c in jupytext.reads(text, fmt="py:percent").cells:
        new = nbformat.v4.new_markdown_cell if c.cell_type == "markdown" else nbformat.v4.new_code_cell
        cell = new(c.source)
        if c.metadata.get("tags"):
            cell.metadata["tags"] = list(c.metadata["tags"])
        cells.append(cell)
    return cells


def build_notebook(src: Path, dest: Path, keep_outputs: bool = False) -> Path:
    """Write ``dest`` (.ipynb) from a percent-format ``src``; cell ids are stable.

    With ``keep_outputs``, a code cell whose source is unchanged keeps the outputs it has in
    the existing ``dest`` (so that editing the text or adding a section does not throw away
    the committed outputs of the cells it did not touch); changed and new cells have none
    until the notebook is run again.
    """
    nb = nbformat.v4.new_notebook()
    nb.cells = parse_percent(Path(src).read_text())
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    if keep_outputs and Path(dest).is_file():
        old = nbformat.read(str(dest), as_version=4)
        nb.metadata = old.metadata          # the kernel's language_info of the last run
        previous: dict[tuple, list] = {}
        for cell in old.cells:
            previous.setdefault((cell.cell_type, cell.source), []).append(cell)
        for i, cell in enumerate(nb.cells):
            same = previous.get((cell.cell_type, cell.source))
            if same:     # unchanged: the old cell as it was (metadata, outputs)
                nb.cells[i] = same.pop(0)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    text = nbformat.writes(nb)
    cache.atomic_write_bytes(dest, (text if text.endswith("\n") else text + "\n").encode())
    return Path(dest)
