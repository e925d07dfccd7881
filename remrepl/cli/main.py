"""The ``remrepl`` command: ``serve``, ``connect``, ``exec`` and ``ls`` (``commands.py``); ``up``, ``status``
and ``down`` (``ec2.py``); the options of them all in ``parser.py``.

Before ``connect`` or ``exec`` starts anything, the project's ``[tool.remrepl]`` (``project_config.py``)
fills in what the flags did not say.

Only the parser is built at import: each command imports what it needs when it runs, so ``remrepl --help``
(and a mistyped option) does not pay for zmq, prompt_toolkit, paramiko or boto3.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .._exceptions import RemreplError
from . import ec2 as cli_ec2
from .parser import build_parser, normalise


def main(argv: Sequence[str] | None = None) -> int:
    argv = normalise(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `remrepl`: the commands, as a usage error (argparse's exit status 2)
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.command in ("connect", "exec"):  # the project's [tool.remrepl], before anything launches
            from .project_config import configure

            configure(args, argv)
        if args.command == "serve":
            from ..server import serve

            return serve.run(args)
        if args.command == "connect":
            from .commands import cmd_connect

            return cmd_connect(args)
        if args.command == "ls":
            from .commands import cmd_ls

            return cmd_ls(args)
        if args.command in ("up", "status", "down"):
            return cli_ec2.run(args)
        from .commands import cmd_exec

        return cmd_exec(args)
    except RemreplError as exc:
        print(f"remrepl: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader of our stdout went away (`remrepl exec FILE | head`)
        from .output import broken_pipe

        return broken_pipe()
    except KeyboardInterrupt:
        print("remrepl: interrupted", file=sys.stderr)
        return 130
