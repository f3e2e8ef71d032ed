"""astroNN model folders: checked before loading (:func:`check_model_folder`) and loaded offline
with clear errors (:func:`load_folder`)."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from astronn_paper import config
from astronn_paper.model.architecture import SUPPORTED_MODELS

#: Files an astroNN model folder must hold.
MODEL_FOLDER_FILES = ("astroNN_model_parameter.json", "model_weights.h5")


class ModelFolderError(config.UserValueError):
    """A model folder that is missing, incomplete or does not match its architecture."""


def check_model_folder(folder) -> Path:
    """Validate an astroNN model folder before loading it; raise :class:`ModelFolderError`."""
    import json

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist")
    missing = [f for f in MODEL_FOLDER_FILES if not (folder / f).is_file()]
    if missing:
        raise ModelFolderError(f"model folder {folder} lacks {', '.join(missing)}: it is not a "
                               "complete astroNN model folder")
    try:
        params = json.loads((folder / MODEL_FOLDER_FILES[0]).read_text())
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{folder / MODEL_FOLDER_FILES[0]} is not valid JSON: {exc}") from None
    ident = params.get("id")
    if ident not in SUPPORTED_MODELS:
        raise ModelFolderError(f"model folder {folder} holds a {ident!r}; supported: "
                               f"{', '.join(SUPPORTED_MODELS)}")
    for key in ("input", "labels", "input_mean", "input_std", "labels_mean", "labels_std",
                "targetname"):
        if key not in params:
            raise ModelFolderError(f"{folder / MODEL_FOLDER_FILES[0]} has no {key!r}")
    import h5py

    try:
        with h5py.File(folder / "model_weights.h5", "r") as f:
            if "model_config" not in f.attrs:
                raise ModelFolderError(f"{folder / 'model_weights.h5'} has no Keras model config")
    except OSError as exc:
        raise ModelFolderError(f"{folder / 'model_weights.h5'} is not a readable HDF5 file "
                               f"({exc})") from None
    return folder


def _seed_if_deterministic() -> None:
    """With TF op determinism on (``TF_DETERMINISTIC_OPS=1``, e.g. inherited from a process
    that trained a network) every random op needs a global seed, and building astroNN's
    MCDropout layers in ``load_folder`` would fail without one. Set a fixed one then (the
    engine seeds its own dropout masks; nothing else is drawn while loading)."""
    import tensorflow as tf
    from tensorflow.python.eager import context

    from astronn_paper import config

    on = os.environ.get("TF_DETERMINISTIC_OPS", "").lower() in ("1", "true")
    try:
        on = on or tf.config.experimental.is_op_determinism_enabled()
    except AttributeError:  # pragma: no cover - older TF
        pass
    if on and context.global_seed() is None:
        tf.random.set_seed(config.seed_for("load_model"))


#: Warnings of ``load_folder`` that are expected for this project's model folders (regexes).
LOAD_WARNINGS = ("Error in loading the saved optimizer state",
                 config.UNSEEDED_INITIALIZER_WARNING)


def load_folder(folder):
    """``astroNN.models.load_folder`` after :func:`check_model_folder`, with clear errors (no
    network access)."""
    import contextlib
    import io

    folder = check_model_folder(folder)
    from astroNN.models import load_folder as astronn_load_folder

    _seed_if_deterministic()
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # expected, not a problem: the shipped folders hold weights only (the optimizer
            # state is stripped), and Keras re-creates the layers' initializers while building
            for message in LOAD_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=UserWarning)
            return astronn_load_folder(str(folder))
    except Exception as exc:   # noqa: BLE001 - anything astroNN/Keras raises on a bad folder
        raise ModelFolderError(f"cannot load the astroNN model in {folder}: "
                               f"{type(exc).__name__}: {exc}") from None
