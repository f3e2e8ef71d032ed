"""Figures of ``Inference_ApogeeBCNN.ipynb``: the full-spectrum network beside the censored one."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee
from astronn_paper.analysis.inference_bcnn import WEAK_LINE_ELEMENTS
from astronn_paper.figures.style import figure_function

_MARKERS = ("o", "s", "D", "^", "*", "v", "P")


@figure_function
def scatter_comparison(table, columns: Mapping[str, str]):
    """Scatter against the ASPCAP-like labels per target for several columns of
    :func:`astronn_paper.analysis.inference_bcnn.scatter_table` (``columns``: column -> legend label), in
    three panels by unit: Teff (K), log g and the 20 abundances (dex)."""
    groups = [("teff",), ("logg",), tuple(t for t in table.index if t in apogee.ABUNDANCES)]
    fig, axes = plt.subplots(1, 3, figsize=(9.2, 4.4), gridspec_kw={"width_ratios": [1, 1, 9]})
    n = len(columns)
    for ax, group in zip(axes, groups):
        x = np.arange(len(group))
        for i, (col, label) in enumerate(columns.items()):
            if col not in table:
                continue
            off = (i - (n - 1) / 2) * 0.12
            ax.plot(x + off, table.loc[list(group), col], ls="none", marker=_MARKERS[i % len(_MARKERS)],
                    ms=6, color=f"C{i}", label=label, mfc="none" if "paper" in label.lower() else None)
        ax.set_xticks(x, [apogee.TARGET_LATEX.get(t, t) for t in group], rotation=60 if len(group) > 2 else 0,
                      fontsize=9)
        ax.set_xlim(-0.6, len(group) - 0.4)
    axes[0].set_ylabel("scatter vs ASPCAP-like labels (K)")
    axes[1].set_ylabel("(dex)")
    axes[2].set_ylabel("(dex)")
    axes[0].set_ylim(bottom=0)
    axes[1].set_ylim(bottom=0)
    axes[2].set_yscale("log")
    from matplotlib.ticker import LogLocator, FormatStrFormatter
    axes[2].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[2].yaxis.set_major_formatter(FormatStrFormatter("%g"))
    axes[2].yaxis.set_minor_formatter(FormatStrFormatter(""))
    handles, labels = axes[2].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=9, ncol=min(2, n), loc="lower center", frameon=False)
    fig.tight_layout(rect=(0, 0.055 * int(np.ceil(n / 2)), 1, 1))
    return fig


@figure_function
def jacobian_concentration(conc: Mapping[str, Mapping[str, float]],
                           baseline: Mapping[str, float] | None = None,
                           highlight: Sequence[str] = WEAK_LINE_ELEMENTS):
    """Fraction of each abundance's squared Jacobian inside its ASPCAP windows, per network
    (``conc``: network -> {element: fraction}); ``baseline`` (the windows' share of the
    pixels, what an evenly spread Jacobian would give) as grey bars; ``highlight`` elements
    marked."""
    nets = list(conc)
    elems = [t for t in apogee.ABUNDANCES if any(t in c for c in conc.values())]
    x = np.arange(len(elems))
    width = 0.8 / (len(nets) + (baseline is not None))
    fig, ax = plt.subplots(figsize=(9.2, 3.6))
    for i, net in enumerate(nets):
        ax.bar(x + i * width, [conc[net].get(t, np.nan) for t in elems], width, label=net, color=f"C{i}")
    if baseline is not None:
        ax.bar(x + len(nets) * width, [baseline.get(t, np.nan) for t in elems], width, color="0.75",
               label="window share of pixels (no concentration)")
    ax.set_xticks(x + width * (len(nets) - (baseline is None)) / 2,
                  [apogee.TARGET_LATEX.get(t, t) for t in elems], rotation=60, fontsize=9)
    for lab, t in zip(ax.get_xticklabels(), elems):
        if t in highlight:
            lab.set_fontweight("bold")
            lab.set_color("C3")
    ax.set_ylabel("fraction of Σ J² in the element's windows")
    ax.set_ylim(0, 1.05)
    # legend above the axes, off the bars; the red tick labels explained in it
    from matplotlib.patches import Patch
    handles, labels = ax.get_legend_handles_labels()
    if any(t in highlight for t in elems):
        handles.append(Patch(color="none"))
        labels.append("red labels: weak-line elements")
    ax.legend(handles, labels, fontsize=9, ncol=len(labels), loc="lower left", bbox_to_anchor=(0, 1.01),
              frameon=False, borderaxespad=0)
    fig.tight_layout()
    return fig


@figure_function
def jacobian_profiles(jacs: Mapping[str, np.ndarray], targets: Sequence[str],
                      elements: Sequence[str] = WEAK_LINE_ELEMENTS):
    """The median |Jacobian| of each network (``jacs``: network -> (K, 7514), rows in
    ``targets`` order, in dex per unit of normalised flux) for ``elements`` against
    wavelength: one row per element and network, each curve divided by its own maximum |J|
    (in the row's title, with its unit), the element's ASPCAP windows shaded lightly behind
    the curve."""
    idx = apogee.gap_delete_index()
    wave = apogee.wavelength()[idx]
    gap = np.flatnonzero(np.diff(idx) > 1) + 1  # break the curves at the chip gaps
    windows = apogee.aspcap_windows()
    nets = list(jacs)
    rows = [(t, net) for t in elements for net in nets]
    fig, axes = plt.subplots(len(rows), 1, figsize=(9.6, 1.25 * len(rows) + 0.9), sharex=True,
                             squeeze=False)
    for r, (ax, (t, net)) in enumerate(zip(axes[:, 0], rows)):
        k = list(targets).index(t)
        i = nets.index(net)
        # windows of a few pixels: light bands at least 2.5 pt wide, behind the curve
        ax.vlines(wave[windows[t]], 0, 1, transform=ax.get_xaxis_transform(), color="C3", alpha=0.22,
                  lw=2.5, zorder=0)
        j = np.abs(np.asarray(jacs[net], dtype=float)[k])
        m = j.max()
        y = j / m if m > 0 else j
        ax.plot(np.insert(wave, gap, np.nan), np.insert(y, gap, np.nan), lw=0.6, color=f"C{i}", zorder=2)
        name = apogee.TARGET_LATEX.get(t, t)
        ax.set_title(f"{name}, {net}", loc="left", fontsize=10, pad=2,
                     fontweight="bold" if i == 0 else None)
        ax.set_title(f"max |J| = {m:.3g} dex per unit of normalised flux", loc="right", fontsize=9, pad=2)
        ax.set_ylim(0, 1.08)
        ax.set_yticks([0, 1])
        ax.tick_params(labelsize=9)
    axes[len(rows) // 2, 0].set_ylabel("|J| / max |J|", fontsize=10)
    from matplotlib.patches import Patch
    fig.legend(handles=[Patch(color="C3", alpha=0.22, label="the element's ASPCAP windows (shaded)")],
               loc="upper left", fontsize=9, frameon=False)
    axes[-1, 0].set_xlabel("wavelength (Å)")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    fig.subplots_adjust(hspace=0.42)
    return fig


@figure_function
def response_comparison(self_response: Mapping, title: str | None = None):
    """Censored vs full-spectrum network in the element response test: per label, the
    self-response R[i, i] (left; 1 = the label follows its own change) and the response
    to all [X/H] together (right; per 0.1 dex, in units of the label's step), with bootstrap
    errors. ``self_response``: network name -> DataFrame of
    :func:`astronn_paper.analysis.response.self_response` at one SNR."""
    targets = list(apogee.TARGETS)
    x = np.arange(len(targets))
    fig, axes = plt.subplots(2, 1, figsize=(9.2, 6.2), sharex=True)
    n = len(self_response)
    for k, (name, df) in enumerate(self_response.items()):
        off = (k - (n - 1) / 2) * 0.22
        d = df.reindex(targets)
        axes[0].errorbar(x + off, d["self"], d["self_err"], ls="none", marker=_MARKERS[k % len(_MARKERS)],
                         ms=5, color=f"C{k}", capsize=2, label=name)
        axes[1].errorbar(x + off, d["population"], d["population_err"], ls="none",
                         marker=_MARKERS[k % len(_MARKERS)], ms=5, color=f"C{k}", capsize=2, label=name)
    for ax in axes:
        ax.axhline(1.0, color="k", lw=0.6, ls=":")
        ax.axhline(0.0, color="k", lw=0.6)
    axes[0].set_ylabel("self-response R[i, i]")
    axes[1].set_ylabel("response to all [X/H] +0.1\n(in steps of the label)")
    axes[0].legend(fontsize=9, ncol=n, loc="lower left", bbox_to_anchor=(0, 1.01), frameon=False,
                   borderaxespad=0)
    axes[1].set_xticks(x, [apogee.TARGET_LATEX.get(t, t) for t in targets], rotation=60, fontsize=9)
    for lab, t in zip(axes[1].get_xticklabels(), targets):
        if t in WEAK_LINE_ELEMENTS:
            lab.set_fontweight("bold")
            lab.set_color("C3")
    axes[1].set_xlabel("label (red: weak-line elements)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
