"""The element response test (analysis.response): exact on a known linear model, same noise and
same dropout masks for the perturbed and unperturbed star, the CSV layout and the CLI."""
from pathlib import Path

import numpy as np
import pytest

from astronn_paper import apogee
from astronn_paper.analysis import response

T = list(apogee.TARGETS)
ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "astroNN_0617_run001"


class LinearForward:
    """A fake forward model: the "spectrum" is a fixed linear map of the labels plus noise that
    depends only on the star (so it is the same draw for every direction of that star)."""

    def __init__(self, n_pix=64, seed=1):
        rng = np.random.default_rng(seed)
        self.A = rng.normal(size=(len(T), n_pix))
        self.n_pix = n_pix

    def render(self, labels, rows):
        return labels @ self.A

    def observe(self, intrinsic, labels, rows, snr):
        idx = np.arange(rows.start, rows.stop)
        noise = np.stack([np.random.default_rng(100 + i).normal(size=self.n_pix) for i in idx])
        return intrinsic + noise * 50.0 / snr, np.ones_like(intrinsic), np.ones(len(idx), bool)


def labels_of(n, seed=3):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(4100, 5400, n), rng.uniform(0.5, 3.5, n),
                            rng.normal(-0.2, 0.3, (n, len(T) - 2))])


def linear_model(forward, M):
    """Predictions that are the known linear map M (22 x 22) of the true labels, computed from
    the spectra alone (linear in the spectrum)."""
    back = np.linalg.pinv(forward.A) @ M.T

    def predict(spec, err, start):
        return spec @ back
    return predict


