"""A network scored on a held-out set: its predictions and its scatter against the
ASPCAP-like labels and (synthetic data) the truth, one table per network, as the side studies
(:mod:`.small_data`, :mod:`.aspcap_norm`) and the benchmarks compare them."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from astronn_paper import dataset
from astronn_paper.analysis import metrics
from astronn_paper.model import predictions, train


@dataclass
class Scored:
    """Predictions of one network on a test set and their scatter against labels and truth."""

    name: str
    n_train: int
    pred: dict
    table: pd.DataFrame
    replicate: int = 0


def score(name: str, folder, test_path, profile=None, replicate: int = 0) -> Scored:
    """Predict the test set's combined spectra with one model folder and tabulate its scatter."""
    pred = predictions.predict_set(folder, test_path, "combined", profile)
    cols = dataset.load_columns(test_path, ["labels", "truth"], "combined")
    truth = cols.get("truth")
    table = metrics.bias_scatter_table(pred["mean"], cols["labels"], truth, targets=pred["targets"])
    return Scored(name, int(train.read_provenance(folder).get("n_train", 0)), pred, table,
                  replicate)
