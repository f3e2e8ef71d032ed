"""Write the top-level notebooks from their plain-Python sources.

Each notebook's source lives in ``tools/notebooks/<Name>.py`` in jupytext's "percent"
format (``# %% [markdown]`` starts a markdown cell, ``# %%`` a code cell, and
``# %% tags=["parameters"]`` the papermill parameters cell), read with jupytext. Reviewing a
``.py`` diff is easier than a notebook diff; ``python tools/notebooks/build.py`` writes the
``.ipynb`` files (without outputs), and the pipeline fills in the outputs.
"""
from __future__ import annotations

import json
import re
from bisect import bisect_left
from decimal import Decimal
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


def _cell_key(cell) -> tuple:
    """What a cell does: a markdown cell's text; a code cell's syntax tree (so that re-wrapping
    its lines or splitting a string into adjacent literals keeps its outputs), or its text when
    it is not plain Python."""
    if cell.cell_type != "code":
        return (cell.cell_type, cell.source)
    import ast

    try:
        return ("code", ast.dump(ast.parse(cell.source)))
    except SyntaxError:
        return ("code", cell.source)


def build_notebook(src: Path, dest: Path, keep_outputs: bool = False) -> Path:
    """Write ``dest`` (.ipynb) from a percent-format ``src``; cell ids are stable.

    With ``keep_outputs``, a code cell whose code is unchanged (the same syntax tree: line
    breaks and string splits aside) keeps the outputs it has in
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
            previous.setdefault(_cell_key(cell), []).append(cell)
        for i, cell in enumerate(nb.cells):
            same = previous.get(_cell_key(cell))
            if same:     # unchanged: the old cell (metadata, outputs) with the new source's layout
                kept = same.pop(0)
                kept.source = cell.source
                nb.cells[i] = kept
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


def _renders_markdown(cell) -> bool:
    """A code cell that renders prose: a verdict call, or a Markdown output."""
    return cell["cell_type"] == "code" and (
        bool(verdict_templates("".join(cell["source"])))
        or any("text/markdown" in out.get("data", {}) for out in cell.get("outputs", [])))


def output_problems(nb) -> list[str]:
    """What is wrong with an executed notebook as a document (empty when nothing): absolute
    paths or object reprs in any text output, a stderr stream, an error output, a figure not
    followed by a markdown cell or a rendered verdict (:func:`verdict_templates`) before the next
    code cell, or a last cell that is not markdown.
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
            nxt = cells[i + 1] if i + 1 < len(cells) else None
            if nxt is None or not (nxt["cell_type"] == "markdown" or _renders_markdown(nxt)):
                problems.append(f"{where}: a figure with no markdown cell after it")
    if not cells or cells[-1]["cell_type"] != "markdown":
        problems.append("the notebook does not end with a markdown cell")
    return problems


# Every number in the prose comes from the notebook: a number in a markdown cell must be *backed*
# by a code cell above it (its source or any text output), by the paper's transcribed values
# (``paper.results()``, i.e. data/paper_results.json) or by one of the method's constants below.
# Backed means: some such value, rounded to the digits the prose prints, is the prose's number
# (magnitudes, thousands separators ignored; a percentage may also be a fraction), see is_backed.
# A markdown cell above does not back a number: a value typed once is still typed by hand.

#: The constants of the paper's method and of the APOGEE data that the prose may state without the
#: notebook printing them (a value, and why it is a constant). Keep it short: a result never goes here.
METHOD_CONSTANTS: dict[str, str] = {
    "4000": "training and test cut: 4000 K <= Teff (the paper's sect. 2)",
    "5500": "training and test cut: Teff <= 5500 K",
    "200": "SNR cut: training set SNR > 200, high-SNR test set SNR < 200",
    "100": "SNR cut: high-SNR test set SNR > 100; also the paper's 100 MC-dropout passes",
    "1": "VSCATTER < 1 km/s cut",
    "8575": "pixels of an apStar spectrum",
    "7514": "pixels of an apStar spectrum once the chip gaps are removed",
    "22": "the 22 labels: Teff, log g and 20 abundances",
    "20": "the 20 abundances [X/H]",
    "60": "training epochs",
    "0.3": "MC-dropout rate",
    "64": "batch size",
    "5e-4": "Adam's initial learning rate",
    "0.1": "validation share of the training set (10 %)",
    "-9999": "ASPCAP's and astroNN's value of a missing label",
    "0.674": "median of |N(0, σ)| in units of σ, to read a median |error| as a Gaussian σ",
    "0.683": "fraction of a Gaussian within 1σ (68 %), to read the calibration of z",
}

