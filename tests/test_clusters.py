"""Cluster benchmark: the pure statistics and the member matching, with known answers."""
import json
import warnings

import numpy as np
import pytest
from astropy.table import Table

from astronn_paper import apogee
from astronn_paper.analysis import clusters, results

M = apogee.MISSING


# --------------------------------------------------------------------------- statistics
def test_spread_is_mad_std_and_ignores_missing():
    # mad_std = 1.482602 * median(|x - median(x)|); here median 2, deviations 1,1,0,2,1 -> MAD 1
    a = np.array([1.0, 3.0, 2.0, 4.0, 1.0])
    assert clusters.spread(a) == pytest.approx(1.482602218505602)
    # -9999 and NaN are dropped, not counted as values
    b = np.r_[a, M, np.nan]
    assert clusters.spread(b) == pytest.approx(1.482602218505602)
    # per column, NaN where fewer than MIN_STARS valid values
    two_col = np.stack([b, [5.0, M, M, M, M, 7.0, np.nan]], axis=1)
    s = clusters.spread(two_col)
    assert s[0] == pytest.approx(1.482602218505602) and np.isnan(s[1])


def test_spread_of_gaussian_sample_estimates_sigma():
    rng = np.random.default_rng(1)
    x = rng.normal(0.1, 0.02, 20000)
    assert clusters.spread(x) == pytest.approx(0.02, rel=0.03)


def test_mean_and_error_of_the_mean():
    a = np.array([[0.1, 1.0], [0.2, M], [0.3, 3.0], [0.4, np.nan]])
    mean, err, n = clusters.mean_and_error(a)
    np.testing.assert_allclose(mean, [0.25, 2.0])
    # sample sd of (0.1..0.4) = 0.1290994, / sqrt(4); of (1, 3) = sqrt(2), / sqrt(2) = 1
    np.testing.assert_allclose(err, [0.12909944487358055 / 2, 1.0])
    np.testing.assert_array_equal(n, [4, 2])
    m1, e1, n1 = clusters.mean_and_error(np.array([0.5, M, M]))
    assert m1 == 0.5 and np.isnan(e1) and n1 == 1


def test_mean_and_error_agrees_with_the_former_nanstd_formula():
    """scipy.stats.sem sums in another order than np.nanstd did: equal to the last bit or two."""
    rng = np.random.default_rng(0)
    a = rng.normal(0.1, 0.05, (37, 20))
    a[rng.random(a.shape) < 0.3] = M
    a[:, 3] = M
    a[1:, 4] = np.nan                                   # one star left: no error
    _, err, n = clusters.mean_and_error(a)
    b = clusters.valid(a)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.nanstd(b, axis=0, ddof=1) / np.sqrt(np.maximum(n, 1))
    want[n < 2] = np.nan
    assert np.isnan(err[3]) and np.isnan(err[4]) and n[4] == 1
    np.testing.assert_allclose(err, want, rtol=1e-14, atol=0)


def _labels(**xh):
    """One star's 22 labels with the given [X/H] (others 0)."""
    y = np.zeros(len(apogee.TARGETS))
    y[0], y[1] = 4500.0, 2.5
    for k, v in xh.items():
        y[apogee.TARGETS.index(k)] = v
    return y


def test_x_over_fe_with_missing_values():
    y = np.stack([_labels(Fe=-1.5, Al=-1.2, Mg=-1.2),   # [Al/Fe] = 0.3, [Mg/Fe] = 0.3
                  _labels(Fe=M, Al=-1.0, Mg=-1.1),       # no [Fe/H]: every [X/Fe] missing
                  _labels(Fe=-1.6, Al=M, Mg=-1.4)])      # no [Al/H]: [Al/Fe] missing only
    xfe = clusters.x_over_fe(y)
    al, mg, fe = (clusters.ELEMENTS.index(e) for e in ("Al", "Mg", "Fe"))
    assert xfe.shape == (3, 20)
    np.testing.assert_allclose(xfe[0, [al, mg, fe]], [0.3, 0.3, -1.5])
    assert np.all(xfe[1] == M)
    assert xfe[2, al] == M
    assert xfe[2, mg] == pytest.approx(0.2) and xfe[2, fe] == pytest.approx(-1.6)
    # errors add in quadrature; Fe keeps its own
    e = np.stack([_labels(Fe=0.03, Al=0.04), _labels(Fe=M, Al=0.04)])
    ee = clusters.x_over_fe_error(e)
    assert ee[0, al] == pytest.approx(0.05) and ee[0, fe] == pytest.approx(0.03)
    assert ee[1, al] == M


