"""The one cache of network predictions, and the predictions of compiled datasets.

Every cached product of a network (:func:`predict_set` here, the cluster members'
predictions, the element response table) is an HDF5 file in ``<data>/<profile>/predictions/``
named by a fingerprint of its key: :func:`network_key` (the weights, the engine's version and
arithmetic) plus what else decides it (dataset, rows, MC passes, seed, ...);
:func:`write_cache` / :func:`read_cache` write and read it. Notebooks call freely: the second
call is a file read.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from astronn_paper import apogee, cache, config

FIELDS = ("mean", "total", "model", "predictive")


def model_fingerprint(folder: os.PathLike) -> str:
    """Hash of a model folder's weights and parameters (what determines its predictions)."""
    from astronn_paper.model.engine import check_model_folder

    folder = check_model_folder(folder)  # a clear ModelFolderError, not a bare OSError
    return cache.parts_fingerprint(*((folder / n).read_bytes()
                                     for n in ("model_weights.h5", "astroNN_model_parameter.json")))


def network_key(model_folder: os.PathLike) -> dict:
    """What decides every prediction of a network besides its input: the folder's weights and
    parameters, the engine's version and its arithmetic (fp32 or bf16) in this process."""
    from astronn_paper.model import blas, engine

    return {"model": model_fingerprint(model_folder), "engine": engine.ENGINE_VERSION,
            "precision": blas.resolve_precision()}


def cache_file(name: str, key: dict, profile=None) -> Path:
    """``<data>/<profile>/predictions/<name>__<fingerprint of key>.h5``."""
    return config.predictions_dir(profile) / f"{name}__{cache.fingerprint(key)}.h5"


def load_model(folder: os.PathLike):
    """``astroNN.models.load_folder`` with a clear message for a missing or broken folder.

    Delegates to :func:`astronn_paper.model.engine.load_model`, which validates the folder first and
    raises :class:`astronn_paper.model.engine.ModelFolderError` (a ``ValueError``) naming the folder
    and the problem instead of a TensorFlow stack trace.
    """
    from astronn_paper.model.engine import load_model as _load

    return _load(folder)


def predict_set(model_folder: os.PathLike, dataset_path: os.PathLike, kind: str = "combined",
                profile=None, mc: int | None = None, rows=None, force: bool = False) -> dict:
    """Predictions of a model on a dataset group, cached.

    Returns a dict with ``mean``, ``total``, ``model``, ``predictive`` (N, 22) arrays
    (denormalised; the three uncertainties are standard deviations as astroNN returns them),
    ``targets`` and ``rows`` (indices into the group).
    """
    from astronn_paper import dataset
    from astronn_paper.dataset import fingerprint as dataset_fingerprint
    from astronn_paper.model import engine

    p = config.get_profile(profile)
    mc = p.mc_passes if mc is None else int(mc)
    model_folder, dataset_path = Path(model_folder), Path(dataset_path)
    seed = config.seed_for(f"predict:{model_folder.name}:{dataset_path.stem}:{kind}", p)
    key = network_key(model_folder) | {
        "dataset": dataset_fingerprint(dataset_path), "kind": kind, "mc": mc, "seed": seed,
        "rows": None if rows is None else cache.array_fingerprint(np.asarray(rows)),
    }
    out = cache_file(f"{model_folder.name}__{dataset_path.stem}__{kind}", key, p)
    if out.is_file() and not force:
        return read_cache(out)

    x, _, x_err, _ = dataset.load(dataset_path, kind=kind, rows=rows)
    model = load_model(model_folder)
    pred = engine.predict(model, x, x_err, mc=mc, seed=seed)
    result = {f: np.asarray(getattr(pred, f), dtype=np.float64) for f in FIELDS}
    result["targets"] = list(pred.targetname)
    result["rows"] = np.arange(len(x)) if rows is None else np.asarray(rows)
    write_cache(out, {name: result[name] for name in (*FIELDS, "rows")},
                {"targets": result["targets"],
                 "provenance": key | {"model_folder": str(model_folder),
                                      "dataset_path": str(dataset_path), "profile": p.name}})
    return result


def write_cache(path: os.PathLike, arrays: dict, attrs: dict) -> None:
    """Write a prediction cache atomically: ``arrays`` as HDF5 datasets, ``attrs`` as
    JSON-encoded attributes (``targets``, ``provenance``, ...)."""
    with cache.atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, values in arrays.items():
            f.create_dataset(name, data=values)
        for name, value in attrs.items():
            f.attrs[name] = json.dumps(value)


def read_cache(path: os.PathLike, attrs=("targets",)) -> dict:
    """Every dataset of a prediction cache, plus the JSON attributes named in ``attrs``."""
    with h5py.File(path, "r") as f:
        result = {name: f[name][()] for name in f}
        result.update({name: json.loads(f.attrs[name]) for name in attrs})
    return result


def target_index(targets=apogee.TARGETS) -> dict[str, int]:
    return {t: i for i, t in enumerate(targets)}
