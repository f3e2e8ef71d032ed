"""Training-set size (the paper's sect. 5.6): the censored network trained on seeded subsets
of the training set, two replicates per size, scored on the same high-SNR test spectra."""
from __future__ import annotations

import numpy as np
import pandas as pd

from astronn_paper import config, dataset
from astronn_paper.analysis.scoring import Scored, score
from astronn_paper.model import train


def small_data_variant(fraction: float, replicate: int = 0) -> str:
    """Model folder name of the network trained on ``fraction`` of the training set (replicate
    0 keeps the paper's folder name; further replicates add ``_rep<k>``)."""
    name = f"small_data_fixed_{fraction:g}"
    return name if replicate == 0 else f"{name}_rep{replicate}"


def replicate_seed(fraction: float, replicate: int, profile=None) -> int | None:
    """Seed of one small-data replicate: its subset and its initialisation (``None`` for
    replicate 0, i.e. the profile's usual seed for this fraction)."""
    if replicate == 0:
        return None
    return config.seed_for(f"train:censored:{fraction}:replicate{replicate}", profile)


def small_data_study(profile=None) -> list[Scored]:
    """The censored network trained on seeded subsets of the training set, scored on the test set.

    The full training set is the paper's network itself (``astroNN_0617_run001``); the subsets are
    ``profile.small_data_fractions`` of the same rows (validation is 10 % of each subset), each
    trained ``profile.small_data_replicates`` times on its own subset with its own seed.
    """
    p = config.get_profile(profile)
    sets = dataset.build_standard_sets(p)
    runs = [score("100%", train.ensure_model("censored", p, sets["train"]), sets["test"], p)]
    for frac in p.small_data_fractions:
        for rep in range(p.small_data_replicates):
            folder = train.ensure_model("censored", p, sets["train"],
                                        variant=small_data_variant(frac, rep), fraction=frac,
                                        seed=replicate_seed(frac, rep, p))
            runs.append(score(f"{frac:.2%}" + (f" #{rep}" if rep else ""), folder, sets["test"],
                              p, rep))
    return runs


def scatter_vs_size(runs: list[Scored], against: str = "aspcap") -> pd.DataFrame:
    """Rows: training-set size (descending); columns: targets; values: scatter, the mean over
    the replicates trained at that size."""
    return _by_size(runs, against).mean().sort_index(ascending=False)


def replicate_scatter(runs: list[Scored], against: str = "aspcap") -> pd.DataFrame:
    """Every network's scatter: rows (n_train, replicate), columns targets."""
    col = {"aspcap": "scatter_aspcap", "truth": "scatter_truth"}[against]
    df = pd.DataFrame({(r.n_train, r.replicate): r.table[col] for r in runs}).T
    df.index.names = ["n_train", "replicate"]
    return df.sort_index(ascending=[False, True])


def _by_size(runs, against):
    return replicate_scatter(runs, against).groupby(level="n_train")


def training_noise(runs: list[Scored], against: str = "truth") -> pd.Series | None:
    """Relative standard deviation of the scatter between networks trained at the same size
    (replicates), pooled over the sizes that have several: the training noise of one network's
    scatter, per target. ``None`` when no size has two replicates."""
    df = replicate_scatter(runs, against)
    groups = [g for _, g in df.groupby(level="n_train") if len(g) > 1]
    if not groups:
        return None
    # unbiased pooled variance of scatter / mean scatter, weighted by degrees of freedom
    num = sum(((g / g.mean()) - 1).pow(2).sum() for g in groups)
    dof = sum(len(g) - 1 for g in groups)
    return np.sqrt(num / dof)


def step_noise(runs: list[Scored], target: str, against: str = "truth",
               n_test: int | None = None) -> np.ndarray:
    """For each step from one training size to the next smaller (sizes descending), the relative
    decrease of the mean scatter still consistent with noise: two standard errors of the
    difference of the two means, 2 x noise x sqrt(1/R1 + 1/R2) for R1 and R2 replicates, with
    the training noise of :func:`training_noise`. Without replicates it falls back to the
    test-set sampling noise of a scatter over ``n_test`` stars, which underestimates the noise
    (it ignores the randomness of training)."""
    counts = replicate_scatter(runs, against).groupby(level="n_train").size()
    counts = counts.sort_index(ascending=False).to_numpy()
    rel = training_noise(runs, against)
    if rel is None:
        n = n_test if n_test is not None else len(runs[0].pred["mean"])
        unit = scatter_rel_error(n)
    else:
        unit = float(rel[target])
    return 2 * unit * np.sqrt(1.0 / counts[:-1] + 1.0 / counts[1:])


def monotone_within_noise(sizes, scatter, rel_noise) -> bool:
    """Whether ``scatter`` does not decrease as the training set shrinks, within noise.

    Each step from a larger to the next smaller training set (sizes sorted descending) may go
    down by at most ``rel_noise`` times the larger set's value; ``rel_noise`` is one number or
    one per step (e.g. from :func:`step_noise`).
    """
    order = np.argsort(sizes)[::-1]
    s = np.asarray(scatter, float)[order]
    allowed = np.broadcast_to(np.asarray(rel_noise, float), s[:-1].shape)
    return bool(np.all(np.diff(s) >= -allowed * s[:-1]))


def scatter_rel_error(n: int) -> float:
    """Relative standard error of ``mad_std`` over ``n`` Gaussian points (efficiency 37 %)."""
    return float(1.0 / np.sqrt(2 * 0.37 * max(n, 1)))


#: The labels the notebooks print (the paper's small-data table plus a few more).
TARGETS_SHOWN = ("teff", "logg", "Fe", "Mg", "Si", "Ni", "Al", "Na", "Ca", "Co")
