"""Train the paper's two networks with astroNN 1.1.0.

* ``censored`` - :class:`astroNN.models.ApogeeBCNNCensored`, the paper's network
  (folder ``astroNN_0617_run001``): a shared convolutional trunk plus, for each element, a
  branch that sees only that element's ASPCAP windows.
* ``bcnn`` - :class:`astroNN.models.ApogeeBCNN`, the full-spectrum network
  (folder ``astroNN_0606_run001``).

Both are Bayesian: dropout variational inference (MC dropout, rate 0.3) for the model
uncertainty and a second output head for the predictive (aleatoric) variance, trained with
astroNN's robust loss, which ignores labels equal to -9999 (missing ASPCAP values) and folds
each label's reported error into the likelihood. The learning rate follows astroNN's schedule
(halved after 2 epochs without improvement of the validation MAE).

The hyper-parameters are the paper's in every profile; only the number of epochs and the
size of the training set come from the profile.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from astronn_paper import apogee, cache, config

PROVENANCE_FILE = "provenance.json"
VAL_INDEX_FILE = "validation_index.npy"


@dataclass(frozen=True)
class NetworkSpec:
    """A network of the paper and its hyper-parameters (Leung & Bovy 2019, sect. 3)."""

    kind: str
    astronn_class: str
    folder: str
    num_hidden: tuple[int, ...]
    dropout_rate: float = 0.3
    lr: float = 5e-4
    batch_size: int = 64
    val_size: float = 0.1
    targets: tuple[str, ...] = apogee.TARGETS
    #: fixed by astroNN's architecture; recorded for the reader
    fixed: dict = field(default_factory=lambda: {
        "num_filters": [2, 4], "filter_len": 8, "pool_length": 4, "optimizer": "Adam",
        "lr_schedule": "ReduceLROnPlateau(val MAE, factor 0.5, patience 2)",
    })


NETWORKS: dict[str, NetworkSpec] = {
    "censored": NetworkSpec("censored", "ApogeeBCNNCensored", "astroNN_0617_run001",
                            num_hidden=(192, 64, 32, 16, 2)),
    "bcnn": NetworkSpec("bcnn", "ApogeeBCNN", "astroNN_0606_run001", num_hidden=(256, 128)),
}


def build_model(spec: NetworkSpec, epochs: int, batch_size: int | None = None):
    """An untrained astroNN model configured with the paper's hyper-parameters."""
    import astroNN.models

    cls = getattr(astroNN.models, spec.astronn_class)
    model = cls(lr=spec.lr, dropout_rate=spec.dropout_rate)
    model.num_hidden = list(spec.num_hidden)
    model.max_epochs = int(epochs)
    model.batch_size = int(batch_size or spec.batch_size)
    model.val_size = spec.val_size
    model.targetname = list(spec.targets)
    model.autosave = False
    model.verbose = 0
    return model


def subset_rows(n: int, fraction: float | None, seed: int) -> np.ndarray:
    """Sorted, seeded random subset of ``round(fraction * n)`` row indices (all if None)."""
    if fraction is None or fraction >= 1:
        return np.arange(n)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max(1, int(round(fraction * n))), replace=False))


def strip_optimizer(weights_file: os.PathLike) -> None:
    """Rewrite astroNN's ``model_weights.h5`` keeping only the weights (no Adam state).

    astroNN 1.1.0 stores the optimizer state beside the weights (3x the size); the weights
    group and the root attributes are all ``load_folder`` needs (it then warns that the
    optimizer state could not be restored, which only matters to resume training).
    """
    import h5py

    src = Path(weights_file)
    with cache.atomic_path(src) as tmp, h5py.File(src, "r") as fin, h5py.File(tmp, "w") as fout:
        for k, v in fin.attrs.items():
            fout.attrs[k] = v
        fin.copy("model_weights", fout)