#: a number as prose writes it: 1,644  0.031  −0.05  5e-4  10⁻⁶ (decimal part, exponent, percent)
_PROSE_NUMBER = re.compile(r"""
    (?<![A-Za-z0-9_.])(?<![A-Za-z]-)      # not inside a name: M67, DR14, R0, run001, v1.2, degree-2
    (?P<sign>[-−+]?)
    (?:10(?P<sup>[⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)      # 10⁻⁶
      |(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?P<exp>[eE][-−+]?\d+)?)
    (?![A-Za-z0-9_])                      # nor the start of one: 2MASS, 10th
    (?P<pct>[ \u00a0\u202f]?%|(?=[ \u00a0\u202f]?[–-][ \u00a0\u202f]?[\d.,]+[ \u00a0\u202f]?%))?
    """, re.X)                            # (pct: "84 %", or the first end of a range "1–27 %")
#: what is removed from a markdown cell before its numbers are read, each with why
_NOT_PROSE = [
    re.compile(r"```.*?```|`[^`\n]*`", re.S),                   # code blocks and spans: code, not prose
    re.compile(r"(?<=\])\([^)\s]*\)|https?://\S+"),             # a link's URL (its text stays)
    re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>|\\[A-Za-z]+"),   # HTML tags, LaTeX commands
    re.compile(r"\barXiv:\s?\d{4}\.\d{4,5}(?:v\d+)?"                   # arXiv ids and file names
               r"|[\w./-]+\.(?:ipynb|py|npy|npz|fits|txt|h5|json|csv|pdf|png)\b"),
    re.compile(r"\b(?:Fig(?:ure)?s?|[Ss]ect(?:ion)?s?|Tables?|Eq(?:uation)?s?|[Cc]ells?|[Aa]ppendix)\.?"
               r"\s?\d+(?:\.\d+)*"),                            # references: Fig. 3, sect. 5.4, Table 2
    re.compile(r"\b(?:NGC|IC|HD|KIC)\s?\d+"),                   # catalogue names with a space: NGC 6819
    re.compile(r"(?<![\d,.])(?:19|20)\d\d(?!\d|,\d{3}|\.\d)"             # a year: 1900-2099 not followed
               r"(?!\s?(?:[a-z%×–-]|K\b|Å))"),                       # by a word or unit ("2000 stars")
    re.compile(r"^[ \t]*(?:#+[ \t]*)?\d+[.)][ \t]", re.M),      # list enumerators, numbered headings
]
_SOURCE_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")


def prose_numbers(markdown: str) -> list[tuple[str, Decimal, bool, str]]:
    """The numbers of a markdown text: (as written, value, whether a percentage, context)."""
    text = markdown
    for pattern in _NOT_PROSE:
        text = pattern.sub(" ", text)
    found = []
    for m in _PROSE_NUMBER.finditer(text):
        if m["sup"]:
            value = Decimal("1e" + m["sup"].translate(_SUPERSCRIPT))
        else:
            value = Decimal(m["num"].replace(",", "") + (m["exp"] or "").replace("−", "-"))
        before = re.search(r"(?:\S+\s+){0,7}\S*$", text[:m.start()]).group(0)    # a few words either side
        after = re.match(r"\S*(?:\s+\S+){0,5}", text[m.end():]).group(0)
        context = " ".join((before + m.group(0) + after).split())
        found.append((m.group(0).strip(), value, m["pct"] is not None, context))
    return found


def _source_numbers(text: str) -> set[float]:
    """Every number in code or output text, as a magnitude (``1,644`` both as 1644 and 1, 644)."""
    values = {float(s.replace(",", "")) for s in _SOURCE_NUMBER.findall(text)}
    return values | {float(s) for s in re.findall(r"\d+(?:\.\d+)?", text)}


def is_backed(value, percent: bool, candidates) -> bool:
    """Whether a prose number is one of ``candidates`` as printed: some candidate rounds to it at
    the prose's precision (|c − v| <= half a unit of its last digit: 0.031 is backed by 0.0312,
    2.6× by 2.63, 1,644 by 1644, 5e-4 by 0.0005), signs ignored (prose says "0.05 lower" of a
    −0.05); a percentage also by a fraction (23 % by 0.23 or 0.231)."""
    half = 0.5 * 10.0 ** value.as_tuple().exponent * (1 + 1e-9)
    target = abs(float(value))
    ordered = candidates if isinstance(candidates, list) else sorted(candidates)
    scales = (1, 100) if percent else (1,)
    for v, h in ((target / s, half / s) for s in scales):
        i = bisect_left(ordered, v - h)
        if i < len(ordered) and ordered[i] <= v + h:
            return True
    return False


def _paper_and_constant_numbers() -> set[float]:
    from astronn_paper import paper

    transcribed = {k: v for k, v in paper.results().items() if k != "source"}   # source: the citation
    return _source_numbers(json.dumps(transcribed)) | {abs(float(v)) for v in METHOD_CONSTANTS}


