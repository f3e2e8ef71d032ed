"""The decorrelated population option and the decorrelated-training study's bookkeeping."""
from __future__ import annotations

import numpy as np
import pytest

from astronn_paper import apogee
from astronn_paper.analysis import decorrelated as dec
from astronn_paper.synth import population as popmod

IX = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}


def _toy(n=6000, seed=1):
    """A strongly correlated toy population: log g on a Teff track, every [X/Fe] driven by one
    latent and by [Fe/H]; a few cluster members, hot stars and stars outside the Teff range."""
    rng = np.random.default_rng(seed)
    teff = rng.uniform(3900, 5600, n)
    logg = (teff - 3900) / 500 + rng.normal(0, 0.05, n)
    feh = rng.normal(-0.3, 0.3, n)
    lat = rng.normal(0, 0.1, n)
    xh = feh[:, None] + lat[:, None] * np.linspace(0.5, 1.5, 26)[None, :] - 0.3 * feh[:, None]
    xh[:, IX["Fe"]] = feh
    xh[:, IX["CI"]], xh[:, IX["TiII"]] = xh[:, IX["C"]], xh[:, IX["TI"]]
    kind = np.where(logg > 3.5, 2, 0).astype(np.int8)
    cluster = np.full(n, -1, np.int8)
    cluster[:50] = 3
    kind[50:100] = 3                       # hot stars: never shuffled
    teff[100:150] = 6000.0                 # outside DECORRELATE_TEFF
    alpha = lat.copy()
    return cluster, kind, teff, logg, feh, alpha, xh


def test_decorrelate_labels_breaks_correlations_and_keeps_marginals():
    cluster, kind, teff, logg, feh, alpha, xh = _toy()
    before = [a.copy() for a in (kind, teff, logg, feh, alpha, xh)]
    sel = dec_sel = popmod.decorrelate_labels(np.random.default_rng(0), cluster, kind, teff, logg,
                                              feh, alpha, xh)
    assert len(dec_sel) == 6000 - 150
    untouched = np.setdiff1d(np.arange(6000), sel)
    np.testing.assert_array_equal(untouched, np.arange(150))
    # cluster members, hot stars and out-of-range stars keep every label
    np.testing.assert_array_equal(xh[:150], before[5][:150])
    np.testing.assert_array_equal(logg[:150], before[2][:150])
    # Teff and [Fe/H] are kept, [Fe/H] column too
    np.testing.assert_array_equal(teff, before[1])
    np.testing.assert_array_equal(feh, before[3])
    np.testing.assert_array_equal(xh[:, IX["Fe"]], feh)
    # marginals over the shuffled set are the same values (permutations)
    np.testing.assert_array_equal(np.sort(logg[sel]), np.sort(before[2][sel]))
    for el in ("Mg", "Al", "C", "N"):
        j = IX[el]
        np.testing.assert_allclose(np.sort(xh[sel, j] - feh[sel]),
                                   np.sort(before[5][sel, j] - before[3][sel]), atol=1e-12)
    # log g travels with its kind
    assert np.all((kind[sel] == 2) == (logg[sel] > 3.5))
    # correlations: before ~1, after ~0
    mg, al = xh[sel, IX["Mg"]] - feh[sel], xh[sel, IX["Al"]] - feh[sel]
    assert np.corrcoef(before[5][sel, IX["Mg"]], before[5][sel, IX["Al"]])[0, 1] > 0.9
    assert abs(np.corrcoef(mg, al)[0, 1]) < 0.05
    assert abs(np.corrcoef(al, feh[sel])[0, 1]) < 0.05
    assert np.corrcoef(before[1][sel], before[2][sel])[0, 1] > 0.9
    assert abs(np.corrcoef(teff[sel], logg[sel])[0, 1]) < 0.05
    # duplicates tied, alpha = mean alpha [X/Fe]
    np.testing.assert_array_equal(xh[:, IX["CI"]], xh[:, IX["C"]])
    np.testing.assert_array_equal(xh[:, IX["TiII"]], xh[:, IX["TI"]])
    want = np.mean([xh[sel, IX[e]] - feh[sel] for e in ("O", "Mg", "Si", "S", "Ca", "TI")], axis=0)
    np.testing.assert_allclose(alpha[sel], want)


