"""Figures of Inference_highSNR.ipynb (the censored network on the high-SNR test set).

One function per figure, each returning the Figure; the numbers come from
:mod:`astronn_paper.analysis.metrics` and :mod:`astronn_paper.analysis.inference_highsnr`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee
from astronn_paper.analysis import metrics
from astronn_paper.figures.style import figure_function


def _label(t: str) -> str:
    return apogee.TARGET_LATEX.get(t, t)


def _grid(n: int, ncols: int = 4, size=(2.4, 2.1)):
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


# --------------------------------------------------------------------------- table
@figure_function
def scatter_table(table, title: str = "Scatter of the censored network, high-SNR test set"):
    """The bias/scatter table as a figure: scatter per label against the ASPCAP-like labels,
    against the truth, the ASPCAP-like labels' own scatter about the truth and the paper's
    published value (Teff in units of 100 K so that all labels share the axis)."""
    targets = list(table.index)
    x = np.arange(len(targets))
    unit = np.array([100.0 if t == "teff" else 1.0 for t in targets])
    fig, ax = plt.subplots(figsize=(9.2, 4.2))
    series = [("scatter_aspcap", "here: network − ASPCAP-like labels, synthetic test set", "o", "C0"),
              ("scatter_truth", "here: network − truth, synthetic test set", "s", "C2"),
              ("aspcap_scatter_truth", "here: ASPCAP-like labels − truth", "x", "C7"),
              ("paper_scatter", "paper: network − ASPCAP, real DR14 visits of training stars", "*", "C3")]
    for col, lab, m, c in series:
        if col in table:
            ax.plot(x, table[col].to_numpy(float) / unit, m, color=c, label=lab, ms=7,
                    mfc="none" if m in "os" else None)
    ax.set_xticks(x, [("Teff/100" if t == "teff" else _label(t)) for t in targets], rotation=60, fontsize=9)
    ax.set_yscale("log")
    ax.set_ylabel("scatter (mad_std; dex, Teff in 100 K)")
    ax.set_title(title, pad=52)
    ax.grid(alpha=0.3, which="both", axis="y")
    ax.legend(fontsize=9, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- binned errors
def _binned_panel(ax, b, k, xlabel, unit):
    ok = b.count[:, k] if b.count.ndim == 2 else b.count
    ax.plot(b.centers, b.median_abs_error[:, k], "o-", color="k", label="median |error|")
    ax.plot(b.centers, b.mean_total[:, k], "s--", color="C0", label="mean total uncertainty")
    ax.plot(b.centers, b.mean_model[:, k], "^:", color="C1", label="mean model uncertainty")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(unit, fontsize=9)
    ax.set_ylim(0, 1.08 * np.nanmax([np.nanmax(b.median_abs_error[:, k]), np.nanmax(b.mean_total[:, k])]))
    # stars per bin: grey bars along the bottom (the tallest a quarter of the panel), numbers
    # would collide at this size
    shown = np.isfinite(b.median_abs_error[:, k]) & (np.asarray(ok) > 0)
    if shown.any():
        counts = np.asarray(ok, float)
        width = np.median(np.diff(b.centers)) * 0.8 if len(b.centers) > 1 else 1.0
        twin = ax.twinx()
        twin.bar(b.centers[shown], counts[shown], width=width, color="0.85", zorder=0)
        twin.set_ylim(0, 4 * counts[shown].max())
        twin.set_yticks([])
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)


@figure_function
def errors_vs_teff_logg(by_teff, by_logg, targets: Sequence[str] = ("teff", "logg"),
                        reference: str = "ASPCAP-like labels"):
    """The paper's figure: median |prediction - reference| and mean total / model
    uncertainty in bins of Teff (left) and of logg (right), one row per label.
    ``by_teff`` / ``by_logg``: :class:`highsnr.BinnedErrors` over all 22 targets."""
    fig, axes = plt.subplots(len(targets), 2, figsize=(9.2, 3.0 * len(targets)), squeeze=False)
    for r, t in enumerate(targets):
        k = by_teff.targets.index(t)
        u = apogee.TARGET_UNITS[t]
        _binned_panel(axes[r, 0], by_teff, k, r"reference $T_\mathrm{eff}$ (K)", f"{_label(t)} ({u})")
        _binned_panel(axes[r, 1], by_logg, k, r"reference $\log g$", f"{_label(t)} ({u})")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=9, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(f"Error against the {reference} and the network's uncertainty (grey bars: stars per bin)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


@figure_function
def abundance_errors(binned: Mapping, xlabel: str, title: str, shared=None):
    """Median |error| and mean total / model uncertainty of the 20 abundances, one panel
    each; ``binned`` is either one :class:`BinnedErrors` over all targets (bins of a common
    variable, e.g. Teff) or a dict ``{target: BinnedErrors}`` (bins of each element's own
    [X/H], :func:`highsnr.binned_errors_by_own_label`)."""
    targets = list(apogee.ABUNDANCES)
    fig, axes = _grid(len(targets))
    for ax, t in zip(axes, targets):
        if isinstance(binned, Mapping):
            b, k, xl = binned[t], 0, f"{_label(t)}"
        else:
            b, k, xl = binned, binned.targets.index(t), xlabel
        _binned_panel(ax, b, k, xl, "dex")
        ax.set_title(_label(t), fontsize=10)
        ax.set_ylim(0, None)
        ax.tick_params(labelsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=10, loc="lower center", ncol=3, frameon=False)
    fig.suptitle(title + " (grey bars: stars per bin)", fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


# --------------------------------------------------------------------------- Kiel diagram
@figure_function
def kiel_diagram(teff, logg, feh, tracks: Sequence = (), reference=None,
                 titles=("network labels", "true labels")):
    """Teff-logg of the network's predictions coloured by its [Fe/H], with giant-branch
    tracks ``(label, teff, logg)`` overlaid (synthetic population tracks or PARSEC files);
    with ``reference = (teff, logg, feh)`` (e.g. the truth) a second panel shows those.
    The log g axis reaches the highest log g shown (dwarfs included); the track legend sits
    below the panels, off the data."""
    panels = [(teff, logg, feh, titles[0])]
    if reference is not None:
        panels.append((*reference, titles[1]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels) + 0.9, 5.4), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    colors = plt.cm.plasma(np.linspace(0.05, 0.85, max(len(tracks), 1)))
    g_all = np.concatenate([np.asarray(g, float) for _, g, _, _ in panels])
    g_max = max(4.2, float(np.nanmax(g_all[np.isfinite(g_all)])) + 0.15) if np.isfinite(g_all).any() else 4.2
    for ax, (t, g, f, title) in zip(axes[0], panels):
        f = np.where(np.asarray(f, float) == apogee.MISSING, np.nan, f)
        sc = ax.scatter(t, g, c=f, s=4, cmap="viridis", vmin=-1.5, vmax=0.5, rasterized=True)
        for (lab, tt, gg), c in zip(tracks, colors):
            ax.plot(tt, gg, "-", color=c, lw=1.8, label=lab)
        ax.set(xlabel=r"$T_\mathrm{eff}$ (K)", title=title)
        ax.grid(alpha=0.25)
    axes[0, 0].set_ylabel(r"$\log g$ (dex, cgs)")
    axes[0, 0].set_xlim(5800, 3700)
    axes[0, 0].set_ylim(g_max, 0.0)
    fig.colorbar(sc, ax=list(axes[0]), label="[Fe/H] (dex)", shrink=0.85)
    if len(tracks):
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=9, title="giant branch of the population", title_fontsize=9,
                   loc="outside lower center", ncol=len(tracks), frameon=False)
    return fig


# --------------------------------------------------------------------------- Jacobian
@figure_function
def jacobian_windows(jac, targets: Sequence[str], true_derivative=None, windows=None,
                     concentration: Mapping | None = None, similarity: Mapping | None = None):
    """Per element: the network's median Jacobian (d label / d normalised flux) against
    wavelength, the element's ASPCAP windows marked as a strip along the bottom of the panel,
    and (synthetic data) the true derivative of the forward model (d flux / d [X/H]).
    Both curves are divided by their maximum |value| (printed in each panel with its units:
    dex per unit of normalised flux for the network, normalised flux per dex for the
    forward model), so the y axis runs from -1 to +1. Both are expected negative in the
    element's lines: more of the element makes the lines deeper (d flux / d[X/H] < 0), so
    a network reading those lines returns a higher abundance for a lower flux
    (d [X/H] / d flux < 0)."""
    windows = apogee.aspcap_windows() if windows is None else windows
    lam = apogee.kept_wavelength()
    # break the curves across the detector gaps
    breaks = np.flatnonzero(np.diff(lam) > 5 * np.median(np.diff(lam))) + 1

    def gapped(a):
        return np.insert(np.asarray(a, float), breaks, np.nan)

    lam_g = gapped(lam)
    targets = [t for t in targets if t in windows]
    fig, axes = plt.subplots(len(targets), 1, figsize=(9.6, 1.45 * len(targets) + 1.0), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, t in zip(axes, targets):
        k = list(targets).index(t)
        w = windows[t]
        # the element's windows: full-height light shading behind the curves
        ax.fill_between(lam, 0, 1, where=w, color="C1", alpha=0.28, lw=0, step="mid",
                        transform=ax.get_xaxis_transform(), zorder=0)
        j = np.asarray(jac[k], float)
        jmax = np.abs(j).max() or 1.0
        ax.plot(lam_g, gapped(j / jmax), lw=0.6, color="k", zorder=3)
        text = [f"max|J| {jmax:.2g} dex/flux"]
        if true_derivative is not None:
            d = np.asarray(true_derivative[k], float)
            dmax = np.abs(d).max() or 1.0
            ax.plot(lam_g, gapped(d / dmax), lw=0.6, color="C3", alpha=0.75, zorder=2)
            text.append(f"max|dF/d[X/H]| {dmax:.2g} /dex")
        if concentration is not None:
            text.append(f"in windows {concentration[t]:.0%}")
        if similarity is not None:
            text.append(f"corr {similarity[t]:+.2f}")
        ax.set_title(_label(t), loc="left", fontsize=10.5, fontweight="bold", pad=2)
        ax.set_title("   ".join(text), loc="right", fontsize=9.5, pad=2)
        ax.set_ylim(-1.15, 1.15)
        ax.set_yticks([-1, 0, 1])
        ax.tick_params(labelsize=9)
        ax.axhline(0, color="0.6", lw=0.4)
    axes[len(axes) // 2].set_ylabel("derivative / its max |value|", fontsize=10)
    axes[-1].set_xlabel(r"wavelength ($\AA$)", fontsize=10)
    axes[-1].tick_params(axis="x", labelsize=9.5)
    handles = [plt.Line2D([], [], color="k", lw=1.2,
                          label="network Jacobian d[X/H]/d flux (median over stars)"),
               plt.Rectangle((0, 0), 1, 1, color="C1", alpha=0.28, label="the element's ASPCAP windows")]
    if true_derivative is not None:
        handles.append(plt.Line2D([], [], color="C3", lw=1.2,
                                  label="forward model d flux/d[X/H] (median star)"))
    fig.legend(handles=handles, loc="upper center", ncol=2, fontsize=9.5, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / fig.get_figheight()))
    fig.subplots_adjust(hspace=0.32)
    return fig


# --------------------------------------------------------------------------- calibration
@figure_function
def z_histograms(cal, against: str = "truth"):
    """Distribution of z = (prediction - reference) / sigma per label with the raw astroNN
    total uncertainty and with the calibrated one, against a unit Gaussian."""
    if against == "truth":
        zr, zc = cal.z_raw_truth, cal.z_cal_truth
    else:
        zr, zc = cal.z_raw_aspcap, cal.z_cal_aspcap
    targets = cal.targets
    fig, axes = _grid(len(targets), ncols=4, size=(2.4, 2.0))
    grid = np.linspace(-4, 4, 200)
    gauss = np.exp(-0.5 * grid ** 2) / np.sqrt(2 * np.pi)
    for k, (ax, t) in enumerate(zip(axes, targets)):
        for z, c, lab in ((zr, "C0", "raw"), (zc, "C3", "calibrated")):
            v = z[:, k][np.isfinite(z[:, k])]
            ax.hist(np.clip(v, -4, 4), bins=np.linspace(-4, 4, 33), density=True, histtype="step",
                    color=c, label=lab)
            ax.text(0.03, 0.95 if lab == "raw" else 0.80, f"{metrics.robust_std(v):.2f}", color=c,
                    transform=ax.transAxes, fontsize=9.5, va="top")
        ax.plot(grid, gauss, color="0.5", lw=0.8)
        ax.set_title(_label(t), fontsize=9)
        ax.tick_params(labelsize=9)
        ax.set_xlabel("z", fontsize=9, labelpad=0)
    ref = "truth" if against == "truth" else "ASPCAP-like labels (with their errors)"
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="0.5", lw=0.8))
    labels.append("unit Gaussian")
    fig.legend(handles, labels, fontsize=10, loc="lower right", bbox_to_anchor=(0.95, 0.08), frameon=False)
    fig.suptitle(f"z = (prediction - {ref}) / σ: raw vs calibrated (numbers: robust std of z)")
    fig.tight_layout()
    return fig


#: label groups of the reliability diagram (one colour each)
RELIABILITY_GROUPS = {
    "Teff, log g": ("teff", "logg"),
    "C, C I, N, O": ("C", "C1", "N", "O"),
    "strong-line metals": ("Mg", "Al", "Si", "K", "Ca", "Ti", "Cr", "Mn", "Fe", "Ni"),
    "weak-line elements": ("Na", "P", "S", "Ti2", "V", "Co"),
}


@figure_function
def reliability(cal, groups: Mapping = RELIABILITY_GROUPS, n_named: int = 3):
    """Reliability diagram: fraction of stars within k sigma against the Gaussian expectation,
    one line per label coloured by label group (legend below), raw and calibrated, against
    the ASPCAP-like labels and against the truth. In each panel the ``n_named`` labels
    farthest from the diagonal at the 1-sigma point (expected 0.683) are named at their
    curve. Above the diagonal: uncertainties too large (conservative); below: too small."""
    panels = [("raw σ vs ASPCAP-like labels", cal.z_raw_aspcap),
              ("calibrated σ vs ASPCAP-like labels", cal.z_cal_aspcap)]
    if cal.z_raw_truth is not None:
        panels += [("raw σ vs truth", cal.z_raw_truth), ("calibrated σ vs truth", cal.z_cal_truth)]
    ncol = 2
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(8.6, 4.1 * nrow + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    group_of = {t: g for g, ts in groups.items() for t in ts}
    gcolor = {g: f"C{i}" for i, g in enumerate(groups)}
    for ax, (title, z) in zip(axes.flat, panels):
        k, obs, exp = metrics.reliability_curve(z)
        i1 = int(np.argmin(np.abs(exp - 0.6827)))
        for j, t in enumerate(cal.targets):
            ax.plot(exp, obs[:, j], color=gcolor.get(group_of.get(t), "0.5"), lw=1.0, alpha=0.85)
        dev = obs[i1] - exp[i1]
        worst = np.argsort(-np.abs(np.nan_to_num(dev)))[:n_named]
        lines = [f"{_label(cal.targets[j])}: {obs[i1, j]:.2f}" for j in worst]
        above = np.nanmedian(dev) >= 0      # curves mostly above: the lower-right corner is empty
        ax.text(0.97 if above else 0.03, 0.03 if above else 0.97,
                "within 1σ (expected 0.68):\n" + "\n".join(lines), transform=ax.transAxes, fontsize=9.5,
                ha="right" if above else "left", va="bottom" if above else "top",
                bbox=dict(fc="w", ec="0.7", alpha=0.9))
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
        ax.grid(alpha=0.25)
    for ax in axes[-1]:
        ax.set_xlabel("expected fraction within k σ (Gaussian)")
    for ax in axes[:, 0]:
        ax.set_ylabel("observed fraction within k σ")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=gcolor[g], lw=2, label=f"{g} ({len(ts)})")
               for g, ts in groups.items()]
    handles.append(plt.Line2D([], [], color="k", ls="--", lw=0.8, label="perfectly calibrated"))
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


@figure_function
def calibration_summary(spreads: Mapping, targets: Sequence[str], scales=None):
    """Robust std of the z-scores per label (1 = calibrated): raw and calibrated, against the
    ASPCAP-like labels and the truth; with the fitted scale factors on a second axis."""
    x = np.arange(len(targets))
    fig, ax = plt.subplots(figsize=(9.2, 3.8))
    styles = {"raw_vs_aspcap": ("o", "C0"), "calibrated_vs_aspcap": ("o", "C3"),
              "raw_vs_truth": ("s", "C0"), "calibrated_vs_truth": ("s", "C3")}
    for name, v in spreads.items():
        m, c = styles.get(name, ("d", "k"))
        ax.plot(x, v, m, color=c, mfc="none" if "truth" in name else c, label=name.replace("_", " "))
    if scales is not None:
        ax.plot(x, scales, "_", color="k", ms=12, label="fitted scale s")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.axhspan(0.8, 1.25, color="0.9", zorder=0)
    ax.set_xticks(x, [_label(t) for t in targets], rotation=60, fontsize=9)
    ax.set_ylabel("robust std of z")
    ax.set_yscale("log")
    ax.legend(fontsize=9, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.02), frameon=False)
    ax.set_title("Uncertainty calibration on the test set (scales fitted on the validation set)", pad=46)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- OOD
@figure_function
def ood_uncertainty(distance, sigma_rel, category, binned=None,
                    targets: Sequence[str] = ("teff", "logg", "Fe", "Mg")):
    """Total uncertainty relative to the median in-box value against the distance from the
    training box, for a few labels; points coloured by why a star is out of the box."""
    fig, axes = plt.subplots(1, len(targets), figsize=(2.45 * len(targets), 3.0), sharey=True)
    cats = list(dict.fromkeys(category))
    colors = {c: f"C{i}" for i, c in enumerate(cats)}
    for ax, t in zip(np.atleast_1d(axes), targets):
        k = list(apogee.TARGETS).index(t)
        for c in cats:
            m = np.asarray(category) == c
            ax.scatter(distance[m], sigma_rel[m, k], s=5, color=colors[c], label=c, alpha=0.6)
        if binned is not None:
            ok = np.isfinite(binned.stat[:, k]) & np.isfinite(binned.centers)
            ax.plot(binned.centers[ok], binned.stat[ok, k], "k-o", ms=4, lw=1.2, label="binned median")
        ax.axhline(1.0, color="k", lw=0.6)
        ax.set(xlabel="distance from the training box", title=_label(t), yscale="log")
    np.atleast_1d(axes)[0].set_ylabel(r"$\sigma_\mathrm{total}$ / median in-box")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=9, markerscale=2, loc="lower center", ncol=6, frameon=False)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    return fig


# --------------------------------------------------------------------------- log g budget
@figure_function
def logg_residuals(true_logg, residual, label_residual, groups: Mapping):
    """Network - truth (left) and ASPCAP-like label - truth (right) log g residuals against
    the true log g, one colour per group (e.g. red clump, giant branch, metal-poor): a bias
    of the labels for one group is learned by the network and shows in both panels."""
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4), sharex=True, sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ok_label = np.asarray(label_residual) > -5000
    for ax, res, ok, title in ((axes[0], residual, np.ones(len(residual), bool), "network − truth"),
                               (axes[1], label_residual, ok_label, "ASPCAP-like label − truth")):
        for (name, m), c in zip(groups.items(), colors):
            m = np.asarray(m, bool) & ok
            ax.scatter(np.asarray(true_logg)[m], np.asarray(res)[m], s=4, alpha=0.5, color=c,
                       label=f"{name} ({m.sum()})", rasterized=True)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel(r"true $\log g$")
    axes[0].set_ylabel(r"$\Delta \log g$ (dex)")
    axes[0].set_ylim(-0.6, 0.6)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, markerscale=3,
               frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


# --------------------------------------------------------------------------- response test
@figure_function
def response_matrix(table, snrs: Sequence[float] = (200.0, 50.0), title: str | None = None):
    """The element response matrix (:mod:`astronn_paper.analysis.response`) at each SNR: the
    median change of each predicted label (rows) when one true label is changed (columns),
    both in units of their steps (50 K, 0.1 dex), so the diagonal is the self-response
    (1: measured from the star's own lines) and the off-diagonal what leaks in from other
    labels. Right of the line: both C columns / both Ti columns together, and all 20 [X/H]
    together (the population direction). Diverging colours centred at 0, clipped at ±1."""
    from astronn_paper.analysis import response

    snrs = [float(s) for s in snrs]
    fig, axes = plt.subplots(len(snrs), 1, figsize=(9.4, 8.4 * len(snrs)), squeeze=False)
    im = None
    for ax, snr in zip(axes[:, 0], snrs):
        R, _, outputs, changed = response.matrix(table, snr, per_step=True)
        im = ax.imshow(R, cmap="RdBu_r", vmin=-1.0, vmax=1.0, aspect="auto", interpolation="nearest")
        n_single = sum(c in outputs for c in changed)
        ax.axvline(n_single - 0.5, color="k", lw=1)
        for i, o in enumerate(outputs):
            if o in changed:
                j = changed.index(o)
                ax.text(j, i, f"{R[i, j]:.2f}", ha="center", va="center", fontsize=8.5,
                        color="w" if abs(R[i, j]) > 0.6 else "k")
        j = changed.index(response.POPULATION) if response.POPULATION in changed else None
        if j is not None:
            for i in range(len(outputs)):
                ax.text(j, i, f"{R[i, j]:.2f}", ha="center", va="center", fontsize=8.5,
                        color="w" if abs(R[i, j]) > 0.6 else "k")
        ax.set_xticks(range(len(changed)), [_label(c) for c in changed], rotation=90, fontsize=9)
        ax.set_yticks(range(len(outputs)), [_label(o) for o in outputs], fontsize=9)
        ax.set_xlabel("changed label (true, +1 step)")
        ax.set_ylabel("predicted label")
        n = int(table.loc[np.isclose(table["snr"], snr), "n_stars"].iloc[0])
        ax.set_title(f"SNR {snr:g} ({n} stars)", fontsize=10)
    cb = fig.colorbar(im, ax=list(axes[:, 0]), shrink=0.6, extend="both", pad=0.02)
    cb.set_label(r"median $\Delta$pred$_i$ / $\Delta$true$_j$ (in steps: 50 K, 0.1 dex)")
    if title:
        fig.suptitle(title)
    return fig


@figure_function
def self_response_vs_jacobian(self_response: Mapping, concentration: Mapping | None = None,
                              window_share: Mapping | None = None,
                              targets: Sequence[str] = apogee.ABUNDANCES):
    """Per abundance: the self-response R[X, X] with its bootstrap error at each SNR
    (``self_response``: label -> DataFrame of :func:`astronn_paper.analysis.response.self_response`),
    beside the fraction of the Jacobian's squared norm inside the element's ASPCAP windows
    (bars) and the windows' share of the pixels (grey ticks: an evenly spread Jacobian)."""
    targets = list(targets)
    x = np.arange(len(targets))
    fig, ax = plt.subplots(figsize=(9.2, 3.8))
    if concentration is not None:
        ax.bar(x, [concentration.get(t, np.nan) for t in targets], 0.7, color="C1", alpha=0.35,
               label="Jacobian: fraction of ΣJ² in own windows")
    if window_share is not None:
        ax.plot(x, [window_share.get(t, np.nan) for t in targets], ls="none", marker="_", ms=14,
                color="0.4", label="windows' share of the pixels")
    n = len(self_response)
    for k, (name, df) in enumerate(self_response.items()):
        off = (k - (n - 1) / 2) * 0.18
        ax.errorbar(x + off, df.reindex(targets)["self"], df.reindex(targets)["self_err"], ls="none",
                    marker="os^D"[k % 4], ms=5, color=f"C{k if k < 1 else k + 1}", capsize=2,
                    label=f"self-response R[X,X], {name}")
    ax.axhline(1.0, color="k", lw=0.6, ls=":")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(x, [_label(t) for t in targets], rotation=60, fontsize=9)
    ax.set_xlim(-0.6, len(targets) - 0.4)
    ax.set_ylim(-0.15, 1.15)
    ax.set_ylabel("fraction")
    ax.legend(fontsize=9, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    return fig


@figure_function
def domain_scores(result, title: str | None = None):
    """Out-of-domain score: the DOMAIN_SCORE distribution of the high-SNR test set
    and of each class of spectra rendered with different physics (``result``: the
    :class:`astronn_paper.analysis.out_of_domain.OODResult` of """ \
    """:func:`astronn_paper.analysis.out_of_domain.ood_table`),
    the threshold (≤ 2 % of the test set above it), and per class the fraction flagged by
    the score and by the MC-dropout σ alone. Log x axis."""
    from astronn_paper.analysis.out_of_domain import VARIANTS

    scores = dict(result.scores)
    table = {r["variant"]: r for r in result.table}
    allv = np.concatenate([result.test_scores] + [s[np.isfinite(s)] for s in scores.values()])
    lo = max(float(np.nanmin(allv[allv > 0])), 1e-2)
    hi = float(np.nanmax(allv[np.isfinite(allv)]))
    bins = np.logspace(np.log10(lo) - 0.05, np.log10(hi) + 0.05, 70)
    names = [v for v in VARIANTS if v in scores and v != "in_domain"]
    fig, axes = plt.subplots(len(names) + 1, 1, figsize=(8.5, 1.25 * (len(names) + 1) + 0.8),
                             sharex=True)
    ax = axes[0]
    def frac(a):
        return np.full(len(a), 1.0 / max(len(a), 1))

    ax.hist(result.test_scores, bins, weights=frac(result.test_scores), color="0.45", alpha=0.8,
            label=f"high-SNR test set ({result.test_scores.size}; light grey below)")
    ax.axvline(result.threshold, color="r", lw=1.2, ls="--", label=f"threshold ({result.threshold:.2f})")
    if "in_domain" in scores:
        ax.hist(scores["in_domain"], bins, weights=frac(scores["in_domain"]), histtype="step",
                color="k", lw=1.2, label=f"rendered, in domain ({scores['in_domain'].size})")
    flagged = np.mean(result.test_scores > result.threshold)
    ax.set_title(f"test set: {100 * flagged:.1f} % flagged", fontsize=9, loc="right")
    ax.legend(fontsize=9, loc="upper right", bbox_to_anchor=(0.80, 1.0))
    for k, (ax, v) in enumerate(zip(axes[1:], names)):
        ax.hist(result.test_scores, bins, weights=frac(result.test_scores), color="0.8")
        ax.hist(scores[v], bins, weights=frac(scores[v]), color=f"C{k % 10}", alpha=0.8,
                label=f"{VARIANTS[v]} ({scores[v].size})")
        row = table.get(v)
        if row is not None:
            txt = f"score: {100 * row['flagged']:.0f} % flagged"
            if "sigma_flagged" in row.colnames:
                txt += f"   σ alone: {100 * row['sigma_flagged']:.0f} %"
            ax.set_title(txt, fontsize=9.5, loc="right")
        ax.legend(fontsize=9, loc="upper left")
    for ax in axes:
        ax.axvline(result.threshold, color="r", lw=1.2, ls="--")
    axes[len(axes) // 2].set_ylabel("fraction of spectra per bin")
    axes[-1].set_xscale("log")
    axes[-1].set_xlabel(r"DOMAIN_SCORE ($\chi^2$ against the training PCs / its in-domain "
                        r"98th percentile at the spectrum's SNR)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


@figure_function
def domain_snr(study, title: str | None = None):
    """The out-of-domain flag per SNR bin, on a survey neither the network nor
    the domain model saw (``study``: the :class:`astronn_paper.analysis.out_of_domain.SNRStudy`
    of :func:`astronn_paper.analysis.out_of_domain.snr_study`). Left: DOMAIN_SCORE against the
    SNR the star was observed at, in domain (grey) and for each class of other physics, with
    the threshold; middle: the false-alarm rate (in-domain spectra flagged) per SNR bin with
    its binomial error, against the issue's 3 % bound; right: the fraction of each class
    flagged per SNR bin (solid: the classes the score separates; dashed: the two that look like
    C, N, O changes)."""
    from astronn_paper.analysis.out_of_domain import MAX_FALSE_ALARMS, MIN_DETECTED, SEPARATED, VARIANTS

    a, thr = study.arrays, study.threshold
    bins = np.asarray(study.bins, float)
    centres = np.sqrt(bins[:-1] * bins[1:])
    classes = [v for v in VARIANTS if v != "in_domain" and np.any(a["kind"] == v)]
    colour = {v: f"C{k % 10}" for k, v in enumerate(classes)}
    fig = plt.figure(figsize=(9.4, 8.6))
    gs = fig.add_gridspec(2, 2)
    axes = [fig.add_subplot(gs[0, :]), fig.add_subplot(gs[1, 0]), fig.add_subplot(gs[1, 1])]

    ax = axes[0]
    for v in classes:
        s = a["kind"] == v
        ax.scatter(a["snr"][s], a["score"][s], s=5, alpha=0.45, color=colour[v], lw=0)
    s = a["kind"] == "in_domain"
    ax.scatter(a["snr"][s], a["score"][s], s=4, alpha=0.5, color="0.35", lw=0,
               label=f"in domain ({s.sum()})")
    ax.axhline(thr, color="r", ls="--", lw=1.2, label=f"threshold ({thr:.3f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("SNR observed at")
    ax.set_ylabel("DOMAIN_SCORE")
    ax.legend(fontsize=9, loc="upper left")

    ax = axes[1]
    fa = study.false_alarms()
    ax.errorbar(centres, 100 * fa["flagged"], yerr=100 * fa["flagged_err"], fmt="o-", color="k",
                capsize=3, label="in domain, flagged")
    for x, n in zip(centres, fa["n"]):
        ax.text(x, 0.97, f"n={n}", transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize=9.5, color="0.4", rotation=90)
    ax.axhline(100 * MAX_FALSE_ALARMS, color="r", ls="--", lw=1.2,
               label=f"bound ({100 * MAX_FALSE_ALARMS:.0f} %)")
    ax.axhline(2.0, color="0.6", ls=":", lw=1.0, label="test set, by construction (2 %)")
    ax.set_xscale("log")
    ax.set_ylim(0, max(6.0, 100 * float(np.nanmax(fa["flagged"] + fa["flagged_err"])) * 1.2))
    ax.set_xlabel("SNR bin")
    ax.set_ylabel("false alarms (% of in-domain spectra)")
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(0.0, 0.78))

    ax = axes[2]
    det = study.detection()
    for k, v in enumerate(classes):
        d = det[det["variant"] == v]
        jitter = 1.0 + 0.03 * (k - (len(classes) - 1) / 2)    # lines at 100 % stay visible
        ax.plot(centres * jitter, 100 * d["flagged"].to_numpy(), "o-" if v in SEPARATED else "s--",
                color=colour[v], ms=4, label=f"{VARIANTS[v]}")
    ax.axhline(100 * MIN_DETECTED, color="r", ls="--", lw=1.0, label=f"{100 * MIN_DETECTED:.0f} %")
    ax.set_xscale("log")
    ax.set_ylim(-3, 103)
    ax.set_xlabel("SNR bin")
    ax.set_ylabel("flagged (% of the class)")
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.4, -0.16), frameon=False)
    for ax in axes:
        ax.set_xlim(bins[0] * 0.9, bins[-1] * 1.1)
        for b in bins:
            ax.axvline(b, color="0.92", lw=0.8, zorder=0)
    seed = study.meta.get("key", {}).get("survey_seed", "?")
    fig.suptitle(title or f"Out-of-domain flag per SNR bin (survey seed {seed}, in-box giants, "
                 "noise re-drawn at each SNR)", fontsize=11)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- one-to-one
@figure_function
def one_to_one(pred, reference, targets: Sequence[str] = apogee.TARGETS, truth=None,
               reference_name: str = "ASPCAP-like label", ncols: int = 4):
    """The network against the labels for every target, one pair of panels each: above,
    prediction against the reference (density, log colour) with the 1:1 line; below, the
    residual prediction - reference against the reference, with the bias (median) and scatter
    (mad_std) written in the title. Stars whose reference is -9999 are left out. With
    ``truth``, the reference is the truth and the panels say so."""
    from astropy.stats import mad_std

    pred = np.asarray(pred, float)
    ref = np.asarray(truth if truth is not None else reference, float)
    ref_name = "truth" if truth is not None else reference_name
    targets = list(targets)
    nrows = int(np.ceil(len(targets) / ncols))
    fig = plt.figure(figsize=(2.3 * ncols, 3.25 * nrows + 0.5))
    outer = fig.add_gridspec(nrows, ncols, hspace=0.3, wspace=0.45)
    for k, t in enumerate(targets):
        inner = outer[k // ncols, k % ncols].subgridspec(2, 1, height_ratios=(2.2, 1), hspace=0.05)
        top, bottom = fig.add_subplot(inner[0]), fig.add_subplot(inner[1])
        j = list(apogee.TARGETS).index(t) if pred.shape[1] == len(apogee.TARGETS) else k
        r, p = ref[:, j], pred[:, j]
        ok = (r > apogee.MISSING) & np.isfinite(r) & np.isfinite(p)
        r, p = r[ok], p[ok]
        if r.size > 1:
            lo, hi = np.percentile(np.concatenate([r, p]), [0.5, 99.5])
            pad = 0.05 * (hi - lo)
            lim = (lo - pad, hi + pad)
            top.hexbin(r, p, gridsize=28, extent=(*lim, *lim), mincnt=1, bins="log", cmap="viridis",
                       linewidths=0)
            top.plot(lim, lim, color="C3", lw=0.8)
            top.set(xlim=lim, ylim=lim)
            d = p - r
            s = mad_std(d)
            bottom.hexbin(r, d, gridsize=(28, 12), extent=(*lim, -4 * s, 4 * s), mincnt=1, bins="log",
                          cmap="viridis", linewidths=0)
            bottom.axhline(0, color="C3", lw=0.8)
            bottom.set(xlim=lim, ylim=(-4 * s, 4 * s))
            fmt = "{:.0f}" if t == "teff" else "{:.3f}"
            top.text(0.04, 0.96, f"bias {fmt.format(np.median(d))}\nscatter {fmt.format(s)}",
                     transform=top.transAxes, va="top", fontsize=9)
        top.set_title(_label(t) + (" (K)" if t == "teff" else ""), fontsize=10)
        top.tick_params(labelbottom=False, labelsize=9)
        bottom.tick_params(labelsize=9)
        for ax in (top, bottom):
            ax.xaxis.set_major_locator(plt.MaxNLocator(3))
            ax.yaxis.set_major_locator(plt.MaxNLocator(3))
        if k % ncols == 0:
            top.set_ylabel("network", fontsize=9)
            bottom.set_ylabel("Δ", fontsize=9)
        if k + ncols >= len(targets):
            bottom.set_xlabel(ref_name, fontsize=9)
    height = fig.get_figheight()
    fig.subplots_adjust(top=1 - 0.75 / height, bottom=0.45 / height, left=0.09, right=0.98)
    fig.suptitle(f"The network against the {ref_name} for all {len(targets)} labels\n(top: 1:1, red line; "
                 f"bottom: network − {ref_name}; colour: log density)", fontsize=10.5,
                 y=1 - 0.05 / height, va="top")
    return fig
