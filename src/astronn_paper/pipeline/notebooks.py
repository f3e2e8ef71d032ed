"""Write the top-level notebooks from their plain-Python sources.

Each notebook's source lives in ``tools/notebooks/<Name>.py`` in the "percent" format:
``# %% [markdown]`` starts a markdown cell (its lines are ``# ``-prefixed), ``# %%`` a
code cell, and ``# %% tags=["parameters"]`` the papermill parameters cell. Reviewing a
``.py`` diff is easier than a notebook diff; ``python tools/notebooks/build.py`` writes
the ``.ipynb`` files (without outputs), and the pipeline fills in the outputs.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

_HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?:\s+tags=(?P<tags>\[.*\]))?\s*$")


def parse_percent(text: str) -> list[nbformat.NotebookNode]:
    """Cells of a percent-format script."""
    cells: list[nbformat.NotebookNode] = []
    kind, tags, lines = None, [], []

    def flush():
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "md":
            body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in body.splitlines())
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in text.splitlines():
        m = _HEADER.match(line)
        if m:
            flush()
            kind = "md" if m.group("md") else "code"
            tags = json.loads(m.group("tags")) if m.group("tags") else []
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    return cells


def build_notebook(src: Path, dest: Path) -> Path:
    """Write ``dest`` (.ipynb) from a percent-format ``src``; cell ids are stable."""
    nb = nbformat.v4.new_notebook()
    nb.cells = parse_percent(Path(src).read_text())
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    tmp = Path(dest).with_suffix(".ipynb.tmp")
    nbformat.write(nb, str(tmp))
    tmp.replace(dest)
    return Path(dest)
