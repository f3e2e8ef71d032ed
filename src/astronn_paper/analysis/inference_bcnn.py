"""The full-spectrum network (``ApogeeBCNN``) beside the censored one (``ApogeeBCNNCensored``).

Two measurements (Leung & Bovy 2019, sect. 5.3):

* :func:`scatter_table` - bias and scatter against the ASPCAP-like labels (and, on synthetic
  data, the scatter against the truth) of several runs side by side, with published columns;
* :func:`jacobian_concentration` - how much of each abundance's Jacobian (derivative of the
  predicted label with respect to the input pixels) falls inside that element's ASPCAP
  windows (:func:`astronn_paper.analysis.metrics.window_concentration`). A censored branch sees only
  its windows, so its abundance can depend on other pixels only through the shared
  Teff/logg features; the full-spectrum network is free to read an abundance from other
  elements' lines (astrophysical correlations), which matters most for the weak-line
  elements whose own lines carry little signal.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from astronn_paper import apogee
from astronn_paper.analysis import metrics

#: Elements with few, weak lines in the H band (the paper's examples where censoring matters).
WEAK_LINE_ELEMENTS: tuple[str, ...] = ("Na", "P", "V", "Co")
#: Spectra whose median Jacobian is taken, per profile.
JACOBIAN_SPECTRA: dict[str, int] = {"ci": 16, "default": 100, "paper": 1000}


def scatter_table(runs: Mapping[str, tuple], paper: Mapping[str, Mapping[str, float]] | None = None,
                  targets: Sequence[str] = apogee.TARGETS):
    """Side-by-side scatter table.

    ``runs``: ``{name: (pred, labels)}`` or ``{name: (pred, labels, truth)}`` with (N, K)
    arrays (-9999 labels ignored); ``paper``: ``{column name: {target: value}}``. Returns a
    DataFrame indexed by target with, per run, ``<name> bias``, ``<name> scatter`` and (with
    truth) ``<name> scatter vs truth``; then the published columns.
    """
    import pandas as pd

    cols = {}
    for name, run in runs.items():
        pred, labels = run[0], run[1]
        truth = run[2] if len(run) > 2 else None
        t = metrics.bias_scatter_table(pred, labels, truth=truth, targets=targets)
        cols[f"{name} bias"] = t["bias_aspcap"]
        cols[f"{name} scatter"] = t["scatter_aspcap"]
        if truth is not None:
            cols[f"{name} scatter vs truth"] = t["scatter_truth"]
    for name, values in (paper or {}).items():
        cols[name] = pd.Series({t: float(values.get(t, np.nan)) for t in targets})
    df = pd.DataFrame(cols, index=pd.Index(list(targets), name="target"))
    return df


def window_fractions(targets: Sequence[str] = apogee.ABUNDANCES) -> dict[str, float]:
    """Fraction of the 7514 pixels in each element's ASPCAP window: the concentration a
    Jacobian spread evenly over the spectrum would have."""
    w = apogee.aspcap_windows()
    return {t: float(w[t].mean()) for t in targets if t in w}


def jacobian_concentration(model_folder: os.PathLike, x, targets: Sequence[str] = apogee.ABUNDANCES,
                           return_jacobian: bool = False):
    """Window concentration of the median Jacobian of a model over spectra ``x`` (N, 7514).

    Returns ``{target: fraction of sum(J^2) inside the target's ASPCAP windows}`` (and the
    (K, 7514) median Jacobian with ``return_jacobian``).
    """
    from astronn_paper.model import predictions

    model = predictions.load_model(model_folder)
    jac = metrics.jacobian(model, x, targets=list(targets), reduce="median")
    conc = metrics.window_concentrations(jac, list(targets))
    return (conc, jac) if return_jacobian else conc


def concentration_summary(conc: Mapping[str, float], groups: Mapping[str, Sequence[str]] | None = None):
    """Mean concentration over groups of elements (default: the weak-line elements and all)."""
    groups = groups or {"weak-line (Na, P, V, Co)": WEAK_LINE_ELEMENTS, "all abundances": list(conc)}
    return {g: float(np.nanmean([conc[t] for t in members if t in conc])) for g, members in groups.items()}
