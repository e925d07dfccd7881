"""The command line's shape: every command and option of ``remrepl``, grouped and with examples
(``build_parser``), and ``normalise``, which lets ``exec FILE`` take the script's own options.

Building the parser imports nothing a command needs, so ``remrepl --help`` and a mistyped option stay fast.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from .. import __version__
from .._files import PASSWORD_ENV
from . import ec2 as cli_ec2
from .help import HelpFormatter, add_command, examples
from .packages import add_arguments as add_package_arguments
from .workdir import add_arguments as add_workdir_arguments

if TYPE_CHECKING:
    pass


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``connect`` and ``exec``, common ones first: which server, then each launch target's."""
    parser.add_argument("--connection-file", metavar="FILE", help="reach the server described by FILE")
    parser.add_argument(
        "--password-file", metavar="FILE", help=f"read the password from FILE (else ${PASSWORD_ENV}, else asked)"
    )
    parser.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="SECONDS", help="give up connecting after this long"
    )
    launching = parser.add_argument_group("a new server (--launch; local by default)")
    launching.add_argument(
        "--launch",
        nargs="?",
        const="local",
        metavar="TARGET",
        help="start a new server first; TARGET 'local' (the default) is a child process of this machine, "
        "[ssh://][USER@]HOST[:PORT] a server on that SSH host, ec2[:NAME] one on an EC2 head node",
    )
    launching.add_argument("--keep", action="store_true", help="leave the server running at the end")
    launching.add_argument("--name", metavar="NAME", help="with --keep: the session's name for `remrepl connect NAME`")
    _add_plot_options(parser)
    add_workdir_arguments(parser)  # what travels with the code: every target's
    add_package_arguments(parser)
    ssh = parser.add_argument_group("with --launch [ssh://][USER@]HOST[:PORT]")
    ssh.add_argument("--ssh-config", metavar="FILE", help="read this ssh_config instead of ~/.ssh/config")
    ssh.add_argument(
        "--accept-new-host-key", action="store_true", help="record an unknown host key (a changed one is still refused)"
    )
    ssh.add_argument(
        "--remote-python",
        metavar="PYTHON",
        help="the Python to run on the host (default: the venv an earlier --bootstrap made there, else python3)",
    )
    ssh.add_argument(
        "--bootstrap",
        action="store_true",
        help="install this remrepl into a venv on the host (unless it is there already); later launches use it",
    )
    ssh.add_argument("--remote-venv", metavar="DIR", help="the venv --bootstrap uses (default ~/.remrepl/venv)")
    ssh.add_argument(
        "--direct", action="store_true", help="connect straight to the server's port instead of through SSH"
    )
    cli_ec2.add_launch_options(parser, title="with --launch ec2[:NAME] (settings also in config.toml's [ec2])")


def _add_plot_options(parser: argparse.ArgumentParser) -> None:
    plots = parser.add_argument_group("remote plots (matplotlib's plt.show())")
    plots.add_argument(
        "--plots-dir", metavar="DIR", help="save plots in DIR (default: the state directory's plots/, 0700)"
    )
    plots.add_argument(
        "--no-open", dest="open_plots", action="store_false", help="do not open plots with the system viewer"
    )


