"""The ``remrepl`` command: ``serve``, ``connect`` and ``exec``, all on the public Python API."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from .. import __version__
from .._exceptions import ConfigError, ConnectionLost, RemreplError, SessionClosed
from .._files import read_secret, state_dir
from .._info import ConnectionInfo
from ..launchers import Launcher, launch
from .session import Session, connect

PASSWORD_ENV = "REMREPL_PASSWORD"


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("which server")
    where.add_argument("--connection-file", metavar="FILE", help="reach the server described by FILE")
    where.add_argument(
        "--launch",
        nargs="?",
        const="local",
        metavar="TARGET",
        help="start a new server first; TARGET 'local' (the default) is a child process of this machine, "
        "[ssh://][USER@]HOST[:PORT] a server on that SSH host",
    )
    where.add_argument("--keep", action="store_true", help="with --launch: leave the server running at the end")
    where.add_argument(
        "--password-file", metavar="FILE", help=f"read the password from FILE (else ${PASSWORD_ENV}, else asked)"
    )
    where.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="SECONDS", help="give up connecting after this long"
    )
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


def build_parser() -> argparse.ArgumentParser:
    from ..server import serve

    parser = argparse.ArgumentParser(prog="remrepl", description="A secure remote Python REPL.")
    parser.add_argument("--version", action="version", version=f"remrepl {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve",
        help="start a server on this machine",
        description="Start a server; print one JSON ready line on stdout when it listens.",
    )
    serve.add_arguments(serve_parser)

    connect_parser = commands.add_parser("connect", help="open the remote> prompt on a server")
    _add_connection_options(connect_parser)

    exec_parser = commands.add_parser(
        "exec",
        help="run a local script on a server",
        description="Run FILE remotely as __main__ and exit with its status. With exec, a bare --launch "
        "launches locally; name another target as --launch=TARGET.",
    )
    _add_connection_options(exec_parser)
    exec_parser.add_argument("--timeout", type=float, metavar="SECONDS", help="interrupt the run and exit 124")
    exec_parser.add_argument("file", metavar="FILE", help="the script to run")
    exec_parser.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="its arguments (sys.argv[1:])")
    return parser


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        return read_secret(args.password_file)
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        return getpass.getpass("Password: ")
    raise ConfigError(f"no password: use --password-file FILE or set {PASSWORD_ENV}")


def _open_session(args: argparse.Namespace) -> tuple[Session, Launcher | None, str]:
    """(session, the launcher if we started the server, a name for the target)."""
    if args.launch and args.connection_file:
        raise ConfigError("give either --launch or --connection-file, not both")
    if args.launch:
        target, options = _launch_target(args)
        launcher = launch(target, **options)
        try:
            return launcher.connect(connect_timeout=args.connect_timeout), launcher, launcher.target
        except BaseException:
            launcher.close()
            raise
    if not args.connection_file:
        raise ConfigError("say which server: --connection-file FILE, or --launch to start one")
    info = ConnectionInfo.read(args.connection_file)
    record = _launcher_record(args.connection_file)
    if record:  # a server an SSH launcher left running (--keep): through SSH again
        from ..launchers.ssh import connect_record

        return connect_record(record, info, args.connect_timeout), None, str(record["launcher"].get("target"))
    password = None if info.client_secret_key else _password(args)
    session = connect(info=info, password=password, connect_timeout=args.connect_timeout)
    return session, None, info.host


_SSH_FLAGS = ("ssh_config", "accept_new_host_key", "remote_python", "bootstrap", "remote_venv", "direct")


def _launch_target(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """(target for ``launch``, its options): "local", or an SSH host with the SSH flags."""
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


def _launcher_record(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    if isinstance(data, dict) and isinstance(data.get("launcher"), dict) and data["launcher"].get("kind") == "ssh":
        return data
    return {}


def _finish_launcher(launcher: Launcher | None, keep: bool, stopped: bool) -> None:
    if launcher is None or launcher.info is None:
        return
    if keep and not stopped:
        name = re.sub(r"[^\w.-]", "_", launcher.target)
        record = state_dir("sessions") / f"{name}-{launcher.info.pid}.json"
        write_record = getattr(launcher, "write_record", None)  # SSH: also how to rebuild the tunnel
        if write_record is not None:
            write_record(record)
        else:
            launcher.info.write(record, include_secret=True)
        launcher.detach()
        print(
            f"remrepl: the server keeps running; reconnect with:\n  remrepl connect --connection-file {record}",
            file=sys.stderr,  # stdout may be a script's output (exec)
        )
    else:
        launcher.close()


def cmd_connect(args: argparse.Namespace) -> int:
    from .ui import Repl, private_history

    session, launcher, target = _open_session(args)
    outcome = "detach"
    try:
        history = private_history(state_dir("history") / re.sub(r"[^\w.-]", "_", target))
        outcome = Repl(session, history).run(target)
        if outcome == "shutdown":
            session.shutdown()
            print("remrepl: the server was shut down.")
    except (ConnectionLost, SessionClosed) as exc:
        print(f"remrepl: {exc}", file=sys.stderr)
        return 1
    finally:
        session.close()
        _finish_launcher(launcher, args.keep, stopped=outcome == "shutdown")
    if launcher is not None and not args.keep and outcome == "detach":
        print("remrepl: the server launched for this session was stopped (--keep leaves it running).")
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    from .batch import read_script, run_script

    source = read_script(args.file)  # before launching anything: a typo costs no server start
    session, launcher, _ = _open_session(args)
    try:
        return run_script(session, args.file, source, args.args, timeout=args.timeout)
    finally:
        session.close()
        _finish_launcher(launcher, args.keep, stopped=False)


_EXEC_VALUE_OPTIONS = {
    "--connection-file",
    "--password-file",
    "--connect-timeout",
    "--timeout",
    "--ssh-config",
    "--remote-python",
    "--remote-venv",
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
        if arg == "--launch" and argv[i + 1 : i + 2] and argv[i + 1].startswith("ssh://"):
            out.append(f"--launch={argv[i + 1]}")  # unambiguous: a script is not named ssh://...
            i += 2
            continue
        out.append("--launch=local" if arg == "--launch" else arg)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = _normalise(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            from ..server import serve

            return serve.run(args)
        if args.command == "connect":
            return cmd_connect(args)
        return cmd_exec(args)
    except RemreplError as exc:
        print(f"remrepl: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("remrepl: interrupted", file=sys.stderr)
        return 130
