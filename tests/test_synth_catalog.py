"""The synthetic DR14 catalog: population, allStar columns, paper cuts, clusters, tables."""
from __future__ import annotations

import re

import numpy as np
import pytest

from astronn_paper import apogee
from astronn_paper.survey import positions
from astronn_paper.survey.meszaros import format_meszaros, read_meszaros
from astronn_paper.synth import catalog as C
from astronn_paper.synth import population as P


@pytest.fixture(scope="module")
def cat():
    return C.cached_catalog(2019)


@pytest.fixture(scope="module")
def cuts(cat):
    return C.paper_cuts(cat.allstar)


def test_allstar_columns_and_dtypes(cat):
    a = cat.allstar
    assert len(a) == apogee.N_ALLSTAR_DR14 == 277_371
    for name in ("APOGEE_ID", "TELESCOPE", "LOCATION_ID", "FIELD", "RA", "DEC", "GLON", "GLAT", "J", "H",
                 "K", "J_ERR", "H_ERR", "K_ERR", "AK_TARG", "SNR", "NVISITS", "STARFLAG", "ASPCAPFLAG",
                 "VSCATTER", "PARAM", "TEFF", "LOGG", "TEFF_ERR", "LOGG_ERR", "M_H", "ALPHA_M", "X_H",
                 "X_H_ERR", "FE_H", "MG_FE"):
        assert name in a.dtype.names, name
    assert a["X_H"].shape == (len(a), 26) and a["X_H_ERR"].shape == (len(a), 26)
    assert a["PARAM"].shape == (len(a), 9)
    assert a.dtype["LOCATION_ID"].newbyteorder("=") == np.dtype("i2")
    assert a.dtype["X_H"].base.newbyteorder("=") == np.dtype("f4") and a.dtype["RA"].itemsize == 8
    # PARAM and the named columns agree; FE_H is X_H[:, 17]
    ok = a["TEFF"] != apogee.MISSING
    assert np.array_equal(a["PARAM"][ok, 0], a["TEFF"][ok])
    assert np.array_equal(a["FE_H"], a["X_H"][:, apogee.X_H_INDEX["Fe"]])
    # elements beyond the 20 targets were not released in DR14
    assert np.all(a["X_H"][:, 20:] == apogee.MISSING)
    # real positions from astroNN's Gaia file
    pos = positions.real_positions()
    assert np.array_equal(a["RA"], pos["ra"]) and np.array_equal(a["DEC"], pos["dec"])


def test_apogee_ids_follow_positions_and_name_one_star(cat):
    a, pop = cat.allstar, cat.population
    ids = a["APOGEE_ID"].astype(str)
    pat = re.compile(r"^2M\d{8}[+-]\d{7}$")
    assert all(pat.match(s) for s in ids[::997])
    # decode the designation and compare with RA/DEC (truncated to 0.01 s / 0.1")
    for i in np.linspace(1, len(a) - 1, 300).astype(int):
        s = ids[i]
        ra = (int(s[2:4]) + int(s[4:6]) / 60 + int(s[6:10]) / 100 / 3600) * 15
        dec = int(s[11:13]) + int(s[13:15]) / 60 + int(s[15:18]) / 10 / 3600
        dec = -dec if s[10] == "-" else dec
        assert abs(ra - a["RA"][i]) * 3600 < 0.2 and abs(dec - a["DEC"][i]) * 3600 < 0.35
    # rows at one position (the same star in two fields) share the ID; distinct stars do not
    assert len(np.unique(ids)) == len(np.unique(pop.star))
    dup = np.flatnonzero(pop.dup_rank > 0)[:50]
    for i in dup:
        j = np.flatnonzero(pop.star == pop.star[i])
        assert len(set(ids[j])) == 1 and len(set(a["LOCATION_ID"][j])) == len(j)
    # one file path per row: (ID, telescope, location/field) unique
    key = np.char.add(np.char.add(a["APOGEE_ID"], a["TELESCOPE"]), a["FIELD"])
    assert len(np.unique(key)) == len(a)
    one_m = a["TELESCOPE"] == b"apo1m"
    assert 0 < one_m.sum() < 0.01 * len(a) and np.all(a["LOCATION_ID"][one_m] == 1)
    assert set(np.unique(a["TELESCOPE"])) == {b"apo25m", b"apo1m"}


def test_paper_cuts_give_the_papers_counts(cat, cuts):
    a = cat.allstar
    n_train, n_test = int(cuts["train"].sum()), int(cuts["test"].sum())
    assert abs(n_train / 33_407 - 1) < 0.2, n_train
    assert abs(n_test / 28_692 - 1) < 0.2, n_test
    # median SNR (paper: 335.5 and 140.9) and visits per star (paper: 2.95 and 3.0)
    assert 280 < np.median(a["SNR"][cuts["train"]]) < 400
    assert 130 < np.median(a["SNR"][cuts["test"]]) < 155
    assert 2.5 < a["NVISITS"][cuts["train"]].mean() < 3.6
    assert 2.5 < a["NVISITS"][cuts["test"]].mean() < 3.6
    # ~3 % of the training stars have no logg (paper: 995 of 33,407)
    frac = np.mean(a["LOGG"][cuts["train"]] == apogee.MISSING)
    assert 0.01 < frac < 0.06


