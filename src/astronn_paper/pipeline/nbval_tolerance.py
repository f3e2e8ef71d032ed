"""pytest plugin: nbval's output comparison, with one unit of tolerance in a number's last digit.

Loaded by the reproduction check (:mod:`astronn_paper.pipeline.reproduce`) with
``-p astronn_paper.pipeline.nbval_tolerance``, next to nbval in its comparing mode (``--nbval``).

Why: the committed notebooks print numbers computed with float32 BLAS kernels, whose summation
order differs between CPUs (AMD EPYC, Intel Sapphire Rapids), so a re-run elsewhere may print a
number one unit off in its last digit. nbval itself compares text exactly.

What is tolerated, and nothing else: every number of a text output (after nbval's sanitizing) may
differ from the committed one by **one unit in its last printed digit** - ``21.8462`` against
``21.8463`` or ``21.8461``, ``0.10`` against ``0.11``, ``1234`` against ``1235``, ``1.23e-05``
against ``1.24e-05`` (same exponent), ``-0.0009791`` against ``-0.000979`` (``%g`` drops a
trailing zero: the shorter decimal part reads as padded with zeros). The sign and the integer
digits must match (``9.99`` against ``10.00`` fails), except that zero may carry either sign:
``-0.000`` against ``0.000`` (and against ``0.001``) passes. The text between numbers must be
identical except for the number of spaces that pad an aligned column (a number one character
longer moves it). A "number" is a run of digits (thousands
separators included: ``35,723``) with an optional sign, decimal part and exponent, not glued to
a letter, dot or comma: ``M67``, ``fp32``, ``2.15.0``, ``[1,2,3]`` are text and must match.

How (the patch is one method): :func:`install` wraps ``nbval.plugin.IPyNbCell.compare_outputs``
(nbval 0.11). Before nbval compares, each re-computed text value (stream text, and every
``data`` mime type nbval compares) that is *within tolerance* of the committed value it will be
paired with is replaced by that committed value; everything else is left as it was, so nbval
still decides, and still reports a real difference in its own words. The pairing mirrors
nbval's: values grouped by key (stream name or mime type), in order.

Images are not compared: nbval drops ``image/png`` and ``image/jpeg`` from the comparison (its
``IPyNbFile.skip_compare``) unless ``--nbdime`` is given, which the check never passes.
``text/plain``, stream, ``text/html`` and ``text/markdown`` outputs are compared.

:func:`nbval_problems` lists what this patch needs from nbval; :func:`install` refuses (the
session errors) if anything is missing, and ``tests/test_reproduce.py`` fails on it, so an nbval
upgrade that changes these internals cannot silently switch the tolerance off.
"""
from __future__ import annotations

import copy
import inspect
import re
from collections import defaultdict

#: A printed number. The sign belongs to the number only where it is not glued to a word
#: (``x-1`` is the text ``x-`` and the number ``1``); thousands separators belong to it
#: (``35,723`` is one number, so that ``35,723`` against ``36,724`` is not two one-unit flips).
NUMBER = re.compile(r"(?<![\w.,])(?P<sign>[-+]?)(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
                    r"(?P<exp>[eE][-+]?\d+)?(?!\w|[.,]\d)")

#: The signature of the nbval method this plugin wraps (nbval 0.11).
COMPARE_SIGNATURE = ("self", "test", "ref", "skip_compare")

_original_compare = None


def _split(text: str) -> tuple[list[str], list[re.Match]]:
    """The text between numbers (one more item than numbers) and the numbers."""
    texts, numbers, pos = [], [], 0
    for m in NUMBER.finditer(text):
        texts.append(text[pos:m.start()])
        numbers.append(m)
        pos = m.end()
    texts.append(text[pos:])
    return texts, numbers


def _layout(digits: str) -> str:
    """``12,345`` -> ``00,000``: the number of digits and where the separators are."""
    return re.sub(r"\d", "0", digits)


def _units(m: re.Match, n_frac: int | None = None) -> int:
    """The number in units of its last printed digit (or of its ``n_frac``-th decimal), signed."""
    frac = m["frac"] or ""
    u = int(m["int"].replace(",", "") + frac.ljust(n_frac if n_frac is not None else len(frac), "0"))
    return -u if m["sign"] == "-" else u


def numbers_close(a: re.Match, b: re.Match) -> bool:
    """Two printed numbers differ by at most one unit in the last digit, with the same layout.
    A shorter decimal part reads as padded with zeros (``%g`` drops trailing zeros:
    ``-0.000979`` is ``-0.0009790`` next to ``-0.0009791``)."""
    if (a["exp"] or "") != (b["exp"] or "") or _layout(a["int"]) != _layout(b["int"]):
        return False
    n_frac = max(len(a["frac"] or ""), len(b["frac"] or ""))
    ua, ub = _units(a, n_frac), _units(b, n_frac)
    if a["sign"] != b["sign"] and ua != 0 and ub != 0:
        return False                      # the sign must match, except for a zero
    return abs(ua - ub) <= 1


