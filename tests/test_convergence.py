"""The training verdict's reading of a loss history."""
import numpy as np
import pandas as pd

from astronn_paper.analysis import convergence


def _history(val):
    val = np.asarray(val, float)
    return pd.DataFrame({"output_loss": val - 0.01, "val_output_loss": val})


def test_a_flat_tail_is_settled_and_a_late_dip_is_not():
    flat = convergence.convergence(_history([0, -1, -1.05, -1.045, -1.049, -1.041, -1.046]), slow=4)
    assert flat.settled and flat.at_slow == -1.045 and flat.best_epoch == 3
    dip = convergence.convergence(_history([0, -1, -1.01, -1.01, -1.012, -1.06, -1.012]), slow=4)
    assert not dip.settled and dip.best == -1.06 and dip.best_epoch == 6
    assert "still moves after epoch 4" in convergence.sentence("censored", dip)
    assert "−1.060" in convergence.sentence("censored", dip)
    assert abs(dip.gap - 0.01) < 1e-9


def test_a_short_run_says_nothing_about_convergence():
    short = convergence.convergence(_history([0, -0.5, -0.7, -0.8]), slow=None)
    assert not short.settled
    assert "says nothing about convergence" in convergence.sentence("censored", short)
