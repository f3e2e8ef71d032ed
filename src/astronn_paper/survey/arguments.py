"""The command-line options that choose a survey source and a data release, shared by the
``synth``, ``compile`` and ``catalog`` commands (argparse parent parsers), and
:func:`source_spec`, which turns them into the spec :func:`astronn_paper.dataset.sources.open_source`
takes."""
from __future__ import annotations

import argparse

from astronn_paper import config
from astronn_paper.survey import release as release_


def release_arguments(help: str) -> argparse.ArgumentParser:
    """A parent parser with ``--release dr14|dr17`` (``release.argtype``: a one-line usage
    error for anything else; default None, the caller's default)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--release", type=release_.argtype, default=None, metavar="dr14|dr17", help=help)
    return p


def source_arguments() -> argparse.ArgumentParser:
    """A parent parser with ``--source``, ``--mirror`` and ``--release``: read by
    :func:`source_spec`."""
    p = release_arguments(
        "data release of the mirror: SAS layout and apStar rows (default: $ASTRONN_PAPER_RELEASE "
        f"or {release_.DEFAULT_RELEASE}); implies --source mirror")
    p.add_argument("--source", choices=("synthetic", "mirror"), default=None,
                   help="survey source (default: $ASTRONN_PAPER_SOURCE or synthetic)")
    p.add_argument("--mirror", default=None,
                   help="SAS mirror root for --source mirror (default: $SDSS_LOCAL_SAS_MIRROR)")
    return p


def source_spec(args) -> dict | None:
    """The survey-source spec of ``--source/--mirror/--release`` (None: none given, the
    environment decides). ``--release`` or ``--mirror`` alone imply the mirror; a release other
    than DR14 with the synthetic source is a :class:`config.UserValueError`."""
    if not (args.source or args.mirror or args.release):
        return None
    spec = {"kind": args.source or "mirror"}
    if args.mirror:
        spec["root"] = args.mirror
    if args.release and spec["kind"] == "mirror":
        spec["release"] = args.release
    elif args.release not in (None, release_.DEFAULT_RELEASE):
        raise config.UserValueError(
            f"--release {args.release} needs a mirror source (--source mirror); the synthetic "
            f"survey is {release_.DEFAULT_RELEASE.upper()}")
    return spec
