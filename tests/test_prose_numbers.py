"""Every number in the notebooks' prose comes from the notebook (a code cell above it, the paper's
transcribed values or the method's declared constants), and no placeholder is left in the prose."""
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest

from astronn_paper.pipeline import notebooks, stages

ROOT = Path(__file__).resolve().parents[1]


def _nb(*cells):
    """A notebook from ("md", text) and ("code", source, printed text) cells."""
    nb = nbformat.v4.new_notebook()
    for kind, source, *printed in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        else:
            outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in printed]
            nb.cells.append(nbformat.v4.new_code_cell(source, outputs=outputs))
    return nb


def _written(text):
    return [(w, v, pct) for w, v, pct, _ in notebooks.prose_numbers(text)]


def test_prose_numbers_reads_every_way_of_writing_a_number():
    text = ("1,644 rows, a scatter of 0.031 dex, a bias of −0.05, 1.5–2.6 times, 2.6× faster, ×1.39, "
            "84 % of them, 1–27 % label by label, a rate below 10⁻⁶ or 1e-6, 5e-4, 4000-5500 K.")
    assert _written(text) == [
        ("1,644", Decimal("1644"), False), ("0.031", Decimal("0.031"), False),
        ("−0.05", Decimal("0.05"), False), ("1.5", Decimal("1.5"), False), ("2.6", Decimal("2.6"), False),
        ("2.6", Decimal("2.6"), False), ("1.39", Decimal("1.39"), False), ("84 %", Decimal("84"), True),
        ("1", Decimal("1"), True), ("27 %", Decimal("27"), True), ("10⁻⁶", Decimal("1e-6"), False),
        ("1e-6", Decimal("1e-6"), False), ("5e-4", Decimal("5e-4"), False), ("4000", Decimal("4000"), False),
        ("5500", Decimal("5500"), False)]


def test_prose_numbers_skips_names_references_and_code():
    text = """## 3. Clusters
M67, NGC 6819 and M13 in DR14 with 2MASS ids; Ti II and [X/H] in the H-band, a degree-2 fit,
T<sub>eff</sub> and $\\sigma_{\\rm tot}$. See Fig. 3, sect. 5.4, Table 2 and Leung & Bovy (2019),
Ness et al. 2015, one 2018 GPU, arXiv:1808.04428, `Small_Data.ipynb`, data_v2.h5, the folder
`astroNN_0617_run001`, the [catalog](https://example.org/dr14/v1.2/cat.fits) and `x = 3.5`.

1. a list item
```python
y = 42
```"""
    assert _written(text) == []
    assert _written("Of the 2000 stars") == [("2000", Decimal("2000"), False)]   # a count, not a year


@pytest.mark.parametrize("value, percent, candidates, backed", [
    ("0.031", False, [0.031], True),
    ("0.031", False, [0.0312], True),          # the prose rounds the output to fewer digits
    ("0.031", False, [0.0316], False),         # ... which rounds to 0.032
    ("0.031", False, [0.03], False),           # the output printed fewer digits than the prose
    ("0.120", False, [0.12], True),            # the same value
    ("2.6", False, [2.63], True),              # 2.6× from a ratio 2.63
    ("1644", False, [1644.0], True),
    ("0.05", False, [0.05], True),             # −0.05 in the prose, -0.05 printed: magnitudes
    ("23", True, [0.231], True),               # 23 % of a fraction 0.231
    ("23", True, [23.4], True),
    ("23", False, [0.231], False),             # without % a fraction does not back an integer
    ("5e-4", False, [0.0005], True),
    ("1e-6", False, [1e-5], False),
])
def test_is_backed_rounding_and_percent_rules(value, percent, candidates, backed):
    assert notebooks.is_backed(Decimal(value), percent, candidates) is backed


def test_a_planted_number_fails_and_a_printed_one_passes():
    nb = _nb(("code", "print(scatter)", "Fe scatter 0.0312 dex, 23.1% of the stars\n"),
             ("md", "**Verdict.** Fe scatters by 0.031 dex, 23 % of the stars, and by 0.457 in Na."))
    assert notebooks.prose_number_problems(nb) == [
        "notebook cell 1: 0.457 in '…23 % of the stars, and by 0.457 in Na.…'"]


def test_only_code_cells_above_back_a_number():
    nb = _nb(("md", "The scatter is 0.457 dex."), ("code", "print(s)", "0.457\n"),
             ("md", "Then 0.457, as printed above."), ("md", "A typed 0.123 once"),
             ("md", "does not back 0.123."))
    problems = notebooks.prose_number_problems(nb)
    assert [p.split(":")[0] for p in problems] == ["notebook cell 0", "notebook cell 3", "notebook cell 4"]


def test_paper_values_and_declared_constants_back_a_number():
    nb = _nb(("md", "The paper trains on 30,067 of its 33,407 stars (Teff scatter 23.6 K), 7514 pixels, "
                    "60 epochs, dropout 0.3, learning rate 5e-4, 10 % for validation, missing labels -9999."))
    assert notebooks.prose_number_problems(nb) == []
    assert "4000" in notebooks.METHOD_CONSTANTS and len(notebooks.METHOD_CONSTANTS) < 25


