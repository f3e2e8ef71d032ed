"""Figure: synthetic APOGEE spectra of different stars over the three chips.

Cool metal-rich giant, warm metal-poor giant, red clump, dwarf and hot star, continuum-
normalised the paper's way (noise-free), with the ASPCAP windows of a few elements shaded.

    python scripts/plot_synth_spectra.py [--out /tmp/synth_spectra.png]
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from astronn_paper import apogee
from astronn_paper.synth import spectra

STARS = (  # label, Teff, logg, [Fe/H]
    ("cool metal-rich giant (4000 K, 1.5, +0.3)", 4000, 1.5, 0.3),
    ("red clump (4750 K, 2.45, 0.0)", 4750, 2.45, 0.0),
    ("warm metal-poor giant (5000 K, 2.2, -1.5)", 5000, 2.2, -1.5),
    ("dwarf (4700 K, 4.6, 0.0)", 4700, 4.6, 0.0),
    ("hot star (6300 K, 4.2, 0.0)", 6300, 4.2, 0.0),
)
SHADE = {"Fe": "0.85", "Mg": "tab:green", "Al": "tab:red", "K": "tab:purple", "Ti2": "tab:orange",
         "O": "tab:cyan"}


def plot_spectra(stars=STARS, offset: float = 0.45):
    """Return a Figure with one panel per chip and the stars stacked with an offset."""
    from astroNN.apogee import apogee_continuum

    teff = np.array([s[1] for s in stars], float)
    logg = np.array([s[2] for s in stars], float)
    xh = np.repeat(np.array([s[3] for s in stars], float)[:, None], len(apogee.ABUNDANCES), axis=1)
    # alpha enhancement of the metal-poor star
    for t in ("O", "Mg", "Si", "S", "Ca", "Ti", "Ti2"):
        xh[teff == 5000, apogee.ABUNDANCES.index(t)] += 0.3
    f = spectra.render(teff, logg, xh)
    nf, _ = apogee_continuum(f, np.full_like(f, 0.01), dr=14)
    lam = apogee.wavelength()[apogee.gap_delete_index()]
    win = apogee.aspcap_windows()
    cont = apogee.continuum_pixels()
    chips = [(15140, 15810), (15850, 16440), (16470, 16960)]
    fig, axes = plt.subplots(3, 1, figsize=(15, 12))
    for ax, (lo, hi) in zip(axes, chips):
        sel = (lam > lo) & (lam < hi)
        for el, col in SHADE.items():
            w = win[el] & sel
            ax.vlines(lam[w], -offset * len(stars) + 0.4, 1.15, color=col, alpha=0.25 if el != "Fe" else 0.5,
                      lw=1.0, label=f"{el} windows" if ax is axes[0] else None)
        for k, (name, *_rest) in enumerate(stars):
            ax.plot(lam[sel], nf[k, sel] - offset * k, lw=0.6, color="k")
            ax.text(lo + 3, 1.02 - offset * k, name, fontsize=8, va="bottom")
        ax.plot(lam[cont & sel], np.full((cont & sel).sum(), 1.1), "|", color="tab:blue", ms=4,
                label="continuum pixels" if ax is axes[0] else None)
        ax.set_xlim(lo, hi)
        ax.set_ylim(-offset * (len(stars) - 1) - 0.1, 1.18)
        ax.set_ylabel("normalised flux + offset")
    axes[-1].set_xlabel(r"vacuum wavelength ($\AA$)")
    axes[0].legend(ncol=8, fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/synth_spectra.png")
    a = ap.parse_args()
    fig = plot_spectra()
    fig.savefig(a.out, dpi=110)
    print(a.out)


if __name__ == "__main__":
    main()
