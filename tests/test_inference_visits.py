"""Visits vs combined precision, star matching, the network comparison table, results JSON."""
import json

import numpy as np
import pytest

from astronn_paper import apogee
from astronn_paper.analysis import inference_bcnn, inference_visits, results


# --------------------------------------------------------------------------- value at SNR
def test_value_at_snr_is_exact_for_a_power_law():
    snr = np.array([15.0, 25.0, 45.0, 55.0, 90.0])
    # photon noise: precision = 1 / SNR -> exactly 0.02 at SNR 50 with log-log interpolation
    assert inference_visits.value_at_snr(snr, 1.0 / snr, 50.0) == pytest.approx(0.02, rel=1e-12)
    # a steeper law and two columns at once
    v = np.stack([1.0 / snr, 3.0 / snr**2], axis=1)
    np.testing.assert_allclose(inference_visits.value_at_snr(snr, v, 30.0), [1 / 30, 3 / 900], rtol=1e-12)


def test_value_at_snr_linear_skips_nan_and_does_not_extrapolate():
    snr = np.array([40.0, 50.0, 60.0, 80.0])
    vals = np.array([4.0, np.nan, 2.0, 1.0])
    assert inference_visits.value_at_snr(snr, vals, 50.0, log=False) == pytest.approx(3.0)
    assert np.isnan(inference_visits.value_at_snr(snr, vals, 30.0))
    assert np.isnan(inference_visits.value_at_snr(snr, vals, 90.0))
    assert np.isnan(inference_visits.value_at_snr(snr, np.full(4, np.nan), 50.0))
    with pytest.raises(ValueError, match="bins"):
        inference_visits.value_at_snr(snr, vals[:3])


# --------------------------------------------------------------------------- precision vs SNR
def _toy(n_stars=60, seed=0):
    """Visits whose prediction differs from the combined one by exactly +-a/SNR."""
    rng = np.random.default_rng(seed)
    k = 3
    combined = rng.normal(0, 0.2, (n_stars, k))
    star = np.repeat(np.arange(n_stars), 4)
    snr = np.tile([12.0, 35.0, 45.0, 150.0], n_stars)
    sign = np.where(np.arange(star.size) % 2 == 0, 1.0, -1.0)
    a = np.array([1.0, 2.0, 0.5])
    visit = combined[star] + sign[:, None] * a[None, :] / snr[:, None]
    total = np.broadcast_to(2 * a / snr[:, None], visit.shape).copy()
    model = 0.5 * total
    truth = combined + 0.01
    return combined, star, snr, visit, total, model, truth, a


def test_precision_vs_snr_known_answers():
    combined, star, snr, visit, total, model, truth, a = _toy()
    edges = [10, 20, 40, 50, 100, 200]
    p = inference_visits.precision_vs_snr(visit, combined, star, snr, total, model, truth=truth, edges=edges,
                                min_count=10, targets=("teff", "logg", "Fe"))
    np.testing.assert_array_equal(p.count, [60, 60, 60, 0, 60])
    np.testing.assert_allclose(p.snr[[0, 1, 2, 4]], [12, 35, 45, 150])
    assert np.isnan(p.snr[3]) and np.isnan(p.vs_combined[3]).all()
    np.testing.assert_allclose(p.vs_combined[0], a / 12)
    np.testing.assert_allclose(p.total[2], 2 * a / 45)
    np.testing.assert_allclose(p.model[2], a / 45)
    # combined - truth is exactly -0.01 for every star
    np.testing.assert_allclose(p.combined_vs_truth[[0, 1, 2, 4]], 0.01)
    # value at SNR 50, interpolated between the 45 and 150 bins: still exactly a / 50
    at = p.at(50.0)
    assert at["vs_combined"]["Fe"] == pytest.approx(a[2] / 50, rel=1e-12)
    assert at["total"]["teff"] == pytest.approx(2 * a[0] / 50, rel=1e-12)
    df = p.table(50.0, paper={"Fe": 0.015})
    assert df.loc["Fe", "paper_vs_combined"] == 0.015 and np.isnan(df.loc["teff", "paper_vs_combined"])


def test_precision_vs_snr_ignores_missing_truth_and_checks_shapes():
    combined, star, snr, visit, total, model, truth, _ = _toy()
    truth[:, 1] = apogee.MISSING
    p = inference_visits.precision_vs_snr(visit, combined, star, snr, total, model, truth=truth,
                                edges=[10, 20, 40], min_count=5, targets=("a", "b", "c"))
    assert np.isnan(p.vs_truth[:, 1]).all() and np.isfinite(p.vs_truth[:, 0]).all()
    with pytest.raises(ValueError, match="total"):
        inference_visits.precision_vs_snr(visit, combined, star, snr, total[:-1], model,
                                          targets=("a", "b", "c"))
    with pytest.raises(ValueError, match="outside"):
        inference_visits.precision_vs_snr(visit, combined[:10], star, snr, total, model,
                                          targets=("a", "b", "c"))