def test_placeholders_are_found():
    nb = _nb(("code", "COLUMN_NAME = 'x'", "MY_FLAG set\n"),
             ("md", "RESP_TABLE_VERDICT"),
             ("md", "Fe scatters by {scatter:.3f} dex. TODO: Na. FIXME and XXX here; a NEW_TOKEN inline."),
             ("md", "Names are fine: APOGEE_ID, SIG_SKYLINE, COLUMN_NAME, MY_FLAG, `SOME_CODE_NAME`, "
                    "$x_{1}$."),
             ("md", "**APOGEE_ID**"))   # a name alone on its line is a placeholder all the same
    assert notebooks.placeholder_problems(nb) == [
        "notebook cell 1: placeholder 'RESP_TABLE_VERDICT'",
        "notebook cell 2: placeholder '{scatter:.3f}'", "notebook cell 2: placeholder 'TODO'",
        "notebook cell 2: placeholder 'FIXME'", "notebook cell 2: placeholder 'XXX'",
        "notebook cell 2: placeholder 'NEW_TOKEN'",
        "notebook cell 4: placeholder 'APOGEE_ID'"]


def test_committed_notebooks_prose_comes_from_the_notebook():
    """Every number in the committed notebooks' markdown is backed, and no placeholder is left."""
    found = []
    for stage in stages.STAGES:
        nb_file = ROOT / f"{stage.name}.ipynb"
        found += notebooks.placeholder_problems(nb_file) + notebooks.prose_number_problems(nb_file)
    assert not found, f"{len(found)} problems:\n" + "\n".join(found)


def _verdict_cell(source, rendered):
    out = nbformat.v4.new_output("display_data", data={"text/markdown": rendered,
                                                       "text/plain": "<IPython.core.display.Markdown object>"})
    return nbformat.v4.new_code_cell(source, outputs=[out])


def test_a_rendered_verdict_is_computed_and_its_typed_text_is_prose():
    nb = _nb(("code", "print(s)", "Fe 0.0312\n"))
    nb.cells.append(_verdict_cell('verdict("Fe scatters by {fe:.3f} dex (paper 23.6 K), over 7514 pixels.", '
                                  'fe=s["Fe"])', "Fe scatters by 0.031 dex (paper 23.6 K), over 7514 pixels."))
    nb.cells.append(nbformat.v4.new_markdown_cell("As rendered: 0.031."))
    assert notebooks.prose_number_problems(nb) == []
    # a result typed into the template is a typed number, even in a code cell
    nb.cells[1] = _verdict_cell('verdict(f"Fe scatters by 0.457 dex, {x}", x=1)', "Fe scatters by 0.457 dex, 1")
    assert notebooks.prose_number_problems(nb) == [
        "notebook cell 1: 0.457 in '…Fe scatters by 0.457 dex,…'"]
    # ... and a verdict's source does not back the prose after it
    nb.cells[1] = _verdict_cell('verdict("Fe {x} (0.457 is not in it)", x=1)', "Fe 1 (is not in it)")
    nb.cells[2] = nbformat.v4.new_markdown_cell("Again 0.457.")
    assert [p.split(":")[0] for p in notebooks.prose_number_problems(nb)] == ["notebook cell 1",
                                                                            "notebook cell 2"]


def test_verdict_templates_reads_the_typed_text_only():
    assert notebooks.verdict_templates('x = 1\nverdicts.verdict("A {a:.2f} and 3 B", a=2)') == ["A   and 3 B"]
    assert notebooks.verdict_templates("print(3)") is None
    assert notebooks.verdict_templates("def (") is None


def test_a_placeholder_in_a_rendered_verdict_is_found():
    nb = _nb(("md", "Fine."))
    nb.cells.append(_verdict_cell('verdict("x")', "Fe scatters by {fe} dex; NEW_TOKEN"))
    assert notebooks.placeholder_problems(nb) == ["notebook cell 1: placeholder '{fe}'",
                                                  "notebook cell 1: placeholder 'NEW_TOKEN'"]


def test_verdict_helpers_word_the_numbers():
    from astronn_paper.analysis import verdicts
    assert verdicts.render("{a:.1f} K, {b}", a=23.64, b="C and Mn") == "23.6 K, C and Mn"
    assert verdicts.render("{f:+.0%} and {g:.1%}", f=0.07, g=0.0197) == "+7 % and 2.0 %"
    with pytest.raises(KeyError):
        verdicts.render("{missing}")
    assert verdicts.names(["C", "N", "O"]) == "C, N and O"
    assert verdicts.names([], empty="no element") == "no element"
    assert verdicts.span([1.09, 2.63, 1.5], ".1f", "×") == "1.1–2.6×"
    assert verdicts.span([0.031, 0.0312], ".3f") == "0.031"
    assert verdicts.extremes({"Co": 1.09, "Fe": 2.63, "Mg": 1.5}) == "1.09 (Co) to 2.63 (Fe)"
    assert [verdicts.compare(v, 1.0, 0.05) for v in (0.9, 1.02, 1.2)] == ["below", "at", "above"]


def test_verdict_label_and_num():
    from astronn_paper.analysis import verdicts
    assert [verdicts.label(t) for t in ("teff", "logg", "C1", "Ti2", "Fe")] == [
        "Teff", "log g", "C I", "Ti II", "Fe"]
    assert verdicts.num(-1.0364) == "−1.036" and verdicts.num(0.107, sign=True) == "+0.107"


def test_comparison_with_an_approximate_paper_value_uses_its_range():
    from astronn_paper.analysis import inference_visits as v
    got = v.compare_to_paper_precision({"C": 0.0415, "Al": 0.032, "Mg": 0.008, "Mn": 0.0254})
    assert got == {"C": "above", "Al": "within", "Mg": "below", "Mn": "above"}
