"""Which survey source the chain reads: the synthetic survey (:mod:`astronn_paper.synth`) or
a SAS mirror on disk (:mod:`astronn_paper.survey.mirror`). The one place that sees both."""
from __future__ import annotations

import os

from astronn_paper import config
from astronn_paper.survey.source import SurveySource


#: The data release of a mirror source opened without one (dr14 or dr17; default dr14).
RELEASE_ENV = "ASTRONN_PAPER_RELEASE"
#: The survey source when none is given (synthetic or mirror; default synthetic).
SOURCE_ENV = "ASTRONN_PAPER_SOURCE"


class UnknownSource(config.UserValueError):
    """A survey source that is neither ``synthetic`` nor ``mirror``."""


class UnknownRelease(config.UserValueError):
    """A data release that is not one of :data:`astronn_paper.survey.release.RELEASES`."""


class NoMirror(config.UserError, RuntimeError):
    """A mirror source asked for with no mirror folder given (``SDSS_LOCAL_SAS_MIRROR`` unset)."""


def open_source(spec: dict | str | None = None, profile=None) -> SurveySource:
    """Open a survey source.

    ``spec`` is ``"synthetic"`` (the default), ``"mirror"`` (``SDSS_LOCAL_SAS_MIRROR``), or a
    dict from :meth:`SurveySource.spec` (a mirror's may name its ``"release"``, dr14 or dr17;
    without one, ``ASTRONN_PAPER_RELEASE``, else dr14). ``None`` reads ``ASTRONN_PAPER_SOURCE``.
    """
    from_env = spec is None and bool(os.environ.get(SOURCE_ENV))
    if spec is None:
        spec = os.environ.get(SOURCE_ENV) or "synthetic"
    if isinstance(spec, str):
        spec = {"kind": spec}
    kind = spec.get("kind")
    if kind == "synthetic":
        from astronn_paper.synth.source import SyntheticSource

        p = config.get_profile(profile)
        return SyntheticSource(seed=spec.get("seed", p.survey_seed))
    if kind == "mirror":
        from astronn_paper.survey import mirror, release

        rel = spec.get("release") or os.environ.get(RELEASE_ENV) or release.DEFAULT_RELEASE
        try:
            release.check(rel)
        except ValueError:
            where = "" if spec.get("release") else f" (from the environment variable {RELEASE_ENV})"
            raise UnknownRelease(f"unknown APOGEE release {rel!r}{where}: use one of "
                                 f"{', '.join(release.RELEASES)}") from None
        try:
            root = mirror.mirror_root(spec.get("root"))
        except RuntimeError as exc:                # no root given and SDSS_LOCAL_SAS_MIRROR unset
            raise NoMirror(str(exc)) from None
        if not root.is_dir():
            where = "" if spec.get("root") else f" (the environment variable {config.MIRROR_ENV})"
            raise NoMirror(f"the SAS mirror folder {root}{where} does not exist: point "
                           f"{config.MIRROR_ENV} (or --mirror) at the folder holding dr14/apogee/... "
                           "or dr17/apogee/..., or export the synthetic survey there with "
                           "'python -m astronn_paper synth --mirror DIR'")
        return mirror.MirrorSource(root, columns=spec.get("columns"), release=rel)
    where = f" (from the environment variable {SOURCE_ENV})" if from_env else ""
    raise UnknownSource(f"unknown survey source {kind if kind is not None else spec!r}{where}: "
                        "use 'synthetic' or 'mirror'")
