"""The ``remrepl`` command: ``serve``, ``connect``, ``exec`` and ``ls`` (``up``, ``status``, ``down``: cli_ec2.py).

Only the parser is built at import: each command imports what it needs when it runs, so ``remrepl --help``
(and a mistyped option) does not pay for zmq, prompt_toolkit, paramiko or boto3.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from .._exceptions import ConfigError, ConnectionLost, RemreplError, SessionClosed
from .._files import PASSWORD_ENV, read_secret, state_dir
from . import ec2 as cli_ec2
from .help import HelpFormatter, add_command, examples

if TYPE_CHECKING:
    from ..client.session import Session
    from ..launchers import Launcher
    from .config import Config


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
    ssh = parser.add_argument_group("with --launch [ssh://][USER@]HOST[:PORT]")
    ssh.add_argument("--ssh-config", metavar="FILE", help="read this ssh_config instead of ~/.ssh/config")
    ssh.add_argument(
        "--accept-new-host-key", action="store_true", help="record an unknown host key (a changed one is still refused)"
    )
    ssh.add_argument("--remote-python", metavar="PYTHON", help="the Python to run on the host (default python3)")
    ssh.add_argument(
        "--bootstrap", action="store_true", help="install this remrepl into a venv on the host if it is missing there"
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


def _config(args: argparse.Namespace) -> Config:
    """The configuration file's settings, overridden by the command line's."""

    from .config import load_config

    config = load_config()
    if args.plots_dir:
        config = dataclasses.replace(config, plots_dir=Path(args.plots_dir).expanduser())
    if not args.open_plots:
        config = dataclasses.replace(config, open_plots=False)
    return config


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
            "remrepl exec --launch=ssh://gpu-box:2222 job.py  # on an SSH host",
            "remrepl exec --launch ec2:demo train.py --epochs 3  # on an EC2 head node",
        ),
    )
    exec_parser.add_argument("--timeout", type=float, metavar="SECONDS", help="interrupt the run and exit 124")
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


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        return read_secret(args.password_file)
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    raise ConfigError(f"no password: use --password-file FILE or set {PASSWORD_ENV}")


def _open_session(args: argparse.Namespace) -> tuple[Session, Launcher | None, str]:
    """(session, the launcher if we started the server, a name for the target)."""
    from ..client.session import connect
    from ..launchers import launch, records, registry
    from ..transport.connection_info import ConnectionInfo

    name = getattr(args, "session", None)
    if args.name:
        if not (args.launch and args.keep):
            raise ConfigError("--name goes with --launch --keep")
        records.check_name(args.name)
    if sum(map(bool, (args.launch, args.connection_file, name))) > 1:
        raise ConfigError("give one of NAME, --launch and --connection-file")
    if name:
        record = records.load(name)
        state, how = registry.status(record, timeout=min(args.connect_timeout, 2.0))
        if state == "dead":
            raise ConfigError(f"the server of session {name} is gone ({how}); `remrepl ls --prune` removes its record")
        return registry.reattach(record, args.connect_timeout), None, name  # SSH: a new tunnel to its port
    if args.launch:
        target, options = _launch_target(args)
        launcher = launch(target, **options)
        try:
            return launcher.connect(connect_timeout=args.connect_timeout), launcher, launcher.target
        except BaseException:
            launcher.close()
            raise
    if not args.connection_file:
        raise ConfigError("say which server: NAME (see `remrepl ls`), --connection-file FILE, or --launch")
    info = ConnectionInfo.read(args.connection_file)
    kept = records.read(args.connection_file)
    if kept is not None:  # a server a launcher left running (--keep): the way its kind reaches it
        return registry.reattach(kept, args.connect_timeout), None, kept.launcher.data.get("target", info.host)
    password = None if info.client_secret_key else _password(args)
    session = connect(info=info, password=password, connect_timeout=args.connect_timeout)
    return session, None, info.host


_SSH_FLAGS = ("ssh_config", "accept_new_host_key", "remote_python", "bootstrap", "remote_venv", "direct")


def _launch_target(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """(target for ``launch``, its options): "local", or an SSH host with the SSH flags."""
    if args.launch == "ec2" or args.launch.startswith("ec2:"):
        return args.launch, cli_ec2.launch_options(args)
    if cli_ec2.given_flags(args):
        raise ConfigError(f"{', '.join(cli_ec2.given_flags(args))} only go with --launch ec2[:NAME]")
    given = [f"--{name.replace('_', '-')}" for name in _SSH_FLAGS if getattr(args, name)]
    if args.launch == "local":
        if given:
            raise ConfigError(f"{', '.join(given)} only go with --launch [ssh://][USER@]HOST[:PORT]")
        return "local", {}
    target = args.launch if args.launch.startswith("ssh://") else f"ssh://{args.launch}"
    options: dict[str, Any] = {}
    for name in _SSH_FLAGS:
        if getattr(args, name):
            options[name] = getattr(args, name)
    return target, options


def _finish_launcher(launcher: Launcher | None, keep: bool, stopped: bool, name: str | None = None) -> None:
    from ..launchers import records

    if launcher is None or launcher.info is None:
        return
    if keep and not stopped:
        kind = records.LauncherData.of(launcher)
        try:
            record = records.save(launcher.info, target=launcher.target, launcher=kind, name=name)
        except ConfigError as exc:  # a taken name: the server must not be lost for that
            print(f"remrepl: {exc}; saving it under another name", file=sys.stderr)
            record = records.save(launcher.info, target=launcher.target, launcher=kind)
        launcher.detach()
        print(
            f"remrepl: the server keeps running as session {record.name}; reattach with:\n"
            f"  remrepl connect {record.name}\n"
            f"(`remrepl ls` lists the sessions; the record is {records.path_of(record.name)})",
            file=sys.stderr,  # stdout may be a script's output (exec)
        )
    else:
        launcher.close()


def cmd_connect(args: argparse.Namespace) -> int:
    from ..launchers import records
    from .ui import Repl, private_history

    config = _config(args)  # before connecting: a typo in the file costs no server start
    session, launcher, target = _open_session(args)
    outcome = "detach"
    try:
        history_file = state_dir("history") / re.sub(r"[^\w.-]", "_", target)
        history = private_history(history_file, max_entries=config.history_size)
        outcome = Repl(session, history, config=config).run(target)
        if outcome == "shutdown":
            session.shutdown()
            print("remrepl: the server was shut down.")
            if args.session:
                records.remove(args.session)  # a record of a stopped server would only show as dead
    except (ConnectionLost, SessionClosed) as exc:
        print(f"remrepl: {exc}", file=sys.stderr)
        return 1
    finally:
        session.close()
        _finish_launcher(launcher, args.keep, stopped=outcome == "shutdown", name=args.name)
    if launcher is not None and not args.keep and outcome == "detach":
        print("remrepl: the server launched for this session was stopped (--keep leaves it running).")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    import datetime

    from ..launchers import records, registry

    found = records.all_records()
    if not found:
        print("no sessions (`remrepl connect --launch --keep` leaves one running)")
        return 0
    rows = [["NAME", "TARGET", "SERVER", "PID", "STARTED", "STATUS"]]
    pruned = []
    for record, path in found:
        if record is None:
            rows.append([path.stem, "?", "?", "?", "?", f"unreadable record {path}"])
            continue
        state, how = registry.status(record, args.probe_timeout)
        started = datetime.datetime.fromtimestamp(record.created_at).strftime("%Y-%m-%d %H:%M")
        where = f"{record.info.host}:{record.info.port}"
        rows.append([record.name, record.target, where, str(record.info.pid), started, f"{state} ({how})"])
        if state == "dead" and args.prune:
            records.remove(record.name)
            pruned.append(record.name)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for name in pruned:
        print(f"removed the record of {name}")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    from .batch import read_script, run_script
    from .plots import PlotSaver

    source = read_script(args.file)  # before launching anything: a typo costs no server start
    config = _config(args)
    session, launcher, _ = _open_session(args)
    try:
        return run_script(
            session,
            args.file,
            source,
            args.args,
            timeout=args.timeout,
            on_display=PlotSaver(config.plots_dir, open_plots=config.open_plots),
        )
    finally:
        session.close()
        _finish_launcher(launcher, args.keep, stopped=False, name=args.name)


_EXEC_VALUE_OPTIONS = {
    "--connection-file",
    "--password-file",
    "--connect-timeout",
    "--timeout",
    "--name",
    "--plots-dir",
    "--ssh-config",
    "--remote-python",
    "--remote-venv",
    *cli_ec2.VALUE_OPTIONS,
}


def _normalise(argv: list[str]) -> list[str]:
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


def main(argv: Sequence[str] | None = None) -> int:
    argv = _normalise(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `remrepl`: the commands, as a usage error (argparse's exit status 2)
        parser.print_help(sys.stderr)
        return 2
    try:
        if args.command == "serve":
            from ..server import serve

            return serve.run(args)
        if args.command == "connect":
            return cmd_connect(args)
        if args.command == "ls":
            return cmd_ls(args)
        if args.command in ("up", "status", "down"):
            return cli_ec2.run(args)
        return cmd_exec(args)
    except RemreplError as exc:
        print(f"remrepl: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("remrepl: interrupted", file=sys.stderr)
        return 130