def test_anticorrelation_sign_and_missing():
    mg = np.array([0.4, 0.3, 0.2, 0.1, 0.0, M])
    al = np.array([-0.2, 0.0, 0.2, 0.5, 0.9, 0.3])
    rho, n = clusters.anticorrelation(mg, al)
    assert rho == pytest.approx(-1.0) and n == 5
    rho, n = clusters.anticorrelation([1.0, M], [2.0, 3.0])
    assert np.isnan(rho) and n == 1


# --------------------------------------------------------------------------- membership
def _allstar():
    ids = np.array([b"2M00000001+0000001", b"2M00000002+0000002", b"2M00000002+0000002",
                    b"2M00000003+0000003", b"2M00000004+0000004", b"2M00000004+0000004"])
    a = np.zeros(len(ids), dtype=[("APOGEE_ID", "S18"), ("STARFLAG", ">i4"), ("SNR", ">f4")])
    a["APOGEE_ID"] = ids
    a["STARFLAG"] = [0, 0, 0, 4, 0, 1]
    a["SNR"] = [100, 80, 250, 300, 90, 400]
    return a


def test_match_members_picks_unflagged_highest_snr_and_reports_missing():
    a = _allstar()
    members = ["2M00000002+0000002", "2M00000009+0000009", "2M00000003+0000003",
               "2M00000004+0000004", "2M00000001+0000001"]
    idx, status = clusters.match_members(members, a["APOGEE_ID"], a["STARFLAG"], a["SNR"])
    # star 2: two clean rows, SNR 80 and 250 -> row 2; star 4: row 5 has higher SNR but STARFLAG
    np.testing.assert_array_equal(idx, [2, -1, -1, 4, 0])
    assert list(status) == ["ok", "missing", "starflag", "ok", "ok"]


def test_cluster_members_from_a_meszaros_like_table():
    a = _allstar()
    t = Table({"2MASS_ID": ["2M00000001+0000001", "2M00000002+0000002", "2M00000009+0000009",
                            "2M00000003+0000003", "2M00000004+0000004", "2M00000001+0000001"],
               "CLUSTER": ["M67", "M67", "M67", "M13", "M13", "M67"]})
    m = clusters.cluster_members(t, a, clusters=("M67", "M13", "N6819"))
    assert m["M67"].n == 2 and list(m["M67"].allstar_index) == [0, 2]   # duplicate kept once
    assert m["M67"].missing == ("2M00000009+0000009",) and m["M67"].flagged == ()
    assert list(m["M13"].allstar_index) == [4] and m["M13"].flagged == ("2M00000003+0000003",)
    assert m["N6819"].n == 0
    assert "not in allStar" in m["M67"].describe()


def test_no_match_at_all():
    a = _allstar()
    idx, status = clusters.match_members(["2M99999999+9999999"], a["APOGEE_ID"][:0],
                                         a["STARFLAG"][:0])
    assert list(idx) == [-1] and list(status) == ["missing"]


# --------------------------------------------------------------------------- results
def _result(n=30, seed=0):
    """A fake M13 with a known injected Al spread: the censored net keeps it, bcnn shrinks it."""
    rng = np.random.default_rng(seed)
    p = rng.random(n)
    truth = np.zeros((n, 22))
    truth[:, 0], truth[:, 1] = 4500, 1.5
    truth[:, 2:] = -1.55
    truth[:, apogee.TARGETS.index("Al")] += -0.3 + 0.85 * p
    truth[:, apogee.TARGETS.index("Mg")] += 0.07 - 0.15 * p
    cens = truth + rng.normal(0, 0.01, truth.shape)
    bcnn = truth.copy()
    bcnn[:, apogee.TARGETS.index("Al")] = truth[:, apogee.TARGETS.index("Al")].mean()
    bcnn += rng.normal(0, 0.01, truth.shape)
    asp = truth + rng.normal(0, 0.03, truth.shape)
    asp[:3, apogee.TARGETS.index("Na")] = M
    err = np.full_like(truth, 0.02)
    members = clusters.Members("M13", np.array([f"s{i}" for i in range(n)]), np.arange(n))
    return clusters.ClusterResult("M13", members, np.arange(n), members.apogee_id,
                                  {"censored": cens, "bcnn": bcnn, "aspcap": asp, "truth": truth},
                                  {"censored": err, "bcnn": err, "aspcap": err})


