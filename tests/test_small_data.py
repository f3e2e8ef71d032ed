import numpy as np
import pandas as pd
import pytest

from astronn_paper.analysis import small_data


def test_monotone_within_noise():
    sizes = [8000, 4000, 2000, 1000]
    assert small_data.monotone_within_noise(sizes, [0.02, 0.025, 0.03, 0.05], rel_noise=0.0)
    # a 3 % dip is tolerated with 5 % noise, not with 1 %
    dip = [0.030, 0.0291, 0.035, 0.05]
    assert small_data.monotone_within_noise(sizes, dip, rel_noise=0.05)
    assert not small_data.monotone_within_noise(sizes, dip, rel_noise=0.01)
    # order of the input does not matter
    assert small_data.monotone_within_noise(sizes[::-1], [0.05, 0.03, 0.025, 0.02], rel_noise=0.0)


def test_mad_std_relative_error_matches_simulation():
    from astropy.stats import mad_std

    rng = np.random.default_rng(1)
    n = 400
    s = [mad_std(rng.normal(size=n)) for _ in range(2000)]
    assert np.std(s) == pytest.approx(small_data.scatter_rel_error(n), rel=0.1)


def test_scatter_vs_size_orders_by_training_size():
    def run(n, v):
        table = pd.DataFrame({"scatter_aspcap": [v, 2 * v], "scatter_truth": [v / 2, v]},
                             index=["teff", "Fe"])
        return small_data.Scored(str(n), n, {}, table)

    df = small_data.scatter_vs_size([run(1000, 3.0), run(8000, 1.0), run(4000, 2.0)], "truth")
    assert list(df.index) == [8000, 4000, 1000]
    assert df.loc[4000, "Fe"] == 2.0 and df.loc[1000, "teff"] == 1.5


def test_variant_names_follow_the_paper():
    assert small_data.small_data_variant(0.5) == "small_data_fixed_0.5"
    assert small_data.small_data_variant(0.03125) == "small_data_fixed_0.03125"
    assert small_data.small_data_variant(0.25, 1) == "small_data_fixed_0.25_rep1"


def test_replicate_seeds_differ_and_replicate_zero_keeps_the_profile_seed():
    assert small_data.replicate_seed(0.5, 0, "default") is None
    seeds = {small_data.replicate_seed(f, r, "default") for f in (0.5, 0.25) for r in (1, 2)}
    assert len(seeds) == 4


def _run(n, rep, teff, fe):
    table = pd.DataFrame({"scatter_aspcap": [teff, fe], "scatter_truth": [teff, fe]},
                         index=["teff", "Fe"])
    return small_data.Scored(f"{n}#{rep}", n, {"mean": np.zeros((500, 2))}, table, rep)


def test_replicates_are_averaged_and_their_spread_is_the_training_noise():
    runs = [_run(8000, 0, 20.0, 0.02),
            _run(4000, 0, 22.0, 0.030), _run(4000, 1, 26.0, 0.030),
            _run(2000, 0, 33.0, 0.040), _run(2000, 1, 27.0, 0.040)]
    mean = small_data.scatter_vs_size(runs, "truth")
    assert list(mean.index) == [8000, 4000, 2000]
    assert mean.loc[4000, "teff"] == 24.0 and mean.loc[2000, "teff"] == 30.0
    rel = small_data.training_noise(runs, "truth")
    # pooled over the two sizes: ((2/24)^2*2 + (3/30)^2*2) / 2 degrees of freedom
    assert rel["teff"] == pytest.approx(np.sqrt((2 * (2 / 24) ** 2 + 2 * 0.1 ** 2) / 2))
    assert rel["Fe"] == 0.0
    steps = small_data.step_noise(runs, "teff", "truth")
    # 8000 (1 network) -> 4000 (2), 4000 (2) -> 2000 (2)
    np.testing.assert_allclose(steps, 2 * rel["teff"] * np.sqrt([1 + 0.5, 0.5 + 0.5]))


def test_step_noise_without_replicates_falls_back_to_test_set_noise():
    runs = [_run(8000, 0, 20.0, 0.02), _run(4000, 0, 22.0, 0.03), _run(2000, 0, 30.0, 0.04)]
    assert small_data.training_noise(runs) is None
    steps = small_data.step_noise(runs, "teff", n_test=400)
    np.testing.assert_allclose(steps, 2 * np.sqrt(2) * small_data.scatter_rel_error(400))


def test_monotone_within_noise_accepts_one_tolerance_per_step():
    sizes, s = [8000, 4000, 2000], [0.030, 0.028, 0.035]
    assert small_data.monotone_within_noise(sizes, s, [0.1, 0.0])
    assert not small_data.monotone_within_noise(sizes, s, [0.0, 0.1])


def test_aspcap_variant_keeps_the_papers_folder_name():
    from astronn_paper.analysis import aspcap_norm

    assert aspcap_norm.ASPCAP_VARIANT == "aspcapStar_BCNNCensored"


def test_small_data_figure_draws_means_and_every_replicate():
    import matplotlib

    matplotlib.use("Agg")
    from astronn_paper.figures import small_data as figs

    runs = [_run(8000, 0, 20.0, 0.02), _run(4000, 0, 22.0, 0.03), _run(4000, 1, 26.0, 0.03)]
    fig = figs.scatter_vs_size(small_data.scatter_vs_size(runs, "aspcap"),
                               small_data.scatter_vs_size(runs, "truth"), targets=("teff", "Fe"),
                               replicates_truth=small_data.replicate_scatter(runs, "truth"))
    ax = fig.axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    np.testing.assert_allclose(lines["vs truth"].get_ydata(), [20.0, 24.0])
    np.testing.assert_allclose(sorted(lines["each network vs truth"].get_ydata()), [20, 22, 26])
