"""The ``remrepl`` command: ``serve``, ``connect`` and ``exec``, all on the public Python API."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Sequence

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
        help="start a new server first; TARGET 'local' (the default) is a child process of this machine",
    )
    where.add_argument("--keep", action="store_true", help="with --launch: leave the server running at the end")
    where.add_argument(
        "--password-file", metavar="FILE", help=f"read the password from FILE (else ${PASSWORD_ENV}, else asked)"
    )
    where.add_argument(
        "--connect-timeout", type=float, default=10.0, metavar="SECONDS", help="give up connecting after this long"
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
        launcher = launch(args.launch)
        try:
            return launcher.connect(connect_timeout=args.connect_timeout), launcher, launcher.target
        except BaseException:
            launcher.close()
            raise
    if not args.connection_file:
        raise ConfigError("say which server: --connection-file FILE, or --launch to start one")
    info = ConnectionInfo.read(args.connection_file)
    password = None if info.client_secret_key else _password(args)
    session = connect(info=info, password=password, connect_timeout=args.connect_timeout)
    return session, None, info.host


def _finish_launcher(launcher: Launcher | None, keep: bool, stopped: bool) -> None:
    if launcher is None or launcher.info is None:
        return
    if keep and not stopped:
        record = state_dir("sessions") / f"{launcher.target}-{launcher.info.pid}.json"
        launcher.info.write(record, include_secret=True)
        launcher.detach()
        print(
            f"remrepl: the server keeps running; reconnect with:\n  remrepl connect --connection-file {record}",
            file=sys.stderr,  # stdout may be a script's output (exec)
        )
    else:
        launcher.close()


def cmd_connect(args: argparse.Namespace) -> int:
    from .config import load_config
    from .ui import Repl, private_history

    config = load_config()  # before connecting: a typo in the file costs no server start
    session, launcher, target = _open_session(args)
    outcome = "detach"
    try:
        history_file = state_dir("history") / re.sub(r"[^\w.-]", "_", target)
        history = private_history(history_file, max_entries=config.history_size)
        outcome = Repl(session, history, config=config).run(target)
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


_EXEC_VALUE_OPTIONS = {"--connection-file", "--password-file", "--connect-timeout", "--timeout"}


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
