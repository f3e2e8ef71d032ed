"""The high-SNR analysis pieces (astronn_paper.analysis.inference_highsnr) and its figures, on in-memory data."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from astronn_paper import apogee
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
    assert inference_highsnr.ood_size("ci") == 300 and inference_highsnr.ood_size("default") == 2000
    sel = inference_highsnr.ood_selection("ci")
    assert sel.max_stars == 300 and not sel.visits and sel.teff_max == 8000.0


def test_figures_smoke():
    d = _fake(800, 4)
    table = metrics.bias_scatter_table(d["pred"], d["aspcap"], d["truth"], paper={"teff": 23.6})
    figs.scatter_table(table)
    b1 = inference_highsnr.binned_errors(d["truth"][:, 0], d["pred"], d["truth"], d["sigma"], d["model"],
                               np.arange(4000, 5501, 500), T)
    b2 = inference_highsnr.binned_errors(d["truth"][:, 1], d["pred"], d["truth"], d["sigma"], d["model"],
                               np.arange(0.5, 3.6, 1.0), T)
    figs.errors_vs_teff_logg(b1, b2)
    figs.abundance_errors(b1, "Teff", "t")
    figs.abundance_errors(inference_highsnr.binned_errors_by_own_label(d["pred"], d["truth"], d["sigma"], d["model"],
                                                             np.arange(-1, 0.6, 0.5)), "[X/H]", "t")
    g = np.linspace(0.5, 3.6, 20)
    figs.kiel_diagram(d["pred"][:, 0], d["pred"][:, 1], d["pred"][:, 19], [("x", 4500 + 0 * g, g)])
    jac = np.random.default_rng(0).normal(size=(3, apogee.N_PIX_GAP_DELETED))
    figs.jacobian_windows(jac, ["Fe", "Mg", "Na"], jac, concentration={"Fe": 0.5, "Mg": 0.1, "Na": 0.2},
                          similarity={"Fe": 1.0, "Mg": 1.0, "Na": 1.0})
    cal = inference_highsnr.calibration(d, d, T)
    figs.z_histograms(cal)
    figs.reliability(cal)
    figs.calibration_summary(cal.spreads(), T, cal.scale_aspcap)
    dist = np.abs(np.random.default_rng(1).normal(size=800))
    dist[:400] = 0
    ratio, binned = inference_highsnr.ood_ratio(d["sigma"], dist)
    figs.ood_uncertainty(dist, d["sigma"] / d["sigma"].mean(0), np.where(dist > 0, "out", "in"), binned)
    plt.close("all")
