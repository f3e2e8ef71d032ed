"""The shared --source/--mirror/--release options of synth, compile and catalog."""
import argparse

import pytest

from astronn_paper import cli, config
from astronn_paper.survey.arguments import source_spec


def _parse(command, *argv):
    return cli.build_parser().parse_args([command, *argv])


@pytest.mark.parametrize("command", ["compile", "catalog"])
def test_source_options_become_one_spec(command):
    assert source_spec(_parse(command)) is None                       # the environment decides
    assert source_spec(_parse(command, "--release", "17")) == {"kind": "mirror", "release": "dr17"}
    assert source_spec(_parse(command, "--mirror", "/m")) == {"kind": "mirror", "root": "/m"}
    assert source_spec(_parse(command, "--source", "synthetic", "--release", "dr14")) == \
        {"kind": "synthetic"}
    with pytest.raises(config.UserValueError, match="--release dr17 needs a mirror source"):
        source_spec(_parse(command, "--source", "synthetic", "--release", "DR17"))


def test_the_three_commands_share_one_release_option():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("synth", "compile", "catalog"):
        (release,) = [a for a in sub.choices[command]._actions if "--release" in a.option_strings]
        assert release.default is None and release.metavar == "dr14|dr17"
        assert release.type("DR17") == "dr17"
        with pytest.raises(argparse.ArgumentTypeError, match="unknown APOGEE release 'dr99'"):
            release.type("dr99")


def test_cli_main_hands_commands_a_resolved_profile(monkeypatch):
    seen = {}
    monkeypatch.setenv(config.PROFILE_ENV, "ci")
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), "synth", seen))
    assert cli.main(["synth"]) == 0
    assert seen["p"] is config.PROFILES["ci"]


def _with_func(parser, command, seen):
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices[command].set_defaults(func=lambda args: seen.setdefault("p", args.profile) and 0)
    return parser
