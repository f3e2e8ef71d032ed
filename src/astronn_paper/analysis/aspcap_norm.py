"""ASPCAP versus continuum normalisation (the paper's sect. 5.5): the censored network trained
and tested on aspcapStar spectra beside the one on continuum-normalised apStar spectra."""
from __future__ import annotations

import numpy as np
import pandas as pd

from astronn_paper import config, dataset
from astronn_paper.analysis.scoring import Scored, score
from astronn_paper.model import train
from astronn_paper.model.train import ASPCAP_VARIANT  # noqa: F401 (API)


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