# --------------------------------------------------------------------------- matching
def test_crossmatch_sky_finds_each_visit_star_and_rejects_far_ones():
    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 50), rng.uniform(-60, 60, 50)
    star = rng.integers(0, 50, 200)
    # visits 0.2 arcsec away from their star (well within 1 arcsec), plus one stray
    vra = ra[star] + 0.2 / 3600 / np.cos(np.radians(dec[star]))
    vdec = dec[star].copy()
    vra[7] += 0.5  # 30 arcmin away from its star
    idx, sep = inference_visits.crossmatch_sky(vra, vdec, ra, dec, max_sep_arcsec=1.0)
    ok = np.arange(200) != 7
    np.testing.assert_array_equal(idx[ok], star[ok])
    np.testing.assert_allclose(sep[ok], 0.2, atol=1e-6)
    assert idx[7] == -1 and sep[7] > 60
    # a one-star catalog works too
    i1, s1 = inference_visits.crossmatch_sky([ra[0]], [dec[0]], ra[:1], dec[:1])
    assert i1[0] == 0 and s1[0] == pytest.approx(0, abs=1e-6)


def test_compare_matches_counts_duplicate_stars_as_agreeing():
    ids = np.array(["A", "B", "A", "C"])  # star A listed twice (two fields, same position)
    star_index = np.array([0, 1, 2, 3, 3])
    sky_index = np.array([0, 1, 0, 3, 1])  # visit 2: the other row of A; visit 4: wrong star
    m = inference_visits.compare_matches(star_index, sky_index, np.zeros(5), ids)
    np.testing.assert_array_equal(m.same_row, [1, 1, 0, 1, 0])
    np.testing.assert_array_equal(m.agree, [1, 1, 1, 1, 0])
    s = m.summary()
    assert s["fraction_same_row"] == 0.6 and s["fraction_agree"] == 0.8 and s["n_stars"] == 4


def test_match_by_index_validates():
    np.testing.assert_array_equal(inference_visits.match_by_index(np.array([0, 2, 2]), 3), [0, 2, 2])
    with pytest.raises(ValueError, match="outside"):
        inference_visits.match_by_index(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="integer"):
        inference_visits.match_by_index(np.array([0.0, 1.0]), 3)
    np.testing.assert_array_equal(inference_visits.visits_of_stars([0, 1, 1, 2, 0], [0, 2]), [0, 3, 4])


def test_match_visits_on_a_compiled_file(tmp_path):
    import h5py

    rng = np.random.default_rng(1)
    ra, dec = rng.uniform(0, 360, 5), rng.uniform(-30, 30, 5)
    star = np.array([0, 0, 1, 2, 2, 2, 3, 4])
    path = tmp_path / "toy.h5"
    with h5py.File(path, "w") as f:
        for kind, r, d, extra in (("combined", ra, dec, {}), ("visits", ra[star], dec[star],
                                                            {"star_index": star})):
            g = f.create_group(kind)
            g["spectra"] = np.zeros((len(r), 4), np.float32)
            g["RA"], g["DEC"] = r, d
            g["APOGEE_ID"] = np.array([f"2M{i}" for i in range(len(r))], "S")
            for k, v in extra.items():
                g[k] = v
    m = inference_visits.match_visits(path)
    assert m.same_row.all() and m.summary()["max_sep_arcsec"] < 1e-6
    m2 = inference_visits.match_visits(path, rows=[3, 4, 5])
    np.testing.assert_array_equal(m2.star_index, [2, 2, 2])


# --------------------------------------------------------------------------- tables & results
def test_scatter_table_side_by_side():
    rng = np.random.default_rng(0)
    truth = rng.normal(0, 1, (4000, 2))
    labels = truth + rng.normal(0, 0.1, truth.shape)
    labels[:100, 1] = apogee.MISSING
    a = truth + rng.normal(0, 0.05, truth.shape)
    b = truth + 0.2 + rng.normal(0, 0.2, truth.shape)
    t = inference_bcnn.scatter_table({"A": (a, labels, truth), "B": (b, labels)},
                              paper={"paper B": {"x": 0.3}}, targets=("x", "y"))
    assert t.loc["x", "A scatter vs truth"] == pytest.approx(0.05, rel=0.06)
    assert t.loc["y", "A scatter"] == pytest.approx(np.hypot(0.05, 0.1), rel=0.06)
    assert t.loc["x", "B bias"] == pytest.approx(0.2, abs=0.02)
    assert "B scatter vs truth" not in t and t.loc["x", "paper B"] == 0.3 and np.isnan(t.loc["y", "paper B"])
    s = inference_bcnn.concentration_summary({"Na": 0.2, "P": 0.4, "Fe": 0.9})
    assert s["weak-line (Na, P, V, Co)"] == pytest.approx(0.3) and s["all abundances"] == pytest.approx(0.5)