def test_cluster_result_table_and_summaries(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTRONN_PAPER_DATA", str(tmp_path))
    r = _result()
    tab = r.table("X/H")
    assert list(tab.index) == list(apogee.ABUNDANCES)
    assert tab.at["Na", "n_aspcap"] == 27 and tab.at["Na", "n_censored"] == 30
    assert tab.at["Fe", "unc_censored"] == pytest.approx(0.02)
    assert tab.at["Fe", "mean_truth"] == pytest.approx(-1.55)
    g = clusters.globular_summary(r)
    uniform_mad_std = 1.482602218505602 * 0.85 / 4      # mad_std of a uniform of width 0.85
    assert g["al_fe_spread"]["truth"] == pytest.approx(uniform_mad_std, rel=0.35)
    assert g["al_fe_spread_recovered"]["censored"] == pytest.approx(1.0, abs=0.1)
    assert g["al_fe_spread_recovered"]["bcnn"] < 0.3
    assert g["rho_mg_al"]["truth"] == pytest.approx(-1.0)
    assert g["rho_mg_al"]["censored"] < -0.8
    h = clusters.homogeneity_summary(r)
    assert h["n_elements_compared"] == 20
    assert h["n_elements_network_below_aspcap"] >= 17   # 0.01 vs 0.03 noise
    path = results.write("Open_Globular_Cluster_Benchmark", clusters.results_json({"M13": r}, "ci"), "ci")
    assert json.loads(path.read_text())["results"]["M13"]["n_members"] == 30


# --------------------------------------------------------------------------- the chain
def _fake_model(folder, offset):
    """A 'model folder' that passes the folder check and feeds the fingerprint (never loaded)."""
    import h5py

    folder.mkdir()
    with h5py.File(folder / "model_weights.h5", "w") as f:
        f.attrs["model_config"] = "{}"
        f.create_dataset("w", data=[offset])
    params = {k: [] for k in ("input", "labels", "input_mean", "input_std", "labels_mean",
                              "labels_std", "targetname")}
    params["id"] = "ApogeeBCNN" if offset else "ApogeeBCNNCensored"
    (folder / "astroNN_model_parameter.json").write_text(json.dumps(params))
    return folder


def test_run_benchmark_matches_reads_predicts_and_caches(tmp_path, monkeypatch):
    """The chain on the fake survey, with a stand-in for the network: a flagged member, a
    missing one and a star with a bad spectrum are reported; the second run reads the cache."""
    from fakesurvey import FakeSource

    from astronn_paper.model import engine

    monkeypatch.setenv("ASTRONN_PAPER_DATA", str(tmp_path / "data"))
    src = FakeSource(n=12, bad={3: "nonfinite"})
    calls = {"predict": 0, "apstar": 0, "load": 0}
    apstar = src.apstar

    def counting_apstar(i):
        calls["apstar"] += 1
        return apstar(i)

    def fake_predict(model, x, x_err=None, mc=100, seed=None, progress=True, **kw):
        calls["predict"] += 1
        n = len(x)
        mean = np.tile(np.median(x, axis=1, keepdims=True), (1, 22)) + model  # depends on spectra
        sd = np.full((n, 22), 0.05)
        return engine.Prediction(mean, sd, sd / 2, sd / 2, apogee.TARGETS)

    monkeypatch.setattr(src, "apstar", counting_apstar)
    monkeypatch.setattr(engine, "predict", fake_predict)
    def fake_load(folder):
        calls["load"] += 1
        return 0.5 if "bcnn" in str(folder) else 0.0

    monkeypatch.setattr(engine, "load_model", fake_load)
    folders = {"censored": _fake_model(tmp_path / "censored", 0), "bcnn": _fake_model(tmp_path / "bcnn", 1)}
    ids = [s.decode() for s in src.allstar()["APOGEE_ID"]]
    table = Table({"2MASS": ids[:8] + ["2M99999999+9999999"] + ids[8:],
                   "Cluster": ["M67"] * 9 + ["N6819"] * 4})

    res = clusters.run_benchmark("ci", src, clusters=("M67", "N6819"), table=table,
                                 model_folders=folders)
    r = res["M67"]
    # rows 0-7: row 5 has STARFLAG != 0, row 3 a NaN flux -> 6 stars predicted
    assert r.members.flagged == (ids[5],) and r.members.missing == ("2M99999999+9999999",)
    assert list(r.allstar_index) == [0, 1, 2, 4, 6, 7]
    assert [s["reason"] for s in r.skipped] == ["nonfinite"] and r.skipped[0]["allstar_index"] == 3
    assert list(res["N6819"].allstar_index) == [8, 9, 10, 11]
    # spectra read once for both networks, each network loaded once for both clusters
    assert calls == {"predict": 4, "apstar": 11, "load": 2}
    np.testing.assert_allclose(r.labels["bcnn"] - r.labels["censored"], 0.5, atol=1e-6)
    np.testing.assert_array_equal(r.labels["truth"], src.true_labels(r.allstar_index))
    fe = apogee.X_H_INDEX["Fe"]
    np.testing.assert_allclose(r.labels["aspcap"][:, apogee.TARGETS.index("Fe")],
                               src.allstar()["X_H"][r.allstar_index, fe], rtol=1e-6)

    again = clusters.run_benchmark("ci", src, clusters=("M67", "N6819"), table=table,
                                   model_folders=folders)
    assert calls == {"predict": 4, "apstar": 11, "load": 2}       # all from the cache
    np.testing.assert_array_equal(again["M67"].labels["censored"], r.labels["censored"])
    assert again["M67"].skipped == r.skipped
    # another member list is another cache entry
    clusters.run_benchmark("ci", src, clusters=("M67",), table=table[:4], model_folders=folders)
    assert calls["predict"] == 6


def test_figures_draw(tmp_path):
    import dataclasses

    import matplotlib

    matplotlib.use("Agg")
    from astronn_paper.figures import clusters as figs

    r = _result()
    fig = figs.homogeneity({"M67": dataclasses.replace(r, cluster="M67")})
    assert "below ASPCAP's for" in fig.axes[0].get_title()
    fig = figs.globular(r)
    assert len(fig.axes) == 3
    # one legend for the three panels, outside the axes (above them), naming every method
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    names = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(names) == 5 and names[-1].startswith("1:1") and any("truth" in n for n in names)
    fig = figs.spread_from_response(0.375, {"censored": (0.088, 0.002)}, {"censored": 0.087})
    assert fig.axes[0].get_xlim()[1] > 0.375          # the injected line is inside the axes


def test_published_meszaros_table_matches(tmp_path, shared_data):
    """The real Meszaros et al. (2013) table, read with the survey package's reader, matched
    against an allStar holding all but one M67 member (and one of them flagged only)."""
    path = shared_data / "meszaros2013_clusters_aj485195t4_mrt.txt"
    table = clusters.members_table(None, path)
    m67 = [str(s).strip() for s, c in zip(table["2MASS"], table["Cluster"]) if c == "M67"]
    assert len(m67) == 24
    a = np.zeros(len(m67) - 1, dtype=[("APOGEE_ID", "S18"), ("STARFLAG", ">i4"), ("SNR", ">f4")])
    a["APOGEE_ID"] = m67[1:]            # the first member is not in this allStar
    a["STARFLAG"][0] = 1 << 3           # the second one is flagged
    m = clusters.cluster_members(table, a, clusters=("M67", "N6819"))["M67"]
    assert m.n == 22 and m.missing == (m67[0],) and m.flagged == (m67[1],)
    assert list(m.allstar_index) == list(range(1, 23))


def test_members_table_sources(tmp_path, monkeypatch):
    class NoTable:
        kind = "mirror"

        def cluster_members(self):
            return None

    monkeypatch.delenv(clusters.MEMBERS_TABLE_ENV, raising=False)
    with pytest.raises(ValueError, match=clusters.MEMBERS_TABLE_ENV):
        clusters.members_table(NoTable())
    f = tmp_path / "members.txt"
    f.write_text("2M08512156+1153144 M67       33.10 4780.0 4780.0 2.80  2.80  0.00  0.00\n")
    monkeypatch.setenv(clusters.MEMBERS_TABLE_ENV, str(f))
    t = clusters.members_table(NoTable())
    assert list(t["2MASS"]) == ["2M08512156+1153144"] and list(t["Cluster"]) == ["M67"]
    monkeypatch.setenv(clusters.MEMBERS_TABLE_ENV, str(tmp_path / "absent.txt"))
    with pytest.raises(FileNotFoundError, match="absent.txt"):
        clusters.members_table(NoTable())


def test_summary_for_reading():
    r = _result()
    s = r.summary("X/Fe")
    assert list(s.columns[:3]) == ["σ network", "unc. network", "σ ASPCAP"]
    assert "σ full-spectrum" in s.columns and "σ full-spectrum" not in r.summary("X/H").columns
    assert s.at["Fe", "mean truth"] == "-1.550" and " ± " in s.at["Fe", "mean network"]


# --------------------------------------------------------------------------- systematic offsets
def _training_set(n=4000, seed=3):
    """Training labels = truth + a known systematic (Ti -0.03, Na +0.04) + noise; [Ti/Fe]
    falls with [Fe/H] (-0.1 per dex) in the population."""
    rng = np.random.default_rng(seed)
    t = np.zeros((n, 22))
    t[:, 0] = rng.uniform(4200, 5200, n)
    feh = rng.uniform(-0.5, 0.5, n)
    t[:, 2:] = feh[:, None]
    t[:, apogee.TARGETS.index("Ti")] = feh - 0.1 * feh
    y = t + rng.normal(0, 0.02, t.shape)
    y[:, apogee.TARGETS.index("Ti")] -= 0.03
    y[:, apogee.TARGETS.index("Na")] += 0.04
    y[:50, apogee.TARGETS.index("Na")] = M          # missing labels are skipped
    return y, t


def test_label_systematics_recovers_the_injected_offsets():
    y, t = _training_set()
    s = clusters.label_systematics(y, t)
    assert list(s) == list(clusters.ELEMENTS)
    assert s["Ti"] == pytest.approx(-0.03, abs=0.003)
    assert s["Na"] == pytest.approx(0.04, abs=0.003)
    assert s["Fe"] == pytest.approx(0.0, abs=0.003)
    # a Teff window keeps only those stars (here: same answer, fewer stars)
    s2 = clusters.label_systematics(y, t, teff_range=(4500, 4700))
    assert s2["Ti"] == pytest.approx(-0.03, abs=0.006)


def test_population_xfe_is_the_labels_trend_at_the_clusters_metallicity():
    y, t = _training_set()
    # at [Fe/H] = +0.3 the population's true [Ti/Fe] is -0.03, its labels' -0.06
    p = clusters.population_xfe(y, t, "Ti", feh=0.3, teff=4700)
    assert p["true_xfe"] == pytest.approx(-0.03, abs=0.005)
    assert p["label_xfe"] == pytest.approx(-0.06, abs=0.006)
    assert 100 < p["n"] < 250          # |d[Fe/H]| <= 0.05 of a 1-dex-wide, 1000 K-wide sample
    assert clusters.population_xfe(y, t, "Ti", feh=2.0, teff=4700)["n"] == 0


def test_mean_offsets_and_their_link_to_the_label_systematics():
    import dataclasses

    y, t = _training_set()
    r = _result()
    # the fake censored network = truth + 0.01 noise; add the training labels' Ti offset
    cens = r.labels["censored"].copy()
    cens[:, apogee.TARGETS.index("Ti")] -= 0.03
    cens[:, apogee.TARGETS.index("Na")] += 0.04
    r = dataclasses.replace(r, cluster="M67", labels={**r.labels, "censored": cens})
    r.labels["truth"][:, 0] = 4600.0
    o = clusters.mean_offsets(r)
    assert o.at["Ti", "offset"] == pytest.approx(-0.03, abs=0.005)
    assert o.at["Ti", "err"] == pytest.approx(0.01 / np.sqrt(30), rel=0.35)
    assert o.at["Ti", "n_sigma"] < -10            # a shared offset is many errors of the mean
    assert abs(o.at["Fe", "n_sigma"]) < 4
    link = clusters.offsets_vs_label_systematics({"M67": r}, y, t)
    assert link["n"] == 20 and link["r"] > 0.95
    assert link["rms_after"] < 0.4 * link["rms_offset"]


def test_injected_chemistry_of_the_synthetic_clusters():
    assert clusters.injected_chemistry("M67") == {"feh": 0.0, "alpha": 0.0}
    assert clusters.injected_chemistry("N6791")["feh"] == pytest.approx(0.35)
    assert clusters.injected_chemistry("nowhere") is None
