"""Figures of Small_Data.ipynb: scatter versus training-set size."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee, paper


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
    fig, axes = plt.subplots(int(np.ceil(n / ncol)), ncol, figsize=(4 * ncol, 3.2 * np.ceil(n / ncol)),
                             squeeze=False)
    for ax, t in zip(axes.flat, targets):
        ax.plot(vs_aspcap.index, vs_aspcap[t], "o-", color="C0", label="vs ASPCAP-like labels")
        if vs_truth is not None:
            ax.plot(vs_truth.index, vs_truth[t], "s--", color="C3", label="vs truth")
        if replicates_truth is not None:
            n_train = replicates_truth.index.get_level_values("n_train")
            ax.plot(n_train, replicates_truth[t], "o", mfc="none", color="C3", ms=4, alpha=0.7,
                    label="each network vs truth")
        if t in pub:
            ax.plot(pub["n_train"], pub[t], "s", color="0.5", ms=5, label="paper (real DR14)")
        ax.set_xscale("log")
        ax.set_title(apogee.TARGET_LATEX[t])
        ax.set_xlabel("training spectra")
        ax.set_ylabel(f"scatter ({apogee.TARGET_UNITS[t]})")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
