"""Small helpers that compute what a rendered verdict quotes."""
import numpy as np
import pytest

from astronn_paper.analysis import inference_highsnr as highsnr


def test_growth_to_lowest_bin_reads_the_solar_and_the_lowest_populated_bin():
    b = highsnr.BinnedErrors(centers=np.array([-1.375, -1.125, -0.125, 0.125]), count=np.ones((4, 1)),
                             median_abs_error=np.array([[np.nan], [0.4], [0.1], [0.1]]),
                             mean_total=np.array([[np.nan], [0.6], [0.1], [0.2]]),
                             mean_model=np.zeros((4, 1)), targets=["Mg"])
    assert highsnr.growth_to_lowest_bin({"Mg": b})["Mg"] == pytest.approx(6.0)
    assert highsnr.growth_to_lowest_bin({"Mg": b}, "median_abs_error")["Mg"] == pytest.approx(4.0)
    b.mean_total[2, 0] = np.nan
    assert np.isnan(highsnr.growth_to_lowest_bin({"Mg": b})["Mg"])
