"""Figures of ``Inference.ipynb``: the censored network on individual visits versus SNR."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee
from astronn_paper import paper as paper_values
from astronn_paper.analysis.inference_visits import REFERENCE_SNR, PrecisionVsSNR
from astronn_paper.figures.style import figure_function

#: Paper values that are placements inside a published range (drawn open, written with ≈).
APPROX = paper_values.approximate("precision_snr50_visit_vs_combined")

_STYLE = {
    "vs_combined": dict(color="k", lw=1.8, marker="o", ms=3,
                        label="here: median |visit − combined|, synthetic visits"),
    "vs_truth": dict(color="C1", lw=1.4, marker="s", ms=3,
                     label="here: median |visit − truth|, synthetic visits"),
    "combined_vs_truth": dict(color="C1", lw=1.0, ls=":", label="median |combined − truth|"),
    "total": dict(color="C0", lw=1.4, ls="--", label="mean σ total"),
    "model": dict(color="C0", lw=1.0, ls=":", label="mean σ model (MC dropout)"),
}


def _fmt(value: float, target: str) -> str:
    if not np.isfinite(value):
        return "–"
    return f"{value:.1f} K" if target == "teff" else f"{value:.3f}"


@figure_function
def precision_vs_snr(prec: PrecisionVsSNR, paper: dict | None = None, at: float = REFERENCE_SNR,
                     ncols: int = 4):
    """One panel per target: median |visit − combined| (and |visit − truth| on synthetic data)
    and the mean total / model uncertainty against visit SNR. The values at SNR ``at`` (and the
    paper's, ``paper``: {target: value}, measured on real DR14 visits) are written in the
    panel's title, off the curves."""
    targets = list(prec.targets)
    nrows = int(np.ceil(len(targets) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.2 * ncols, 2.6 * nrows + 0.5), sharex=True,
                             squeeze=False)
    values = prec.at(at)
    ok = prec.count > 0
    for k, (ax, t) in enumerate(zip(axes.flat, targets)):
        for name, style in _STYLE.items():
            arr = getattr(prec, name)
            if arr is not None:
                ax.plot(prec.snr[ok], arr[ok, k], **style)
        ax.axvline(at, color="0.6", lw=0.8)
        numbers = f"{_fmt(values['vs_combined'][t], t)}"
        if "vs_truth" in values:
            numbers += f" (truth {_fmt(values['vs_truth'][t], t)})"
        if paper and t in paper:
            approx = t in APPROX
            numbers += f"\npaper {'≈' if approx else ''}{_fmt(paper[t], t)}"
            ax.plot([at], [paper[t]], marker="*", color="C3", ms=9, ls="none",
                    mfc="none" if approx else "C3",
                    label="paper: visit − combined, real DR14 visits (open: ≈)" if k == 0 else None)
        unit = apogee.TARGET_UNITS.get(t, "")
        name = apogee.TARGET_LATEX.get(t, t) + (f" ({unit})" if unit else "")
        ax.set_title(f"{name}\n{numbers}", fontsize=9, linespacing=1.25)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.tick_params(labelsize=9)
    for ax in axes.flat[len(targets):]:
        ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    title = (f"Precision against visit SNR; in each title, at SNR {at:g}: visit − combined"
             + (" (visit − truth)" if "vs_truth" in values else "") + (", paper" if paper else ""))
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.9 / fig.get_figheight(), 1, 1))
    nrows, ncols = axes.shape
    for k, ax in enumerate(axes.flat[:len(targets)]):
        if k + ncols >= len(targets):  # nothing drawn below: label this panel's x axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("visit SNR")
    for ax in axes[:, 0]:
        ax.set_ylabel("|Δ|, σ")
    fig.tight_layout(rect=(0, 0.9 / fig.get_figheight(), 1, 1))
    return fig


@figure_function
def precision_at_snr(table, paper_column: str = "paper_vs_combined"):
    """The precision at SNR ≈ 50 per abundance: visit vs combined, visit vs truth, mean σ
    total, and the paper's values (Teff and log g in the title). ``table`` is
    :meth:`PrecisionVsSNR.table`."""
    abund = [t for t in table.index if t in apogee.ABUNDANCES]
    x = np.arange(len(abund))
    fig, ax = plt.subplots(figsize=(9.2, 4.2))
    marks = [("vs_combined", "o", "k", "here: visit − combined, synthetic"),
             ("vs_truth", "s", "C1", "here: visit − truth, synthetic"),
             ("total", "_", "C0", "mean σ total"),
             (paper_column, "*", "C3", "paper: visit − combined, real DR14 visits")]
    for col, m, c, lab in marks:
        if col not in table:
            continue
        if col == paper_column:
            exact = np.array([t not in APPROX for t in abund])
            v = table.loc[abund, col].to_numpy(float)
            ax.plot(x, np.where(exact, v, np.nan), ls="none", marker=m, color=c, ms=9, label=lab)
            if (~exact).any():
                ax.plot(x, np.where(exact, np.nan, v), ls="none", marker=m, color=c, mfc="none", ms=9,
                        label="paper, approximate (placed in a published 0.031–0.034 range)")
            continue
        ax.plot(x, table.loc[abund, col], ls="none", marker=m, color=c, ms=8 if m != "_" else 14,
                label=lab, mew=2 if m == "_" else 1)
    ax.set_xticks(x, [apogee.TARGET_LATEX.get(t, t) for t in abund], rotation=60, fontsize=9)
    ax.set_yscale("log")
    ax.set_ylabel("median |Δ| at visit SNR ≈ 50 (dex)")
    ax.axhline(0.05, color="0.7", lw=0.8, ls="--")
    parts = []
    for t in ("teff", "logg"):
        if t in table.index:
            row = table.loc[t]
            s = f"{apogee.TARGET_LATEX[t]}: {_fmt(row['vs_combined'], t)}"
            if paper_column in table and np.isfinite(row[paper_column]):
                s += f" (paper {_fmt(row[paper_column], t)})"
            parts.append(s)
    ax.set_title(";  ".join(parts), fontsize=9)
    # legend below the axes, off the markers
    fig.legend(*ax.get_legend_handles_labels(), fontsize=9, ncol=2, loc="lower center", frameon=False)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    return fig