def train_network(
    kind: str,
    dataset_path: os.PathLike,
    out_folder: os.PathLike,
    profile=None,
    fraction: float | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    keep_optimizer: bool = False,
    extra_provenance: dict | None = None,
) -> Path:
    """Train one network on the combined spectra of a compiled training set.

    The folder is written under a temporary name and renamed when complete, so an
    interrupted training never leaves a half-written model folder (a restart trains from
    scratch, with the same seeds, hence the same weights up to TF's CPU determinism).
    Returns the model folder.
    """
    from astronn_paper import dataset

    spec = NETWORKS[kind]
    p = config.get_profile(profile)
    seed = config.seed_for(f"train:{kind}:{fraction}", p) if seed is None else seed
    epochs = p.epochs if epochs is None else epochs
    out = Path(out_folder).resolve()

    x, y, x_err, y_err = dataset.load(dataset_path, targets=spec.targets, kind="combined")
    rows = subset_rows(len(x), fraction, seed)
    x, y, x_err, y_err = x[rows], y[rows], x_err[rows], y_err[rows]
    n_fit = len(x) - int(len(x) * spec.val_size)      # astroNN's validation split
    if n_fit < p.batch_size:
        raise ValueError(f"{len(x)} training spectra leave {n_fit} after astroNN's "
                         f"{spec.val_size:.0%} validation split, fewer than one batch of "
                         f"{p.batch_size}: compile at least "
                         f"{math.ceil(p.batch_size / (1 - spec.val_size)) + 1} stars")

    # The robust loss exponentiates a predicted log-variance: on rare seeds a training run
    # blows up to NaN (seen once in the default profile, at epoch 23 of 60). Such a run is
    # stopped at the first NaN batch and trained again from scratch with the next seed of a
    # fixed sequence (same rows), so that no diverged network is ever saved.
    attempts = []
    t0 = time.time()
    for attempt in range(MAX_TRAINING_ATTEMPTS):
        training_seed = seed if attempt == 0 else config.seed_for(
            f"train:{kind}:{fraction}:{seed}:retry{attempt}", p)
        config.set_global_seeds(training_seed)
        model = build_model(spec, epochs=epochs, batch_size=p.batch_size)
        _fit(model, x, y, x_err, y_err)
        nan_epoch = _first_nan_epoch(model.history.history)
        attempts.append({"training_seed": training_seed, "diverged_at_epoch": nan_epoch})
        if nan_epoch is None:
            break
        print(f"training of {out.name} diverged (NaN loss at epoch {nan_epoch}) with seed "
              f"{training_seed}; training again from scratch with the next seed", flush=True)
    else:
        raise RuntimeError(f"training of {out.name} diverged (NaN loss) in all "
                           f"{MAX_TRAINING_ATTEMPTS} attempts: {attempts}")
    wall = time.time() - t0

    tmp = out.with_name(out.name + f".partial-{os.getpid()}")
    _remove_stale_partials(out)
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    if not keep_optimizer:
        strip_optimizer(tmp / "model_weights.h5")
    np.save(tmp / VAL_INDEX_FILE, rows[np.asarray(model.val_idx)])
    provenance = {
        "network": asdict(spec) | {"epochs": epochs},
        "profile": p.name,
        "profile_settings": p.as_dict(),
        "seed": seed,
        "training_seed": training_seed,
        "training_attempts": attempts,
        "training_fraction": fraction,
        "n_train": int(model.num_train),
        "n_validation": int(model.val_num),
        "dataset": config.shown_path(dataset_path),
        "dataset_fingerprint": dataset.fingerprint(dataset_path),
        "source": (dataset.info(dataset_path).get("provenance") or {}).get("source"),
        "training_wall_time_s": round(wall, 1),
        "versions": cache.versions("astroNN", "tensorflow", "numpy", "h5py"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "validation_index": f"{VAL_INDEX_FILE}: rows of the dataset's combined group used for validation",
        "optimizer_state": "kept" if keep_optimizer else "stripped (weights only)",
    } | (extra_provenance or {})
    (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, default=str) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


#: Trainings of one network before giving up when each diverges to a NaN loss.
MAX_TRAINING_ATTEMPTS = 3


def _fit(model, x, y, x_err, y_err) -> None:
    """astroNN's fit, stopped at the first NaN batch (Keras ``TerminateOnNaN``)."""
    import warnings

    import tensorflow as tf

    model.callbacks = [tf.keras.callbacks.TerminateOnNaN()]
    # astroNN prints "Number of Training Data: ..., Number of Validation Data: ..." and its
    # progress to stdout; the provenance records those numbers, so they are kept out of the
    # notebooks' outputs
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # how astroNN's networks are built (config.UNSEEDED_INITIALIZER_WARNING), not a fault
        warnings.filterwarnings("ignore", message=config.UNSEEDED_INITIALIZER_WARNING,
                                category=UserWarning)
        # astroNN passes the input errors to Keras in a dict the network does not read
        warnings.filterwarnings("ignore", message="Input dict contained keys",
                                category=UserWarning)
        model.fit(x, y, inputs_err=x_err, labels_err=y_err)


def _first_nan_epoch(history: dict) -> int | None:
    """First epoch (0-based) whose training or validation loss is not finite, else None."""
    for key in ("loss", "val_loss"):
        values = np.asarray(history.get(key, []), float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            return int(bad[0])
    return None


def training_diverged(folder: os.PathLike) -> bool:
    """Whether a model folder's ``training_history.csv`` holds a non-finite loss (a network
    that blew up: its weights are NaN or meaningless)."""
    import pandas as pd

    path = Path(folder) / "training_history.csv"
    if not path.is_file():
        return False
    hist = pd.read_csv(path)
    return _first_nan_epoch({k: hist[k].to_numpy() for k in ("loss", "val_loss")
                             if k in hist}) is not None


def _remove_stale_partials(out: Path) -> None:
    """Delete ``<out>.partial-<pid>`` folders left by killed trainings (process gone)."""
    for stale in out.parent.glob(out.name + ".partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                continue            # still running: another training of the same folder
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        shutil.rmtree(stale, ignore_errors=True)


def read_layer_config(folder: os.PathLike) -> dict:
    """The Keras layer configuration stored in a model folder's ``model_weights.h5`` (the
    network's own description of its layers, read without building it)."""
    import h5py

    with h5py.File(Path(folder) / "model_weights.h5", "r") as f:
        raw = f.attrs["model_config"]
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def read_provenance(folder: os.PathLike) -> dict:
    path = Path(folder) / PROVENANCE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def training_history(folder: os.PathLike):
    """astroNN's ``training_history.csv`` of a model folder as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(Path(folder) / "training_history.csv")


# --------------------------------------------------------------------------- cached access
def model_folder(kind: str = "censored", profile=None, variant: str | None = None) -> Path:
    """Where the pipeline keeps a model of a profile (``<data>/<profile>/models/<folder>``)."""
    spec = NETWORKS[kind]
    name = spec.folder if variant is None else variant
    return config.models_dir(profile) / name


def ensure_model(
    kind: str = "censored",
    profile=None,
    dataset_path: os.PathLike | None = None,
    variant: str | None = None,
    fraction: float | None = None,
    force: bool = False,
    seed: int | None = None,
) -> Path:
    """Return a trained model folder, training it only when needed.

    A folder is reused when its provenance names the same dataset fingerprint, profile,
    epochs, training fraction and seed (``None``: the profile's seed for this network and
    fraction, as :func:`train_network` draws it). For the ``default`` profile the shipped top-level
    ``astroNN_0617_run001`` is reused when it was trained on the same dataset.
    """
    from astronn_paper import dataset

    p = config.get_profile(profile)
    if dataset_path is None:
        dataset_path = dataset.build_standard_sets(p)["train"]
    want = {
        "dataset_fingerprint": dataset.fingerprint(dataset_path),
        "profile": p.name,
        "epochs": p.epochs,
        "training_fraction": fraction,
        "seed": config.seed_for(f"train:{kind}:{fraction}", p) if seed is None else int(seed),
    }

    def mismatch(folder: Path) -> str | None:
        """Why ``folder`` cannot be reused (None when it can)."""
        if not (folder / "model_weights.h5").is_file():
            return "no weights"
        prov = read_provenance(folder)
        have = {
            "dataset_fingerprint": prov.get("dataset_fingerprint"),
            "profile": prov.get("profile"),
            "epochs": prov.get("network", {}).get("epochs"),
            "training_fraction": prov.get("training_fraction"),
            "seed": prov.get("seed"),
        }
        diff = [f"{k} {have[k]} (needs {want[k]})" for k in want if have[k] != want[k]]
        if diff:
            return "trained with another " + ", ".join(diff)
        if training_diverged(folder):
            return "its training diverged"
        return None

    folder = model_folder(kind, p, variant)
    name = variant or NETWORKS[kind].folder
    if not force:
        if mismatch(folder) is None:
            return folder
        shipped = config.shipped_model_dir(name)
        if not retrain_requested() and shipped.is_dir():
            why = mismatch(shipped)
            if why is None:
                return shipped
            print(f"training {name}: the shipped folder does not fit this dataset ({why})",
                  flush=True)
    return train_network(kind, dataset_path, folder, p, fraction=fraction, seed=want["seed"])


#: Set (to 1) by ``run --retrain``: never reuse the networks shipped with the repository.
RETRAIN_ENV = "ASTRONN_PAPER_RETRAIN"


def retrain_requested() -> bool:
    """Whether the shipped networks are to be ignored (``run --retrain``)."""
    return os.environ.get(RETRAIN_ENV, "").strip() not in ("", "0")


#: Folder of the censored network trained on ASPCAP-normalised spectra (the paper's name).
ASPCAP_VARIANT = "aspcapStar_BCNNCensored"


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


def default_networks(profile=None) -> list[dict]:
    """Every network the notebooks of a profile use, as ``ensure_model`` keyword arguments:
    the censored and full-spectrum networks, the ASPCAP-normalised censored network and the
    small-data networks (one per fraction and replicate)."""
    from astronn_paper import dataset

    p = config.get_profile(profile)
    sets = dataset.build_standard_sets(p)
    out = [dict(kind="censored", dataset_path=sets["train"]),
           dict(kind="bcnn", dataset_path=sets["train"]),
           dict(kind="censored", variant=ASPCAP_VARIANT,
                dataset_path=dataset.build_standard_sets(p, normalisation="aspcap")["train"])]
    for frac in p.small_data_fractions:
        for rep in range(p.small_data_replicates):
            out.append(dict(kind="censored", dataset_path=sets["train"], fraction=frac,
                            variant=small_data_variant(frac, rep), seed=replicate_seed(frac, rep, p)))
    return out


def publish_shipped_model(folder: os.PathLike, dest: os.PathLike | None = None) -> Path:
    """Copy a trained model folder to the repository top level (weights only), where
    :func:`ensure_model` finds it; a ``domain.npz`` already shipped there is kept."""
    src = Path(folder)
    dest = Path(dest) if dest else config.shipped_model_dir(src.name)
    kept = dest / "domain.npz"
    with cache.atomic_path(dest) as tmp:
        shutil.copytree(src, tmp)
        if kept.is_file() and not (tmp / kept.name).exists():
            shutil.copy2(kept, tmp / kept.name)     # the out-of-domain model of the same data
        strip_optimizer(tmp / "model_weights.h5")
        prov = read_provenance(tmp)
        prov["about"] = SHIPPED_MODEL_NOTE.format(source=prov.get("source", "the synthetic DR14 survey"))
        (tmp / PROVENANCE_FILE).write_text(json.dumps(prov, indent=2, default=str) + "\n")
    return dest


#: What the shipped folder's provenance says about its data and how to retrain it.
SHIPPED_MODEL_NOTE = (
    "Trained by the 'default' profile of astronn_paper on {source}: spectra from the package's "
    "forward model at the real DR14 positions, NOT real APOGEE spectra. It demonstrates the "
    "method; for science retrain on a real DR14 mirror: export SDSS_LOCAL_SAS_MIRROR=/path/to/sas "
    "ASTRONN_PAPER_SOURCE=mirror; python -m astronn_paper train --profile paper "
    "(or run the whole chain with python -m astronn_paper run --profile paper)."
)


# --------------------------------------------------------------------------- command line
def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train the censored (paper) or full-spectrum network")
    p.add_argument("--profile", default=None, choices=sorted(config.PROFILES),
                   help="run size (default: $ASTRONN_PAPER_PROFILE or 'default')")
    p.add_argument("--network", choices=sorted(NETWORKS), default="censored",
                   help="censored (the paper's astroNN_0617_run001) or bcnn (full spectrum, "
                        "astroNN_0606_run001)")
    p.add_argument("--dataset", default=None, help="training HDF5 (default: the profile's)")
    p.add_argument("--out", default=None, help="model folder (default: the profile's models dir)")
    p.add_argument("--fraction", type=float, default=None, help="train on a seeded subset")
    p.add_argument("--force", action="store_true", help="retrain even if a matching model exists")
    p.add_argument("--all", action="store_true",
                   help="train (or reuse) every network the profile's notebooks use")
    p.add_argument("--ship", action="store_true",
                   help="with --all: copy the trained folders to the repository's top level "
                        "(weights only), where run finds them")
    p.set_defaults(func=_cli)


def train_all(profile=None, force: bool = False, ship: bool = False) -> list[Path]:
    """Train (or reuse) every network of :func:`default_networks`; with ``ship``, copy each
    folder trained here to the repository's top level."""
    folders = []
    for kw in default_networks(profile):
        t0 = time.time()
        folder = ensure_model(profile=profile, force=force, **kw)
        print(f"{folder.name:<28} {config.shown_path(folder):<50} ({time.time() - t0:6.0f} s)",
              flush=True)
        if ship and folder.parent != config.repo_root():
            folder = publish_shipped_model(folder)
            print(f"{'':<28} shipped as {config.shown_path(folder)}", flush=True)
        folders.append(folder)
    return folders


def _cli(args) -> int:
    if args.dataset and not Path(args.dataset).is_file():
        print(f"train: no dataset file {args.dataset}", file=sys.stderr)
        return 2
    if args.all:
        train_all(args.profile, force=args.force, ship=args.ship)
        return 0
    try:
        if args.out:
            from astronn_paper import dataset

            ds = args.dataset or dataset.build_standard_sets(args.profile)["train"]
            folder = train_network(args.network, ds, args.out, args.profile, fraction=args.fraction)
        else:
            folder = ensure_model(args.network, args.profile, args.dataset, fraction=args.fraction,
                                  force=args.force)
    except ValueError as exc:       # bad fraction, too few spectra: one line, no traceback
        print(f"train: {exc}", file=sys.stderr)
        return 2
    prov = read_provenance(folder)
    print(f"model folder: {config.shown_path(folder)}")
    print(f"trained on {prov.get('n_train')} spectra (+{prov.get('n_validation')} validation) "
          f"in {prov.get('training_wall_time_s')} s")
    return 0
