"""Figures of Training.ipynb: loss curves, learning-rate schedule, the censoring windows."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee


def loss_curves(histories: dict):
    """Training and validation loss (astroNN's robust loss) and the learning rate per epoch.

    ``histories`` maps a network label to its ``training_history.csv`` DataFrame.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for (label, h), color in zip(histories.items(), ("C0", "C1", "C2", "C3")):
        epoch = h["epoch"] + 1
        ax1.plot(epoch, h["output_loss"], color=color, label=f"{label}: training")
        ax1.plot(epoch, h["val_output_loss"], color=color, ls="--", label=f"{label}: validation")
        ax2.plot(epoch, h["lr"], color=color, label=label, drawstyle="steps-mid")
    ax1.set(xlabel="epoch", ylabel="loss of the label head (robust, normalised labels)",
            title="Training and validation loss")
    ax1.legend(fontsize=8)
    ax2.set(xlabel="epoch", ylabel="learning rate", yscale="log",
            title="astroNN's schedule: halve after 2 epochs without progress")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def censoring_windows():
    """Which of the 7514 input pixels each element's branch of the censored network sees."""
    windows = apogee.aspcap_windows()
    lam = apogee.wavelength()[apogee.gap_delete_index()]
    elems = list(apogee.ABUNDANCES)
    fig, ax = plt.subplots(figsize=(12, 6))
    for i, e in enumerate(elems):
        w = windows[e]
        ax.scatter(lam[w], np.full(w.sum(), i), marker="|", s=60, lw=0.6,
                   color="C0" if w.sum() < 1000 else "C3")
        ax.text(17005, i, f"{w.sum()}", va="center", fontsize=7)
    ax.set_yticks(range(len(elems)), [apogee.TARGET_LATEX[e] for e in elems], fontsize=8)
    ax.set_xlim(lam.min() - 20, 17080)
    ax.invert_yaxis()
    ax.set_xlabel(r"wavelength ($\AA$)")
    ax.set_title("Censoring: each element branch sees only its ASPCAP windows "
                 "(number of pixels at right; red: molecular C, N, O-like coverage)")
    fig.tight_layout()
    return fig
