"""``remrepl``'s help as a user reads it: the real entry point in a subprocess, examples that still parse."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from remrepl.cli.parser import build_parser, normalise
from tests.support.cli import remrepl_command

COMMANDS = ("connect", "exec", "ls", "serve", "up", "status", "down")
RUN_TIMEOUT = 60.0  # an upper bound for one run, so a hang fails the test instead of blocking it


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*remrepl_command(), *args],
        input="",
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )


def example_commands(help_text: str) -> list[list[str]]:
    """The ``remrepl ...`` lines of the help's ``examples:`` block, as argument lists (comments dropped)."""
    lines = help_text.split("\nexamples:\n", 1)[1].splitlines()
    commands = []
    for line in lines:
        if not line.startswith("  "):
            break
        words = shlex.split(line, comments=True)
        assert words[0] == "remrepl", line
        commands.append(words[1:])
    return commands


def headings(help_text: str) -> list[str]:
    """The section headings of a help text, in order (``options:``, argument groups' titles)."""
    return [
        line[:-1]
        for line in help_text.split("\nexamples:\n", 1)[0].splitlines()
        if line.endswith(":") and not line.startswith(" ")
    ]


def test_bare_remrepl_lists_the_commands_as_a_usage_error() -> None:
    result = run_cli()
    assert result.returncode == 2  # argparse's status for a missing argument
    assert result.stdout == ""
    assert result.stderr.startswith("usage: remrepl")
    for command in COMMANDS:
        assert any(line.split()[:1] == [command] for line in result.stderr.splitlines()), command
    assert "examples:" in result.stderr


def test_remrepl_help_lists_the_commands_and_ends_with_examples() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ") and line.split()]
    assert listed == list(COMMANDS)  # the everyday ones first
    assert len(example_commands(result.stdout)) >= 4
    assert "COMMAND --help" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_ends_with_examples_of_that_command(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    examples = example_commands(result.stdout)
    assert examples
    assert all(words[0] == command for words in examples)
    assert result.stdout.rstrip().splitlines()[-1].startswith("  remrepl ")  # they end the help


@pytest.mark.parametrize("command", ["connect", "exec"])
def test_connect_and_exec_group_their_options_common_first_ec2_last(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    groups = headings(result.stdout)
    assert groups[:2] == ["positional arguments", "options"]
    assert groups[2].startswith("a new server (--launch")
    assert groups[-2].startswith("with --launch [ssh://]")
    assert groups[-1].startswith("with --launch ec2")
    general = result.stdout.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
    assert "--connection-file" in general and "--password-file" in general
    assert "--region" not in general and "--ssh-config" not in general


def test_every_example_in_every_help_parses() -> None:
    helps = [run_cli("--help").stdout, *(run_cli(command, "--help").stdout for command in COMMANDS)]
    parser = build_parser()
    examples = [words for text in helps for words in example_commands(text)]
    assert len(examples) > len(COMMANDS)
    for words in examples:
        args = parser.parse_args(normalise([os.path.expanduser(word) for word in words]))
        assert args.command == words[0]


def test_an_example_that_no_longer_parses_is_caught() -> None:
    # The check above is only worth something if a drifted example makes parse_args fail.
    with pytest.raises(SystemExit):
        build_parser().parse_args(["connect", "--no-such-option"])


def test_help_imports_none_of_the_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from remrepl.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=RUN_TIMEOUT, check=True
    )
    loaded = set(result.stdout.split())
    heavy = {"zmq", "nacl", "prompt_toolkit", "pygments", "paramiko", "cryptography", "boto3", "botocore"}
    assert not heavy & loaded
    assert not {name for name in loaded if name.startswith(("remrepl.client.session", "remrepl.launchers"))}
