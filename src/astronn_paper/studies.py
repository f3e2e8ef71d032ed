"""The two side studies of the paper: normalisation (sect. 5.5) and training-set size (sect. 5.6).

Both reuse the standard pieces - :func:`astronn_paper.dataset.build_standard_sets`,
:func:`astronn_paper.train.ensure_model`, :func:`astronn_paper.predictions.predict_set` and
:func:`astronn_paper.metrics.residual_stats` - and score every network on the same held-out
spectra: the combined spectra of the high-SNR test set (100 < SNR < 200).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import config, dataset, metrics, predictions, train

ASPCAP_VARIANT = "aspcapStar_BCNNCensored"


def small_data_variant(fraction: float) -> str:
    """Model folder name of the network trained on ``fraction`` of the training set."""
    return f"small_data_fixed_{fraction:g}"


@dataclass
class Scored:
    """Predictions of one network on a test set and their scatter against labels and truth."""

    name: str
    n_train: int
    pred: dict
    table: pd.DataFrame


def score(name: str, folder, test_path, profile=None) -> Scored:
    """Predict the test set's combined spectra with one model folder and tabulate its scatter."""
    pred = predictions.predict_set(folder, test_path, "combined", profile)
    cols = dataset.load_columns(test_path, ["labels", "truth"], "combined")
    truth = cols.get("truth")
    table = metrics.bias_scatter_table(pred["mean"], cols["labels"], truth, targets=pred["targets"])
    return Scored(name, int(train.read_provenance(folder).get("n_train", 0)), pred, table)


def small_data_study(profile=None) -> list[Scored]:
    """The censored network trained on seeded subsets of the training set, scored on the test set.

    The full training set is the paper's network itself (``astroNN_0617_run001``); the subsets are
    ``profile.small_data_fractions`` of the same rows (validation is 10 % of each subset).
    """
    p = config.get_profile(profile)
    sets = dataset.build_standard_sets(p)
    runs = [score("100%", train.ensure_model("censored", p, sets["train"]), sets["test"], p)]
    for frac in p.small_data_fractions:
        folder = train.ensure_model("censored", p, sets["train"], variant=small_data_variant(frac),
                                    fraction=frac)
        runs.append(score(f"{frac:.2%}", folder, sets["test"], p))
    return runs


def scatter_vs_size(runs: list[Scored], against: str = "aspcap") -> pd.DataFrame:
    """Rows: training-set size (descending); columns: targets; values: scatter."""
    col = {"aspcap": "scatter_aspcap", "truth": "scatter_truth"}[against]
    df = pd.DataFrame({r.n_train: r.table[col] for r in runs}).T
    df.index.name = "n_train"
    return df.sort_index(ascending=False)


def monotone_within_noise(sizes, scatter, rel_noise: float, n_eff=None) -> bool:
    """Whether ``scatter`` does not decrease as the training set shrinks, within noise.

    ``sizes`` descending or not; each step from a larger to a smaller training set may go down by
    at most the statistical error of a robust scatter, ``rel_noise`` times the value (for a
    ``mad_std`` over n points, ~1.5/sqrt(2n)).
    """
    order = np.argsort(sizes)[::-1]
    s = np.asarray(scatter, float)[order]
    return bool(np.all(np.diff(s) >= -rel_noise * s[:-1]))


def scatter_rel_error(n: int) -> float:
    """Relative standard error of ``mad_std`` over ``n`` Gaussian points (efficiency 37 %)."""
    return float(1.0 / np.sqrt(2 * 0.37 * max(n, 1)))


def aspcap_study(profile=None) -> dict[str, Scored]:
    """The censored network trained and tested on continuum- versus ASPCAP-normalised spectra."""
    p = config.get_profile(profile)
    cont = dataset.build_standard_sets(p, normalisation="continuum")
    asp = dataset.build_standard_sets(p, normalisation="aspcap")
    cont_folder = train.ensure_model("censored", p, cont["train"])
    asp_folder = train.ensure_model("censored", p, asp["train"], variant=ASPCAP_VARIANT)
    return {
        "continuum": score("continuum-normalised", cont_folder, cont["test"], p),
        "aspcap": score("ASPCAP-normalised", asp_folder, asp["test"], p),
    }


def side_by_side(scored: dict[str, Scored], paper_column: dict | None = None) -> pd.DataFrame:
    """Scatter against the ASPCAP-like labels and against the truth of several runs, one column
    each, plus the paper's published column."""
    cols = {}
    for key, s in scored.items():
        cols[f"{key}: vs ASPCAP"] = s.table["scatter_aspcap"]
        if "scatter_truth" in s.table:
            cols[f"{key}: vs truth"] = s.table["scatter_truth"]
    df = pd.DataFrame(cols)
    if paper_column is not None:
        df["paper (ASPCAP-normalised)"] = [paper_column.get(t, np.nan) for t in df.index]
    return df


#: The labels the notebooks print (the paper's small-data table plus a few more).
TARGETS_SHOWN = ("teff", "logg", "Fe", "Mg", "Si", "Ni", "Al", "Na", "Ca", "Co")