def test_window_fractions_are_small_for_weak_line_elements():
    f = inference_bcnn.window_fractions()
    assert set(f) == set(apogee.ABUNDANCES)
    assert all(0 < v < 1 for v in f.values())
    assert max(f[t] for t in inference_bcnn.WEAK_LINE_ELEMENTS) < min(f["C"], f["N"], f["O"])


def test_results_roundtrip(data_home):
    p = results.write("Toy", {"a": np.float32(1.5), "b": [np.nan, 2], "c": {1: np.arange(2)}}, "ci")
    assert p.parent.name == "results" and p.parent.parent.name == "ci"
    doc = json.loads(p.read_text())
    assert doc["profile"] == "ci" and doc["results"] == {"a": 1.5, "b": [None, 2], "c": {"1": [0, 1]}}
    assert results.read("Toy", "ci")["a"] == 1.5
    with pytest.raises(FileNotFoundError, match="run the notebook"):
        results.read("Missing", "ci")


# --------------------------------------------------------------------------- figures (smoke)
def test_figures_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from astronn_paper.figures import inference_bcnn as fig_bcnn
    from astronn_paper.figures import inference_visits as fig_visits

    rng = np.random.default_rng(0)
    n = 400
    combined = rng.normal(0, 0.2, (50, 22))
    star = rng.integers(0, 50, n)
    snr = rng.uniform(8, 300, n)
    visit = combined[star] + rng.normal(0, 1, (n, 22)) / snr[:, None]
    tot = np.full((n, 22), 0.03)
    p = inference_visits.precision_vs_snr(visit, combined, star, snr, tot, tot / 2, truth=combined,
                                          min_count=3)
    paper = {"Fe": 0.015, "teff": 19.9}
    figs = [fig_visits.precision_vs_snr(p, paper), fig_visits.precision_at_snr(p.table(paper=paper))]
    table = inference_bcnn.scatter_table({"A": (combined, combined + 0.01)})
    figs.append(fig_bcnn.scatter_comparison(table, {"A scatter": "A"}))
    conc = {"censored": {t: 0.8 for t in apogee.ABUNDANCES}, "bcnn": {t: 0.3 for t in apogee.ABUNDANCES}}
    figs.append(fig_bcnn.jacobian_concentration(conc, inference_bcnn.window_fractions()))
    jac = rng.normal(0, 1, (20, apogee.N_PIX_GAP_DELETED))
    figs.append(fig_bcnn.jacobian_profiles({"censored": jac, "bcnn": jac}, apogee.ABUNDANCES))
    for f in figs:
        f.savefig(tmp_path / "f.png", dpi=40)
    # one panel per target, the paper's value drawn and written in its title (off the curves)
    fe = figs[0].axes[apogee.TARGETS.index("Fe")]
    assert [a.get_title().split("\n")[0] for a in figs[0].axes[:2]] == [
        f"{apogee.TARGET_LATEX['teff']} (K)", f"{apogee.TARGET_LATEX['logg']} (dex)"]
    star = [ln for ln in fe.get_lines() if ln.get_marker() == "*"]
    assert len(star) == 1 and star[0].get_ydata()[0] == 0.015
    assert fe.get_title().endswith("\npaper 0.015") and not fe.texts

    ok = p.count > 0
    np.testing.assert_array_equal(fe.get_lines()[0].get_xdata(), p.snr[ok])
    # the SNR-50 summary: the abundances in order, the paper's Fe where it belongs
    ax = figs[1].axes[0]
    assert len(ax.get_xticklabels()) == len(apogee.ABUNDANCES)
    paper_marks = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines()}[
        "paper: visit − combined, real DR14 visits"]
    assert paper_marks[list(apogee.ABUNDANCES).index("Fe")] == 0.015
    assert "(paper 19.9 K)" in ax.get_title()


def test_paper_precision_is_the_published_snr50_list():
    p = inference_visits.paper_precision()
    assert len(p) == 22 and p["Fe"] == 0.015 and p["teff"] == 19.9 and p["P"] == 0.082
    with pytest.raises(ValueError, match="SNR 50"):
        inference_visits.paper_precision(30)


