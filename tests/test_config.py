import numpy as np
import pytest

from astronn_paper import apogee, config


def test_profiles_are_ordered_in_size():
    ci, default, paper = (config.PROFILES[n] for n in ("ci", "default", "paper"))
    assert ci.n_train < default.n_train and paper.n_train is None
    assert ci.epochs < default.epochs == paper.epochs == 60
    assert default.mc_passes == paper.mc_passes == 100
    assert default.batch_size == 64
    assert default.small_data_fractions == (0.5, 0.25, 0.125, 0.0625, 0.03125)


def test_profile_resolution_order(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    assert config.get_profile().name == "default"
    monkeypatch.setenv(config.PROFILE_ENV, "ci")
    assert config.get_profile().name == "ci"
    assert config.get_profile("paper").name == "paper"  # explicit beats environment
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        config.get_profile("huge")


def test_paths_follow_profile_and_env(data_home):
    assert config.datasets_dir("ci") == data_home / "ci" / "datasets"
    assert config.datasets_dir("ci").is_dir()
    assert config.figs_dir("ci") == data_home / "ci" / "figs"
    assert config.figs_dir("default") == config.repo_root() / "figs"


def test_seeds_are_stable_and_distinct():
    a = config.seed_for("train:censored", "default")
    assert a == config.seed_for("train:censored", "default")
    assert a != config.seed_for("train:bcnn", "default")
    assert a != config.seed_for("train:censored", "ci")
    assert 0 <= a < 2**32


def test_targets_and_elements():
    assert len(apogee.TARGETS) == 22 and apogee.TARGETS[:2] == ("teff", "logg")
    assert len(apogee.ASPCAP_ELEMENTS) == 26
    assert apogee.X_H_INDEX["Fe"] == 17 and apogee.X_H_INDEX["C1"] == 1
    assert apogee.X_H_INDEX["Ti2"] == 13 and apogee.X_H_INDEX["Ni"] == 19


def test_wavelength_grid_and_gaps():
    lam = apogee.wavelength()
    assert lam.shape == (8575,)
    assert lam[0] == pytest.approx(10**4.179) and lam[-1] == pytest.approx(10 ** (4.179 + 6e-6 * 8574))
    idx = apogee.gap_delete_index()
    assert idx.shape == (apogee.N_PIX_GAP_DELETED,)
    # the three chips of DR14 (hband_physics.md): blue from ~15,152 A, red to ~16,944 A
    kept = lam[idx]
    assert 15140 < kept[0] < 15160 and 16930 < kept[-1] < 16950
    gaps = np.diff(kept) > 5
    assert gaps.sum() == 2


def test_aspcap_window_sizes_match_astronn():
    sizes = {k: int(v.sum()) for k, v in apogee.aspcap_windows().items()}
    assert sizes["C"] == 3806 and sizes["Fe"] == 2403 and sizes["S"] == 8 and sizes["Na"] == 13
    assert apogee.continuum_pixels().sum() == 529


def test_apstar_rows():
    assert apogee.combined_row(1) == 0 and apogee.visit_rows(1) == [0]
    assert apogee.combined_row(3) == 1 and apogee.visit_rows(3) == [2, 3, 4]


def test_paper_numbers_are_packaged():
    from astronn_paper import paper

    res = paper.results()
    assert res["targets"] == list(apogee.TARGETS)
    for column in res["scatter"]:
        assert set(paper.scatter(column)) == set(apogee.TARGETS)
    assert paper.scatter("censored_visits_of_training_stars")["Fe"] == 0.018
    assert res["data"]["n_training"] == 33407 and res["data"]["n_test_highsnr"] == 28692
    with pytest.raises(KeyError, match="no published column"):
        paper.scatter("nope")