def test_linear_model_gives_back_its_matrix_exactly():
    fwd = LinearForward()
    M = np.random.default_rng(7).normal(0.0, 0.5, (len(T), len(T)))
    M[0] *= 300.0   # Teff output in K per unit label
    res = response.run(linear_model(fwd, M), fwd, labels_of(23), snrs=[200, 50], batch=7, n_boot=50)
    assert [r.snr for r in res] == [200.0, 50.0]
    for r in res:
        assert r.changed[:22] == tuple(T) and r.outputs == tuple(T) and r.n_good == 23
        np.testing.assert_allclose(r.matrix[:, :22], M, rtol=1e-7, atol=1e-7)
        ab = [T.index(t) for t in apogee.ABUNDANCES]
        np.testing.assert_allclose(r.matrix[:, r.changed.index(response.POPULATION)], M[:, ab].sum(axis=1),
                                   rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(r.matrix[:, r.changed.index("C+C1")], M[:, 2] + M[:, 3], rtol=1e-7, atol=1e-7)
        assert np.nanmax(r.error) < 1e-6      # every star has the same ratio
    # the table: 22 outputs x 25 directions per SNR, R and R_per_step consistent with the steps
    table = response.to_frame(res)
    assert list(table.columns) == list(response.COLUMNS) and len(table) == 2 * 22 * 25
    R, _, outputs, _ = response.matrix(table, 50, per_step=False, changed=T)
    assert outputs == T
    np.testing.assert_allclose(R, M, rtol=1e-5, atol=1e-5)
    Rs, _, _, _ = response.matrix(table, 50, per_step=True, changed=T)
    assert Rs[0, T.index("Fe")] == pytest.approx(M[0, T.index("Fe")] * 0.1 / 50.0, rel=1e-5)
    sr = response.self_response(table, 200)
    np.testing.assert_allclose(sr["self"].to_numpy(), np.diag(M), rtol=1e-5, atol=1e-5)
    assert sr.loc["Ti", "element"] == pytest.approx(M[T.index("Ti"), T.index("Ti")] + M[T.index("Ti"), T.index("Ti2")], rel=1e-5)
    with pytest.raises(ValueError, match="no SNR 100"):
        response.matrix(table, 100)


def test_star_to_star_response_median_and_bootstrap():
    """A model whose gain differs from star to star: R is the median of the per-star ratios."""
    fwd = LinearForward()
    labels = labels_of(41)
    gain = np.linspace(0.1, 0.9, 41)          # star-dependent self-response of Fe
    fe = T.index("Fe")

    def predict(spec, err, start):
        lab = spec @ np.linalg.pinv(fwd.A)     # the labels (plus the star's fixed noise)
        out = lab.copy()
        g = gain[start:start + len(spec)]
        out[:, fe] = g * lab[:, fe] + (1 - g) * lab[:, T.index("Mg")]
        return out
    (r,) = response.run(predict, fwd, labels, snrs=[100], batch=10, n_boot=400, seed=5)
    assert r.matrix[fe, fe] == pytest.approx(np.median(gain), rel=1e-6)
    assert r.matrix[fe, T.index("Mg")] == pytest.approx(np.median(1 - gain), rel=1e-6)
    # bootstrap error of the median of a uniform spread of width 0.8 over 41 stars: ~0.06
    assert 0.03 < r.error[fe, fe] < 0.12
    assert r.error[T.index("Mg"), T.index("Mg")] < 1e-6


def test_bootstrap_ignores_nan_stars_and_is_seeded():
    x = np.arange(11, dtype=float)[:, None]
    x[3] = np.nan
    med, err = response.bootstrap_median(x, n_boot=200, seed=1)
    assert med[0] == pytest.approx(np.nanmedian(x))
    assert err[0] > 0
    assert response.bootstrap_median(x, n_boot=200, seed=1)[1][0] == err[0]


def test_bad_inputs_give_clear_errors():
    fwd = LinearForward()
    with pytest.raises(ValueError, match="TARGETS order"):
        response.run(lambda s, e, a: s, fwd, np.zeros((3, 5)), snrs=[100])
    with pytest.raises(ValueError, match="positive"):
        response.run(lambda s, e, a: s, fwd, labels_of(3), snrs=[0])
    with pytest.raises(ValueError, match="predict returned shape"):
        response.run(lambda s, e, a: s[:, :3], fwd, labels_of(3), snrs=[100])


def test_predicted_spread():
    assert response.predicted_spread(0.25, 0.02, 0.2) == pytest.approx((0.05, 0.004))


# ------------------------------------------------------------------ the synthetic survey
@pytest.fixture(scope="module")
def survey():
    from astronn_paper.synth.source import SyntheticSource

    src = SyntheticSource(seed=2019, cache_spectra=0)
    return src, response.select_stars(src, 3, seed=11)


def test_select_stars_are_in_box_giants(survey):
    from astronn_paper.analysis import metrics

    src, stars = survey
    pop = src.catalog.population
    assert len(stars) == 3 and len(set(stars.index)) == 3
    assert metrics.in_box(pop.teff[stars.index], pop.logg[stars.index], pop.feh[stars.index]).all()
    assert np.isin(pop.kind[stars.index], [0, 1]).all()
    np.testing.assert_array_equal(stars.labels[:, 2:], pop.xh20[stars.index])
    np.testing.assert_array_equal(response.select_stars(src, 3, seed=11).index, stars.index)


def test_survey_forward_is_the_sources_observation_and_shares_the_noise(survey):
    src, stars = survey
    fwd = response.SurveyForward(src, stars)
    rows = slice(0, 2)
    base = stars.labels[rows]
    intr = fwd.render(base, rows)
    # unperturbed, at the catalog SNR: exactly the source's apStar combined spectrum
    f, e, m = fwd.apstar_arrays(intr, base, rows, None)
    for k, i in enumerate(stars.index[rows]):
        ff, ee, mm = src.apstar(int(i)).combined()
        np.testing.assert_array_equal(f[k], ff)
        np.testing.assert_array_equal(e[k], ee)
        np.testing.assert_array_equal(m[k], mm)
    # +0.1 dex of Al: the normalised spectra differ far less than the noise outside Al's lines
    pert = base.copy()
    pert[:, T.index("Al")] += 0.1
    s0, _, ok0 = fwd.observe(intr, base, rows, 50.0)
    s1, _, ok1 = fwd.observe(fwd.render(pert, rows), pert, rows, 50.0)
    assert ok0.all() and ok1.all()
    d = np.abs(s1 - s0)
    out = ~apogee.aspcap_windows()["Al"]
    assert np.median(d[:, out]) < 0.05 / 50.0      # a fresh noise draw would give ~0.7/50
    assert d[:, ~out].max() > 0.01                 # while the Al lines do change


def test_vmicro_follows_the_surveys_relation_only_when_log_g_changes(survey):
    src, stars = survey
    rows = slice(0, 2)
    base = stars.labels[rows]
    rel, fixed = response.SurveyForward(src, stars), response.SurveyForward(src, stars, "fixed")
    np.testing.assert_array_equal(rel.render(base, rows), fixed.render(base, rows))
    up = base.copy()
    up[:, 1] += 0.1
    d = rel.render(up, rows) - fixed.render(up, rows)
    assert np.abs(d).max() > 1e-3       # lower vmicro at higher log g: weaker saturated lines
    with pytest.raises(ValueError, match="vmicro"):
        response.SurveyForward(src, stars, "free")


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="no shipped model folder")
def test_engine_uses_the_same_dropout_masks_for_every_direction(survey):
    src, stars = survey
    zero = response.Direction("nothing", np.zeros(len(T)), 1.0)
    fe = response.Direction("Fe", np.eye(len(T))[T.index("Fe")] * 0.1, 0.1)
    predict = response.engine_predictor(SHIPPED, mc=5, seed=3)
    (r,) = response.run(predict, response.SurveyForward(src, stars), stars.labels, [150],
                        dirs=[zero, fe], n_boot=20)
    assert np.all(r.ratios[:, :, 0] == 0.0)        # identical spectra and masks: exactly no change
    assert np.all(np.isfinite(r.ratios)) and np.abs(r.matrix[:, 1]).max() > 0


