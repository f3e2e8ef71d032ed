"""analysis.scoring (a network scored on a test set) and figures.aspcap_norm (its comparison)."""
import matplotlib
import numpy as np
import pandas as pd
import pytest
from astropy.stats import mad_std

from astronn_paper import apogee
from astronn_paper.analysis import scoring

matplotlib.use("Agg")
T = list(apogee.TARGETS)


def test_score_tabulates_the_scatter_of_the_cached_predictions(monkeypatch, tmp_path):
    rng = np.random.default_rng(1)
    labels = rng.normal(0, 0.2, (300, len(T)))
    labels[:, 0] = rng.normal(4700, 300, 300)
    labels[:10, T.index("Na")] = apogee.MISSING                       # missing ASPCAP-like labels
    truth = labels + 0.01
    noise = rng.normal(0, 0.05, labels.shape)
    pred = {"mean": labels + noise, "targets": T}
    calls = {}

    def fake_predict_set(folder, test_path, kind, profile):
        calls["args"] = (folder, test_path, kind, profile)
        return pred

    monkeypatch.setattr(scoring.predictions, "predict_set", fake_predict_set)
    monkeypatch.setattr(scoring.dataset, "load_columns",
                        lambda path, names, kind: {"labels": labels, "truth": truth})
    monkeypatch.setattr(scoring.train, "read_provenance", lambda folder: {"n_train": 1234})
    s = scoring.score("half", tmp_path / "m", tmp_path / "test.h5", "ci", replicate=1)
    assert calls["args"] == (tmp_path / "m", tmp_path / "test.h5", "combined", "ci")
    assert (s.name, s.n_train, s.replicate) == ("half", 1234, 1) and s.pred is pred
    na = T.index("Na")
    assert s.table.loc["Na", "scatter_aspcap"] == pytest.approx(mad_std(noise[10:, na]))
    assert s.table.loc["Fe", "scatter_aspcap"] == pytest.approx(mad_std(noise[:, T.index("Fe")]))
    assert s.table.loc["Fe", "bias_truth"] == pytest.approx(np.median(noise[:, T.index("Fe")] - 0.01))
    assert list(s.table.index) == T


def test_aspcap_norm_figure_draws_each_column_as_bars():
    from astronn_paper.figures import aspcap_norm

    table = pd.DataFrame({"continuum": [30.0, 0.05, 0.02, 0.03], "aspcap": [40.0, 0.06, 0.03, 0.01],
                          "paper": [25.0, 0.04, 0.02, 0.02]}, index=["teff", "logg", "Fe", "Mg"])
    fig = aspcap_norm.scatter_comparison(table)
    ax_t, ax = fig.axes
    assert [p.get_height() for p in ax_t.patches] == [30.0, 40.0, 25.0]          # Teff in K
    heights = np.array([p.get_height() for p in ax.patches]).reshape(3, 3)    # column x label
    np.testing.assert_array_equal(heights, table.loc[["logg", "Fe", "Mg"]].to_numpy().T)
    assert [t.get_text() for t in ax.get_xticklabels()] == [apogee.TARGET_LATEX[t] for t in ("logg", "Fe", "Mg")]
    assert ax.patches[-1].get_facecolor()[:3] == pytest.approx((0.6, 0.6, 0.6))   # the paper in grey
    only = aspcap_norm.scatter_comparison(table, columns=["aspcap"])
    assert [p.get_height() for p in only.axes[1].patches] == [0.06, 0.03, 0.01]
