"""Figures of Open_Globular_Cluster_Benchmark.ipynb: open-cluster homogeneity and M13."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from astronn_paper import apogee
from astronn_paper.analysis.clusters import (
    ELEMENTS,
    OPEN_CLUSTERS,
    ClusterResult,
    injected_spread,
)
from astronn_paper.figures.style import figure_function

#: Colour, marker and legend label of each method.
STYLE = {
    "censored": dict(color="C0", marker="o", label="censored network (astroNN_0617_run001)"),
    "bcnn": dict(color="C2", marker="^", label="full-spectrum network (astroNN_0606_run001)"),
    "aspcap": dict(color="C1", marker="s", label="synthetic ASPCAP-like labels"),
    "truth": dict(color="0.3", marker="D", label="truth (intrinsic scatter of these stars)"),
}

SHORT = {"censored": "censored network", "bcnn": "full-spectrum network", "aspcap": "ASPCAP-like",
         "truth": "truth"}
#: Legend labels of the M13 figure (one legend for its three panels).
SHORT_LEGEND = {"censored": "censored network (astroNN_0617_run001)",
                "bcnn": "full-spectrum network (astroNN_0606_run001)",
                "aspcap": "synthetic ASPCAP-like labels", "truth": "truth (injected; top: intrinsic scatter)"}


def _element_axis(ax, scale: str = "X/H"):
    names = [e.replace("C1", "CI").replace("Ti2", "TiII") for e in ELEMENTS]
    ax.set_xticks(range(len(ELEMENTS)), names)
    ax.set_xlim(-0.6, len(ELEMENTS) - 0.4)
    ax.grid(axis="y", alpha=0.3)


@figure_function
def homogeneity(results: dict[str, ClusterResult], clusters=OPEN_CLUSTERS, network: str = "censored"):
    """The paper's two-panel figure: per element, the scatter (mad_std) of [X/H] over the
    members of each open cluster from the network (with a dash at the network's mean predicted
    uncertainty of one star, the scatter a homogeneous cluster would show) and from the
    ASPCAP-like labels, beside the truth's scatter and the injected
    intrinsic spread (synthetic survey)."""
    names = [c for c in clusters if c in results]
    fig, axes = plt.subplots(len(names), 1, figsize=(9.2, 0.6 + 3.5 * len(names)), sharex=True,
                             squeeze=False)
    x = np.arange(len(ELEMENTS))
    for ax, cl in zip(axes[:, 0], names):
        r = results[cl]
        tab = r.table("X/H")
        st = STYLE[network]
        ax.plot(x - 0.15, tab[f"sigma_{network}"], ls="none", ms=6, color=st["color"], marker=st["marker"],
                label=st["label"] + ": scatter")
        # the network's own mean predicted uncertainty of one star: what the scatter would be if the
        # cluster were perfectly homogeneous (not an error bar of the scatter)
        ax.plot(x - 0.15, tab[f"unc_{network}"], ls="none", ms=14, mew=2, color=st["color"], marker="_",
                label="network's mean predicted σ of one star (not an error bar)")
        ax.plot(x + 0.15, tab["sigma_aspcap"], ls="none", ms=6, **STYLE["aspcap"])
        if "sigma_truth" in tab:
            ax.plot(x, tab["sigma_truth"], ls="none", ms=4, mfc="none", **STYLE["truth"])
        inj = injected_spread(cl) if "truth" in r.labels else None
        if inj is not None:
            ax.axhline(inj, color="0.5", ls=":", lw=1, label=f"injected intrinsic spread {inj:.3f} dex")
        comparable = tab[f"sigma_{network}"].notna() & tab["sigma_aspcap"].notna()
        below = int((tab[f"sigma_{network}"] < tab["sigma_aspcap"])[comparable].sum())
        ax.set_title(f"{r.name} (synthetic members): {r.n} stars; network scatter below ASPCAP's for "
                     f"{below} of {int(comparable.sum())} elements", fontsize=10)
        ax.set_ylabel(r"scatter in [X/H] (dex, mad_std)")
        ax.set_ylim(0, None)
        _element_axis(ax)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=9, loc="upper center", ncol=2, frameon=False,
               bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / fig.get_figheight()))
    return fig


@figure_function
def globular(result: ClusterResult):
    """M13: the scatter of [X/Fe] per element (Fe: [Fe/H]) of every method; the Mg-Al plane;
    and (synthetic survey) each network's [Al/Fe] against the true one - a network that
    erases the real Al spread flattens that relation."""
    methods = [m for m in ("truth", "censored", "bcnn", "aspcap") if m in result.labels]
    has_truth = "truth" in result.labels
    fig = plt.figure(figsize=(9.6, 9.5))
    gs = fig.add_gridspec(2, 2 if has_truth else 1, height_ratios=(1, 1.15))
    ax0 = fig.add_subplot(gs[0, :])
    x = np.arange(len(ELEMENTS))
    offsets = np.linspace(-0.24, 0.24, len(methods))
    tab = result.table("X/Fe")
    for dx, m in zip(offsets, methods):
        ax0.plot(x + dx, tab[f"sigma_{m}"], ls="none", ms=6, mfc="none" if m == "truth" else None,
                 **STYLE[m])
    ax0.set_ylabel("scatter in [X/Fe] (dex, mad_std)")
    ax0.set_title(f"{result.name} (synthetic members): {result.n} stars; scatter of each element over "
                  "the members (the Fe column shows [Fe/H])", fontsize=10)
    ax0.set_ylim(0, None)
    _element_axis(ax0)
    ax0.tick_params(axis="x", labelsize=9)
    # one legend for the three panels, above the figure (off the data; the truth is an open
    # diamond in the lower panels)
    handles = [plt.Line2D([], [], ls="none", ms=7, color=STYLE[m]["color"], marker=STYLE[m]["marker"],
                          mfc="none" if m == "truth" else STYLE[m]["color"],
                          label=SHORT_LEGEND[m]) for m in methods]
    if has_truth:
        handles.append(plt.Line2D([], [], color="k", lw=0.8, ls="--", label="1:1 (lower right)"))
    fig.legend(handles=handles, fontsize=9, loc="upper center", ncol=min(len(handles), 3),
               frameon=False, bbox_to_anchor=(0.5, 1.0))

    mg, al = ELEMENTS.index("Mg"), ELEMENTS.index("Al")
    ax1 = fig.add_subplot(gs[1, 0])
    for m in methods:
        xfe = np.where(result.abundances(m, "X/Fe") > apogee.MISSING, result.abundances(m, "X/Fe"), np.nan)
        ax1.plot(xfe[:, mg], xfe[:, al], ls="none", ms=5, alpha=0.8,
                 mfc="none" if m == "truth" else None, **STYLE[m])
    # the networks' median uncertainties, as text (error bars would hide the points when large)
    lines = []
    for m in (m for m in methods if m in result.errors and m != "aspcap"):
        err = np.where(result.uncertainties(m, "X/Fe") > 0, result.uncertainties(m, "X/Fe"), np.nan)
        lines.append(f"{SHORT[m]}: median $\\sigma$[Mg/Fe] {np.nanmedian(err[:, mg]):.3f}, "
                     f"$\\sigma$[Al/Fe] {np.nanmedian(err[:, al]):.3f}")
    if lines:   # room below the points for the text
        lo, hi = ax1.get_ylim()
        ax1.set_ylim(lo - 0.12 * (hi - lo), hi)
        ax1.text(0.02, 0.02, "\n".join(lines), transform=ax1.transAxes, fontsize=9, color="0.3",
                 va="bottom")
    ax1.set(xlabel="[Mg/Fe] (dex)", ylabel="[Al/Fe] (dex)", title="The Mg-Al anticorrelation")

    if has_truth:
        ax2 = fig.add_subplot(gs[1, 1])
        true_al = result.abundances("truth", "X/Fe")[:, al]
        for m in (m for m in methods if m != "truth"):
            y = result.abundances(m, "X/Fe")[:, al]
            ok = y > apogee.MISSING
            ax2.plot(true_al[ok], y[ok], ls="none", ms=5, alpha=0.8, **STYLE[m])
        lim = np.array([np.nanmin(true_al) - 0.15, np.nanmax(true_al) + 0.15])
        ax2.plot(lim, lim, color="k", lw=0.8, ls="--", label="1:1")
        ax2.set(xlabel="true [Al/Fe] (dex)", ylabel="measured [Al/Fe] (dex)", xlim=lim,
                title="Is the real Al spread kept? (flat = erased)")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


@figure_function
def spread_from_response(injected: float, predicted: dict, measured: dict, element: str = "Al"):
    """M13's [X/Fe] spread: the injected (true) one, the one predicted from each network's
    self-response (R[X, X] x injected, with its error) and the one each network measures.
    ``predicted``: network -> (value, error); ``measured``: network -> value."""
    nets = list(dict.fromkeys(list(predicted) + list(measured)))
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.55 * (len(nets) + 1)))
    y = np.arange(len(nets))
    ax.axvline(injected, color=STYLE["truth"]["color"], lw=1.5, ls="--",
               label=f"injected (truth) {injected:.3f}")
    for k, net in enumerate(nets):
        style = STYLE.get(net, {"color": f"C{k}", "marker": "o"})
        if net in predicted:
            v, e = predicted[net]
            ax.errorbar(v, y[k] + 0.12, xerr=e, marker="o", mfc="none", color=style["color"], capsize=3,
                        ls="none", label="predicted: R[X,X] × injected" if k == 0 else None)
        if net in measured and measured[net] is not None:
            ax.plot(measured[net], y[k] - 0.12, marker="s", color=style["color"], ls="none",
                    label="measured by the network" if k == 0 else None)
    ax.set_yticks(y, [SHORT.get(n, n) for n in nets])
    ax.set_ylim(-0.6, len(nets) - 0.4)
    ax.set_xlim(left=0)
    ax.set_xlabel(f"M13 [{element}/Fe] spread (dex, mad_std)")
    ax.set_xlim(0, injected * 1.12)
    ax.legend(fontsize=9.5, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    fig.tight_layout()
    return fig
