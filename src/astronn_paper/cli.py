"""``python -m astronn_paper``: the command line.

Each command lives in its own module, which exposes ``register(subparsers)``; modules are
imported when the parser is built, so none of them may import TensorFlow at top level.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: (module, description) of every command, in the order --help lists them.
COMMAND_MODULES = (
    "astronn_paper.pipeline.stages",      # run
    "astronn_paper.synth.cli",     # synth
    "astronn_paper.dataset.build",       # compile
    "astronn_paper.model.train",         # train
    "astronn_paper.model.predict",       # predict
    "astronn_paper.model.bench",         # bench
    "astronn_paper.analysis.catalog",       # catalog
    "astronn_paper.analysis.cannon",        # cannon
    "astronn_paper.analysis.response",      # response
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
