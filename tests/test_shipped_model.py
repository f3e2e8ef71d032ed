"""The shipped censored network: loadable with astroNN, predicts 22 labels, traceable to its data."""
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from astronn_paper import apogee
from astronn_paper.model import train
from astronn_paper.survey import normalise

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "astroNN_0617_run001"

pytestmark = pytest.mark.skipif(not FOLDER.is_dir(), reason="no shipped model folder")


def test_folder_has_astronn_files_and_no_optimizer_state():
    import h5py

    for name in ("model_weights.h5", "astroNN_model_parameter.json", "hyperparameter.txt",
                 "training_history.csv", "provenance.json", "validation_index.npy"):
        assert (FOLDER / name).is_file(), name
    with h5py.File(FOLDER / "model_weights.h5", "r") as f:
        assert list(f.keys()) == ["model_weights"]
    assert (FOLDER / "model_weights.h5").stat().st_size < 20e6


def test_provenance_names_the_default_training_set():
    prov = train.read_provenance(FOLDER)
    assert prov["profile"] == "default" and prov["network"]["epochs"] == 60
    assert prov["network"]["num_hidden"] == [192, 64, 32, 16, 2]
    assert "NOT real APOGEE spectra" in prov["about"] and "SDSS_LOCAL_SAS_MIRROR" in prov["about"]
    # every shipped network trained on apStar spectra names the same training set
    others = [f for f in ROOT.glob("*/provenance.json") if not f.parent.name.startswith("aspcapStar")]
    fps = {f.parent.name: train.read_provenance(f.parent)["dataset_fingerprint"] for f in others}
    assert len(fps) >= 12 and set(fps.values()) == {prov["dataset_fingerprint"]}, fps


def test_provenance_matches_the_compiled_training_set():
    """The shipped networks were trained on the training set the default profile compiles (were
    it not, run would retrain them and the Training notebook's outputs would change, which the
    reproduction check sees)."""
    from astronn_paper import config
    from astronn_paper.dataset import store

    path = config.datasets_dir("default") / "train.h5"
    if not path.is_file():
        pytest.skip("the default training set is not compiled here (run the Datasets notebook)")
    assert train.read_provenance(FOLDER)["dataset_fingerprint"] == store.fingerprint(path)


def test_load_folder_and_test_on_synthetic_high_snr_spectra():
    from astroNN.models import load_folder

    from astronn_paper.synth.source import SyntheticSource

    source = SyntheticSource()
    allstar = source.allstar()
    rows = np.flatnonzero((allstar["SNR"] > 100) & (allstar["SNR"] < 200)
                          & (allstar["PARAM"][:, 0] > 4200) & (allstar["PARAM"][:, 0] < 5300)
                          & (allstar["STARFLAG"] == 0))[:4]
    stars = [source.apstar(int(i)).combined() for i in rows]
    flux, err, mask = (np.stack(a) for a in zip(*stars))
    x, x_err = normalise.continuum(flux, err, mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = load_folder(str(FOLDER))
        pred, unc = net.test(x)
    assert list(net.targetname) == list(apogee.TARGETS)
    assert pred.shape == (4, 22) and unc["total"].shape == (4, 22)
    assert np.all(np.isfinite(pred)) and np.all(unc["total"] > 0)
    truth = source.truth()
    # a trained network, not noise: Teff and [Fe/H] close to the truth for these giants
    assert np.median(np.abs(pred[:, 0] - truth["teff"][rows])) < 150
    assert np.median(np.abs(pred[:, 19] - truth["Fe"][rows])) < 0.1


def test_load_model_is_quiet_about_the_stripped_optimizer_state():
    """``engine.load_model`` hides the two warnings every weights-only folder triggers (and only
    those: a bad folder still raises)."""
    from astronn_paper.model import engine

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = engine.load_model(FOLDER)
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert not any(re.search(m, msg) for m in engine.LOAD_WARNINGS for msg in messages), messages
    assert type(model).__name__ == "ApogeeBCNNCensored"


#: Every network the default notebooks use, shipped at the top level (the paper's names).
SHIPPED = sorted(p.parent.name for p in ROOT.glob("*/provenance.json"))


def test_every_network_of_the_default_notebooks_is_shipped():
    want = {kw.get("variant") or train.NETWORKS[kw["kind"]].folder
            for kw in _default_networks_without_datasets()}
    assert want == set(SHIPPED), sorted(want ^ set(SHIPPED))


def _default_networks_without_datasets():
    """train.default_networks('default') without compiling anything (the dataset paths are
    not needed to name the folders)."""
    from astronn_paper import config

    p = config.get_profile("default")
    out = [{"kind": "censored"}, {"kind": "bcnn"}, {"kind": "censored", "variant": train.ASPCAP_VARIANT}]
    out += [{"kind": "censored", "variant": train.small_data_variant(f, r)}
            for f in p.small_data_fractions for r in range(p.small_data_replicates)]
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_folder_loads_with_load_folder_and_predicts(name):
    """Each shipped folder loads with astroNN's load_folder and predicts finite labels with
    uncertainties; its provenance names its training set, profile, seed, versions and time."""
    from astroNN.models import load_folder

    folder = ROOT / name
    prov = train.read_provenance(folder)
    for key in ("dataset_fingerprint", "profile", "seed", "versions", "training_wall_time_s"):
        assert prov.get(key) not in (None, ""), (name, key)
    assert prov["profile"] == "default" and "NOT real APOGEE spectra" in prov["about"]
    rng = np.random.default_rng(0)
    x = (1 - 0.05 * rng.random((2, apogee.N_PIX_GAP_DELETED))).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = load_folder(str(folder))
        net.mc_num = 4
        pred, unc = net.predict(x)
    assert pred.shape == (2, 22) and np.all(np.isfinite(pred))
    assert np.all(np.isfinite(unc["total"])) and np.all(unc["total"] > 0)
