"""``connect``, ``exec`` and ``ls``: open a session (by name, connection file or a new launch), run the
prompt or a script on it, and leave the server running (``--keep``) or stop it.

Each command imports what it needs when it runs (zmq, prompt_toolkit, paramiko, boto3 only if used).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigError, ConnectionLost, ExecutionTimeout, SessionClosed
from .._files import PASSWORD_ENV, read_secret, state_dir
from . import ec2 as cli_ec2

if TYPE_CHECKING:
    from ..client.session import Session
    from ..launchers import Launcher
    from .config import Config
    from .ui.leaving import Leaving


def _config(args: argparse.Namespace) -> Config:
    """The configuration file's settings, overridden by the command line's."""

    from .config import load_config

    config = load_config()
    if args.plots_dir:
        config = dataclasses.replace(config, plots_dir=Path(args.plots_dir).expanduser())
    if not args.open_plots:
        config = dataclasses.replace(config, open_plots=False)
    return config


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        return read_secret(args.password_file)
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    raise ConfigError(f"no password: use --password-file FILE or set {PASSWORD_ENV}")


def _open_session(args: argparse.Namespace, *, script: bool = False) -> tuple[Session, Launcher | None, str]:
    """(session, the launcher if we started the server, a name for the target). ``script``: a script
    connection (``exec``), which does not take the session over from an attached prompt."""
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
        return (
            registry.reattach(record, args.connect_timeout, script=script),
            None,
            name,
        )  # SSH: a new tunnel to its port
    if args.launch:
        target, options = _launch_target(args)
        launcher = launch(target, **options)
        try:
            return launcher.connect(connect_timeout=args.connect_timeout, script=script), launcher, launcher.target
        except BaseException:
            launcher.close()
            raise
    if not args.connection_file:
        raise ConfigError("say which server: NAME (see `remrepl ls`), --connection-file FILE, or --launch")
    info = ConnectionInfo.read(args.connection_file)
    kept = records.read(args.connection_file)
    if kept is not None:  # a server a launcher left running (--keep): the way its kind reaches it
        target = kept.launcher.data.get("target", info.host)
        return registry.reattach(kept, args.connect_timeout, script=script), None, target
    password = None if info.client_secret_key else _password(args)
    session = connect(info=info, password=password, connect_timeout=args.connect_timeout, script=script)
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


def _finish_launcher(
    launcher: Launcher | None, keep: bool, stopped: bool, name: str | None = None, project: Path | None = None
) -> None:
    from ..launchers import records

    if launcher is None or launcher.info is None:
        return
    if keep and not stopped:
        kind = records.LauncherData.of(launcher)
        if project is not None:  # `remrepl connect NAME` syncs it again
            kind.data["workdir"] = str(project)
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


def leaving_of(args: argparse.Namespace, launched: bool) -> Leaving:
    """What leaving the prompt will do to the server ``args`` reached (``_finish_launcher`` does it; the
    banner and %help say it); ``launched``: this command started it."""
    from ..launchers import records
    from .ui.leaving import Leaving

    if launched:  # --keep saves it as a session, else it stops with us
        return Leaving(stops_server=not args.keep, kept_launch=args.keep, session=args.name or None)
    if getattr(args, "session", None):
        return Leaving(session=args.session)
    kept = records.read(args.connection_file) if args.connection_file else None
    return Leaving(session=kept.name if kept is not None else None)


def _is_remote(args: argparse.Namespace, target: str) -> bool:
    """Is the server on another machine (so a project directory must be copied to it)? ``target``: what
    ``_open_session`` named it: a launch's target, a kept server's, or a bare connection file's host (a
    loopback address is this machine; a tunnel to another is --workdir's case)."""
    from ..launchers import records
    from ..launchers.registry import LOCAL_HOSTS

    if getattr(args, "session", None):  # _open_session names a session by its NAME
        target = records.load(args.session).target
    return target != "local" and target not in LOCAL_HOSTS


def cmd_connect(args: argparse.Namespace) -> int:
    from ..client import environment
    from ..launchers import records
    from . import packages, workdir
    from .ui import Repl, private_history

    config = _config(args)  # before connecting: a typo in the file costs no server start
    project = workdir.chosen(args, script=None, remote=False)
    if project is None and args.session and not (args.no_workdir or args.launch or args.connection_file):
        try:  # the workdir the session was kept with (a bad NAME is _open_session's to report)
            remembered = records.load(args.session).launcher.data.get("workdir")
        except ConfigError:
            remembered = None
        project = Path(remembered) if remembered and os.path.isdir(remembered) else None
    session, launcher, target = _open_session(args)
    outcome = "detach"
    exit_code = 0
    try:
        environment.report(session, sys.stderr)  # laptop vs head: a table only if they differ
        synced = workdir.sync(session, project, args) if project is not None else None
        if not packages.install(session, args, synced):
            print("remrepl: the session goes on without them", file=sys.stderr)
        history_file = state_dir("history") / re.sub(r"[^\w.-]", "_", target)
        history = private_history(history_file, max_entries=config.history_size)
        repl = Repl(session, history, config=config, leaving=leaving_of(args, launcher is not None))
        outcome = repl.run(target)
        exit_code = repl.exit_code  # exit(3) at the prompt: status 3, as python's
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
        _finish_launcher(launcher, args.keep, stopped=outcome == "shutdown", name=args.name, project=project)
    if launcher is not None and not args.keep and outcome == "detach":
        print("remrepl: the server launched for this session was stopped (--keep leaves it running).")
    return exit_code


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
    from ..client import environment
    from . import packages, workdir
    from .batch import read_script, run_script
    from .plots import PlotSaver

    source = read_script(args.file)  # before launching anything: a typo costs no server start
    config = _config(args)
    session, launcher, target = _open_session(args, script=True)
    try:
        environment.report(session, sys.stderr)  # laptop vs head: a table on stderr only if they differ
        origin = cwd = None
        project = workdir.chosen(args, script=args.file, remote=_is_remote(args, target))
        synced = workdir.sync(session, project, args, quiet=True) if project is not None else None
        if synced is not None:
            origin, cwd = workdir.script_place(synced, args.file)
        if not packages.install(session, args, synced):
            return 1  # the installer said why; the script did not run
        return run_script(
            session,
            args.file,
            source,
            args.args,
            timeout=args.timeout,
            on_display=PlotSaver(config.plots_dir, open_plots=config.open_plots),
            origin=origin,
            cwd=cwd,
            gets=args.get,
            get_to=args.get_to,
        )
    except BrokenPipeError:  # `| head` has what it wanted: python's script would die at its next print
        _stop_the_run(session)
        raise  # main ends as python does
    finally:
        session.close()
        _finish_launcher(launcher, args.keep, stopped=False, name=args.name)


def _stop_the_run(session: Session) -> None:
    """Interrupt the running script, whose output has nowhere to go now; if it does not stop within the
    grace period, kill and restart the remote interpreter (as after a timeout). Its output is dropped."""
    from .._exceptions import RemreplError
    from .batch import GRACE_SECONDS, RESTART_SECONDS

    run = session.current_run()
    if run is None:
        return
    try:
        run.interrupt()
        try:
            run.wait(GRACE_SECONDS)
        except ExecutionTimeout:
            session.restart(force=True).wait(RESTART_SECONDS)
    except RemreplError:  # the link or the server went: the server's own end takes the run along
        pass
