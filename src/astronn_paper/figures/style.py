"""What every figure shares: the survey stamp and the legibility check.

* :func:`figure_function` decorates each figure function of this package: the Figure it
  returns carries a stamp naming the data (on the synthetic survey: "Synthetic survey", as the
  suptitle's prefix or as a header line above the figure), so that a saved PNG/PDF cannot be
  taken for a real-DR14 figure.
* :func:`legibility_problems` says how a figure reads where readers see it: nbviewer shows a
  notebook's images in an output area about :data:`DISPLAY_PX` pixels wide and shrinks wider
  images to fit; the inline backend renders at :data:`INLINE_DPI`. A figure shown below
  :data:`MIN_SCALE` of its size, or any text below :data:`MIN_PT` points as displayed
  (font size x min(1, display width / figure width)), is a problem.
"""
from __future__ import annotations

import functools
import os

import matplotlib.text as mtext
import numpy as np

#: Width (pixels) of nbviewer's output area for images: nbconvert's HTML (lab template) at a
#: 1000 px browser window, measured in headless Chromium 150 (``tools/measure_output_width.py``).
DISPLAY_PX = 875
#: Resolution of the inline backend's PNGs (matplotlib's default ``figure.dpi``).
INLINE_DPI = 100
#: Padding ``bbox_inches="tight"`` adds around the figure (inches, each side).
TIGHT_PAD_IN = 0.1
MIN_PT = 8.0
MIN_SCALE = 0.7

STAMP_GID = "survey-stamp"
SYNTHETIC_STAMP = "Synthetic survey"


def survey_stamp() -> str:
    """The stamp text: "Synthetic survey" unless the chain reads a real SAS mirror
    (``ASTRONN_PAPER_SOURCE=mirror``)."""
    from astronn_paper.dataset.sources import SOURCE_ENV

    kind = os.environ.get(SOURCE_ENV) or "synthetic"
    if kind == "synthetic":
        return SYNTHETIC_STAMP
    return f"Survey source: {kind} (SDSS_LOCAL_SAS_MIRROR)"


def stamp(fig, text: str | None = None):
    """Put the survey stamp on ``fig`` once: as a prefix of its suptitle when it has one, else as
    a header line above everything drawn (so it overlaps nothing). Returns ``fig``."""
    text = survey_stamp() if text is None else text
    if is_stamped(fig, text):
        return fig
    sup = getattr(fig, "_suptitle", None)
    if sup is not None and sup.get_text():
        sup.set_text(f"{text}: {sup.get_text()}")
        sup.set_gid(STAMP_GID)
        return fig
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()           # run the layout engine: the tight box is the final one
    if fig.get_layout_engine() is not None:
        fig.set_layout_engine("none")   # keep that layout (it no longer reserves room for pinned legends)
    pin_figure_legends(fig)
    box = fig.get_tightbbox(renderer)       # inches
    w, h = fig.get_size_inches()
    fig.text(box.x0 / w, (box.y1 + 0.06) / h, f"{text} (simulated APOGEE DR14 stars, not real data)",
             ha="left", va="bottom", fontsize=10, fontstyle="italic", color="0.25", gid=STAMP_GID)
    return fig


def pin_figure_legends(fig) -> None:
    """Anchor the figure-level legends in figure coordinates where they are now drawn. A
    legend anchored to the figure's box otherwise jumps to the edge of the cropped box when the
    figure is saved or shown with ``bbox_inches="tight"``, onto anything drawn above it (the
    stamp)."""
    for leg in fig.legends:
        box = leg.get_bbox_to_anchor().transformed(fig.transFigure.inverted())
        leg.set_bbox_to_anchor(box, transform=fig.transFigure)


def is_stamped(fig, text: str | None = None) -> bool:
    """Whether some text of ``fig`` carries the survey stamp."""
    text = (survey_stamp() if text is None else text).lower()
    return any(text in t.get_text().lower() for t in fig.findobj(mtext.Text))