def _read(nb):
    return nbformat.read(str(nb), as_version=4) if isinstance(nb, (str, Path)) else nb


def verdict_templates(source: str) -> list[str] | None:
    """The typed text of the verdict templates a code cell renders (``verdict("…", x=…)``, see
    :mod:`astronn_paper.analysis.verdicts`), ``{fields}`` removed: the prose of a rendered verdict.
    None when the cell renders none (or does not parse)."""
    import ast

    from astronn_paper.analysis.verdicts import VERDICT_CALL

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args):
            continue
        func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if func != VERDICT_CALL:
            continue
        parts = node.args[0].values if isinstance(node.args[0], ast.JoinedStr) else [node.args[0]]
        text = "".join(p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str))
        found.append(re.sub(r"\{[^{}]*\}", " ", text))
    return found or None


def prose_number_problems(nb_path) -> list[str]:
    """One line per number of a markdown cell that no code cell above it (source or outputs), no
    transcribed value of the paper and no :data:`METHOD_CONSTANTS` entry backs (:func:`is_backed`).
    A code cell rendering a verdict (:func:`verdict_templates`) is prose for its typed text, which
    is checked likewise, and computed for its output (the ``{fields}`` filled in by the run): its
    source backs nothing, its rendered Markdown backs what follows.
    ``nb_path`` is a notebook file or an ``nbformat`` notebook."""
    nb = _read(nb_path)
    name = Path(nb_path).stem if isinstance(nb_path, (str, Path)) else "notebook"
    known = _paper_and_constant_numbers()
    problems = []

    def check(i, text):
        ordered = sorted(known)
        for written, value, percent, context in prose_numbers(text):
            if not is_backed(value, percent, ordered):
                problems.append(f"{name} cell {i}: {written} in '…{context}…'")

    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            outputs = [t for out in cell.get("outputs", []) for t in _output_texts(out)]
            templates = verdict_templates(source)
            for text in templates or []:
                check(i, text)
            known |= _source_numbers("\n".join(([] if templates else [source]) + outputs))
        elif cell["cell_type"] == "markdown":
            check(i, source)
    return problems


#: an ALL-CAPS_UNDERSCORE token (RESP_TABLE_VERDICT); a placeholder unless the code knows the name
_CAPS_TOKEN = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
#: TODO-like markers, and ``{name}`` / ``{x:.3f}`` left over from a format string
_PLACEHOLDER = re.compile(r"\b(?:TODO|FIXME|XXX|TBD)\b|\{[^{}\n]{0,40}\}")


def _package_names() -> set[str]:
    return {t for f in Path(__file__).resolve().parents[1].rglob("*.py")
            for t in _CAPS_TOKEN.findall(f.read_text(encoding="utf-8"))}


def placeholder_problems(nb_path) -> list[str]:
    """One line per placeholder left in a markdown cell or a rendered verdict (a code cell's Markdown
    output), outside code spans and math: TODO, FIXME,
    XXX, TBD, a ``{…}`` format field, an ALL-CAPS_UNDERSCORE token alone on its line, or one that
    names nothing in the package's source nor in the notebook's code cells and outputs
    (``APOGEE_ID`` and ``SIG_SKYLINE`` are names; ``RESP_TABLE_VERDICT`` is not)."""
    nb = _read(nb_path)
    name = Path(nb_path).stem if isinstance(nb_path, (str, Path)) else "notebook"
    code = "\n".join("".join(c["source"]) + "\n" + "\n".join(t for o in c.get("outputs", [])
                                                            if "text/markdown" not in o.get("data", {})
                                                            for t in _output_texts(o))
                     for c in nb["cells"] if c["cell_type"] == "code")
    names = _package_names() | set(_CAPS_TOKEN.findall(code))
    problems = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            texts = ["".join(cell["source"])]
        else:     # a rendered verdict is prose too
            texts = ["".join(o["data"]["text/markdown"]) for o in cell.get("outputs", [])
                     if "text/markdown" in o.get("data", {})]
        for text in texts:
            problems += _placeholders(text, names, f"{name} cell {i}")
    return problems


def _placeholders(text: str, names: set[str], where: str) -> list[str]:
    text = re.sub(r"```.*?```|`[^`\n]*`|\$[^$]*\$", " ", text, flags=re.S)
    alone = {t for line in text.splitlines() for t in _CAPS_TOKEN.findall(line)
             if line.strip(" *#_>") == t}
    found = [m.group(0) for m in _PLACEHOLDER.finditer(text)]
    found += [t for t in _CAPS_TOKEN.findall(text) if t in alone or t not in names]
    return [f"{where}: placeholder {t!r}" for t in found]
