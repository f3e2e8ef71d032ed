"""The high-SNR analysis pieces (astronn_paper.analysis.inference_highsnr) and its figures, on in-memory
data."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from astronn_paper import apogee, config
from astronn_paper.analysis import inference_highsnr, metrics
from astronn_paper.figures import inference_highsnr as figs

T = list(apogee.TARGETS)


def _fake(n=600, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    truth = np.c_[rng.uniform(4000, 5500, n), rng.uniform(0.5, 3.5, n), rng.normal(-0.2, 0.3, (n, 20))]
    unit = np.r_[50.0, 0.1, np.full(20, 0.05)]
    err = unit * rng.uniform(0.5, 1.5, (n, 22))
    aspcap = truth + err * rng.normal(size=(n, 22))
    aspcap[rng.random((n, 22)) < 0.05] = apogee.MISSING
    sigma = unit * rng.uniform(0.5, 1.5, (n, 22))
    pred = truth + scale * sigma * rng.normal(size=(n, 22))
    return {"pred": pred, "sigma": sigma, "aspcap": aspcap, "aspcap_err": err, "truth": truth,
            "model": 0.5 * sigma}


def test_calibration_recovers_scale_from_noisy_labels():
    fit, tst = _fake(20000, 1, scale=0.6), _fake(20000, 2, scale=0.6)
    cal = inference_highsnr.calibration(fit, tst, T)
    # against noisy labels s is less constrained (the label error is as large as s * sigma)
    np.testing.assert_allclose(cal.scale_aspcap, 0.6, rtol=0.12)
    assert np.mean(cal.scale_aspcap) == pytest.approx(0.6, rel=0.03)
    np.testing.assert_allclose(cal.scale_truth, 0.6, rtol=0.04)
    s = cal.spreads()
    assert np.all(s["raw_vs_truth"] < 0.7) and np.all(np.abs(s["calibrated_vs_truth"] - 1) < 0.13)
    assert np.all(np.abs(s["calibrated_vs_aspcap"] - 1) < 0.05)


def test_binned_errors_and_ood_ratio():
    d = _fake(3000, 3)
    b = inference_highsnr.binned_errors(d["truth"][:, 0], d["pred"], d["truth"], d["sigma"], d["model"],
                              np.arange(4000, 5501, 500), T)
    assert b.median_abs_error.shape == (3, 22) and b.count[:, 0].sum() == 3000
    # median |N(0, s)| = 0.674 s with s ~ U(25, 75) K -> about 0.674 * 50
    assert np.all(np.abs(b.median_abs_error[:, 0] / (0.674 * 50) - 1) < 0.15)
    np.testing.assert_allclose(b.mean_total[:, 0], 50, rtol=0.05)
    dist = np.r_[np.zeros(100), np.full(50, 2.0)]
    sig = np.r_[np.ones(100), np.full(50, 3.0)][:, None] * np.ones((1, 22))
    ratio, binned = inference_highsnr.ood_ratio(sig, dist)
    np.testing.assert_allclose(ratio, 3.0)
    assert binned.stat[0, 0] == 1.0


def test_forward_model_derivative_is_in_the_windows():
    star = np.r_[4700.0, 2.5, np.zeros(20)]
    d = inference_highsnr.forward_model_derivative(star, ["Fe", "Mg", "Na"])
    assert d.shape == (3, apogee.N_PIX_GAP_DELETED)
    w = apogee.aspcap_windows()
    for i, t in enumerate(["Fe", "Mg", "Na"]):
        assert metrics.window_concentration(d[i], w[t]) > 0.8
        # more of the element: deeper lines, less flux
        assert d[i][w[t]].sum() < 0
    assert inference_highsnr.profile_similarity(d[0], d[0]) == pytest.approx(1.0)


def test_ood_selection_sizes():
    ci, default = config.PROFILES["ci"], config.PROFILES["default"]
    assert inference_highsnr.ood_size(ci) == 300 and inference_highsnr.ood_size(default) == 2000
    assert inference_highsnr.ood_size(default.replace(n_test=None)) == 5000
    sel = inference_highsnr.ood_selection(ci)
    assert sel.max_stars == 300 and not sel.visits and sel.teff_max == 8000.0


def test_figures_draw_the_numbers_they_are_given():
    d = _fake(800, 4)
    table = metrics.bias_scatter_table(d["pred"], d["aspcap"], d["truth"], paper={"teff": 23.6})
    fig = figs.scatter_table(table)
    ax = fig.axes[0]
    assert ax.get_xticklabels()[0].get_text() == "Teff/100"
    assert len(ax.get_xticklabels()) == len(table)
    lines = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines()}
    unit = np.where(table.index == "teff", 100.0, 1.0)
    np.testing.assert_allclose(lines["here: network − truth, synthetic test set"],
                               table["scatter_truth"] / unit)
    paper_label = "paper: network − ASPCAP, real DR14 visits of training stars"   # both samples named
    assert lines[paper_label][0] == pytest.approx(0.236)    # 23.6 K in 100 K
    b1 = inference_highsnr.binned_errors(d["truth"][:, 0], d["pred"], d["truth"], d["sigma"], d["model"],
                                         np.arange(4000, 5501, 500), T)
    b2 = inference_highsnr.binned_errors(d["truth"][:, 1], d["pred"], d["truth"], d["sigma"], d["model"],
                                         np.arange(0.5, 3.6, 1.0), T)
    fig = figs.errors_vs_teff_logg(b1, b2)
    # (teff, logg) x (by Teff, by logg), then each panel's twin axis with the stars per bin (bars)
    assert len(fig.axes) == 8
    teff_by_logg = {ln.get_label(): ln for ln in fig.axes[1].get_lines()}
    np.testing.assert_array_equal(teff_by_logg["median |error|"].get_xdata(), b2.centers)
    np.testing.assert_array_equal(teff_by_logg["median |error|"].get_ydata(), b2.median_abs_error[:, 0])
    np.testing.assert_array_equal(teff_by_logg["mean total uncertainty"].get_ydata(), b2.mean_total[:, 0])
    shown = np.isfinite(b2.median_abs_error[:, 0]) & (b2.count[:, 0] > 0)
    counts = [int(bar.get_height()) for bar in fig.axes[5].patches]      # the twin of axes[1]
    assert counts == [int(n) for n in b2.count[shown, 0]] and sum(counts) <= 800
    fig = figs.abundance_errors(b1, "Teff", "t")
    assert fig.axes[0].get_title() == apogee.TARGET_LATEX[apogee.ABUNDANCES[0]]
    mg = fig.axes[list(apogee.ABUNDANCES).index("Mg")]
    np.testing.assert_array_equal(mg.get_lines()[0].get_ydata(), b1.median_abs_error[:, T.index("Mg")])
    own = inference_highsnr.binned_errors_by_own_label(d["pred"], d["truth"], d["sigma"], d["model"],
                                                       np.arange(-1, 0.6, 0.5))
    fig = figs.abundance_errors(own, "[X/H]", "t")
    fe = fig.axes[list(apogee.ABUNDANCES).index("Fe")]
    np.testing.assert_array_equal(fe.get_lines()[0].get_ydata(), own["Fe"].median_abs_error[:, 0])


def test_noise_budget_adds_label_and_network_errors_in_quadrature():
    import pandas as pd

    rng = np.random.default_rng(5)
    n = 40000
    truth = rng.normal(0, 1, (n, 2))
    labels = truth + rng.normal(0, [0.03, 0.17], (n, 2))        # noisy labels (Fe-like, Co-like)
    pred = truth + rng.normal(0, [0.018, 0.057], (n, 2))         # network error about the truth
    table = metrics.bias_scatter_table(pred, labels, truth, targets=["Fe", "Co"],
                                       paper={"Fe": 0.018, "Co": 0.077})
    b = inference_highsnr.noise_budget(table)
    assert isinstance(b, pd.DataFrame) and list(b.index) == ["Fe", "Co"]
    np.testing.assert_allclose(b["quadrature"] / b["scatter_aspcap"], 1.0, atol=0.03)
    np.testing.assert_allclose(b["labels_vs_truth"], [0.03, 0.17], rtol=0.03)
    # the ratio to the paper is driven by the labels: Co 0.179 / 0.077 ~ 2.3
    assert b.loc["Co", "ratio_to_paper"] == pytest.approx(np.hypot(0.17, 0.057) / 0.077, rel=0.03)
    assert b.loc["Fe", "truth_to_paper"] == pytest.approx(1.0, abs=0.05)


def test_shrinkage_measures_the_pull_to_the_prior():
    rng = np.random.default_rng(6)
    truth = np.c_[rng.uniform(4800, 5500, 2000), rng.uniform(1.0, 3.6, 2000)]
    prior = np.array([5180.0, 2.45])
    pred = prior + 0.25 * (truth - prior) + rng.normal(0, [20, 0.02], (2000, 2))
    mask = np.ones(2000, bool)
    mask[:500] = False
    sh = inference_highsnr.shrinkage(pred, truth, mask)
    assert sh[0]["slope"] == pytest.approx(0.25, abs=0.03)
    assert sh[1]["slope"] == pytest.approx(0.25, abs=0.02)
    assert sh[1]["width_pred"] < 0.35 * sh[1]["width_true"]
    assert inference_highsnr.shrinkage(truth, truth, mask)[1]["slope"] == pytest.approx(1.0)


def test_z_offsets_separate_a_zero_point_from_a_width():
    rng = np.random.default_rng(7)
    n = 20000
    truth = rng.normal(0, 0.2, (n, 2))
    labels = truth + np.array([0.0, 0.05]) + rng.normal(0, 0.15, (n, 2))
    labels[:100, 1] = apogee.MISSING
    sigma = np.full((n, 2), 0.04)
    pred = truth + np.array([0.0, 0.045]) + rng.normal(0, 0.04, (n, 2))   # label's offset learned
    z = (pred - truth) / sigma
    t = inference_highsnr.z_offsets(z, pred, truth, labels, sigma, ["A", "B"])
    assert abs(t.loc["A", "median_z"]) < 0.05
    assert t.loc["B", "median_z"] == pytest.approx(1.1, abs=0.07)
    assert t.loc["B", "labels_bias_truth"] == pytest.approx(0.05, abs=0.005)
    assert t.loc["B", "bias_truth"] == pytest.approx(t.loc["B", "median_sigma"] * t.loc["B", "median_z"],
                                                     rel=0.1)


def test_median_label_error_per_bin():
    x = np.r_[np.full(5, 4100.0), np.full(5, 5400.0)]
    err = np.c_[np.r_[np.full(5, 0.08), np.full(5, 0.35)], np.full(10, 0.02)]
    lab = np.zeros((10, 2))
    lab[0, 0] = apogee.MISSING
    err[1, 0] = 9.0
    out = inference_highsnr.median_label_error(x, lab, err, np.array([4000, 4250, 5250, 5500]))
    assert out.shape == (3, 2)
    assert out[0, 0] == pytest.approx(0.08) and out[2, 0] == pytest.approx(0.35)
    assert np.isnan(out[1]).all() and out[0, 1] == pytest.approx(0.02)


def test_error_budget_reports_the_bias_against_the_labels():
    rng = np.random.default_rng(8)
    n = 3000
    truth = np.c_[np.full(n, 4800.0), rng.uniform(2.0, 3.0, n)]
    rc = np.arange(n) < 1000
    labels = truth + np.c_[np.zeros(n), np.where(rc, 0.05, 0.0)]
    pred = labels + np.c_[np.zeros(n), np.where(rc, 0.06, -0.025)]
    b = inference_highsnr.error_budget(pred, labels, truth, {"rc": rc, "rgb": ~rc})
    assert b.loc["rc", "network bias vs truth"] == pytest.approx(0.11)
    assert b.loc["rc", "labels bias vs truth"] == pytest.approx(0.05)
    assert b.loc["rc", "network bias vs labels"] == pytest.approx(0.06)
    assert b.loc["rgb", "network bias vs labels"] == pytest.approx(-0.025)


def test_reliability_figure_groups_every_label_and_has_a_legend():
    d = _fake(800, 9)
    cal = inference_highsnr.calibration(d, d, T)
    grouped = {t for ts in figs.RELIABILITY_GROUPS.values() for t in ts}
    assert grouped == set(T)
    fig = figs.reliability(cal)
    assert fig.legends and len(fig.legends[0].get_texts()) == len(figs.RELIABILITY_GROUPS) + 1
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 4 and all(len(ax.lines) == len(T) + 1 for ax in shown)
    plt.close(fig)


def test_kiel_diagram_shows_the_dwarfs_and_keeps_the_legend_off_the_axes():
    d = _fake(400, 10)
    logg = d["pred"][:, 1].copy()
    logg[:20] = 4.7
    g = np.linspace(0.5, 3.6, 20)
    fig = figs.kiel_diagram(d["pred"][:, 0], logg, d["pred"][:, 19], [("x", 4500 + 0 * g, g)])
    ax = fig.axes[0]
    assert max(ax.get_ylim()) >= 4.8 and ax.get_legend() is None and fig.legends
    plt.close(fig)