def plain_log_ticks(ax, axis: str = "y") -> None:
    """Decimal tick labels on a log axis within 0.001 - 1e5 (0.02, 0.05, 0.1 rather than 2x10^-2
    or 6x10^-1): 1-2-5 ticks over up to three decades, powers of ten beyond; no minor labels.
    Runs after the figure's layout, so it keeps to labels no wider than matplotlib's own."""
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    lo, hi = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    if lo < 1e-3 or hi > 1e5:       # decimals would be longer than the powers of ten
        return
    decades = np.log10(hi / lo)
    target = ax.yaxis if axis == "y" else ax.xaxis
    subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if decades <= 1 else (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
    target.set_major_locator(LogLocator(subs=subs))
    target.set_major_formatter(FormatStrFormatter("%g"))
    target.set_minor_formatter(NullFormatter())


def figure_function(func):
    """Decorator of every figure function: decimal labels on its log axes
    (:func:`plain_log_ticks`) and the survey stamp (:func:`stamp`) on the Figure it returns."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        fig = func(*args, **kwargs)
        if not fig.get_label():
            fig.set_label(f"{func.__module__.rsplit('.', 1)[-1]}.{func.__name__}")
        for ax in fig.axes:
            for axis in ("x", "y"):
                if (ax.get_yscale() if axis == "y" else ax.get_xscale()) == "log":
                    plain_log_ticks(ax, axis)
        return stamp(fig)

    wrapper.is_figure_function = True
    return wrapper


def displayed_scale(fig, display_px: float = DISPLAY_PX, dpi: float = INLINE_DPI) -> float:
    """The factor the figure is shown at: min(1, display width / width of its tight PNG)."""
    return min(1.0, display_px / figure_px(fig, dpi)[0])


def figure_px(fig, dpi: float = INLINE_DPI) -> tuple[float, float]:
    """(width, height) in pixels of the PNG the inline backend makes (``bbox_inches="tight"``)."""
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    box = fig.get_tightbbox(renderer)
    return ((box.width + 2 * TIGHT_PAD_IN) * dpi, (box.height + 2 * TIGHT_PAD_IN) * dpi)


def _shown(t) -> bool:
    if not t.get_visible() or not t.get_text().strip():
        return False
    ax = t.axes
    return ax is None or ax.get_visible()


def legibility_problems(fig, display_px: float = DISPLAY_PX, dpi: float = INLINE_DPI,
                        min_pt: float = MIN_PT, min_scale: float = MIN_SCALE) -> list[str]:
    """What does not read at nbviewer's width: the figure shown below ``min_scale`` of its size,
    and the visible texts whose displayed size, font size x (dpi / :data:`INLINE_DPI`) x scale,
    is below ``min_pt`` points (one entry per font size, naming a few of them). Empty when the
    figure reads. ``dpi`` is the PNG's resolution (a lower one does not make text larger)."""
    width, _ = figure_px(fig, dpi)
    scale = min(1.0, display_px / width)
    problems = []
    if scale < min_scale:
        problems.append(f"figure {width:.0f} px wide is shown at {scale:.0%} in {display_px:.0f} px "
                        f"(below {min_scale:.0%})")
    small: dict[float, list[str]] = {}
    for t in fig.findobj(mtext.Text):
        if _shown(t) and t.get_fontsize() * dpi / INLINE_DPI * scale < min_pt - 1e-9:
            small.setdefault(round(t.get_fontsize(), 2), []).append(t.get_text().strip()[:30])
    for size, texts in sorted(small.items()):
        names = list(dict.fromkeys(texts))
        shown = size * dpi / INLINE_DPI * scale
        problems.append(f"{len(texts)} text(s) at {size:g} pt shown at {shown:.1f} pt "
                        f"(below {min_pt:g}): " + ", ".join(repr(n) for n in names[:4])
                        + (" ..." if len(names) > 4 else ""))
    return problems
