"""Every command and every flag says what it does in --help, and `patchgen --version` names the version."""

import argparse

import pytest

from patchgen import __version__
from patchgen.cli import build_parser


def commands(parser: argparse.ArgumentParser, path=("patchgen",)):
    """(command path, parser) for the parser and each subcommand below it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def test_every_flag_of_every_command_has_help():
    missing = [f"{' '.join(path)} {action.option_strings or action.dest}"
               for path, parser in commands(build_parser()) for action in parser._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help]
    assert not missing, missing
    assert len(list(commands(build_parser()))) > 10  # the walk reached the subcommands


def test_version_names_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"patchgen {__version__}"
