"""Training never saves a diverged network: a NaN loss stops the run, which is trained again
from scratch with the next seed; cached folders with a NaN history are not reused."""
import faults
import numpy as np
import pytest

from astronn_paper.model import train


def _fit_diverging(n_bad: int):
    """astroNN's fit, with the first ``n_bad`` runs reporting a NaN loss in their last epoch."""
    real_fit = train._fit
    calls = []

    def fit(model, *args):
        real_fit(model, *args)
        calls.append(len(calls))
        if len(calls) <= n_bad:
            model.history.history["loss"][-1] = float("nan")
    return fit, calls


def test_a_diverged_training_is_retried_with_the_next_seed(tmp_path, monkeypatch):
    fit, calls = _fit_diverging(1)
    monkeypatch.setattr(train, "_fit", fit)
    out = train.train_network("censored", faults.clean_dataset(), tmp_path / "net",
                              faults.TRAIN_PROFILE, seed=faults.TRAIN_SEED, epochs=1)
    prov = train.read_provenance(out)
    assert len(calls) == 2
    first, second = prov["training_attempts"]
    assert first == {"training_seed": faults.TRAIN_SEED, "diverged_at_epoch": 0}
    assert second["diverged_at_epoch"] is None
    assert prov["training_seed"] == second["training_seed"] != faults.TRAIN_SEED
    assert prov["seed"] == faults.TRAIN_SEED            # the rows are those of the asked seed
    assert not train.training_diverged(out)
    assert all(np.isfinite(w).all() for w in faults.weights(out))


def test_a_network_diverging_every_time_is_an_error_and_leaves_no_folder(tmp_path, monkeypatch):
    fit, calls = _fit_diverging(99)
    monkeypatch.setattr(train, "_fit", fit)
    monkeypatch.setattr(train, "MAX_TRAINING_ATTEMPTS", 2)
    with pytest.raises(RuntimeError, match=r"diverged \(NaN loss\) in all 2 attempts"):
        train.train_network("censored", faults.clean_dataset(), tmp_path / "net",
                            faults.TRAIN_PROFILE, seed=faults.TRAIN_SEED, epochs=1)
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []


def test_training_diverged_reads_the_history(tmp_path):
    (tmp_path / "training_history.csv").write_text(
        "epoch,loss,val_loss\n0,0.9,0.2\n1,-0.5,-0.4\n2,nan,nan\n")
    assert train.training_diverged(tmp_path)
    assert train._first_nan_epoch({"loss": [0.9, -0.5, np.nan]}) == 2
    (tmp_path / "training_history.csv").write_text("epoch,loss,val_loss\n0,0.9,0.2\n1,-0.5,-0.4\n")
    assert not train.training_diverged(tmp_path)
    assert not train.training_diverged(tmp_path / "missing")


def test_censoring_window_colours_match_their_legend():
    """The key names what the colours show: C, N and O (molecular bands) share one colour, Fe
    has its own, every other element the third; the legend lists the three groups."""
    import matplotlib

    matplotlib.use("Agg")
    from astronn_paper import apogee
    from astronn_paper.figures import training as figs

    groups = {e: figs.window_group(e) for e in apogee.ABUNDANCES}
    assert {groups[e][1] for e in ("C", "N", "O")} == {"C3"}
    assert groups["Fe"][1] == "C1" and groups["C1"][1] == groups["Mg"][1] == "C0"
    fig = figs.censoring_windows()
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == [g[0] for g in figs.WINDOW_GROUPS]
    # each element's row is drawn in its group's colour (rows in ABUNDANCES order)
    ax = fig.axes[0]
    for e, coll in zip(apogee.ABUNDANCES, ax.collections):
        assert matplotlib.colors.same_color(coll.get_edgecolor()[0], groups[e][1]), e


def test_epoch_lr_below_finds_the_first_slow_epoch():
    import pandas as pd

    from astronn_paper.figures import training as figs

    h = pd.DataFrame({"epoch": range(6), "lr": [5e-4, 5e-4, 1e-5, 2e-6, 9e-7, 4e-7]})
    assert figs.epoch_lr_below(h) == 5          # epochs counted from 1
    assert figs.epoch_lr_below(h, 1e-4) == 3
    assert figs.epoch_lr_below(h, 1e-8) is None


def _fake_folder(folder, fingerprint, profile="default", epochs=60, fraction=None, seed=None):
    import json

    folder.mkdir(parents=True)
    (folder / "model_weights.h5").write_bytes(b"weights")
    (folder / "provenance.json").write_text(json.dumps({
        "dataset_fingerprint": fingerprint, "profile": profile, "network": {"epochs": epochs},
        "training_fraction": fraction, "seed": seed}))
    return folder


@pytest.mark.parametrize("retrain", [False, True])
def test_run_uses_a_shipped_folder_only_when_its_dataset_matches(tmp_path, monkeypatch, capsys,
                                                                 retrain):
    """A shipped folder whose recorded training-set fingerprint equals the dataset's is used and
    nothing is trained; another fingerprint (or run --retrain) trains, with one line saying
    which network and why."""
    from astronn_paper import config, dataset

    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path / "repo"))
    monkeypatch.setenv(config.DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(train.RETRAIN_ENV, "1" if retrain else "")
    monkeypatch.setattr(dataset, "fingerprint", lambda path: "abc123")
    trained = []
    monkeypatch.setattr(train, "train_network",
                        lambda kind, ds, out, p, **kw: trained.append(out.name) or out)
    seed = config.seed_for("train:censored:None", "default")
    bcnn_seed = config.seed_for("train:bcnn:None", "default")
    root = tmp_path / "repo"
    _fake_folder(root / "astroNN_0617_run001", "abc123", seed=seed)
    _fake_folder(root / "astroNN_0606_run001", "old456", seed=bcnn_seed)

    censored = train.ensure_model("censored", "default", tmp_path / "train.h5")
    bcnn = train.ensure_model("bcnn", "default", tmp_path / "train.h5")
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    if retrain:
        assert trained == ["astroNN_0617_run001", "astroNN_0606_run001"] and lines == []
    else:
        assert censored == root / "astroNN_0617_run001"
        assert trained == ["astroNN_0606_run001"] and bcnn.parent == config.models_dir("default")
        assert lines == ["training astroNN_0606_run001: the shipped folder does not fit this "
                         "dataset (trained with another dataset_fingerprint old456 (needs abc123))"]


def test_publishing_a_folder_keeps_the_shipped_domain_model(tmp_path, monkeypatch):
    """Copying a newly trained folder to the top level replaces the weights but keeps the
    out-of-domain model already shipped there (it depends on the data, not on the weights)."""
    import h5py

    from astronn_paper import config

    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path / "repo"))
    src = tmp_path / "models" / "astroNN_0606_run001"
    src.mkdir(parents=True)
    with h5py.File(src / "model_weights.h5", "w") as f:
        f.create_group("model_weights").attrs["new"] = 1
    (src / "provenance.json").write_text("{}")
    dest = tmp_path / "repo" / "astroNN_0606_run001"
    dest.mkdir(parents=True)
    (dest / "domain.npz").write_bytes(b"domain")
    (dest / "model_weights.h5").write_bytes(b"old")
    out = train.publish_shipped_model(src)
    assert out == dest and (dest / "domain.npz").read_bytes() == b"domain"
    with h5py.File(dest / "model_weights.h5", "r") as f:
        assert f["model_weights"].attrs["new"] == 1
