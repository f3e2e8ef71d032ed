"""The whole-survey catalog (FITS layout, resumption, agreement with a direct predict), the
Milky Way gradient fit and The Cannon wrapper."""
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from astronn_paper import apogee, config
from astronn_paper.analysis import cannon, catalog

sys.path.insert(0, str(Path(__file__).parent))
from fakesurvey import FakeSource  # noqa: E402

BAD = {2: "missing_file", 5: "corrupt_fits", 9: "nonfinite", 12: "all_masked"}


# --------------------------------------------------------------------------- a fake network
class _Pred:
    targetname = list(apogee.TARGETS)

    def __init__(self, mean, total, model, predictive):
        self.mean, self.total, self.model, self.predictive = mean, total, model, predictive


def fake_predict(model, x, x_err=None, mc=100, seed=None, batch_size=None, progress=True,
                 deterministic=False, workers=None, start_index=0):
    """Mimics the engine's contract: each spectrum's MC noise depends on (seed, position)."""
    x = np.asarray(x, np.float64)
    base = x[:, ::50].mean(axis=1, keepdims=True) * np.linspace(1, 2, 22)[None, :]
    noise = np.stack([np.random.default_rng([seed, start_index + i]).normal(0, 0.01, 22)
                      for i in range(len(x))])
    mean = base + noise + (mc - 5) * 1e-4
    model_err = np.abs(noise) + 0.01
    pred = np.full_like(mean, 0.05)
    return _Pred(mean, np.hypot(model_err, pred), model_err, pred)


@pytest.fixture
def fake_net(monkeypatch, tmp_path):
    from astronn_paper.model import engine, predictions

    monkeypatch.setattr(engine, "predict", fake_predict)
    monkeypatch.setattr(predictions, "load_model", lambda folder: "fake-model")
    monkeypatch.setattr(predictions, "model_fingerprint", lambda folder: "fakefp")
    folder = tmp_path / "astroNN_fake"
    folder.mkdir()
    return folder


P = config.get_profile("ci").replace(mc_passes=5, n_catalog=None)


# --------------------------------------------------------------------------- rows
def test_stratified_sample_quotas_are_proportional_and_deterministic():
    strata = np.repeat([0, 1, 2, 3], [500, 300, 150, 50])
    a = catalog.stratified_sample(strata, 100, seed=1)
    b = catalog.stratified_sample(strata, 100, seed=1)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 100 and len(np.unique(a)) == 100 and np.all(np.diff(a) > 0)
    np.testing.assert_array_equal(np.bincount(strata[a]), [50, 30, 15, 5])
    assert not np.array_equal(a, catalog.stratified_sample(strata, 100, seed=2))


def test_catalog_rows_whole_survey_and_subset():
    a = FakeSource(n=300, seed=3).allstar().copy()
    a["NVISITS"][[4, 7]] = 0
    every = catalog.catalog_rows(a, P)
    assert len(every) == 298 and 4 not in every
    sub = catalog.catalog_rows(a, P, n=60, seed=0)
    assert len(sub) == 60
    # every field (LOCATION_ID) contributes in proportion
    fields, counts = np.unique(a["LOCATION_ID"][every], return_counts=True)
    got = np.array([(a["LOCATION_ID"][sub] == f).sum() for f in fields])
    assert np.all(np.abs(got - 60 * counts / counts.sum()) <= 1)


