"""Figures of Datasets_Data_Reduction.ipynb: SNR distributions, Teff-logg of the training
set, and continuum- versus ASPCAP-normalised spectra of one star."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee
from astronn_paper.survey import normalise
from astronn_paper.figures.style import figure_function


@figure_function
def snr_distributions(snr: dict):
    """SNR of the training set, the high-SNR test set and the individual visits of both:
    ``snr[(set, kind)]`` for set ``"train"``/``"test"`` and kind ``"combined"``/``"visits"``
    (:func:`astronn_paper.dataset.store.snr_by_group`; a missing key is left out)."""
    groups = [
        ("training (combined)", ("train", "combined"), "C0"),
        ("high-SNR test (combined)", ("test", "combined"), "C1"),
        ("visits of training stars", ("train", "visits"), "C2"),
        ("visits of test stars", ("test", "visits"), "C3"),
    ]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bins = np.logspace(0.5, 3.3, 60)
    for label, key, color in groups:
        if key not in snr:   # no visits compiled
            continue
        kind = key[1]
        values = np.asarray(snr[key])
        snr_k = values[np.isfinite(values) & (values > 0)]
        at_max = int(np.sum(snr_k == snr_k.max()))
        if kind == "combined" and at_max >= 10:   # many spectra share the largest value: a ceiling
            ax.annotate(f"{at_max:,} spectra at SNR = {snr_k.max():,.0f}\n(ceiling of the survey's SNR)",
                        xy=(snr_k.max(), at_max), xytext=(0.98, 0.6), textcoords="axes fraction",
                        ha="right", fontsize=9,
                        arrowprops={"arrowstyle": "->", "color": "0.3", "lw": 0.8})
        ax.hist(snr_k, bins=bins, histtype="step", lw=1.6, color=color,
                ls="--" if kind == "visits" else "-",
                label=f"{label}: N = {snr_k.size:,}, median {np.median(snr_k):.1f}")
    ax.set(xscale="log", xlabel="SNR (median S/N per pixel)", ylabel="number of spectra",
           title="Signal-to-noise ratio of the compiled spectra")
    for s in (100, 200):
        ax.axvline(s, color="0.6", lw=0.8, zorder=0)
    ax.legend(fontsize=9, loc="upper left")
    fig.tight_layout()
    return fig


@figure_function
def teff_logg(labels: np.ndarray):
    """ASPCAP Teff-logg of the training stars coloured by [Fe/H]; missing logg counted.
    ``labels``: (n, 3) Teff, logg, [Fe/H] (-9999 missing)."""
    teff, logg, feh = np.asarray(labels).T
    has = logg != apogee.MISSING
    has_fe = feh != apogee.MISSING
    fig, ax = plt.subplots(figsize=(6.5, 5.8), layout="constrained")
    ax.scatter(teff[has & ~has_fe], logg[has & ~has_fe], s=3, c="0.6",
               label=f"no synthetic ASPCAP [Fe/H] ({np.sum(has & ~has_fe):,} stars)")
    sc = ax.scatter(teff[has & has_fe], logg[has & has_fe], s=3, c=feh[has & has_fe],
                    cmap="viridis", vmin=-1.0, vmax=0.4, rasterized=True)
    fig.colorbar(sc, ax=ax, label="[Fe/H], synthetic ASPCAP labels (dex)")
    ax.invert_xaxis()
    ax.invert_yaxis()
    ax.set(xlabel=r"$T_\mathrm{eff}$, synthetic ASPCAP labels (K)",
           ylabel=r"$\log g$, synthetic ASPCAP labels (dex)",
           title=f"Training set: {teff.size:,} stars, {np.sum(~has):,} without logg (-9999)")
    if np.any(has & ~has_fe):
        fig.legend(fontsize=9, loc="outside lower center", frameon=False, markerscale=2)
    return fig


@figure_function
def normalisation_comparison(source, index: int):
    """One star's apStar spectrum continuum-normalised the paper's way versus its
    ASPCAP-normalised aspcapStar spectrum, chip by chip, with their difference."""
    from astroNN.apogee import chips_split

    ap = source.apstar(int(index))
    flux, err, bitmask = ap.combined()
    cont, _ = normalise.continuum(flux, err, bitmask)
    masked = normalise.mask_of(bitmask[apogee.gap_delete_index()])[None, :]
    asp = source.aspcapstar(int(index))
    aspn, _ = normalise.aspcap(asp.flux, asp.err)
    lam = apogee.wavelength()[apogee.gap_delete_index()][None, :]
    parts = [chips_split(a, dr=14) for a in (lam, cont, aspn, masked.astype(float))]
    fig, axes = plt.subplots(2, 3, figsize=(9.4, 5.0), sharey="row", layout="constrained",
                             gridspec_kw={"height_ratios": [3, 1.2]})
    for k, chip in enumerate(("blue", "green", "red")):
        w, c, a, m = (p[k][0] for p in parts)
        top, bottom = axes[0, k], axes[1, k]
        top.plot(w, c, lw=0.5, color="k", label="continuum-normalised (this paper)")
        top.plot(w, a, lw=0.5, color="C3", alpha=0.8, label="ASPCAP-normalised")
        top.plot(w[m > 0], np.full(int((m > 0).sum()), 0.45), "|", color="C0", ms=5,
                 label="masked pixels (set to 1)" if k == 0 else None)
        valid = (a != 0) & np.isfinite(a) & (m == 0)
        resid = np.where(valid, c - a, np.nan)
        bottom.plot(w, resid, lw=0.5, color="C0")
        bottom.axhline(0, color="0.5", lw=0.6)
        top.set_title(f"{chip} chip: median difference {np.nanmedian(resid):+.3f}", fontsize=9)
        bottom.set_xlabel(r"wavelength ($\AA$)")
    axes[0, 0].set_ylim(0.4, 1.25)
    axes[1, 0].set_ylim(-0.08, 0.08)
    axes[0, 0].set_ylabel("normalised flux")
    axes[1, 0].set_ylabel("continuum - ASPCAP\n(unmasked pixels)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9, frameon=False,
               markerscale=2)
    fig.suptitle(f"{ap.apogee_id} (allStar row {int(index)})", fontsize=10)
    return fig
