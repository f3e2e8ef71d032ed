"""Figures of Small_Data.ipynb: scatter versus training-set size."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee, paper
from astronn_paper.figures.style import figure_function


@figure_function
def scatter_vs_size(vs_aspcap, vs_truth=None, targets=("teff", "logg", "Fe", "Mg", "Na", "Al"),
                    replicates_truth=None):
    """Scatter of the censored network on the test set versus the number of training spectra,
    against the ASPCAP-like labels (solid) and the truth (dashed; mean over the replicates of
    each size, every network as a small open circle when ``replicates_truth`` is given, rows
    indexed by (n_train, replicate)), with the paper's published small-data numbers (scored on
    visits of the training stars) as grey squares."""
    pub = paper.results()["small_data"]
    n = len(targets)
    ncol = 3
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.2 * ncol, 2.8 * nrow + 0.6), squeeze=False,
                             sharex=True, layout="constrained")
    for ax, t in zip(axes.flat, targets):
        ax.plot(vs_aspcap.index, vs_aspcap[t], "o-", color="C0", label="vs ASPCAP-like labels")
        if vs_truth is not None:
            ax.plot(vs_truth.index, vs_truth[t], "s--", color="C3", label="vs truth")
        if replicates_truth is not None:
            n_train = replicates_truth.index.get_level_values("n_train")
            ax.plot(n_train, replicates_truth[t], "o", mfc="none", color="C3", ms=4, alpha=0.7,
                    label="each network vs truth")
        if t in pub:
            ax.plot(pub["n_train"], pub[t], "s", color="0.5", ms=5,
                    label="paper (real DR14, visits of training stars)")
        ax.set_xscale("log")
        ax.set_title(apogee.TARGET_LATEX[t], fontsize=10)
        ax.set_ylabel(f"scatter ({apogee.TARGET_UNITS[t]})")
        ax.set_ylim(bottom=0)
    # one x-range for every panel: our sizes and the paper's
    sizes = [float(v) for v in vs_aspcap.index] + [float(v) for v in pub.get("n_train", [])]
    axes[0, 0].set_xlim(min(sizes) / 1.5, max(sizes) * 1.5)
    for ax in axes[-1]:
        ax.set_xlabel("training spectra (number)")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncol=len(labels), fontsize=9,
               frameon=False)
    return fig