def test_visit_snrs_add_up_and_have_the_papers_median(cat, cuts):
    a = cat.allstar
    test_rows = np.flatnonzero(cuts["test"])[::20]
    vis = []
    for i in test_rows:
        s = C.visit_snr(a["SNR"][i], a["NVISITS"][i], cat.seed, i)
        assert len(s) == a["NVISITS"][i]
        assert np.isclose(np.sqrt(np.sum(s**2)), a["SNR"][i], rtol=1e-5)
        vis.extend(s)
    # paper: 57.2 with SNR_comb ~ 141; SNR^2 = sum(SNRVIS^2) with ~3 visits caps it near 65-70
    assert 50 < np.median(vis) < 75
    assert np.array_equal(C.visit_snr(150.0, 3, 2019, 7), C.visit_snr(150.0, 3, 2019, 7))


def test_flags_and_failures(cat):
    a = cat.allstar
    assert 0.15 < np.mean(a["STARFLAG"] != 0) < 0.6
    assert 0.2 < np.mean(a["ASPCAPFLAG"] != 0) < 0.7
    bad = (a["ASPCAPFLAG"] & (1 << C.ASPCAPFLAG_BITS["STAR_BAD"])) != 0
    assert np.all(a["TEFF"][bad] == apogee.MISSING)
    assert np.all((a["ASPCAPFLAG"][a["SNR"] < 70] & (1 << C.ASPCAPFLAG_BITS["SN_WARN"])) != 0)
    assert np.all(a["VSCATTER"][a["NVISITS"] == 1] == 0)
    # weak-line elements fail more often than strong ones
    giants = (a["TEFF"] > 4000) & (a["TEFF"] < 5200) & (a["SNR"] > 100)
    miss = np.mean(a["X_H"][giants] == apogee.MISSING, axis=0)
    ix = apogee.X_H_INDEX
    assert miss[ix["P"]] > 3 * miss[ix["Fe"]] and miss[ix["Na"]] > 3 * miss[ix["Mg"]]


def test_truth_table_and_measurement_noise(cat, cuts):
    t, a = cat.truth, cat.allstar
    assert t.dtype.names[:24] == ("APOGEE_ID", "LOCATION_ID", *apogee.TARGETS)
    assert np.array_equal(t["APOGEE_ID"], a["APOGEE_ID"])
    assert np.array_equal(t["C1"], t["C"]) and np.array_equal(t["Ti2"], t["Ti"])
    ix = apogee.X_H_INDEX
    tr = cuts["train"]
    resid = {}
    for el in ("Fe", "Mg", "Na", "Co", "C", "C1", "Ti", "Ti2"):
        m = a["X_H"][tr, ix[el]]
        ok = m != apogee.MISSING
        resid[el] = np.std(m[ok] - t[el][tr][ok])
    assert resid["Fe"] < 0.03 and resid["Mg"] < 0.04
    assert resid["Na"] > 2.5 * resid["Fe"] and resid["Co"] > 2.5 * resid["Fe"]
    assert resid["C1"] > resid["C"] and resid["Ti2"] > 1.5 * resid["Ti"]  # separate, noisier
    ok = a["TEFF"][tr] != apogee.MISSING
    assert np.std(a["TEFF"][tr][ok] - t["teff"][tr][ok]) < 60
    # the truth knows what the catalog cannot: in-box flag, component, kind
    assert set(np.unique(t["component"])) == {b"thin", b"thick", b"halo", b"cluster"}
    assert set(np.unique(t["kind"])) == {b"rgb", b"rc", b"dwarf", b"hot"}
    assert 0.5 < t["in_box"].mean() < 0.95


