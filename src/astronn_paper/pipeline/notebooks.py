"""Write the top-level notebooks from their plain-Python sources.

Each notebook's source lives in ``tools/notebooks/<Name>.py`` in jupytext's "percent"
format (``# %% [markdown]`` starts a markdown cell, ``# %%`` a code cell, and
``# %% tags=["parameters"]`` the papermill parameters cell), read with jupytext. Reviewing a
``.py`` diff is easier than a notebook diff; ``python tools/notebooks/build.py`` writes the
``.ipynb`` files (without outputs), and the pipeline fills in the outputs.
"""
from __future__ import annotations

import re
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


# What a committed notebook's outputs may not hold: they are read on nbviewer by people who never
# run them, so they must carry the science and nothing of the machine or the plumbing that made them.
#: an absolute POSIX path (``/work/x``, ``/home/u/x``) or a Windows one (``C:\x``), not ``km/s``
_ABSOLUTE_PATH = re.compile(r"""(?:^|[\s'"(\[=:,])(/(?:[\w.+-]+/)+[\w.+-]*|[A-Za-z]:\\[\w.\\-]+)""")
#: object reprs that leak implementation into prose (``PosixPath('…')``, ``<Figure at 0x…>``)
_REPR = re.compile(r"PosixPath\(|WindowsPath\(|<[\w.]+ object at 0x[0-9a-f]+>")


def _output_texts(output) -> list[str]:
    if output.get("output_type") == "stream":
        return ["".join(output.get("text", ""))]
    data = output.get("data", {})
    return ["".join(v) if isinstance(v, list) else str(v)
            for k, v in data.items() if k.startswith("text/")]


def output_problems(nb) -> list[str]:
    """What is wrong with an executed notebook as a document (empty when nothing): absolute
    paths or object reprs in any text output, a stderr stream, an error output, a figure not
    followed by a markdown cell before the next code cell, or a last cell that is not markdown.
    ``nb`` is an ``nbformat`` notebook or its dict."""
    problems = []
    cells = nb["cells"]
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        first = "".join(cell["source"]).strip().splitlines()[:1]
        where = f"cell {i} ({first[0][:50] if first else 'empty'})"
        outputs = cell.get("outputs", [])
        for out in outputs:
            kind = out.get("output_type")
            if kind == "error":
                problems.append(f"{where}: error output {out.get('ename')}: {out.get('evalue', '')[:80]}")
            if kind == "stream" and out.get("name") == "stderr":
                problems.append(f"{where}: stderr stream {''.join(out.get('text', ''))[:80]!r}")
            for text in _output_texts(out):
                for m in _ABSOLUTE_PATH.finditer(text):
                    problems.append(f"{where}: absolute path {m.group(1)!r}")
                for m in _REPR.finditer(text):
                    problems.append(f"{where}: object repr {m.group(0)!r}")
        if any("image/png" in out.get("data", {}) or "image/svg+xml" in out.get("data", {})
               for out in outputs):
            nxt = cells[i + 1]["cell_type"] if i + 1 < len(cells) else None
            if nxt != "markdown":
                problems.append(f"{where}: a figure with no markdown cell after it")
    if not cells or cells[-1]["cell_type"] != "markdown":
        problems.append("the notebook does not end with a markdown cell")
    return problems
