"""``python -m astronn_paper``: the command line.

Each command lives in its own module, which exposes ``register(subparsers)``; modules are
imported when the parser is built, so none of them may import TensorFlow at top level.

Errors: a user's mistake - a bad option (argparse), or one of the project's own error types
(:class:`astronn_paper.config.UserError`: a bad profile, source or release, a missing mirror
or file, a bad model folder or input spectrum) - gives one line ``error: ...`` on stderr and
exit status 2, from every command; a traceback means a bug.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

#: The commands' modules, in the order --help lists them.
COMMAND_MODULES = (
    "astronn_paper.pipeline.stages",      # run
    "astronn_paper.dataset.export",     # synth
    "astronn_paper.dataset.build",       # compile
    "astronn_paper.model.train",         # train
    "astronn_paper.model.predict",       # predict
    "astronn_paper.model.bench",         # bench
    "astronn_paper.analysis.commands",      # catalog, cannon, response
)

#: Exit status of a user's mistake (argparse's own).
EXIT_USER_ERROR = 2

#: Help of a ``--profile`` option that has none.
PROFILE_HELP = "run size: ci, default or paper (default: $ASTRONN_PAPER_PROFILE, else default)"


def one_line(message) -> str:
    """``message`` (a text or an exception) on one line, its lines joined; an exception's own
    text, without the quotes ``KeyError`` puts around it."""
    if isinstance(message, BaseException) and len(message.args) == 1 and isinstance(message.args[0], str):
        message = message.args[0]
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line ``error: ...`` (exit status 2)
    that points to the command's ``--help`` instead of the usage block."""

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"error: {one_line(message)} (see '{self.prog} --help')\n")


def _subparsers(parser: argparse.ArgumentParser):
    """Every sub-command parser under ``parser``, recursively."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield sub
                yield from _subparsers(sub)


def _same_profile_choices(parser: argparse.ArgumentParser) -> None:
    """Every ``--profile`` of every command offers the same choices, the profiles of
    :data:`astronn_paper.config.PROFILES` (and says so in its help)."""
    from astronn_paper import config

    names = sorted(config.PROFILES)
    for sub in _subparsers(parser):
        for action in sub._actions:
            if "--profile" in action.option_strings:
                action.choices = names
                action.help = action.help or PROFILE_HELP


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m astronn_paper",
        description="Reproduce Leung & Bovy (2019): build datasets, train, infer, make figures.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == name or name.startswith(exc.name + ".")):
                continue  # command not built yet
            raise
        module.register(sub)
    _same_profile_choices(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    from astronn_paper import config

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        # the profile is resolved once, here: a command with --profile receives a config.Profile;
        # a typo in the environment stops every command but 'test' (which runs with ci)
        if hasattr(args, "profile"):
            args.profile = config.get_profile(args.profile)
        elif args.command != "test":
            config.get_profile(None)
        return int(args.func(args) or 0)
    except config.UserError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:       # output piped into head & co, which stopped reading early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 1
