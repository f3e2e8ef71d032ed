"""Profiles, paths and seeds: the one place that says how big a run is and where it writes.

A *profile* is a plain, documented set of sizes, epochs, Monte-Carlo passes and seeds:

========  ===========================================  ==========================
profile   for                                          wall-clock on 2 CPU cores
========  ===========================================  ==========================
ci        tests, nbval, CI (a few epochs, small MC)    whole chain <= 10 min
default   the README's main command (~1/4 paper scale)  whole chain <= 60 min
paper     full reproduction (GPU or a long CPU run)     as fast as hardware allows
========  ===========================================  ==========================

The profile of a run comes from, in order: an explicit argument, the papermill
parameter of a notebook, the ``ASTRONN_PAPER_PROFILE`` environment variable, ``default``.

Paths: everything generated lives under the *data folder* (``ASTRONN_PAPER_DATA``, by
default ``<repository>/data``), one sub-folder per profile; figures of the ``default``
profile go to ``<repository>/figs`` (what the committed notebooks show), those of other
profiles under their data folder.
"""
from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROFILE_ENV = "ASTRONN_PAPER_PROFILE"
DATA_ENV = "ASTRONN_PAPER_DATA"
ROOT_ENV = "ASTRONN_PAPER_ROOT"
#: The SAS mirror root, read where astroNN reads it (:mod:`astronn_paper.survey.mirror`).
MIRROR_ENV = "SDSS_LOCAL_SAS_MIRROR"


@dataclass(frozen=True)
class Profile:
    """Sizes, epochs, MC passes and seeds of one kind of run.

    ``None`` for a size means "everything the paper's cuts select".
    """

    name: str
    #: training set: combined spectra passing the paper's training cuts (SNR > 200).
    n_train: int | None
    #: high-SNR test set: combined spectra with 100 < SNR < 200.
    n_test: int | None
    #: whether individual visits are compiled (for the training and test stars).
    visits: bool
    #: training epochs of both networks (paper: 60).
    epochs: int
    #: MC-dropout passes at inference (paper: 100).
    mc_passes: int
    #: allStar rows predicted for the whole-survey catalog (None = every row with a spectrum).
    n_catalog: int | None
    #: fractions of the training set for the small-data study.
    small_data_fractions: tuple[float, ...]
    #: networks trained per fraction in the small-data study, each on its own seeded subset
    #: with its own initialisation: their spread is the training noise of the scatter.
    small_data_replicates: int = 1
    #: master seed: every random draw of a run derives from it (see :func:`seed_for`).
    seed: int = 42
    #: seed of the synthetic survey (the same survey for every profile by default).
    survey_seed: int = 2019
    #: batch size of training (paper: 64).
    batch_size: int = 64
    #: worker processes for compile / generation.
    workers: int = field(default_factory=lambda: max(1, min(2, os.cpu_count() or 1)))

    def replace(self, **changes) -> "Profile":
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


#: The fewest MC-dropout passes of a prediction (astroNN refuses fewer too): the one bound behind
#: every ``--mc`` option and the engine's check.
MIN_MC_PASSES = 2

PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci", n_train=1200, n_test=400, visits=True, epochs=4, mc_passes=20,
        n_catalog=2000, small_data_fractions=(0.5, 0.25), seed=7,
    ),
    "default": Profile(
        name="default", n_train=8000, n_test=3000, visits=True, epochs=60, mc_passes=100,
        n_catalog=20000, small_data_fractions=(0.5, 0.25, 0.125, 0.0625, 0.03125),
        small_data_replicates=2, seed=42,
    ),
    "paper": Profile(
        name="paper", n_train=None, n_test=None, visits=True, epochs=60, mc_passes=100,
        n_catalog=None, small_data_fractions=(0.5, 0.25, 0.125, 0.0625, 0.03125),
        small_data_replicates=2, seed=42,
    ),
}


def get_profile(profile: "str | Profile | None" = None) -> Profile:
    """Resolve a profile by name (or pass one through); ``None`` reads the environment.

    An unknown name raises :class:`UnknownProfile` (a ``ValueError``) naming the choices and,
    when the name came from ``ASTRONN_PAPER_PROFILE``, the variable."""
    if isinstance(profile, Profile):
        return profile
    from_env = not profile and bool(os.environ.get(PROFILE_ENV))
    name = profile or os.environ.get(PROFILE_ENV) or "default"
    try:
        return PROFILES[name]
    except KeyError:
        where = f" (from the environment variable {PROFILE_ENV})" if from_env else ""
        raise UnknownProfile(f"unknown profile {name!r}{where}; choose one of "
                             f"{', '.join(sorted(PROFILES))}") from None


