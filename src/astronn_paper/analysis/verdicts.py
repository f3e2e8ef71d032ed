"""Verdicts rendered from the numbers a notebook computed, for the profile it ran with.

A notebook's verdict that quotes results is a code cell ending in ``verdict(template, **values)``:
the template (markdown) holds the method's constants and the paper's values, the ``{fields}`` the
results, so a ``ci`` run shows its own numbers and never the default profile's. The helpers below
word the parts of a verdict that depend on the numbers (a range, a list of names, a comparison).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

#: what :func:`verdict` and the prose check look for in a code cell's source
VERDICT_CALL = "verdict"


def render(template: str, **values) -> str:
    """``template`` with its ``{fields}`` filled from ``values`` (``str.format``); a field with no
    value raises ``KeyError``, so a verdict never shows a placeholder. A percentage is written as
    the notebooks' prose writes it, ``7 %`` (Python's ``{x:.0%}`` gives ``7%``)."""
    return re.sub(r"(?<=\d)%", " %", template.format(**values)).strip()


def verdict(template: str, **values) -> None:
    """Display ``render(template, **values)`` as Markdown (the cell's only output)."""
    from IPython.display import Markdown, display

    display(Markdown(render(template, **values)))


def num(value: float, fmt: str = ".3f", sign: bool = False) -> str:
    """``value`` formatted as prose prints it: a true minus sign (−1.036), ``+`` when ``sign``."""
    text = format(float(value), ("+" if sign else "") + fmt)
    return text.replace("-", "−")


def label(target: str) -> str:
    """A label as prose names it: ``Teff``, ``log g``, ``C I``, ``Ti II``, ``Fe``."""
    return {"teff": "Teff", "logg": "log g", "C1": "C I", "Ti2": "Ti II"}.get(target, target)


def names(items: Iterable[str], empty: str = "none") -> str:
    """``"C, N and O"`` from ``["C", "N", "O"]``; ``empty`` when there is none."""
    items = list(items)
    if not items:
        return empty
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def span(values: Iterable[float], fmt: str = ".2f", unit: str = "") -> str:
    """``"1.1–2.6"`` (an en dash) from the smallest and largest of ``values``, one number when they
    print the same; ``unit`` is appended (``"×"``, ``" dex"``)."""
    vals = [float(v) for v in values]
    lo, hi = format(min(vals), fmt).replace("-", "−"), format(max(vals), fmt).replace("-", "−")
    return (lo if lo == hi else f"{lo}–{hi}") + unit


def extremes(values: Mapping[str, float], fmt: str = ".2f") -> str:
    """``"1.09 (Co) to 2.63 (Fe)"``: the smallest and the largest value of a mapping, named."""
    lo = min(values, key=values.get)
    hi = max(values, key=values.get)
    return f"{format(values[lo], fmt)} ({lo}) to {format(values[hi], fmt)} ({hi})"


def compare(value: float, reference: float, tolerance: float = 0.0,
            words: tuple[str, str, str] = ("below", "at", "above")) -> str:
    """``"below"``, ``"at"`` or ``"above"`` ``reference``, ``tolerance`` counting as level."""
    if value < reference - tolerance:
        return words[0]
    if value > reference + tolerance:
        return words[2]
    return words[1]