def _spaces(text: str) -> str:
    """``text`` with each run of spaces read as one space, and none at its ends."""
    return re.sub(" +", " ", text).strip(" ")


def _padding_moved(ra: str, ta: str, ref_numbers, test_numbers, i: int) -> bool:
    """The text before number ``i`` is longer or shorter by as many characters as the number
    after it (right-aligned) or before it (left-aligned) is shorter or longer."""
    d = len(ta) - len(ra)
    widths = [len(ref_numbers[j].group()) - len(test_numbers[j].group())
              for j in (i, i - 1) if 0 <= j < len(ref_numbers)]
    return d != 0 and d in widths


def within_last_digit(ref: str, test: str) -> bool:
    """``test`` reads as ``ref`` with each number off by at most one unit in its last digit."""
    if ref == test:
        return True
    ref_texts, ref_numbers = _split(ref)
    test_texts, test_numbers = _split(test)
    if len(ref_numbers) != len(test_numbers):
        return False
    for a, b in zip(ref_numbers, test_numbers):
        if not numbers_close(a, b):
            return False
    for i, (ra, ta) in enumerate(zip(ref_texts, test_texts)):
        if ra == ta:
            continue
        # the text around the numbers may differ only in the spaces that pad an aligned column
        # when a number next to it is printed one character longer or shorter ("  -0.000"
        # against "   0.000", "-0.0009791" against " -0.000979"): as many spaces as characters
        if _spaces(ra) == _spaces(ta) and _padding_moved(ra, ta, ref_numbers, test_numbers, i):
            continue
        return False
    return True


def _text_slots(outputs, skip_compare) -> dict:
    """Where each compared text value sits, grouped and ordered as nbval pairs them:
    key (stream name or mime type) -> [(container, field), ...]."""
    slots = defaultdict(list)
    for out in outputs:
        if out.get("output_type") == "stream":
            slots[out.get("name")].append((out, "text"))
        elif isinstance(out.get("data"), dict):
            for mime in out["data"]:
                if mime not in skip_compare:
                    slots[mime].append((out["data"], mime))
    return slots


def tolerate_last_digit(cell, test: list, ref: list, skip_compare=None) -> list:
    """A copy of the re-computed outputs ``test`` in which every text value within one unit in
    the last digit of the committed one (both sanitized by ``cell``) is the committed value."""
    skip = skip_compare or cell.parent.skip_compare
    test = copy.deepcopy(test)
    test_slots = _text_slots(test, skip)
    for key, ref_values in _text_slots(ref, skip).items():
        for (rc, rk), (tc, tk) in zip(ref_values, test_slots.get(key, [])):
            r, t = cell.sanitize(rc[rk]), cell.sanitize(tc[tk])
            if isinstance(r, str) and isinstance(t, str) and r != t and within_last_digit(r, t):
                tc[tk] = rc[rk]
    return test


def compare_outputs(self, test, ref, skip_compare=None):
    """``IPyNbCell.compare_outputs`` with one unit of tolerance in the last digit."""
    return _original_compare(self, tolerate_last_digit(self, test, ref, skip_compare), ref,
                             skip_compare)


def nbval_problems() -> list[str]:
    """What this plugin needs from nbval and does not find (empty when all is there)."""
    try:
        from nbval import plugin
    except ImportError as exc:
        return [f"nbval is not importable: {exc}"]
    problems = []
    cell = getattr(plugin, "IPyNbCell", None)
    if cell is None:
        return ["nbval.plugin.IPyNbCell is missing"]
    method = getattr(cell, "compare_outputs", None)
    if method is None:
        problems.append("nbval.plugin.IPyNbCell.compare_outputs is missing")
    else:
        method = getattr(method, "__wrapped__", method)
        params = tuple(inspect.signature(method).parameters)
        if params != COMPARE_SIGNATURE:
            problems.append(f"IPyNbCell.compare_outputs{params} is not {COMPARE_SIGNATURE}")
    if not callable(getattr(cell, "sanitize", None)):
        problems.append("nbval.plugin.IPyNbCell.sanitize is missing")
    if not hasattr(plugin, "IPyNbFile"):
        problems.append("nbval.plugin.IPyNbFile is missing")
    elif "'image/png'" not in inspect.getsource(plugin.IPyNbFile.__init__):
        problems.append("IPyNbFile.__init__ no longer drops image/png from the comparison")
    return problems


def install() -> None:
    """Wrap nbval's comparison (idempotent); raise if nbval's internals changed."""
    global _original_compare
    problems = nbval_problems()
    if problems:
        raise RuntimeError("astronn_paper.pipeline.nbval_tolerance cannot patch this nbval: "
                           + "; ".join(problems))
    from nbval.plugin import IPyNbCell

    if getattr(IPyNbCell.compare_outputs, "__wrapped__", None) is None:
        _original_compare = IPyNbCell.compare_outputs
        compare_outputs.__wrapped__ = _original_compare
        IPyNbCell.compare_outputs = compare_outputs


def pytest_configure(config) -> None:
    install()