# ------------------------------------------------------------------ CLI
def test_cli_rejects_bad_arguments(capsys, tmp_path):
    from astronn_paper import cli

    assert cli.main(["response", "--stars", "0"]) == 2
    assert "--stars must be at least 1" in capsys.readouterr().err
    assert cli.main(["response", "--snr", "-5"]) == 2
    assert "--snr" in capsys.readouterr().err
    assert cli.main(["response", "--out", str(tmp_path / "x.txt")]) == 2
    assert ".csv" in capsys.readouterr().err
    assert cli.main(["response", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "nope" in err and len(err.splitlines()) == 1


def test_spread_through_a_known_response():
    """Stars differing only in Al (and Mg): with R = 0.25 on Al and no leakage the [Al/Fe]
    spread shrinks to 0.25 of the true one; leakage of Mg into Al adds to it."""
    from astronn_paper.analysis import clusters

    fwd = LinearForward()
    al, mg = T.index("Al"), T.index("Mg")
    M = np.eye(len(T))
    M[al, al] = 0.25
    (r,) = response.to_frame(response.run(linear_model(fwd, M), fwd, labels_of(5), [100], n_boot=10)),
    truth = np.tile(labels_of(1), (30, 1))
    truth[:, al] += np.random.default_rng(2).normal(0, 0.2, 30)
    true_spread = clusters.spread(truth[:, al])
    v, e = response.spread_through_response(r, 100, truth, "Al", n_draw=20)
    assert v == pytest.approx(0.25 * true_spread, rel=1e-4) and e < 1e-4
    M[al, mg] = 0.5
    (r2,) = response.to_frame(response.run(linear_model(fwd, M), fwd, labels_of(5), [100], n_boot=10)),
    truth[:, mg] -= truth[:, al] - truth[:, al].mean()       # Mg-Al anticorrelation
    v2, _ = response.spread_through_response(r2, 100, truth, "Al", n_draw=5)
    assert v2 == pytest.approx(abs(0.25 - 0.5) * true_spread, rel=1e-4)


def _bootstrap_median_by_hand(r, n_boot, seed, chunk=50):
    """The loop bootstrap_median used before scipy.stats.bootstrap, kept as the reference."""
    median = np.nanmedian if np.isnan(r).any() else np.median
    rng = np.random.default_rng(seed)
    meds = [median(r[rng.integers(0, len(r), size=(min(chunk, n_boot - a), len(r)))], axis=1)
            for a in range(0, n_boot, chunk)]
    return median(r, axis=0), np.concatenate(meds).std(axis=0, ddof=1)


@pytest.mark.parametrize("with_nan", [False, True])
def test_bootstrap_median_draws_what_the_hand_written_loop_drew(with_nan):
    rng = np.random.default_rng(5)
    r = rng.normal(size=(57, 22, 4))
    if with_nan:
        r[rng.random(r.shape) < 0.05] = np.nan
    for n_boot in (120, 200):                    # a last chunk shorter than the others, and not
        med, err = response.bootstrap_median(r, n_boot=n_boot, seed=9)
        want_med, want_err = _bootstrap_median_by_hand(r, n_boot, 9)
        np.testing.assert_array_equal(med, want_med)
        np.testing.assert_allclose(err, want_err, rtol=1e-12, atol=0)   # same resamples