# --------------------------------------------------------------------------- end to end (fake net)
def test_predict_visits_on_a_compiled_fake_survey(data_home, monkeypatch, tmp_path):
    """Compile a tiny survey, predict with a fake network (prediction = a function of the
    spectrum), and check that every visit is paired with its own star's prediction and labels,
    also for a subset of the stars."""
    import sys
    from pathlib import Path

    from astronn_paper import config, dataset
    from astronn_paper.model import engine, predictions

    sys.path.insert(0, str(Path(__file__).parent))
    from fakesurvey import FakeSource

    class _Pred:
        targetname = list(apogee.TARGETS)

    def fake_predict(model, x, x_err=None, mc=100, seed=None, **kw):
        x = np.asarray(x, np.float64)
        out = _Pred()
        # the mean flux of the line pixels carries the star's line depth: a per-star label
        out.mean = np.repeat(x[:, ::7].mean(axis=1, keepdims=True), 22, axis=1)
        out.total = out.model = out.predictive = np.full_like(out.mean, 0.01)
        return out

    monkeypatch.setattr(engine, "predict", fake_predict)
    monkeypatch.setattr(predictions, "load_model", lambda folder: "fake-model")
    monkeypatch.setattr(predictions, "model_fingerprint", lambda folder: "fakefp")
    folder = tmp_path / "astroNN_fake"
    folder.mkdir()
    sel = dataset.Selection(name="all", teff_min=0, teff_max=1e5, snr_min=0, vscatter_max=10,
                            starflag_zero=False, aspcapflag_zero=False)
    path = tmp_path / "fake.h5"
    dataset.compile_dataset(FakeSource(n=16), sel, path, workers=1, progress=False)
    P = config.get_profile("ci").replace(mc_passes=3)

    full = inference_visits.predict_visits(folder, path, P)
    assert full.match.summary()["fraction_agree"] == 1.0
    np.testing.assert_array_equal(full.star_labels[full.star_index], full.labels)
    # the fake prediction is the spectrum's mean line flux: visit and combined agree to the noise
    diff = np.abs(full.visits["mean"] - full.combined["mean"][full.star_index])
    spread = np.ptp(full.combined["mean"][:, 0])
    assert diff.max() < 0.05 * spread
    assert full.truth is not None and full.visit_truth.shape == full.labels.shape

    sub = inference_visits.predict_visits(folder, path, P, n_stars=5)
    assert len(sub.combined["mean"]) == 5 and sub.match.n < full.match.n
    np.testing.assert_array_equal(sub.star_labels[sub.star_index], sub.labels)
    diff = np.abs(sub.visits["mean"] - sub.combined["mean"][sub.star_index])
    assert diff.max() < 0.05 * spread
    # the subset is seeded: the same stars again
    again = inference_visits.predict_visits(folder, path, P, n_stars=5)
    np.testing.assert_array_equal(again.combined["rows"], sub.combined["rows"])


def test_sigma_vs_snr_tells_a_photon_noise_sigma_from_a_flat_one():
    combined, star, snr, visit, total, model, truth, a = _toy()
    edges = [10, 20, 40, 50, 100, 200]
    p = inference_visits.precision_vs_snr(visit, combined, star, snr, total, model, truth=truth,
                                          edges=edges, min_count=10, targets=("teff", "logg", "Fe"))
    s = inference_visits.sigma_vs_snr(p)  # lowest bin SNR 12, highest 150 (the 50-100 bin is empty)
    assert (s["snr_low"] == 12).all() and (s["snr_high"] == 150).all()
    # sigma = 2a/SNR follows the photon noise: it falls by 150/12 like the visit scatter
    np.testing.assert_allclose(s["sigma_ratio"], 12.5)
    np.testing.assert_allclose(s["vs_combined_ratio"], 12.5)
    # every SNR-12 visit is offset by +a/SNR, every SNR-150 one by -a/SNR; truth = combined + 0.01
    np.testing.assert_allclose(s["err_over_sigma_low"], (a / 12 - 0.01) / (2 * a / 12))
    np.testing.assert_allclose(s["err_over_sigma_high"], (a / 150 + 0.01) / (2 * a / 150))
    # a sigma that ignores the SNR: ratio 1, and the error outgrows it at low SNR
    flat = inference_visits.precision_vs_snr(visit, combined, star, snr, np.full_like(total, 0.02), model,
                                             truth=truth, edges=edges, min_count=10,
                                             targets=("teff", "logg", "Fe"))
    f = inference_visits.sigma_vs_snr(flat)
    np.testing.assert_allclose(f["sigma_ratio"], 1.0)
    np.testing.assert_allclose(f.loc["logg", "err_over_sigma_low"], (2 / 12 - 0.01) / 0.02)