# --------------------------------------------------------------------------- user errors
class UserError(Exception):
    """A mistake of the user's, not a bug: a bad name (profile, source, release), a missing
    mirror, file or folder, an input file that cannot be used.

    The command line (:func:`astronn_paper.cli.main`) prints its message as one line
    ``error: <message>`` and exits with status :attr:`exit_status`, without a traceback; the
    message says what is wrong and what to do. Subclasses also derive from the built-in type
    they replaced (``ValueError``, ``RuntimeError``, ``FileNotFoundError``), so existing
    ``except`` clauses still catch them.
    """

    exit_status = 2


class UserValueError(UserError, ValueError):
    """A bad value given by the user (an option, an environment variable, an argument)."""


class UnknownProfile(UserValueError):
    """A profile name that is not one of :data:`PROFILES`."""


# --------------------------------------------------------------------------- paths
def repo_root() -> Path:
    """The repository (project) root: ``ASTRONN_PAPER_ROOT``, else the checkout holding
    this package (``src/astronn_paper`` layout), else the current directory."""
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file() and (here / "src" / "astronn_paper").is_dir():
        return here
    return Path.cwd().resolve()


def data_dir(profile: "str | Profile | None" = None) -> Path:
    """Folder holding every generated artifact of a profile (created on demand)."""
    base = Path(os.environ.get(DATA_ENV) or repo_root() / "data")
    d = base / get_profile(profile).name
    d.mkdir(parents=True, exist_ok=True)
    return d


def sub_dir(name: str, profile: "str | Profile | None" = None) -> Path:
    d = data_dir(profile) / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def datasets_dir(profile=None) -> Path:
    return sub_dir("datasets", profile)


def models_dir(profile=None) -> Path:
    return sub_dir("models", profile)


def predictions_dir(profile=None) -> Path:
    return sub_dir("predictions", profile)


def mirror_dir(profile=None) -> Path:
    """Where the synthetic survey is exported as a SAS mirror for this profile."""
    return sub_dir("sas_mirror", profile)


def figs_dir(profile=None) -> Path:
    """Figures: ``<repo>/figs`` for the default profile, else ``<data>/<profile>/figs``."""
    p = get_profile(profile)
    d = repo_root() / "figs" if p.name == "default" else data_dir(p) / "figs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def shown_path(path: os.PathLike) -> str:
    """``path`` as printed and recorded: relative to the data folder (``data/...``) or the
    repository when inside them, else its name only - never a machine's absolute path."""
    path = Path(path).resolve()
    data = Path(os.environ.get(DATA_ENV) or repo_root() / "data").resolve()
    for base, prefix in ((data, "data"), (repo_root(), "")):
        if path.is_relative_to(base):
            rel = path.relative_to(base).as_posix()
            return f"{prefix}/{rel}" if prefix else rel
    return path.name


def shared_reference_dir() -> Path | None:
    """The project's shared reference folder (``../shared/reference`` beside the repository:
    the paper's numbers, the Meszaros table, PARSEC isochrones), or None when absent."""
    d = repo_root().parent / "shared" / "reference"
    return d if d.is_dir() else None


def shipped_model_dir(name: str = "astroNN_0617_run001") -> Path:
    """A model folder shipped at the top of the repository."""
    return repo_root() / name


# --------------------------------------------------------------------------- seeds
def seed_for(purpose: str, profile: "str | Profile | None" = None) -> int:
    """A deterministic 32-bit seed for one purpose (e.g. ``"train:censored"``) of a profile.

    Derived from the profile's master seed and the purpose's name, so that adding a new
    random draw somewhere never shifts the seeds of the others.
    """
    import zlib

    p = get_profile(profile)
    return (p.seed * 1_000_003 + zlib.crc32(purpose.encode())) % (2**32 - 1)


def set_global_seeds(seed: int, tensorflow: bool = True) -> None:
    """Seed Python's ``random``, NumPy's global generator and (optionally) TensorFlow, and turn
    on TF op determinism. (Not str hashing: ``PYTHONHASHSEED`` works only at interpreter start.)"""
    random.seed(seed)
    np.random.seed(seed % (2**32 - 1))
    # PYTHONHASHSEED is not set: str hashing is fixed when an interpreter starts, so setting it
    # in a running one has no effect on this process.
    if tensorflow:
        os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
        import tensorflow as tf

        tf.keras.utils.set_random_seed(seed)
        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # pragma: no cover - older TF
            pass


#: Keras 2.12's warning when one unseeded initializer instance builds several layers, as astroNN
#: 1.1.0 builds its networks (regex; expected, silenced where the project builds or loads them).
UNSEEDED_INITIALIZER_WARNING = "The initializer .* is unseeded"


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ INFO/WARNING lines (oneDNN and CUDA probes, "Executor start
    aborting") unless the user set ``TF_CPP_MIN_LOG_LEVEL``. Runs when the package is imported,
    so before TensorFlow is."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