def test_decorrelate_labels_is_deterministic():
    a, b = _toy(), _toy()
    popmod.decorrelate_labels(np.random.default_rng(5), *a)
    popmod.decorrelate_labels(np.random.default_rng(5), *b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_label_correlations_known_values():
    rng = np.random.default_rng(3)
    n = 20000
    y = np.zeros((n, len(apogee.TARGETS)))
    t = list(apogee.TARGETS)
    y[:, t.index("teff")] = rng.normal(4700, 300, n)
    y[:, t.index("logg")] = (y[:, t.index("teff")] - 4700) / 300 + rng.normal(0, 1, n)  # rho 0.707
    feh = rng.normal(0, 0.3, n)
    for e in apogee.ABUNDANCES:
        y[:, t.index(e)] = feh + rng.normal(0, 0.1, n)
    y[:, t.index("Fe")] = feh
    y[:, t.index("Al")] = y[:, t.index("Mg")]                     # [Al/Fe] == [Mg/Fe]
    y[0, 0] = apogee.MISSING                                       # dropped
    out = dec.label_correlations(y)
    assert out["n"] == n - 1
    assert out["corr_teff_logg"] == pytest.approx(1 / np.sqrt(2), abs=0.02)
    assert out["corr_mgfe_alfe"] == pytest.approx(1.0)
    assert abs(out["corr_alfe_feh"]) < 0.03
    assert out["std_alfe"] == pytest.approx(0.1, abs=0.003)


def _fake_study(self_std, self_dec, scat_std, scat_dec):
    ab = list(apogee.ABUNDANCES)
    sr = lambda v: {200.0: {"self": {**{e: v for e in ab}, "Al": v / 2, "logg": 0.5, "Mg": v},
                            "self_err": {e: 0.01 for e in ab}}}
    sc = lambda v: {"scatter_truth": {**{e: v for e in ab}, "teff": 30.0, "logg": 0.1}}
    return {"models": {"standard": {}, "decorrelated": {}},
            "self_response": {"standard": sr(self_std), "decorrelated": sr(self_dec)},
            "m13": {"al_fe_spread": {"standard": 0.05, "decorrelated": 0.1, "truth": 0.2},
                    "al_fe_spread_recovered": {"standard": 0.25, "decorrelated": 0.5},
                    "rho_mg_al": {"standard": -0.2, "decorrelated": -0.6}},
            "field_precision": {"standard": sc(scat_std), "decorrelated": sc(scat_dec)}}


def test_summarise_and_trade_off_read_the_numbers():
    s = dec.summarise(_fake_study(0.3, 0.7, 0.04, 0.06))
    assert s["standard"]["median_self_response_abundances_snr200"] == pytest.approx(0.3)
    assert s["decorrelated"]["self_response_Al_snr200"] == pytest.approx(0.35)
    assert s["standard"]["n_abundances_within_0.05"] == 20
    assert s["decorrelated"]["n_abundances_within_0.05"] == 0
    assert s["decorrelated"]["m13_al_fe_spread_recovered"] == 0.5
    text = dec.trade_off(s)
    assert "0.30 -> 0.70" in text and "25 % -> 50 %" in text and "1.50x" in text
    assert "recovers more of M13's Al spread" in text and "the price is field precision" in text
    # the other way round: no gain in self-response, no cost in the field
    study = _fake_study(0.5, 0.4, 0.05, 0.04)
    study["m13"]["al_fe_spread_recovered"]["decorrelated"] = 0.2
    text = dec.trade_off(dec.summarise(study))
    assert "did not raise" in text and "recovered less, not more" in text
    assert "field precision is not worse" in text


def test_decorrelated_source_same_survey_other_labels():
    from astronn_paper.dataset import build
    from astronn_paper.synth.source import SyntheticSource

    std, src = SyntheticSource(2019), dec.DecorrelatedSource(2019)
    assert src.fingerprint() != std.fingerprint()
    again = build._open_spec(src.spec())
    assert isinstance(again, dec.DecorrelatedSource) and again.seed == 2019
    a, b = std.allstar(), src.allstar()
    # same rows, positions, SNRs and visits (the same survey), other true labels
    for col in ("APOGEE_ID", "RA", "SNR", "NVISITS", "H"):
        np.testing.assert_array_equal(a[col], b[col])
    pa, pb = std.catalog.population, src.catalog.population
    np.testing.assert_array_equal(pa.teff, pb.teff)
    np.testing.assert_array_equal(pa.feh, pb.feh)
    assert not np.array_equal(pa.logg, pb.logg)
    # clusters are untouched: M13's chemistry is the same in both
    m13 = pa.cluster == [c.name for c in popmod.CLUSTERS].index("M13")
    assert m13.sum() > 0
    np.testing.assert_array_equal(pa.xh[m13], pb.xh[m13])
    # the training selection's true labels: correlated in one, not in the other
    from astronn_paper import dataset

    sel = dec.training_selection("default")
    assert sel.max_stars == 8000 and sel.snr_min == 200.0 and not sel.visits
    ca = dec.label_correlations(std.true_labels(dataset.select(a, sel)))
    cb = dec.label_correlations(src.true_labels(dataset.select(b, sel)))
    assert ca["n"] == cb["n"] == 8000
    assert ca["corr_mgfe_alfe"] > 0.5 and abs(cb["corr_mgfe_alfe"]) < 0.1
    assert ca["corr_teff_logg"] > 0.3 and abs(cb["corr_teff_logg"]) < 0.1
    assert abs(ca["corr_alfe_feh"]) > 0.3 and abs(cb["corr_alfe_feh"]) < 0.1


def test_invalid_spectra_and_clean_training_set(tmp_path):
    from astronn_paper import dataset
    from astronn_paper.dataset import store

    rng = np.random.default_rng(0)
    n, npix = 6, apogee.N_PIX_GAP_DELETED
    x = (1 - 0.3 * rng.random((n, npix))).astype(np.float32)
    xe = np.full((n, npix), 0.01, np.float32)
    x[1, 100] = 17833.0            # a failed normalisation
    xe[3, 5] = -0.9                # a negative error
    x[4, 7] = np.nan
    x[5, 9] = 1.49                 # high but below FLUX_MAX: a star
    np.testing.assert_array_equal(dec.invalid_spectra(x, xe), [False, True, False, True, True, False])
    cols = {"allstar_index": np.arange(10, 10 + n), "APOGEE_ID": np.array([f"2M{i}" for i in range(n)], "S18"),
            "labels": rng.random((n, 22)).astype(np.float32),
            "labels_err": np.full((n, 22), 0.1, np.float32),
            "truth": rng.random((n, 22)).astype(np.float32)}
    src = tmp_path / "in.h5"
    store.write(src, {"combined": cols}, [{"combined/spectra": x, "combined/spectra_err": xe}],
                {"input_fingerprint": "abc"})
    out = dec.clean_training_set(src, tmp_path / "out.h5")
    assert (out["n_in"], out["n_out"]) == (6, 3)
    assert [e["allstar_index"] for e in out["excluded"]] == [11, 13, 14]
    xo, yo, _, _ = dataset.load(tmp_path / "out.h5")
    np.testing.assert_array_equal(xo, x[[0, 2, 5]])
    np.testing.assert_array_equal(yo, cols["labels"][[0, 2, 5]])
    assert dec._excluded(tmp_path / "out.h5")["source_fingerprint"] == store.fingerprint(src)
    assert dataset.info(tmp_path / "out.h5")["input_fingerprint"] == "abc"
