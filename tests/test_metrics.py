"""Known-answer tests of astronn_paper.analysis.metrics."""
import numpy as np
import pytest
from astropy.stats import mad_std

from astronn_paper import apogee
from astronn_paper.analysis import metrics


def test_residual_stats_known_answer_and_missing_rows():
    ref = np.array([[1.0, 10.0], [2.0, -9999.0], [3.0, 30.0], [4.0, 40.0], [-9999.0, 50.0]])
    pred = ref + np.array([[0.1, 1.0], [0.2, 5.0], [0.3, -1.0], [-0.4, 3.0], [99.0, 1.0]])
    bias, scatter = metrics.residual_stats(pred, ref)
    # label 0: residuals 0.1, 0.2, 0.3, -0.4 (the -9999 row is ignored)
    assert bias[0] == pytest.approx(0.15)
    assert scatter[0] == pytest.approx(mad_std([0.1, 0.2, 0.3, -0.4]))
    # label 1: residuals 1, -1, 3, 1 (the -9999 row is ignored, not the 99 prediction)
    assert bias[1] == pytest.approx(1.0)
    assert scatter[1] == pytest.approx(1.4826 * 0.0 + mad_std([1.0, -1.0, 3.0, 1.0]))
    # 1-d input gives floats
    b, s = metrics.residual_stats(pred[:, 0], ref[:, 0])
    assert np.ndim(b) == 0 and b == pytest.approx(0.15)


def test_residual_stats_gaussian_scatter_and_empty_label():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(20000, 2))
    ref[:, 1] = -9999.0
    pred = ref + rng.normal(0.5, 2.0, size=ref.shape)
    bias, scatter = metrics.residual_stats(pred, ref)
    assert bias[0] == pytest.approx(0.5, abs=0.05)
    assert scatter[0] == pytest.approx(2.0, rel=0.03)
    assert np.isnan(bias[1]) and np.isnan(scatter[1])


def test_bias_scatter_table_columns():
    rng = np.random.default_rng(2)
    n, k = 4000, len(apogee.TARGETS)
    truth = rng.normal(size=(n, k))
    aspcap = truth + rng.normal(0, 0.2, size=(n, k))
    aspcap[:10, 1] = -9999.0
    pred = truth + rng.normal(0, 0.1, size=(n, k))
    paper = {"teff": 23.6, "Fe": 0.018}
    df = metrics.bias_scatter_table(pred, aspcap, truth, paper=paper)
    assert list(df.index) == list(apogee.TARGETS)
    assert df.loc["logg", "n_aspcap"] == n - 10
    assert df["scatter_truth"].between(0.09, 0.11).all()
    assert df["aspcap_scatter_truth"].between(0.18, 0.22).all()
    # network vs ASPCAP: sqrt(0.1^2 + 0.2^2)
    assert df["scatter_aspcap"].between(0.21, 0.24).all()
    assert df.loc["Fe", "paper_scatter"] == 0.018 and np.isnan(df.loc["C", "paper_scatter"])
    assert df.loc["teff", "unit"] == "K"


def test_binned_stat():
    x = np.array([0.5, 1.5, 1.6, 2.5, 3.0, 9.0])
    v = np.array([1.0, 2.0, 4.0, -3.0, 5.0, 100.0])
    b = metrics.binned_stat(x, v, [0, 1, 2, 3], "median")
    np.testing.assert_allclose(b.centers, [0.5, 1.5, 2.5])
    np.testing.assert_allclose(b.stat, [1.0, 3.0, 1.0])  # x == 3 is in the last bin
    np.testing.assert_array_equal(b.count, [1, 2, 2])
    assert metrics.binned_stat(x, v, [0, 1, 2, 3], "abs_median").stat[2] == pytest.approx(4.0)
    assert metrics.binned_stat(x, v, [0, 1, 2, 3], "mean").stat[1] == pytest.approx(3.0)
    two = metrics.binned_stat(x, np.c_[v, np.where(v > 1.5, v, np.nan)], [0, 1, 2, 3, 4])
    assert np.isnan(two.stat[0, 1]) and two.stat[1, 1] == pytest.approx(3.0) and two.stat[3, 0] == 5.0
    with pytest.raises(ValueError):
        metrics.binned_stat(x, v, [0, 1], "mode")