# --------------------------------------------------------------------------- the FITS catalog
def test_catalog_fits_layout_skips_and_matches_a_direct_predict(fake_net, tmp_path):
    src = FakeSource(n=20, bad=BAD)
    out = tmp_path / catalog.CATALOG_NAME
    rep = catalog.build_catalog(P, source=src, model_folder=fake_net, out_path=out, chunk_size=6,
                                progress=False)
    assert rep.n_rows == 20 and rep.n_predicted == 16 and rep.n_chunks == 4
    assert rep.skipped == {"missing_file": 1, "corrupt_fits": 1, "nonfinite": 1, "all_masked": 1}

    data = fits.getdata(out)                       # as the original catalog's README reads it
    assert data["astroNN"].shape == (20, 22) and data["astroNN_error"].shape == (20, 22)
    for name in ("APOGEE_ID", "LOCATION_ID", "RA", "DEC", "TELESCOPE", "SNR", "ALLSTAR_INDEX",
                 "astroNN_model_error", "astroNN_predictive_error", "OUTSIDE_TRAINING"):
        assert name in data.columns.names
    assert data["APOGEE_ID"][0] == src.allstar()["APOGEE_ID"][0].decode()
    h = fits.getheader(out, 1)
    units = {h[f"TTYPE{i}"]: h.get(f"TUNIT{i}") for i in range(1, h["TFIELDS"] + 1)}
    assert units["RA"] == "deg" and units["astroNN"] == "K; dex"
    assert [h[f"TARG{i:02d}"] for i in range(1, 23)] == list(apogee.TARGETS)
    assert h["MODELFP"] == "fakefp" and h["PROFILE"] == "ci" and h["MCPASSES"] == 5
    assert "VERSION ASTRONN" in h and "TCOMM8" in h

    bad = np.array(sorted(BAD))
    assert np.all(data["astroNN"][bad] == apogee.MISSING)
    assert np.all(data["astroNN_error"][bad] == apogee.MISSING)
    assert np.all(data["OUTSIDE_TRAINING"][bad] & 128)

    # equal to one direct predict of the same spectra with the catalog's seed, whatever the chunking
    spec, err, good, problems = catalog.read_spectra(src, np.arange(20))
    assert sorted(problems) == list(bad)
    direct = fake_predict(None, spec, err, mc=5, seed=catalog.catalog_seed(P))
    # rows keep their position: predict the good ones at their own positions
    pos = catalog.predict_at(None, spec, np.flatnonzero(good), 5, catalog.catalog_seed(P))
    np.testing.assert_allclose(data["astroNN"][good], pos["mean"], rtol=1e-6)
    first = np.flatnonzero(good)[:2]               # rows 0, 1: before any bad star
    np.testing.assert_allclose(data["astroNN"][first], direct.mean[:2], rtol=1e-6)

    # cached: a second call does not predict again
    again = catalog.build_catalog(P, source=src, model_folder=fake_net, out_path=out, chunk_size=6,
                                  progress=False)
    assert again.cached and again.n_predicted == 16


def test_catalog_resumes_from_the_partial_file(fake_net, tmp_path):
    src = FakeSource(n=20, bad={3: "nonfinite"})
    whole = tmp_path / "whole.fits"
    catalog.build_catalog(P, source=src, model_folder=fake_net, out_path=whole, chunk_size=5,
                          progress=False)
    out = tmp_path / "resumed.fits"
    first = catalog.build_catalog(P, source=src, model_folder=fake_net, out_path=out, chunk_size=5,
                                  progress=False, max_chunks=2)
    assert first.n_predicted == -1 and not out.exists()
    assert Path(first.path).name == "resumed.fits.partial"
    second = catalog.build_catalog(P, source=src, model_folder=fake_net, out_path=out,
                                   chunk_size=5, progress=False)
    assert second.n_chunks_resumed == 2 and second.n_run == 10
    assert not Path(first.path).exists()
    a, b = fits.getdata(whole), fits.getdata(out)
    for col in ("astroNN", "astroNN_error", "ALLSTAR_INDEX", "OUTSIDE_TRAINING"):
        np.testing.assert_array_equal(a[col], b[col])


def test_outside_training_flag_bits():
    lab = np.zeros((4, 22))
    ix = apogee.TARGETS.index
    lab[:, ix("teff")], lab[:, ix("logg")], lab[:, ix("Fe")] = 4800, 2.5, -0.2
    lab[1, ix("teff")] = 6200
    lab[2, ix("Fe")] = -2.5
    lab[3] = apogee.MISSING
    np.testing.assert_array_equal(catalog.outside_training_flag(lab), [0, 1, 4, 128])


