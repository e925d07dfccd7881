"""How the ``remrepl`` commands' help reads: filled paragraphs, then the examples as written."""

from __future__ import annotations

import argparse
from typing import Any

COMMENT_COLUMN = 56  # an example's comment starts here, unless its command is longer


class HelpFormatter(argparse.HelpFormatter):
    """Paragraphs fill the terminal's width; a block of indented lines (the examples) stays as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap  # only when help is printed, as argparse does

        blocks = []
        for block in textwrap.dedent(text).strip("\n").split("\n\n"):
            if any(line.startswith(" ") for line in block.splitlines()):
                blocks.append(textwrap.indent(block, indent))
            else:
                filled = textwrap.fill(" ".join(block.split()), width, initial_indent=indent, subsequent_indent=indent)
                blocks.append(filled)
        return "\n\n".join(blocks)


def examples(*lines: str) -> str:
    """An epilog: ``examples:`` and the given ``remrepl ...`` lines, their ``# why`` comments aligned.

    tests/cli/test_cli_help.py parses every one of them, so they cannot drift from the options.
    """
    split = [(command.rstrip(), comment.strip()) for command, _, comment in (line.partition(" # ") for line in lines)]
    width = max((len(command) for command, comment in split if comment and len(command) <= COMMENT_COLUMN), default=0)
    rows = [f"  {command.ljust(width)}  # {comment}" if comment else f"  {command}" for command, comment in split]
    return "examples:\n" + "\n".join(rows)


def add_command(
    commands: Any, name: str, *, help: str, description: str, epilog: str, usage: str | None = None
) -> argparse.ArgumentParser:
    """One subcommand, formatted like the others (its description filled, its examples kept). ``usage``:
    a short one instead of argparse's list of every option (which is what the groups below it show)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=description, epilog=epilog, usage=usage, formatter_class=HelpFormatter
    )
    return parser
