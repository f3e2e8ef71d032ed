"""Every figure function: stamped "Synthetic survey", legible at nbviewer's width (the autouse
check in conftest.py runs on every figure built here and in the other tests), and the figures no
other test builds, on small fake inputs; the legibility check itself fails on planted problems."""
import importlib
import inspect
import pkgutil

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from astronn_paper import apogee, config, figures
from astronn_paper.figures import style

T = list(apogee.TARGETS)
#: Public functions of figures/ that return no Figure (helpers).
HELPERS = {"save", "epoch_lr_below", "window_group", "no_network", "milky_way_background",
           "milky_way_edge_on_background", "network_layout", "survey_stamp", "stamp",
           "is_stamped", "figure_function", "plain_log_ticks", "displayed_scale", "figure_px",
           "legibility_problems", "pin_figure_legends"}


def figure_functions():
    for info in pkgutil.iter_modules(figures.__path__):
        mod = importlib.import_module(f"astronn_paper.figures.{info.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ == mod.__name__ and not name.startswith("_") and name not in HELPERS:
                yield f"{info.name}.{name}", fn


def test_every_figure_function_goes_through_the_stamp():
    names = [n for n, fn in figure_functions() if not getattr(fn, "is_figure_function", False)]
    assert not names, f"figure functions without @figure_function: {names}"
    assert len(list(figure_functions())) >= 35


# --------------------------------------------------------------------------- the check itself
@pytest.mark.illegible_ok
def test_legibility_check_fails_on_a_planted_oversized_figure_and_a_tiny_font():
    wide, ax = plt.subplots(figsize=(16, 4))
    fig_left_right = (0.01, 0.99)
    wide.subplots_adjust(*fig_left_right[:1], right=fig_left_right[1])
    ax.set_title("a title")
    width = style.figure_px(wide)[0]
    assert 1500 < width < 1650                            # ~16 in at 100 dpi, in 875 px
    scale = 875 / width
    problems = style.legibility_problems(wide)
    assert problems[0] == f"figure {width:.0f} px wide is shown at {scale:.0%} in 875 px (below 70%)"
    assert any(f"at 10 pt shown at {10 * scale:.1f} pt" in p for p in problems), problems

    tiny, ax = plt.subplots(figsize=(6, 4))
    ax.text(0.5, 0.5, "a 6 pt note", fontsize=6)
    problems = style.legibility_problems(tiny)
    assert problems == ["1 text(s) at 6 pt shown at 6.0 pt (below 8): 'a 6 pt note'"]
    # a lower resolution makes the PNG narrower, not the text larger
    assert style.legibility_problems(tiny, dpi=50)[0].startswith("1 text(s) at 6 pt shown at 3.0 pt")

    fine, ax = plt.subplots(figsize=(8, 4))
    ax.plot([1, 2], [3, 4])
    ax.set_xlabel("x")
    assert style.legibility_problems(fine) == []
    # a hidden axes' texts are not shown
    ax2 = fine.add_axes((0.1, 0.1, 0.2, 0.2))
    ax2.text(0, 0, "hidden", fontsize=4)
    ax2.set_visible(False)
    assert style.legibility_problems(fine) == []
    plt.close("all")


def test_the_measured_display_width_is_what_nbconvert_and_chromium_gave():
    # tools/measure_output_width.py at a 1000 px window: every image shown 875 px wide
    assert style.DISPLAY_PX == 875
    fig = plt.figure(figsize=(8.55, 3))     # 8.75 in with the tight padding: exactly the width
    fig.text(0, 0, "x")
    assert style.displayed_scale(fig) == pytest.approx(1.0, abs=0.03)
    plt.close(fig)


@pytest.mark.illegible_ok
def test_stamp_goes_into_the_suptitle_or_a_header_once(monkeypatch):
    @style.figure_function
    def plain():
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.set_title("M67")
        return fig

    @style.figure_function
    def titled():
        fig, ax = plt.subplots(figsize=(4, 3))
        fig.suptitle("Maps")
        return fig

    unstamped, _ = plt.subplots()
    assert not style.is_stamped(unstamped)
    fig = plain()
    assert style.is_stamped(fig) and fig.get_label() == "test_figures.plain"
    stamps = [t for t in fig.texts if t.get_gid() == style.STAMP_GID]
    assert len(stamps) == 1 and stamps[0].get_text().startswith("Synthetic survey")
    style.stamp(fig)
    assert len([t for t in fig.texts if t.get_gid() == style.STAMP_GID]) == 1
    # above everything else drawn: the stamp's bottom is at the top of the axes' title
    r = fig.canvas.get_renderer()
    assert stamps[0].get_window_extent(r).y0 >= fig.axes[0].title.get_window_extent(r).y1
    assert titled()._suptitle.get_text() == "Synthetic survey: Maps"
    monkeypatch.setenv("ASTRONN_PAPER_SOURCE", "mirror")
    assert "Synthetic" not in style.survey_stamp() and "mirror" in style.survey_stamp()
    plt.close("all")


def test_log_axes_get_decimal_tick_labels():
    @style.figure_function
    def logfig():
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot([1, 2, 3], [0.02, 0.1, 0.7])
        ax.set_yscale("log")
        ax.set_xlabel("x")
        return fig

    fig = logfig()
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert labels and all("times" not in lab and "^" not in lab for lab in labels), labels
    assert {"0.05", "0.1", "0.2", "0.5"} <= set(labels)
    plt.close(fig)


# --------------------------------------------------------------------------- figures built here
def _fake_labels(n=600, seed=1):
    rng = np.random.default_rng(seed)
    truth = np.column_stack([rng.uniform(4000, 5500, n), rng.uniform(0.5, 3.5, n),
                             rng.normal(-0.2, 0.25, (n, 20))])
    pred = truth + rng.normal(0, 1, truth.shape) * np.r_[30, 0.05, [0.03] * 20]
    return truth, pred


def test_network_schematic_is_read_from_the_shipped_layer_configuration():
    from astronn_paper.figures import training
    from astronn_paper.model import train

    cfg = train.read_layer_config(config.shipped_model_dir("astroNN_0617_run001"))
    lay = training.network_layout(cfg)
    shapes = [s for _, s in lay["trunk"]]
    assert shapes == [(7514, 1), (7514, 2), (7514, 4), (1878, 4), (7512,), (192,), (64,)]
    assert lay["heads"] == 6                      # Teff, log g, [Fe/H]: mean and variance
    assert list(lay["branches"]) == [t for t in apogee.ABUNDANCES if t != "Fe"]
    assert lay["branches"]["C"] == [256, 64] and lay["branches"]["Mg"] == [32, 16]
    fig = training.network_schematic(cfg)
    texts = {t.get_text() for t in fig.findobj(plt.Text)}
    assert "mask: 106 px" in texts and "Dense 256 → 64" in texts      # Mg's windows; C's branch
    plt.close(fig)


def test_loss_curves_y_range_is_set_after_epoch_one():
    from astronn_paper.figures import training

    ep = np.arange(20)
    loss = 0.2 + 0.5 * np.exp(-ep / 3.0)
    loss[0] = 25.0
    hist = pd.DataFrame({"epoch": ep, "output_loss": loss, "val_output_loss": loss + 0.01,
                         "lr": np.where(ep < 15, 5e-4, 5e-7)})
    fig = training.loss_curves({"censored": hist})
    lo, hi = fig.axes[0].get_ylim()
    assert hi < 1.0 and lo < 0.21
    assert any("epoch 1: 25 (off scale)" in t.get_text() for t in fig.axes[0].texts)
    plt.close(fig)


def test_one_to_one_writes_each_labels_bias_and_scatter():
    from astropy.stats import mad_std

    from astronn_paper.figures import inference_highsnr as figs

    truth, pred = _fake_labels()
    ref = truth.copy()
    ref[:40, T.index("N")] = apogee.MISSING
    fig = figs.one_to_one(pred, ref)
    axes_n = [ax for ax in fig.axes if ax.get_title() == apogee.TARGET_LATEX["N"]][0]
    ok = ref[:, T.index("N")] > apogee.MISSING
    d = pred[ok, T.index("N")] - ref[ok, T.index("N")]
    assert axes_n.texts[0].get_text() == f"bias {np.median(d):.3f}\nscatter {mad_std(d):.3f}"
    assert len([ax for ax in fig.axes if ax.get_title()]) == 22
    plt.close(fig)


def test_xfe_feh_planes_use_unflagged_stars_with_labels():
    from astronn_paper.figures import catalog as figs

    _, pred = _fake_labels()
    flag = np.zeros(len(pred), int)
    flag[:100] = 8
    pred[100:130, T.index("Na")] = apogee.MISSING
    fig = figs.xfe_feh_planes(pred, flag)
    panels = {ax.get_ylabel(): ax for ax in fig.axes if ax.get_visible()}
    assert len(panels) == 19 and "[Fe/Fe]" not in panels
    assert panels["[Na/Fe]"].get_title(loc="right") == f"{len(pred) - 130:,} stars"
    assert panels["[Mg/Fe]"].get_title(loc="right") == f"{len(pred) - 100:,} stars"
    plt.close(fig)


def test_catalog_comparison_figures():
    from astronn_paper.figures import catalog as figs

    labels = ["teff", "logg", "Fe", "Mg", "Al", "N"]
    table = pd.DataFrame({"scatter_network": [30, 0.05, 0.02, 0.03, 0.04, 0.05],
                          "scatter_cannon": [40, 0.08, 0.03, 0.04, 0.06, 0.07],
                          "scatter_aspcap": [50, 0.09, 0.03, 0.05, 0.07, 0.08]}, index=labels)
    plt.close(figs.comparison_bars(table))
    truth, pred = _fake_labels(300)
    cols = [T.index(t) for t in labels]
    plt.close(figs.comparison_one_to_one(truth[:, cols], pred[:, cols], pred[:, cols] + 0.01, labels))


def _response_table():
    rows = []
    changed = T + ["C+C1", "Ti+Ti2", "all [X/H]"]
    rng = np.random.default_rng(3)
    for snr in (200.0, 50.0):
        for o in T:
            for c in changed:
                r = (0.8 if o == c else rng.normal(0, 0.05))
                rows.append(dict(snr=snr, output=o, changed=c, R=r, R_err=0.02, step_output=0.1,
                                 step_changed=0.1, R_per_step=r, R_per_step_err=0.02, n_stars=40))
    return pd.DataFrame(rows)


def test_response_figures():
    from astronn_paper.analysis import response
    from astronn_paper.figures import inference_bcnn, inference_highsnr as figs

    table = _response_table()
    plt.close(figs.response_matrix(table))
    sr = {"SNR 200": response.self_response(table, 200), "SNR 50": response.self_response(table, 50)}
    conc = {t: 0.8 for t in apogee.ABUNDANCES}
    share = {t: 0.05 for t in apogee.ABUNDANCES}
    plt.close(figs.self_response_vs_jacobian(sr, conc, share))
    plt.close(inference_bcnn.response_comparison({"censored": sr["SNR 50"], "full spectrum": sr["SNR 50"]}))


def test_logg_residuals_and_domain_scores():
    from astropy.table import Table

    from astronn_paper.analysis.out_of_domain import OODResult
    from astronn_paper.figures import inference_highsnr as figs

    rng = np.random.default_rng(2)
    g = rng.uniform(1, 3.5, 400)
    groups = {"red clump": g > 2.3, "giant branch": g <= 2.3}
    plt.close(figs.logg_residuals(g, rng.normal(0, 0.05, 400), rng.normal(0, 0.08, 400), groups))
    variants = ["in_domain", "lsf_1.5x", "no_molecules"]
    scores = {v: rng.lognormal(k, 0.5, 100) for k, v in enumerate(variants)}
    table = Table(rows=[(v, 0.5, 0.1) for v in variants], names=("variant", "flagged", "sigma_flagged"))
    res = OODResult(table=table, scores=scores, test_scores=rng.lognormal(0, 0.5, 1000), threshold=2.0)
    plt.close(figs.domain_scores(res))


def test_aspcap_norm_legend_names_sample_and_reference():
    from astronn_paper.figures import aspcap_norm

    idx = T
    table = pd.DataFrame({"continuum: vs ASPCAP": 0.05, "continuum: vs truth": 0.03,
                          "ASPCAP-normalised: vs ASPCAP": 0.05, "paper (ASPCAP-normalised)": 0.04},
                         index=idx)
    table.loc["teff"] = [40, 25, 42, 30]
    fig = aspcap_norm.scatter_comparison(table)
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert names == ["here: continuum network − ASPCAP-like labels, synthetic test",
                     "here: continuum network − truth, synthetic test",
                     "here: ASPCAP-normalised network − ASPCAP-like labels, synthetic test",
                     "paper: ASPCAP-normalised network − ASPCAP, DR14 high-SNR test"]
    plt.close(fig)


def test_figure_legends_stay_put_when_saved_tight(tmp_path):
    """A top figure legend does not jump onto the stamp when the PNG is cropped (bbox tight)."""
    @style.figure_function
    def top_legend():
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot([0, 1], [0, 1], label="a line")
        fig.legend(loc="upper center", ncol=2)
        fig.tight_layout(rect=(0, 0, 1, 0.85))
        return fig

    fig = top_legend()
    seen = {}

    def grab(event):
        r = event.renderer
        stamp = [t for t in fig.texts if t.get_gid() == style.STAMP_GID][0]
        seen["legend"] = fig.legends[0].get_window_extent(r)
        seen["stamp"] = stamp.get_window_extent(r)

    fig.canvas.mpl_connect("draw_event", grab)
    fig.savefig(tmp_path / "f.png", bbox_inches="tight")
    assert seen["legend"].y1 <= seen["stamp"].y0
    plt.close(fig)


def test_bcnn_scatter_comparison_with_the_notebooks_six_long_legends():
    from astronn_paper.figures import inference_bcnn

    names = {"a": "here: censored − ASPCAP-like, synthetic high-SNR test",
             "b": "here: full spectrum − ASPCAP-like, synthetic high-SNR test",
             "c": "here: censored − ASPCAP-like, synthetic test visits",
             "d": "here: full spectrum − ASPCAP-like, synthetic test visits",
             "paper e": "paper: full spectrum − ASPCAP, DR14 high-SNR test",
             "paper f": "paper: censored − ASPCAP, DR14 visits of training stars"}
    rng = np.random.default_rng(4)
    table = pd.DataFrame(rng.uniform(0.02, 0.2, (len(T), 6)), index=T, columns=list(names))
    table.loc["teff"] = rng.uniform(20, 50, 6)
    fig = inference_bcnn.scatter_comparison(table, names)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list(names.values())
    plt.close(fig)


def test_constrained_layout_keeps_room_for_an_outside_legend(tmp_path):
    @style.figure_function
    def outside():
        fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
        ax.plot([0, 1], [0, 1], label="a line")
        ax.set_title("the title")
        fig.legend(loc="outside upper center")
        return fig

    fig = outside()
    seen = {}

    def grab(event):
        seen["legend"] = fig.legends[0].get_window_extent(event.renderer)
        seen["title"] = fig.axes[0].title.get_window_extent(event.renderer)

    fig.canvas.mpl_connect("draw_event", grab)
    fig.savefig(tmp_path / "f.png", bbox_inches="tight")
    assert seen["legend"].y0 >= seen["title"].y1
    plt.close(fig)


def test_paper_values_placed_in_a_range_are_drawn_as_approximate():
    from astronn_paper.figures import inference_visits

    ab = list(apogee.ABUNDANCES)
    table = pd.DataFrame({"vs_combined": 0.02, "total": 0.05, "paper_vs_combined": 0.03},
                         index=["teff", "logg"] + ab)
    fig = inference_visits.precision_at_snr(table)
    lines = {ln.get_label(): ln.get_ydata() for ln in fig.axes[0].get_lines()}
    exact = lines["paper: visit − combined, real DR14 visits"]
    approx = lines["paper, approximate (placed in a published 0.031–0.034 range)"]
    for t in ("C", "N", "Al", "Ti2"):
        assert np.isnan(exact[ab.index(t)]) and approx[ab.index(t)] == 0.03
    assert exact[ab.index("Fe")] == 0.03 and np.isnan(approx[ab.index("Fe")])
    plt.close(fig)


def test_jacobian_calibration_and_ood_figures():
    from test_highsnr import _fake

    from astronn_paper.analysis import inference_highsnr
    from astronn_paper.figures import inference_highsnr as figs

    d = _fake(800, 4)
    jac = np.random.default_rng(0).normal(size=(3, apogee.N_PIX_GAP_DELETED))
    fig = figs.jacobian_windows(jac, ["Fe", "Mg", "Na"], jac, concentration={"Fe": 0.5, "Mg": 0.1, "Na": 0.2},
                                similarity={"Fe": 1.0, "Mg": 1.0, "Na": 1.0})
    names = [apogee.TARGET_LATEX[t] for t in ("Fe", "Mg", "Na")]
    assert [ax.get_title(loc="left") for ax in fig.axes] == names
    assert "in windows 10%" in fig.axes[1].get_title(loc="right")
    cal = inference_highsnr.calibration(d, d, T)
    figs.z_histograms(cal)
    figs.calibration_summary(cal.spreads(), T, cal.scale_aspcap)
    dist = np.abs(np.random.default_rng(1).normal(size=800))
    dist[:400] = 0
    _, binned = inference_highsnr.ood_ratio(d["sigma"], dist)
    figs.ood_uncertainty(dist, d["sigma"] / d["sigma"].mean(0), np.where(dist > 0, "out", "in"), binned)
    plt.close("all")
