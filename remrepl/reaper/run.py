"""The reaper: ends an abandoned machine (an EC2 head node) so that it stops costing money.

    python -m remrepl.reaper --idle-timeout 3600 --max-lifetime 43200 [--command ARG ...]

starts a reaper detached from the caller (its own session, no terminal, cwd ``/``: it outlives the SSH
session that started it), prints one JSON line (``{"event": "reaper", "action": "started", ...}``) and
returns. The reaper runs ``--command`` (default ``sudo -n shutdown -h now``; on EC2 the launcher sets
shutdown behaviour to terminate) once, then exits, when either

- **idle**: no server's activity file (``activity.py``: touched while a client is attached, a run or a
  transfer goes on) was touched for ``--idle-timeout`` seconds, counting from the reaper's own start at
  the earliest. Files of processes that are gone (crashed servers) are ignored and removed;
- **max lifetime**: ``--max-lifetime`` seconds have passed since the *first* reaper of this run of the
  machine started, whatever goes on.

One reaper per state directory (so per machine and user): it holds an ``fcntl`` lock on
``state_dir()/reaper/reaper.lock``. A second start **replaces** the first: it stops it (SIGTERM) and
carries on with the new settings; the max lifetime still counts from the first one's start (so a later
start can extend or shorten it, but not silently restart it), the idle time from the new start.

A failing command is logged and retried ``ATTEMPTS`` times, ``--retry-delay`` apart; then the reaper gives
up and exits 1. It never falls back to another power-off command: one it was not told to run would be a
surprise (and tests rely on ``--command`` being the only thing it ever runs); the usual cause, ``sudo``
wanting a password, would defeat any fallback too; and on EC2 the user-data's ``shutdown -h +MIN``
backstop still ends the instance at its max lifetime.

Everything it does goes to ``state_dir()/reaper/reaper.log`` (0600); ``--status`` prints its settings
and deadlines as JSON. With ``REMREPL_REAPER_FORBID_SHUTDOWN`` set (the test suite sets it) it refuses a
command that would power the machine off: tests run as root, on a machine that is not theirs to stop.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from .._exceptions import ConfigError
from .._files import activity_dir, environment_without_secrets, open_private_log, python_command, python_words
from .state import POLL_MIN, acquire, evaluate, live_activity, read_state, reaper_files, status, write_state

log = logging.getLogger("remrepl.reaper")

DEFAULT_COMMAND = ("sudo", "-n", "shutdown", "-h", "now")
GUARD_ENV = "REMREPL_REAPER_FORBID_SHUTDOWN"
POWER_WORDS = re.compile(r"\b(shutdown|poweroff|halt|reboot|telinit)\b")
ATTEMPTS = 3  # runs of a failing command before the reaper gives up
RETRY_DELAY = 30.0  # s between them (default of --retry-delay)
COMMAND_TIMEOUT = 120.0  # s one run of the command may take
POLL_MAX = 5.0  # s between two looks at the activity files, at most
START_TIMEOUT = 30.0  # s the starter waits for the detached reaper's status line


class _Stopped(Exception):
    """SIGTERM/SIGINT: a newer reaper replaces this one, or someone stops it."""


# --- the reaper itself --------------------------------------------------------------------------


def _report(data: dict[str, Any]) -> None:
    """The one status line on stdout; then stdout goes to /dev/null (the starter waits for its end)."""
    os.write(1, (json.dumps(data) + "\n").encode())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _on_signal(signum: int, frame: object) -> None:
    raise _Stopped(signal.Signals(signum).name)


def run_reaper(args: argparse.Namespace, command: Sequence[str]) -> int:
    """The reaper's life: take over, watch the activity files, run the command once when due."""
    paths = reaper_files()
    log_fd = open_private_log(paths["log"])
    logging.basicConfig(
        level=logging.INFO,
        stream=os.fdopen(os.dup(log_fd), "a", buffering=1),
        format="%(asctime)s remrepl-reaper[%(process)d] %(levelname)s %(message)s",
    )
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the SSH session that started us may end at any time
    try:
        lock_fd, replaced = acquire(paths["lock"])
    except ConfigError as exc:
        log.error("%s", exc)
        _report({"event": "reaper", "pid": os.getpid(), "action": "failed", "error": str(exc)})
        return 1
    now = time.time()
    previous = read_state(paths["state"]) if replaced else None
    origin = previous.get("origin") if previous else None
    state: dict[str, Any] = {
        "pid": os.getpid(),
        "idle_timeout": args.idle_timeout,
        "max_lifetime": args.max_lifetime,
        "command": list(command),
        "retry_delay": args.retry_delay,
        "started_at": now,
        "origin": origin if isinstance(origin, (int, float)) else now,
        "state": "watching",
    }
    write_state(paths["state"], state)
    decision = evaluate(state, now=now, newest=None)
    log.info(
        "%s: idle timeout %s, max lifetime %s (counted from %s), command %s",
        f"replacing pid {replaced}" if replaced else "started",
        "off" if args.idle_timeout is None else f"{args.idle_timeout:g} s",
        "off" if args.max_lifetime is None else f"{args.max_lifetime:g} s",
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state["origin"])),
        shlex.join(command),
    )
    _report(
        {
            "event": "reaper",
            "pid": os.getpid(),
            "action": "replaced" if replaced else "started",
            "replaced_pid": replaced,
            "idle_timeout": args.idle_timeout,
            "max_lifetime": args.max_lifetime,
            "deadline": decision["deadline"],
            "log": str(paths["log"]),
        }
    )
    for signum in (signal.SIGTERM, signal.SIGINT):  # until here, they simply end the process
        signal.signal(signum, _on_signal)
    try:
        reason = _watch(state)
        state.update(state="firing", reason=reason, fired_at=time.time())
        write_state(paths["state"], state)
        ok = _fire(command, log_fd, args.retry_delay)
        state["state"] = "done" if ok else "failed"
        write_state(paths["state"], state)
        return 0 if ok else 1
    except _Stopped as exc:
        log.info("stopped by %s", exc)
        state["state"] = "stopped"  # still holding the lock: a replacement writes its state after this
        write_state(paths["state"], state)
        return 0
    finally:
        os.close(lock_fd)


