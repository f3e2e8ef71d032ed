import numpy as np
import pandas as pd
import pytest

from astronn_paper import studies


def test_monotone_within_noise():
    sizes = [8000, 4000, 2000, 1000]
    assert studies.monotone_within_noise(sizes, [0.02, 0.025, 0.03, 0.05], rel_noise=0.0)
    # a 3 % dip is tolerated with 5 % noise, not with 1 %
    dip = [0.030, 0.0291, 0.035, 0.05]
    assert studies.monotone_within_noise(sizes, dip, rel_noise=0.05)
    assert not studies.monotone_within_noise(sizes, dip, rel_noise=0.01)
    # order of the input does not matter
    assert studies.monotone_within_noise(sizes[::-1], [0.05, 0.03, 0.025, 0.02], rel_noise=0.0)


def test_mad_std_relative_error_matches_simulation():
    from astropy.stats import mad_std

    rng = np.random.default_rng(1)
    n = 400
    s = [mad_std(rng.normal(size=n)) for _ in range(2000)]
    assert np.std(s) == pytest.approx(studies.scatter_rel_error(n), rel=0.1)


def test_scatter_vs_size_orders_by_training_size():
    def run(n, v):
        table = pd.DataFrame({"scatter_aspcap": [v, 2 * v], "scatter_truth": [v / 2, v]},
                             index=["teff", "Fe"])
        return studies.Scored(str(n), n, {}, table)

    df = studies.scatter_vs_size([run(1000, 3.0), run(8000, 1.0), run(4000, 2.0)], "truth")
    assert list(df.index) == [8000, 4000, 1000]
    assert df.loc[4000, "Fe"] == 2.0 and df.loc[1000, "teff"] == 1.5


def test_variant_names_follow_the_paper():
    assert studies.small_data_variant(0.5) == "small_data_fixed_0.5"
    assert studies.small_data_variant(0.03125) == "small_data_fixed_0.03125"
    assert studies.ASPCAP_VARIANT == "aspcapStar_BCNNCensored"