def test_z_scores_and_reliability():
    pred = np.array([1.0, 2.0, 3.0])
    ref = np.array([0.0, -9999.0, 0.0])
    z = metrics.z_scores(pred, ref, sigma=np.array([1.0, 1.0, 4.0]), ref_err=np.array([0.0, 1.0, 3.0]))
    np.testing.assert_allclose(z, [1.0, np.nan, 0.6])
    rng = np.random.default_rng(3)
    zz = rng.normal(size=(50000, 2))
    zz[:, 1] *= 2.0
    k, obs, exp = metrics.reliability_curve(zz, k=[1.0, 2.0])
    np.testing.assert_allclose(exp, [0.6827, 0.9545], atol=1e-4)
    np.testing.assert_allclose(obs[:, 0], exp, atol=0.01)
    assert obs[0, 1] == pytest.approx(0.3829, abs=0.01)  # |z| < 1 with sigma 2
    assert metrics.robust_std(zz)[1] == pytest.approx(2.0, rel=0.03)


def test_fit_calibration_scale_recovers_known_scale():
    rng = np.random.default_rng(4)
    n = 40000
    sigma = rng.uniform(0.02, 0.08, size=(n, 3))       # network's stated uncertainty
    ref_err = rng.uniform(0.01, 0.05, size=(n, 3))     # labels' own errors
    true_scale = np.array([0.5, 1.0, 2.0])             # real network error = s * sigma
    ref = rng.normal(size=(n, 3))
    pred = ref + rng.normal(size=(n, 3)) * np.hypot(true_scale * sigma, ref_err)
    s = metrics.fit_calibration_scale(pred, ref, sigma, ref_err)
    np.testing.assert_allclose(s, true_scale, rtol=0.05)
    z = metrics.z_scores(pred, ref, metrics.calibrated_sigma(sigma, s), ref_err)
    np.testing.assert_allclose(metrics.robust_std(z), 1.0, atol=1e-4)
    # against the truth (no label error) the answer is the raw robust std
    s_truth = metrics.fit_calibration_scale(pred, ref, sigma)
    np.testing.assert_allclose(s_truth, metrics.robust_std(metrics.z_scores(pred, ref, sigma)), rtol=1e-4)


def test_fit_calibration_scale_clips_at_zero():
    rng = np.random.default_rng(5)
    ref = np.zeros(5000)
    ref_err = np.full(5000, 1.0)
    pred = rng.normal(0, 0.5, 5000)  # residuals smaller than the label errors alone
    assert metrics.fit_calibration_scale(pred, ref, np.full(5000, 0.1), ref_err) == 0.0


def test_window_concentration():
    j = np.array([3.0, 4.0, 0.0, 0.0])
    assert metrics.window_concentration(j, [True, False, False, False]) == pytest.approx(9 / 25)
    assert metrics.window_concentration(j, [True, True, False, False]) == pytest.approx(1.0)
    assert np.isnan(metrics.window_concentration(np.zeros(4), [True] * 4))


def test_out_of_box_distance():
    d = metrics.out_of_box_distance([4500, 5800, 4500, 3700, 4500, 5800],
                                    [2.5, 2.5, 4.5, 2.5, 2.5, 4.5],
                                    [0.0, 0.0, 0.0, 0.0, -2.1, 0.0])
    np.testing.assert_allclose(d, [0.0, 1.0, 1.0, 1.0, 2.0, np.sqrt(2.0)])
    assert metrics.in_box([4500, 5600], [2.0, 2.0], [0.0, 0.0]).tolist() == [True, False]


@pytest.fixture(scope="module")
def tiny_bcnn():
    """A small astroNN ApogeeBCNN (128 pixels, 2 labels) trained for one epoch."""
    from astronn_paper import config

    config.set_global_seeds(11)
    config.quiet_tensorflow()
    from astroNN.models import ApogeeBCNN

    rng = np.random.default_rng(0)
    x = (1 + 0.1 * rng.normal(size=(256, 128))).astype(np.float32)
    y = np.c_[x[:, :10].sum(1) * 1000, x[:, 50:60].mean(1)].astype(np.float32)
    m = ApogeeBCNN()
    m.num_hidden, m.num_filters, m.max_epochs, m.batch_size = [8, 4], [2, 4], 1, 64
    m.targetname = ["teff", "Fe"]
    m.fit(x, y, labels_err=np.full_like(y, 0.01))
    return m, x


