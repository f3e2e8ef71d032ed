"""Figures of Training.ipynb: loss curves, learning-rate schedule, the censoring windows."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper.figures.style import figure_function
from astronn_paper import apogee

#: Learning rate below which an epoch barely moves the weights (1/500 of the paper's 5e-4).
LR_NEGLIGIBLE = 1e-6


def epoch_lr_below(history, threshold: float = LR_NEGLIGIBLE) -> int | None:
    """First epoch (counted from 1) trained with a learning rate below ``threshold``, or None."""
    below = (history["lr"] < threshold).to_numpy()
    return int(history["epoch"].to_numpy()[below.argmax()] + 1) if below.any() else None


@figure_function
def loss_curves(histories: dict):
    """Training and validation loss (astroNN's robust loss) and the learning rate per epoch.

    ``histories`` maps a network label to its ``training_history.csv`` DataFrame.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.4))
    for (label, h), color in zip(histories.items(), ("C0", "C1", "C2", "C3")):
        epoch = h["epoch"] + 1
        ax1.plot(epoch, h["output_loss"], color=color, label=f"{label}: training")
        ax1.plot(epoch, h["val_output_loss"], color=color, ls="--", label=f"{label}: validation")
        ax2.plot(epoch, h["lr"], color=color, label=label, drawstyle="steps-mid")
        slow = epoch_lr_below(h)
        if slow is not None:
            ax1.axvline(slow, ymax=0.55, color=color, lw=0.9, ls=":",
                        label=f"{label}: learning rate < {LR_NEGLIGIBLE:.0e} from epoch {slow}")
    ax1.set(xlabel="epoch", ylabel="loss of the label head (robust, normalised labels)",
            title="Training and validation loss")
    ax1.legend(fontsize=9, loc="upper right")
    ax2.axhline(LR_NEGLIGIBLE, color="0.5", lw=0.8, ls=":")
    ax2.text(1, LR_NEGLIGIBLE * 1.3, f"{LR_NEGLIGIBLE:.0e} (1/500 of the initial rate)",
             fontsize=9, color="0.35")
    ax2.set(xlabel="epoch", ylabel="learning rate", yscale="log",
            title="astroNN's schedule: halve after 2 epochs without progress")
    ax2.legend(fontsize=9, loc="lower left")
    fig.tight_layout()
    return fig


#: Colour groups of the censoring-window figure: the molecular bands that carry C, N and O in
#: the H band (CO, CN, OH), iron's many Fe I lines, and every other element's atomic lines.
WINDOW_GROUPS = (
    ("molecular bands: C (CO), N (CN), O (OH)", ("C", "N", "O"), "C3"),
    ("Fe I lines", ("Fe",), "C1"),
    ("atomic lines of the other elements", None, "C0"),
)


def window_group(element: str) -> tuple[str, str]:
    """(legend label, colour) of ``element`` in :func:`censoring_windows`."""
    for label, members, color in WINDOW_GROUPS:
        if members is None or element in members:
            return label, color
    raise AssertionError("unreachable")


@figure_function
def censoring_windows():
    """Which of the 7514 input pixels each element's branch of the censored network sees,
    coloured by the kind of feature (legend), with the number of pixels at right."""
    windows = apogee.aspcap_windows()
    lam = apogee.wavelength()[apogee.gap_delete_index()]
    elems = list(apogee.ABUNDANCES)
    fig, ax = plt.subplots(figsize=(10, 6.4), layout="constrained")
    seen = set()
    order = [g[0] for g in WINDOW_GROUPS]
    for i, e in enumerate(elems):
        w = windows[e]
        label, color = window_group(e)
        ax.scatter(lam[w], np.full(w.sum(), i), marker="|", s=60, lw=0.6, color=color,
                   label=None if label in seen else label)
        seen.add(label)
        ax.text(17005, i, f"{w.sum():,}", va="center", fontsize=9)
    ax.text(17005, -1, "pixels", va="center", fontsize=9)
    ax.set_yticks(range(len(elems)), [apogee.TARGET_LATEX[e] for e in elems], fontsize=9)
    ax.set_xlim(lam.min() - 20, 17090)
    ax.set_ylim(len(elems) - 0.4, -1.6)
    ax.set_xlabel(r"wavelength ($\AA$)")
    ax.set_ylabel("element branch")
    ax.set_title("Censoring: each element branch sees only its ASPCAP windows "
                 f"(out of {lam.size:,} pixels)")
    handles, labels = ax.get_legend_handles_labels()
    pairs = sorted(zip(labels, handles), key=lambda lh: order.index(lh[0]))
    fig.legend([h for _, h in pairs], [lab for lab, _ in pairs], loc="outside lower center",
               ncol=len(WINDOW_GROUPS), fontsize=9, frameon=False, markerscale=1.5)
    return fig
