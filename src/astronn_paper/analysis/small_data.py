"""Training-set size (the paper's sect. 5.6): the censored network trained on seeded subsets
of the training set, two replicates per size, scored on the same high-SNR test spectra."""
from __future__ import annotations

import numpy as np
import pandas as pd

from astronn_paper import config, dataset
from astronn_paper.analysis.scoring import Scored, score
from astronn_paper.model import train
from astronn_paper.model.train import replicate_seed, small_data_variant  # noqa: F401 (API)


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


def training_noise(runs: list[Scored], against: str = "truth",
                   min_size: int = 0) -> pd.Series | None:
    """Relative standard deviation of the scatter between networks trained at the same size
    (replicates), pooled over the sizes of at least ``min_size`` spectra that have several: the
    training noise of one network's scatter, per target. ``None`` when no such size has two
    replicates."""
    df = replicate_scatter(runs, against)
    df = df[df.index.get_level_values("n_train") >= min_size]
    groups = [g for _, g in df.groupby(level="n_train") if len(g) > 1]
    if not groups:
        return None
    # unbiased pooled variance of scatter / mean scatter, weighted by degrees of freedom
    num = sum(((g / g.mean()) - 1).pow(2).sum() for g in groups)
    dof = sum(len(g) - 1 for g in groups)
    return np.sqrt(num / dof)


def rank_trend(sizes, scatter, alpha: float = 0.05, n_permutations: int = 20000,
               seed: int = 0) -> dict:
    """Does the scatter grow as the training set shrinks? A test that can fail.

    Spearman's rank correlation ``rho`` between training-set size and scatter over every
    network (replicates included: equal sizes are tied ranks), and its one-sided p-value for
    the alternative "scatter falls as the size grows" (``rho < 0``), from ``n_permutations``
    seeded random pairings of the two rank vectors (exact for ties and small samples, unlike
    the t approximation). ``decreasing`` is ``p < alpha``: a flat or noisy relation fails.

    Returns ``{"rho", "p", "n", "decreasing"}``.
    """
    from scipy.stats import rankdata

    x = np.asarray(sizes, float)
    y = np.asarray(scatter, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 3 or np.ptp(x) == 0:
        raise ValueError("rank_trend needs at least 3 networks and 2 different sizes")
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = np.sqrt((rx ** 2).sum() * (ry ** 2).sum())
    rho = float((rx * ry).sum() / norm) if norm > 0 else 0.0
    rng = np.random.default_rng(seed)
    perm = rng.permuted(np.tile(ry, (n_permutations, 1)), axis=1)
    null = (perm @ rx) / norm if norm > 0 else np.zeros(n_permutations)
    # one-sided: how often a random pairing is at least as negative (the +1 counts the data)
    p = float((np.sum(null <= rho + 1e-12) + 1) / (n_permutations + 1))
    return {"rho": rho, "p": p, "n": int(x.size), "decreasing": bool(p < alpha)}


def size_trend(runs: list[Scored], against: str = "truth", targets=None, min_size: int = 0,
               alpha: float = 0.05) -> pd.DataFrame:
    """:func:`rank_trend` per target over every network trained on at least ``min_size``
    spectra: rows targets, columns ``rho``, ``p``, ``n`` (networks) and ``decreasing``. Where
    fewer than 3 networks or a single size remain (e.g. the ``ci`` profile's small study above
    900 spectra) the trend cannot be tested: ``rho`` and ``p`` are NaN, ``decreasing`` False."""
    df = replicate_scatter(runs, against)
    df = df[df.index.get_level_values("n_train") >= min_size]
    sizes = df.index.get_level_values("n_train").to_numpy(float)

    def trend(y):
        try:
            return rank_trend(sizes, y, alpha=alpha)
        except ValueError:
            return {"rho": np.nan, "p": np.nan, "n": int(np.isfinite(y).sum()), "decreasing": False}

    out = {t: trend(df[t].to_numpy(float)) for t in (targets or df.columns)}
    return pd.DataFrame(out).T.astype({"rho": float, "p": float, "n": int, "decreasing": bool})


def halving_table(vs_aspcap: pd.DataFrame, vs_truth: pd.DataFrame, published: dict,
                  targets=None) -> pd.DataFrame:
    """What halving the training set does: for each target, the scatter at the largest size
    and at half of it (means over replicates) against the truth and the ASPCAP-like labels,
    their ratios, and the ratio of the paper's published scatter at each of its halvings
    (``published`` as :func:`astronn_paper.paper.results` ``["small_data"]``: ``n_train``
    descending and one list per target). Rows targets; NaN where the paper has no column."""
    sizes = sorted(vs_truth.index, reverse=True)
    big, half = sizes[0], sizes[1]
    n_pub = list(published.get("n_train", []))
    rows = {}
    for t in targets or [c for c in vs_truth.columns]:
        row = {"truth_big": vs_truth.loc[big, t], "truth_half": vs_truth.loc[half, t],
               "aspcap_big": vs_aspcap.loc[big, t], "aspcap_half": vs_aspcap.loc[half, t]}
        row["ratio_truth"] = row["truth_half"] / row["truth_big"]
        row["ratio_aspcap"] = row["aspcap_half"] / row["aspcap_big"]
        pub = published.get(t)
        for k in range(len(n_pub) - 1):
            row[f"paper_{n_pub[k]}_{n_pub[k + 1]}"] = (
                pub[k + 1] / pub[k] if pub is not None else np.nan)
        rows[t] = row
    out = pd.DataFrame(rows).T
    out.attrs["sizes"] = (int(big), int(half))
    return out


def scatter_rel_error(n: int) -> float:
    """Relative standard error of ``mad_std`` over ``n`` Gaussian points (efficiency 37 %)."""
    return float(1.0 / np.sqrt(2 * 0.37 * max(n, 1)))


#: The labels the notebooks print (the paper's small-data table plus a few more).
TARGETS_SHOWN = ("teff", "logg", "Fe", "Mg", "Si", "Ni", "Al", "Na", "Ca", "Co")
