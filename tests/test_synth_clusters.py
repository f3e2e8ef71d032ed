"""The clusters and the field second-generation stars of the synthetic DR14 population."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from astronn_paper import apogee
from astronn_paper.analysis import clusters
from astronn_paper.survey import positions
from astronn_paper.synth import catalog as C
from astronn_paper.synth import population as P

IX = {e: i for i, e in enumerate(apogee.ASPCAP_ELEMENTS)}
NAMES = [c.name for c in P.CLUSTERS]
#: Members per cluster (of the order of the Meszaros et al. 2013 table).
EXPECTED_MEMBERS = {
    "M67": 24, "N6819": 30, "N6791": 23, "N188": 5, "N2158": 10, "N2420": 9, "N7789": 5,
    "M13": 70, "M92": 48, "M15": 11, "M53": 16, "M2": 19, "M3": 70, "M5": 100, "N5466": 8,
    "N4147": 3, "M107": 18, "M71": 7,
}
GLOBULARS = ("M13", "M92", "M15", "M53", "M2", "M3", "M5", "N5466", "N4147", "M107", "M71")
OPEN = ("M67", "N6819", "N6791", "N188", "N2158", "N2420", "N7789")


@pytest.fixture(scope="module")
def cat():
    return C.cached_catalog(2019)


def members(pop, name):
    """First rows (one per star) of the members of cluster ``name``."""
    return (pop.cluster == NAMES.index(name)) & (pop.dup_rank == 0)


def xfe(pop, el):
    return pop.xh[:, IX[el]] - pop.feh


def test_cluster_list_members_and_placement(cat):
    pop = cat.population
    assert sorted(NAMES) == sorted(EXPECTED_MEMBERS)
    assert NAMES[:4] == ["M67", "N6819", "N6791", "M13"]  # indices of earlier versions
    assert {c.name for c in P.CLUSTERS if c.globular} == set(GLOBULARS)
    tab = C.members_table(cat)
    counts = {n: int((tab["Cluster"] == n).sum()) for n in NAMES}
    assert counts == EXPECTED_MEMBERS
    truth_names = set(np.unique(cat.truth["cluster"]).astype(str)) - {""}
    assert truth_names == set(NAMES)
    for k, cl in enumerate(P.CLUSTERS):
        m = members(pop, cl.name)
        sep = positions.angular_separation(pop.ra[m], pop.dec[m], cl.ra, cl.dec) * 60
        assert sep.max() < 6.0, (cl.name, sep.max())  # arcmin: real DR14 rows at each cluster
        assert abs(np.mean(pop.feh[m]) - cl.feh) < 0.03, cl.name
        assert np.all(pop.component[m] == P.COMPONENTS.index("cluster"))
        # giants over the observed logg range, on the cluster's radial velocity
        giant = pop.kind[m] == 0
        lo, hi = cl.age_like_logg
        assert np.all((pop.logg[m][giant] >= lo) & (pop.logg[m][giant] <= hi)), cl.name
        assert abs(np.median(pop.vhelio[m]) - cl.vhelio) < 3 * cl.vdisp + 1, cl.name
    # brighter members sit higher on the giant branch (M5: 100 stars)
    m = members(pop, "M5") & (pop.gmag > 0)
    assert spearmanr(pop.gmag[m], pop.logg[m])[0] > 0.8


def test_printed_names_and_injected_spread():
    for name in NAMES:
        assert name in clusters.CLUSTER_NAMES
    assert clusters.CLUSTER_NAMES["N5466"] == "NGC 5466"
    assert clusters.CLUSTER_NAMES["N188"] == "NGC 188" and clusters.CLUSTER_NAMES["M107"] == "M107"
    assert clusters.BENCHMARK_CLUSTERS == ("M67", "N6819", "N6791", "M13")
    assert clusters.injected_spread("M67") == pytest.approx(0.015)
    assert clusters.injected_spread("N7789") == pytest.approx(0.015)
    assert clusters.injected_spread("M92") == pytest.approx(0.02)
    assert clusters.injected_spread("Pleiades") is None


def test_open_clusters_are_homogeneous(cat):
    pop = cat.population
    # C and N change along the giant branch (dredge-up, extra mixing): not birth abundances
    elements = [e for e in apogee.ASPCAP_ELEMENTS if e not in ("C", "CI", "N", "TiII")]
    for name in OPEN:
        m = members(pop, name)
        cl = P.CLUSTERS[NAMES.index(name)]
        assert cl.spread <= 0.02 and cl.mp_amplitude == 0 and not cl.globular
        assert np.all(pop.pollution[m] == 0)
        x = pop.xh[m][:, [IX[e] for e in elements]]
        pooled = np.sqrt(np.sum((x - x.mean(axis=0)) ** 2) / (x.size - x.shape[1]))
        assert pooled <= 0.02, (name, pooled)
        assert np.std(pop.feh[m], ddof=1) <= 0.02 + 0.01 * (m.sum() < 10), name
        assert np.std(xfe(pop, "Al")[m], ddof=1) <= 0.03, name


def test_globular_mg_al_anticorrelation(cat):
    pop = cat.population
    for name in ("M13", "M92"):
        m = members(pop, name)
        assert spearmanr(xfe(pop, "Mg")[m], xfe(pop, "Al")[m])[0] < -0.5, name
        assert spearmanr(xfe(pop, "Na")[m], xfe(pop, "O")[m])[0] < -0.7, name
        assert spearmanr(xfe(pop, "N")[m], xfe(pop, "Al")[m])[0] > 0.5, name
        assert np.std(xfe(pop, "N")[m]) > 0.2, name
        assert np.all((pop.pollution[m] >= 0) & (pop.pollution[m] <= 1))


def test_al_spread_ordering(cat):
    pop = cat.population
    s_al = {n: np.std(xfe(pop, "Al")[members(pop, n)], ddof=1) for n in GLOBULARS}
    s_mg = {n: np.std(xfe(pop, "Mg")[members(pop, n)], ddof=1) for n in GLOBULARS}
    assert s_al["M13"] > 2 * s_al["M71"]
    for n in ("M13", "M92", "M15", "M2", "M53", "M3", "M5"):  # massive, metal-poor
        assert 0.12 < s_al[n] < 0.32, (n, s_al[n])
    for n in ("M107", "M71"):  # metal-rich: small spreads
        assert s_al[n] < 0.1, (n, s_al[n])
    # Mg depletion strongest in the most metal-poor massive clusters
    assert min(s_mg["M92"], s_mg["M15"], s_mg["M13"]) > max(s_mg["M3"], s_mg["M5"], s_mg["M107"])


def test_field_second_generation_fraction(cat):
    pop = cat.population
    giant = (pop.kind <= 1) & (pop.cluster < 0) & (pop.dup_rank == 0)
    sg = pop.pollution > 0
    halo = giant & (pop.component == P.COMPONENTS.index("halo"))
    thick = giant & (pop.component == P.COMPONENTS.index("thick")) & (pop.feh < P.FIELD_SG_THICK_FEH)
    for sel, key in ((halo, "halo"), (thick, "thick")):
        frac = np.mean(sg[sel])
        assert abs(frac / P.FIELD_SG_FRACTION[key] - 1) < 0.3, (key, frac, sel.sum())
        # the pattern: N-, Al-, Na-rich, O-, C-, Mg-poor relative to the same component
        for el, sign in (("N", 1), ("Al", 1), ("Na", 1), ("O", -1), ("C", -1), ("Mg", -1)):
            d = np.median(xfe(pop, el)[sel & sg]) - np.median(xfe(pop, el)[sel & ~sg])
            assert sign * d > (0.02 if el == "Mg" else 0.1), (key, el, d)
    field = (pop.cluster < 0)
    other = field & ~((pop.component == 2) | ((pop.component == 1) & (pop.feh < P.FIELD_SG_THICK_FEH)))
    assert not np.any(sg[other])
    p = pop.pollution[field & sg]
    assert p.min() >= P.FIELD_SG_POLLUTION[0] and p.max() <= P.FIELD_SG_POLLUTION[1]
    assert np.array_equal(cat.truth["pollution"], pop.pollution.astype(np.float32))


def test_training_cuts_hold_second_generation_metal_poor_giants(cat):
    pop, a = cat.population, cat.allstar
    train = C.paper_cuts(a)["train"]
    gc = np.isin(pop.cluster, [NAMES.index(n) for n in GLOBULARS])
    assert (train & gc).sum() >= 30
    rich = train & (pop.feh < -1) & (xfe(pop, "Al") > 0.4)
    assert rich.sum() >= 20
    assert np.mean(pop.pollution[rich] > 0) > 0.9   # nearly all second-generation stars


def test_field_second_generation_has_its_own_stream(monkeypatch):
    """Switching the field second-generation stars off changes nothing but their abundances."""
    ref = C.cached_catalog(2019).population
    monkeypatch.setattr(P, "FIELD_SG_FRACTION", {"halo": 0.0, "thick": 0.0})
    off = P.build_population(2019)
    assert np.all(off.pollution[ref.cluster < 0] == 0)
    for name in ("teff", "logg", "feh", "alpha", "dist", "component", "kind", "cluster", "hmag",
                 "vhelio", "ak"):
        assert np.array_equal(getattr(ref, name), getattr(off, name)), name
    changed = np.any(ref.xh != off.xh, axis=1)
    assert np.array_equal(changed, (ref.pollution > 0) & (ref.cluster < 0))


def test_pollution_shifts():
    p = np.array([0.0, 1.0])
    d = P.pollution_shifts(p, amplitude=0.5, mg_depletion=2.0)
    for el, (a, b) in P.MP_PATTERN.items():
        k = 0.5 * (2.0 if el in ("Mg", "Si") else 1.0)
        assert d[el] == pytest.approx(k * np.array([a, a + b]))
    f = P.pollution_shifts(p, field=True)
    assert all(f[el][0] == 0 for el in f)
    assert f["Al"][1] > 0.5 and f["N"][1] > 0.5 and f["O"][1] < 0 and f["Mg"][1] < 0