def build_parser() -> argparse.ArgumentParser:
    from ..server.serve_options import add_arguments as add_serve_arguments

    parser = argparse.ArgumentParser(
        prog="remrepl",
        description="A secure remote Python REPL.",
        epilog=examples(
            "remrepl connect --launch  # the remote> prompt on a new local server",
            "remrepl connect --launch me@gpu-box --keep --name gpu  # on an SSH host, left running as session gpu",
            "remrepl ls  # the sessions this machine knows",
            "remrepl connect gpu  # reattach to it",
            "remrepl exec --launch job.py --input data.csv  # run a local script remotely",
            "remrepl up demo  # an EC2 head node (then --launch ec2:demo)",
        )
        + "\n\n`remrepl COMMAND --help` shows a command's options and examples.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"remrepl {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    connect_parser = add_command(
        commands,
        "connect",
        usage="remrepl connect [-h] [NAME | --connection-file FILE | --launch [TARGET]] [options]",
        help="open the remote> prompt on a server",
        description="Open the remote> prompt: on the session NAME (see `remrepl ls`), on the server a "
        "connection file describes, or on a new one (--launch).",
        epilog=examples(
            "remrepl connect --launch  # a new local server, stopped when you leave",
            "remrepl connect --launch --keep --name work  # ...left running as session work",
            "remrepl connect work  # reattach to it",
            "remrepl connect --connection-file ~/server.json --password-file ~/.remrepl-password",
            "remrepl connect --launch me@gpu-box  # a server on an SSH host",
            "remrepl connect --launch new-box --accept-new-host-key --bootstrap  # a fresh machine",
            "remrepl connect --launch ec2:demo --spot  # an EC2 head node (made, or found running)",
        ),
    )
    connect_parser.add_argument("session", nargs="?", metavar="NAME", help="a session this machine knows")
    _add_connection_options(connect_parser)

    exec_parser = add_command(
        commands,
        "exec",
        usage="remrepl exec [-h] (--connection-file FILE | --launch[=TARGET]) [options] FILE [ARGS ...]",
        help="run a local script on a server",
        description="Run FILE remotely as __main__ and exit with its status. With exec, a bare --launch "
        "launches locally; name another target as --launch=TARGET (or --launch ssh://HOST, --launch ec2:NAME).",
        epilog=examples(
            "remrepl exec --launch job.py --input data.csv  # a local server just for this run",
            "remrepl exec --connection-file ~/server.json --timeout 600 job.py",
            "remrepl exec --launch --get results --get log.txt train.py  # and download what it wrote",
            "remrepl exec --launch=ssh://gpu-box:2222 job.py  # on an SSH host",
            "remrepl exec --launch ec2:demo train.py --epochs 3  # on an EC2 head node",
        ),
    )
    exec_parser.add_argument("--timeout", type=float, metavar="SECONDS", help="interrupt the run and exit 124")
    exec_parser.add_argument(
        "--get",
        action="append",
        default=[],
        metavar="REMOTE_PATH",
        help="after the run (also a failed one), download this remote file or directory (relative: to the "
        "directory the script ran in); repeatable",
    )
    exec_parser.add_argument(
        "--get-to", default="", metavar="LOCAL_DIR", help="where --get downloads land (default: the current directory)"
    )
    _add_connection_options(exec_parser)
    exec_parser.add_argument("file", metavar="FILE", help="the script to run")
    exec_parser.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="its arguments (sys.argv[1:])")

    ls_parser = add_command(
        commands,
        "ls",
        help="list the sessions this machine knows, and whether each is alive",
        description="List the session records kept by `connect --launch --keep`, probing each server.",
        epilog=examples("remrepl ls", "remrepl ls --prune  # and remove the records of dead servers"),
    )
    ls_parser.add_argument("--prune", action="store_true", help="remove the records of dead servers")
    ls_parser.add_argument(
        "--probe-timeout", type=float, default=2.0, metavar="SECONDS", help="how long to wait for each server"
    )

    serve_parser = add_command(
        commands,
        "serve",
        help="start a server on this machine",
        description="Start a server; print one JSON ready line on stdout when it listens.",
        epilog=examples(
            "remrepl serve --password-file ~/.remrepl-password --connection-file ~/server.json",
            "remrepl serve --bind 0.0.0.0 --port 5555 --password-stdin --idle-timeout 3600  # reachable by others",
        ),
    )
    add_serve_arguments(serve_parser)
    cli_ec2.add_commands(commands)
    return parser


_EXEC_VALUE_OPTIONS = {
    "--connection-file",
    "--password-file",
    "--connect-timeout",
    "--timeout",
    "--get",
    "--get-to",
    "--name",
    "--plots-dir",
    "--ssh-config",
    "--remote-python",
    "--remote-venv",
    *cli_ec2.VALUE_OPTIONS,
}


def normalise(argv: list[str]) -> list[str]:
    """In ``exec``, a bare ``--launch`` takes no value, so ``exec --launch FILE`` means what it says."""
    if argv[:1] != ["exec"]:
        return argv
    out, i = ["exec"], 1
    while i < len(argv):
        arg = argv[i]
        if arg in _EXEC_VALUE_OPTIONS and i + 1 < len(argv):
            out += argv[i : i + 2]
            i += 2
            continue
        if not arg.startswith("-"):
            return out + argv[i:]  # FILE: what follows belongs to the script
        if arg == "--launch" and argv[i + 1 : i + 2] and re.match(r"ssh://|ec2(:|$)", argv[i + 1]):
            out.append(f"--launch={argv[i + 1]}")  # a script is not named ssh://... (nor ec2, ec2:NAME)
            i += 2
            continue
        out.append("--launch=local" if arg == "--launch" else arg)
        i += 1
    return out