def test_population_structure():
    pop = C.cached_catalog(2019).population
    thin = (pop.component == 0) & (np.abs(pop.z) < 0.2) & (pop.R > 5) & (pop.R < 13)
    slope = np.polyfit(pop.R[thin], pop.feh[thin], 1)[0]
    assert abs(slope - P.FEH_RADIAL_GRADIENT) < 0.015, slope
    # alpha bimodality at fixed [Fe/H]: two sequences with a gap between them
    band = (pop.feh > -0.6) & (pop.feh < -0.3)
    h, edges = np.histogram(pop.alpha[band], bins=np.arange(-0.05, 0.40, 0.025))
    lo_peak, hi_peak = h[edges[:-1] < 0.1].max(), h[edges[:-1] > 0.15].max()
    gap = h[(edges[:-1] >= 0.1) & (edges[:-1] < 0.15)].min()
    assert gap < 0.6 * min(lo_peak, hi_peak)
    # thick disc is vertically extended, halo metal-poor
    assert np.median(np.abs(pop.z[pop.component == 1])) > 1.5 * np.median(np.abs(pop.z[pop.component == 0]))
    assert np.median(pop.feh[pop.component == 2]) < -1.0
    # mixing: upper-RGB giants have lower [C/Fe] and higher [N/Fe] than dwarfs
    ix = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}
    solar = np.abs(pop.feh) < 0.1
    cfe = pop.xh[:, ix["C"]] - pop.feh
    nfe = pop.xh[:, ix["N"]] - pop.feh
    upper = solar & (pop.kind == 0) & (pop.logg < 1.8)
    dwarf = solar & (pop.kind == 2)
    assert np.median(cfe[dwarf]) - np.median(cfe[upper]) > 0.15
    assert np.median(nfe[upper]) - np.median(nfe[dwarf]) > 0.25
    # giants follow a metallicity-dependent track: metal-poor giants are hotter
    g = (pop.kind == 0) & (np.abs(pop.logg - 2.0) < 0.1)
    assert np.median(pop.teff[g & (pop.feh < -1.0)]) > np.median(pop.teff[g & (pop.feh > 0.1)]) + 300
    # stars outside the training box exist: dwarfs, hot and very metal-poor
    assert (pop.teff > 5500).sum() > 10_000 and (pop.feh < -2.0).sum() > 500
    # Rows of one star share their truth
    d = np.flatnonzero(pop.dup_rank == 1)[:100]
    for i in d:
        j = np.flatnonzero(pop.star == pop.star[i])
        assert np.all(pop.teff[j] == pop.teff[i])


def test_determinism_and_seed_dependence():
    p1 = P.build_population(2019)
    p2 = P.build_population(2019)
    assert np.array_equal(p1.teff, p2.teff) and np.array_equal(p1.xh, p2.xh)
    p3 = P.build_population(7)
    assert np.mean(p1.teff != p3.teff) > 0.9
    assert np.array_equal(p1.ra, p3.ra)  # same real positions


def test_clusters(cat):
    pop = cat.population
    tab = C.members_table(cat)
    counts = {name: int((tab["Cluster"] == name).sum()) for name in ("M67", "N6819", "N6791", "M13")}
    # the Meszaros et al. (2013) table: 24, 30, 23, 71
    assert counts == {"M67": 24, "N6819": 30, "N6791": 23, "M13": 70}
    ix = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}
    for k, cl in enumerate(P.CLUSTERS):
        m = (pop.cluster == k) & (pop.dup_rank == 0)
        sep = positions.angular_separation(pop.ra[m], pop.dec[m], cl.ra, cl.dec)
        assert sep.max() < 0.5, cl.name
        assert abs(np.mean(pop.feh[m]) - cl.feh) < 0.02
        if not cl.globular:
            assert np.std(pop.feh[m]) <= 0.02
            assert np.std(pop.xh[m, ix["Mg"]]) <= 0.025
    m13 = (pop.cluster == [c.name for c in P.CLUSTERS].index("M13")) & (pop.dup_rank == 0)
    x = pop.xh[m13] - pop.feh[m13][:, None]
    assert 0.18 < np.std(x[:, ix["Al"]]) < 0.35
    assert np.std(x[:, ix["Mg"]]) < 0.08
    assert np.corrcoef(x[:, ix["Na"]], x[:, ix["O"]])[0, 1] < -0.7
    assert np.corrcoef(x[:, ix["Mg"]], x[:, ix["Al"]])[0, 1] < -0.5
    assert np.std(x[:, ix["N"]]) > 0.2


def test_meszaros_roundtrip(cat, tmp_path):
    text = format_meszaros(C.membership_rows(cat))
    path = tmp_path / "members.txt"
    path.write_text(text)
    tab = read_meszaros(path)
    mem = C.members_table(cat)
    assert len(tab) == len(mem) > 60
    assert list(tab["2MASS"]) == list(mem["2MASS"])
    ids = set(cat.allstar["APOGEE_ID"].astype(str))
    assert set(tab["2MASS"]) <= ids
    assert np.allclose(tab["Hmag"], mem["Hmag"])


def test_meszaros_reader_on_the_real_table(shared_data):
    tab = read_meszaros(shared_data / "meszaros2013_clusters_aj485195t4_mrt.txt")
    assert len(tab) == 559
    assert tab["2MASS"][0] == "2M17162228+4258036" and tab["Cluster"][0] == "M92"
    assert abs(tab["RV"][0] + 118.06) < 1e-6 and abs(tab["Teff"][0] - 5067.8) < 1e-6
    assert abs(tab["e_[M/H]c"][0] - 0.134) < 1e-6
    counts = {c: int((tab["Cluster"] == c).sum()) for c in ("M67", "N6819", "N6791", "M13")}
    assert counts == {"M67": 24, "N6819": 30, "N6791": 23, "M13": 71}
    assert tab["Teff"].unit == "K"