def _watch(state: dict[str, Any]) -> str:
    """Sleep (bounded) and look again until a deadline is due; its reason."""
    directory = activity_dir()
    while True:
        now = time.time()
        newest, pids = live_activity(directory, now=now, remove_dead=True)
        decision = evaluate(state, now=now, newest=newest)
        if decision["due"]:
            if decision["reason"] == "idle":
                log.info(
                    "idle: no activity for %.1f s (idle timeout %s s; servers running: %s)",
                    decision["idle_for"],
                    state["idle_timeout"],
                    ", ".join(map(str, pids)) or "none",
                )
            else:
                log.info("max lifetime of %s s reached", state["max_lifetime"])
            return str(decision["reason"])
        time.sleep(min(POLL_MAX, max(POLL_MIN, decision["deadline"] - now)))


def _fire(command: Sequence[str], log_fd: int, retry_delay: float) -> bool:
    """Run ``command`` until it succeeds, at most ``ATTEMPTS`` times; did it succeed?"""
    for attempt in range(1, ATTEMPTS + 1):
        log.info("running %s (attempt %d of %d)", shlex.join(command), attempt, ATTEMPTS)
        try:
            result = subprocess.run(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                timeout=COMMAND_TIMEOUT,
                env=environment_without_secrets(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            log.warning("the command did not finish within %g s (killed)", COMMAND_TIMEOUT)
        except OSError as exc:
            log.warning("cannot run the command: %s", exc)
        else:
            if result.returncode == 0:
                log.info("the command succeeded")
                return True
            log.warning("the command failed with exit status %d", result.returncode)
        if attempt < ATTEMPTS:
            time.sleep(retry_delay)
    log.error("giving up after %d attempts: this machine stays up", ATTEMPTS)
    return False


# --- starting it detached, and the shell line launchers run -------------------------------------


def _start_detached(argv: Sequence[str]) -> int:
    """Start ``--foreground`` in its own session; relay its status line; 0 if it runs."""
    log_fd = open_private_log(reaper_files()["log"])  # its stderr: a traceback lands in the log, not in the void
    try:
        child = subprocess.Popen(
            python_command(sys.executable, module="remrepl.reaper", args=["--foreground", *argv]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log_fd,
            cwd="/",
            start_new_session=True,
        )
    finally:
        os.close(log_fd)
    assert child.stdout is not None
    line = b""
    deadline = time.monotonic() + START_TIMEOUT
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        if select.select([child.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(child.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    child.stdout.close()
    try:
        data = json.loads(line)
    except ValueError:
        log_path = reaper_files()["log"]
        try:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-10:])
        except OSError:
            tail = ""
        error = f"the reaper (pid {child.pid}) did not report; the end of {log_path}:\n{tail}"
        data = {"event": "reaper", "pid": child.pid, "action": "failed", "error": error, "log": str(log_path)}
    print(json.dumps(data), flush=True)
    return 0 if data.get("action") in ("started", "replaced") else 1


def _arguments(
    *, idle_timeout: float | None, max_lifetime: float | None, command: Sequence[str] | None, retry_delay: float | None
) -> list[str]:
    args: list[str] = []
    for flag, value in (
        ("--idle-timeout", idle_timeout),
        ("--max-lifetime", max_lifetime),
        ("--retry-delay", retry_delay),
    ):
        if value is not None:
            args += [flag, repr(float(value))]
    if command is not None:
        args += ["--command", *command]
    return args


def _shell_safe(word: str) -> str:
    # Single quotes mean the same in bash, zsh, csh and fish except for these: fish reads \ inside them,
    # csh may expand ! and cannot quote a newline.
    if any(c in "\\!" or ord(c) < 32 or ord(c) == 127 for c in word):
        raise ConfigError(f"the reaper's command line cannot contain a backslash, '!' or control characters: {word!r}")
    return word


def reaper_command(
    python: str,
    *,
    idle_timeout: float | None,
    max_lifetime: float | None,
    command: Sequence[str] | None = None,
    retry_delay: float | None = None,
) -> str:
    """The shell line (bash, zsh, csh or fish) that starts or replaces the reaper on a host and returns at
    once, printing one JSON line ``{"event": "reaper", "pid": ..., "action": "started"|"replaced"|"failed",
    ...}`` (exit status 0 when it runs). ``python`` may start with ``~/``. ``ConfigError`` on bad values."""
    from ..ssh.bootstrap import shell_path  # launchers' helper; not needed where the reaper runs

    args = _arguments(idle_timeout=idle_timeout, max_lifetime=max_lifetime, command=command, retry_delay=retry_delay)
    _check(_parser().parse_args(args))
    for word in (python, *args):
        _shell_safe(word)
    return f"exec {shell_path(python)} {shlex.join([*python_words(module='remrepl.reaper'), *args])}"


def reaper_status_command(python: str) -> str:
    """The shell line that prints the reaper's ``--status`` JSON on a host."""
    from ..ssh.bootstrap import shell_path

    return f"exec {shell_path(_shell_safe(python))} {shlex.join([*python_words(module='remrepl.reaper'), '--status'])}"


# --- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m remrepl.reaper",
        description="End this machine when no remrepl server has been in use for a while, or when it is too old.",
    )
    parser.add_argument("--idle-timeout", type=float, metavar="SECONDS", help="end it after this long unused")
    parser.add_argument("--max-lifetime", type=float, metavar="SECONDS", help="end it after this long in any case")
    parser.add_argument(
        "--retry-delay", type=float, default=RETRY_DELAY, metavar="SECONDS", help="between runs of a failing command"
    )
    parser.add_argument("--state-dir", metavar="DIR", help="remrepl's state directory (default: $REMREPL_STATE_DIR)")
    parser.add_argument("--status", action="store_true", help="print the running reaper's settings and deadline")
    parser.add_argument("--foreground", action="store_true", help="run in this process instead of detaching")
    parser.add_argument(
        "--command",
        nargs=argparse.REMAINDER,
        metavar="ARG",
        help=f"what ends the machine; takes the rest of the line (default: {shlex.join(DEFAULT_COMMAND)})",
    )
    return parser


def _check(args: argparse.Namespace) -> list[str]:
    """The command to run; ``ConfigError`` for values that make no sense."""
    if args.idle_timeout is None and args.max_lifetime is None:
        raise ConfigError("give --idle-timeout, --max-lifetime or both")
    for flag, value in (
        ("--idle-timeout", args.idle_timeout),
        ("--max-lifetime", args.max_lifetime),
        ("--retry-delay", args.retry_delay),
    ):
        if value is not None and not 0 < value < float("inf"):
            raise ConfigError(f"{flag} must be a positive number of seconds, not {value:g}")
    command = list(DEFAULT_COMMAND) if args.command is None else list(args.command)
    if not command:
        raise ConfigError("--command needs the command to run after it")
    if os.environ.get(GUARD_ENV) and any(POWER_WORDS.search(word) for word in command):
        raise ConfigError(f"refusing to run {shlex.join(command)}: {GUARD_ENV} is set (a test must pass --command)")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.state_dir:
        os.environ["REMREPL_STATE_DIR"] = os.path.abspath(args.state_dir)
    if args.status:
        print(json.dumps(status()), flush=True)
        return 0
    try:
        command = _check(args)
    except ConfigError as exc:
        print(json.dumps({"event": "reaper", "pid": None, "action": "failed", "error": str(exc)}), flush=True)
        print(f"remrepl reaper: {exc}", file=sys.stderr)
        return 2
    if args.foreground:
        return run_reaper(args, command)
    # The child gets the state directory through the environment (it runs in /: no relative paths).
    retry_delay = args.retry_delay
    return _start_detached(
        _arguments(
            idle_timeout=args.idle_timeout, max_lifetime=args.max_lifetime, command=command, retry_delay=retry_delay
        )
    )