def test_an_uncertainty_beyond_float32_is_stored_as_inf_without_a_warning(monkeypatch):
    """A spectrum far from the training set (a 3,200 K M dwarf of the synthetic survey did it)
    gave a predicted uncertainty of 1.3e45: the catalog stores +inf, silently, and keeps the
    other stars and labels exact."""
    import warnings

    from astronn_paper.model import engine

    def huge(model, x, **kw):
        p = fake_predict(model, x, **kw)
        p.predictive[1, 13] = p.total[1, 13] = 1.3e45
        return p

    monkeypatch.setattr(engine, "predict", huge)
    spec = np.ones((3, apogee.N_PIX_GAP_DELETED), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = catalog.predict_at("fake-model", spec, np.array([4, 5, 6]), mc=5, seed=1)
    assert np.isposinf(out["total"][1, 13]) and np.isposinf(out["predictive"][1, 13])
    assert np.isfinite(np.delete(out["total"].ravel(), 1 * 22 + 13)).all()
    ref = fake_predict("fake-model", spec, mc=5, seed=1, start_index=4)
    np.testing.assert_array_equal(out["mean"], ref.mean.astype(np.float32))


# --------------------------------------------------------------------------- the gradient
def test_radial_gradient_recovers_a_known_slope_with_outliers():
    rng = np.random.default_rng(0)
    n = 4000
    R, z = rng.uniform(5, 12, n), rng.uniform(-0.5, 0.5, n)
    feh = 0.05 - 0.06 * (R - 8) - 0.2 * np.abs(z) + rng.normal(0, 0.15, n)
    feh[:200] = rng.uniform(-2, 0.5, 200)          # 5 % outliers
    fit = catalog.radial_gradient(R, feh, z=z)
    assert abs(fit.slope + 0.06) < 3 * fit.slope_err and fit.slope_err < 0.003
    assert abs(fit.intercept - 0.05) < 0.02 and abs(fit.vertical + 0.2) < 0.06


def test_galactic_positions_of_the_sun_direction():
    pos = catalog.galactic_positions([266.405], [-28.936], [1.0], [0.1])   # 1 kpc towards Sgr A*
    assert pos["good"][0] and abs(pos["R"][0] - 7.0) < 0.05
    assert not catalog.galactic_positions([0.0], [0.0], [1.0], [0.5])["good"][0]


# --------------------------------------------------------------------------- The Cannon
def _tiny_cannon_problem(n=260, n_pix=150, seed=1):
    rng = np.random.default_rng(seed)
    labels = ("teff", "logg", "Fe")
    y = np.column_stack([rng.uniform(4000, 5500, n), rng.uniform(1, 3.5, n), rng.uniform(-1, 0.4, n)])
    _, _, tm, _ = cannon._thecannon()
    lv = tm._get_lvec(y, np.array([4750, 2.2, -0.3]), np.array([400, 0.6, 0.35]), derivs=False)
    coef = np.column_stack([np.ones(n_pix), rng.normal(0, 0.02, (n_pix, lv.shape[1] - 1))])
    flux = lv @ coef.T + rng.normal(0, 0.005, (n, n_pix))
    err = np.full_like(flux, 0.005)
    err[::7, ::5] = 1.0                            # pixels masked by the compile step
    return labels, y, flux, err


def test_cannon_recovers_labels_of_a_quadratic_model(tmp_path):
    labels, y, flux, err = _tiny_cannon_problem()
    yy = np.full((len(y), 22), apogee.MISSING)
    yy[:, [apogee.TARGETS.index(t) for t in labels]] = y
    yy[5, apogee.TARGETS.index("logg")] = apogee.MISSING   # left out of training
    fit = cannon.train(flux[:200], err[:200], yy[:200], labels=labels)
    assert fit.n_train == 199
    res = cannon.infer_labels(fit, flux[200:], err[200:])
    d = res.labels - y[200:]
    assert np.all(np.std(d, axis=0) < [10, 0.02, 0.01]) and res.good.all()
    # formal errors in label units, of the size of the actual errors
    ratio = np.std(d, axis=0) / np.median(res.errors, axis=0)
    assert np.all((ratio > 0.5) & (ratio < 2))
    # the catalog file: same layout as the network's, 22 columns, -9999 where not fitted
    path = cannon.write_fits(tmp_path / "cannon_test.fits",
                             {"APOGEE_ID": np.array([f"2M{i}" for i in range(60)]),
                              "LOCATION_ID": np.arange(60), "RA": np.zeros(60), "DEC": np.zeros(60)},
                             res, fit, {"profile": "test"})
    data = fits.getdata(path)
    assert data["Cannon"].shape == (60, 22) and data["Cannon_good"].all()
    assert np.all(data["Cannon"][:, apogee.TARGETS.index("Mg")] == apogee.MISSING)
    np.testing.assert_allclose(data["Cannon"][:, apogee.TARGETS.index("Fe")], res.labels[:, 2], rtol=1e-5)
    # save / load
    again = cannon.CannonFit.load(fit.save(tmp_path / "fit.npz"))
    np.testing.assert_array_equal(again.coeffs, fit.coeffs)


def test_cannon_import_keeps_matplotlib_text_settings():
    import matplotlib

    cannon._thecannon()
    assert matplotlib.rcParams["text.usetex"] is False


def test_compare_table_says_which_scatters_less():
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 1, (500, 2))
    net = truth + rng.normal(0, 0.05, truth.shape)
    can = truth + rng.normal(0, [0.02, 0.2], truth.shape)
    df = cannon.compare(truth, net, can, labels=("Fe", "Mg"))
    assert list(df["better"]) == ["The Cannon", "astroNN"]
    assert abs(df.loc["Fe", "scatter_network"] - 0.05) < 0.008


