"""Figures of ASPCAP_Normalization.ipynb: continuum- versus ASPCAP-normalised training."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee
from astronn_paper.figures.style import figure_function


def _legend(column: str) -> str:
    """Legend of a column of :func:`astronn_paper.analysis.aspcap_norm.side_by_side`, naming the
    sample and the reference."""
    if column.startswith("paper"):
        return "paper: ASPCAP-normalised network − ASPCAP, DR14 high-SNR test"
    run, _, ref = column.partition(": vs ")
    ref = {"ASPCAP": "ASPCAP-like labels", "truth": "truth"}.get(ref, ref)
    return f"here: {run} network − {ref}, synthetic test" if ref else column


@figure_function
def scatter_comparison(table, columns=None):
    """Per-label scatter of the networks trained on continuum- and ASPCAP-normalised spectra
    (columns of ``table``, e.g. from :func:`astronn_paper.analysis.aspcap_norm.side_by_side`), Teff on its own
    axis (K) and the other labels in dex."""
    columns = list(columns or table.columns)
    fig, (ax_t, ax) = plt.subplots(1, 2, figsize=(9.2, 4.4), gridspec_kw={"width_ratios": [1, 8]},
                                   layout="constrained")
    width = 0.8 / len(columns)
    labels = [t for t in table.index if t != "teff"]
    x = np.arange(len(labels))
    for i, col in enumerate(columns):
        style = dict(width=width, label=_legend(col), color=f"C{i}" if "paper" not in col else "0.6")
        ax_t.bar([i * width], [table.loc["teff", col]], **style)
        ax.bar(x + i * width, table.loc[labels, col], **style)
    ax_t.set_xticks([0.4 - width / 2], [apogee.TARGET_LATEX["teff"]], fontsize=9)
    ax_t.set_ylabel(r"scatter in $T_\mathrm{eff}$ (K)")
    ax.set_xticks(x + 0.4 - width / 2, [apogee.TARGET_LATEX[t] for t in labels], rotation=60, fontsize=9)
    ax.set_xlim(-0.5, len(labels) - 0.1)
    ax.set_ylabel("scatter (dex)")
    handles, names = ax.get_legend_handles_labels()
    fig.legend(handles, names, loc="outside upper center", ncol=2, fontsize=9, frameon=False)
    ax.set_title("High-SNR test set: scatter of the censored network by normalisation",
                 fontsize=11)
    return fig