def _deterministic_prediction(model, x):
    """Denormalised labels from astroNN's prediction graph with every dropout layer off."""
    from astroNN.nn.layers import MCDropout

    drops = [layer for layer in model.keras_model.layers if isinstance(layer, MCDropout)]
    for d in drops:
        d.disable_layer = True
    try:
        xn = model.input_normalizer.normalize({"input": x}, calc=False)["input"]
        out = model.keras_model_predict(xn[..., None].astype(np.float32), training=False).numpy()
    finally:
        for d in drops:
            d.disable_layer = False
    k = len(model.targetname)
    return out[:, :k].astype(np.float64) * model.labels_std["output"] + model.labels_mean["output"]


def test_jacobian_deterministic_and_matches_finite_difference(tiny_bcnn):
    model, x = tiny_bcnn
    j1 = metrics.jacobian(model, x[:6], targets=["teff", "Fe"], reduce=None)
    j2 = metrics.jacobian(model, x[:6], targets=["Fe"], reduce=None, batch_size=4)
    assert j1.shape == (6, 2, 128)
    np.testing.assert_allclose(j1[:, 1], j2[:, 0], rtol=1e-5, atol=1e-12)  # no dropout noise
    # dropout is restored afterwards
    from astroNN.nn.layers import MCDropout
    assert not any(layer.disable_layer for layer in model.keras_model.layers if isinstance(layer, MCDropout))
    # denormalised derivative = finite difference of the (dropout-off) prediction, in label units
    k = int(np.argmax(np.abs(j1[0, 0])))
    h = 1e-2
    xp, xm = x[:1].copy(), x[:1].copy()
    xp[0, k] += h
    xm[0, k] -= h
    fd = (_deterministic_prediction(model, xp) - _deterministic_prediction(model, xm))[0] / (2 * h)
    np.testing.assert_allclose(fd[0], j1[0, 0, k], rtol=0.05)
    med = metrics.jacobian(model, x[:6], targets=["teff", "Fe"])
    np.testing.assert_allclose(med, np.median(j1, axis=0), rtol=1e-5, atol=1e-12)


def _binned_stat_by_hand(x, values, edges, stat, min_count=1):
    """The loop binned_stat used before scipy.stats.binned_statistic, kept as the reference."""
    f = metrics._STATS[stat]
    v = np.asarray(values, float).reshape(len(x), -1)
    nb = len(edges) - 1
    idx = np.digitize(x, edges) - 1
    idx[x == edges[-1]] = nb - 1
    inside = (idx >= 0) & (idx < nb) & np.isfinite(x)
    out, count = np.full((nb, v.shape[1]), np.nan), np.zeros((nb, v.shape[1]), int)
    for b in range(nb):
        rows = v[inside & (idx == b)]
        for k in range(v.shape[1]):
            col = rows[:, k][np.isfinite(rows[:, k])]
            count[b, k] = len(col)
            if len(col) >= max(min_count, 1):
                out[b, k] = f(col)
    return out, count


@pytest.mark.parametrize("stat", sorted(metrics._STATS))
def test_binned_stat_is_bit_identical_to_the_hand_written_loop(stat):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-1, 11, 3000), [0.0, 2.0, 10.0, np.nan]])  # on edges, outside
    v = rng.normal(size=(len(x), 3)) * [1, 100, 0.01]
    v[rng.random(v.shape) < 0.1] = np.nan
    edges = np.array([0.0, 2.0, 3.5, 5.0, 9.0, 9.01, 10.0])
    for min_count in (1, 30):
        got = metrics.binned_stat(x, v, edges, stat, min_count=min_count)
        want, count = _binned_stat_by_hand(x, v, edges, stat, min_count)
        np.testing.assert_array_equal(got.count, count)
        np.testing.assert_array_equal(got.stat, want)          # bit for bit, NaN where too few
    assert np.isnan(metrics.binned_stat(x, np.full(len(x), np.nan), edges, stat).stat).all()