# --------------------------------------------------------------------------- figures
def test_maps_draw_offline():
    from astronn_paper.figures import catalog as figs

    rng = np.random.default_rng(0)
    n = 3000
    X, Y, z = rng.normal(-8, 2, n), rng.normal(0, 2, n), rng.normal(0, 0.5, n)
    sample = {"X": X, "Y": Y, "z": z, "R": np.hypot(X, Y), "feh": rng.normal(-0.2, 0.2, n),
              "mgfe": rng.normal(0.1, 0.05, n)}
    with figs.no_network():
        fig = figs.face_on_maps(sample)
        assert len(fig.axes) == 4
        fig2 = figs.edge_on_maps(sample)
    import matplotlib.pyplot as plt

    plt.close(fig)
    plt.close(fig2)


def test_edge_on_background_puts_the_galactic_centre_at_the_origin():
    from astronn_paper.figures import catalog as figs

    # at 0.1 kpc per degree, R 4-13 kpc, |z| < 3 kpc is l 40-130 deg, |b| < 30 deg of the
    # 360 x 180 deg Gaia image (6500 x 3250 px): 1625 x 1083 px, subsampled by 2 to 813 x 542
    img, ext = figs.milky_way_edge_on_background((4.0, 13.0, -3.0, 3.0), kpc_per_deg=0.1)
    assert ext[0] == pytest.approx(4.0, abs=0.01) and ext[1] == pytest.approx(13.0, abs=0.01)
    assert ext[2] == pytest.approx(-3.0, abs=0.01) and ext[3] == pytest.approx(3.0, abs=0.01)
    assert img.shape == (542, 813, 3)
    # the disc band (|b| small) is brighter than high latitudes
    mid = img[img.shape[0] // 2 - 5: img.shape[0] // 2 + 5].mean()
    top = img[:20].mean()
    assert mid > 1.5 * top


def test_edge_on_maps_draw_the_background_under_the_cells():
    import matplotlib.pyplot as plt

    from astronn_paper.figures import catalog as figs

    rng = np.random.default_rng(1)
    n = 2000
    R, z = rng.uniform(5, 12, n), rng.normal(0, 0.6, n)
    sample = {"R": R, "z": z, "feh": rng.normal(-0.2, 0.2, n), "mgfe": rng.normal(0.1, 0.05, n)}
    fig = figs.edge_on_maps(sample)
    for ax in fig.axes[:2]:
        assert len(ax.images) == 1 and ax.images[0].get_zorder() < ax.collections[0].get_zorder()
    assert "ESA/Gaia/DPAC" in " ".join(t.get_text() for t in fig.texts)
    plt.close(fig)
    fig = figs.edge_on_maps(sample, background=False)
    assert all(len(ax.images) == 0 for ax in fig.axes[:2])
    plt.close(fig)


def test_accuracy_speed_uses_linear_axes_from_zero_with_values():
    import matplotlib.pyplot as plt
    import pandas as pd

    from astronn_paper.figures import catalog as figs

    table = pd.DataFrame({"scatter_network": [21.0, 0.1, 0.02, 0.04], "scatter_cannon": [23.0, 0.11, 0.03, 0.06]},
                         index=["teff", "logg", "Fe", "Mg"])
    fig = figs.accuracy_speed({"astroNN": 131.9, "The Cannon": 21.5}, table)
    a1, a2 = fig.axes
    assert a1.get_xscale() == "linear" and a1.get_xlim()[0] == 0
    assert a1.get_xlim()[1] >= 131.9
    texts = [t.get_text() for t in a1.texts]
    assert "131.9" in texts and "21.5" in texts
    # accuracy: median over the abundances only (Fe, Mg): 0.03 and 0.045
    assert sorted(t.get_text() for t in a2.texts) == ["0.030", "0.045"]
    plt.close(fig)


def test_cannon_fast_inference_matches_thecannon_curve_fit():
    labels, y, flux, err = _tiny_cannon_problem(n=240, n_pix=200, seed=2)
    fit = cannon.train(flux[:200], err[:200], y[:200], labels=labels)
    a = cannon.infer_labels(fit, flux[200:], err[200:], method="thecannon")
    b = cannon.infer_labels(fit, flux[200:], err[200:], method="fast")
    np.testing.assert_allclose(b.labels, a.labels, atol=1e-4 * fit.scales.max(), rtol=0)
    np.testing.assert_allclose((b.labels - a.labels) / fit.scales, 0, atol=1e-5)
    np.testing.assert_allclose(b.errors, a.errors, rtol=1e-3)
    np.testing.assert_allclose(b.chi2, a.chi2, rtol=1e-6)


#: the shipped, trained censored network (committed with the repository)
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "astroNN_0617_run001"


def test_catalog_values_equal_a_direct_predict_with_the_real_network(tmp_path):
    from astronn_paper.model import engine, predictions

    src = FakeSource(n=7, seed=5)
    out = tmp_path / "cat.fits"
    catalog.build_catalog(P, source=src, model_folder=SHIPPED_MODEL, out_path=out, chunk_size=3,
                          progress=False)
    data = fits.getdata(out)
    spec, err, good, _ = catalog.read_spectra(src, np.arange(7))
    assert good.all()
    direct = engine.predict(predictions.load_model(SHIPPED_MODEL), spec, mc=P.mc_passes,
                           seed=catalog.catalog_seed(P), progress=False)
    np.testing.assert_allclose(data["astroNN"], direct.mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(data["astroNN_error"], direct.total, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(data["astroNN_model_error"], direct.model, rtol=1e-6, atol=1e-6)


def test_gradient_selection_recovers_the_injected_gradient_from_noisy_true_labels():
    """The map selection + fit on the default-profile catalog rows of the synthetic survey,
    fed the true labels plus 0.03 dex noise, recovers the injected thin-disc gradient: what the
    network must match (Done-when: within 0.01 dex/kpc)."""
    from astronn_paper.dataset.sources import open_source
    from astronn_paper.synth import population

    p = config.get_profile("default")
    src = open_source("synthetic", p)
    a = src.allstar()
    rows = catalog.catalog_rows(a, p)
    lab = catalog.true_labels(src, rows)
    lab[:, 1:] += np.random.default_rng(0).normal(0, 0.03, lab[:, 1:].shape)
    table = {"astroNN": lab, "astroNN_error": np.full_like(lab, 0.05),
             "OUTSIDE_TRAINING": catalog.outside_training_flag(lab), "ALLSTAR_INDEX": rows,
             "RA": a["RA"][rows], "DEC": a["DEC"][rows]}
    fit, sel = catalog.measure_gradient(catalog.map_sample(table))
    assert sel.sum() > 2000
    assert abs(fit.slope - population.FEH_RADIAL_GRADIENT) < 0.005


def test_cannon_training_matches_thecannon_per_pixel_regression():
    """Coefficients and intrinsic scatter per pixel agree with TheCannon's own
    ``_do_one_regression`` (which refits at each of 19 scatter values) on pixels with and
    without intrinsic scatter."""
    labels, y, flux, err = _tiny_cannon_problem(n=300, n_pix=12, seed=3)
    err[:] = 0.005
    flux[:, 6:] += np.random.default_rng(4).normal(0, 0.02, (300, 6))   # intrinsic scatter 0.02
    fit = cannon.train(flux, err, y, labels=labels)
    _, _, tm, _ = cannon._thecannon()
    lv = tm._get_lvec(y, fit.pivots, fit.scales, derivs=False)
    ivar = 1 / err**2
    for p in range(12):
        coeff, _, _, _, scatter = tm._do_one_regression(None, flux[:, p], ivar[:, p], lv)
        assert abs(np.log(fit.scatters[p] / scatter)) < (0.05 if p >= 6 else 1.0)
        np.testing.assert_allclose(fit.coeffs[p], coeff, atol=2e-4)
    assert np.all(np.abs(fit.scatters[6:] - 0.02) < 0.003)
