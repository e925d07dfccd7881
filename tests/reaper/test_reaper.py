"""The reaper: real servers, a real detached reaper started by its shell line, and a harmless command.

Every reaper here runs ``touch MARKER`` (or another harmless command), never the default shutdown: the
suite sets ``REMREPL_REAPER_FORBID_SHUTDOWN`` (tests/support/guard.py), which the guard tests below check.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from testhosts import SSHD, SSHHosts

from remrepl import ConfigError
from remrepl.client.session import connect
from remrepl.reaper.run import ATTEMPTS, GUARD_ENV, reaper_command, reaper_status_command
from remrepl.reaper.state import status
from tests.support.processes import alive, server_processes, terminate
from tests.support.servers import RunningServer, start_server, stop_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)

WAIT = 60.0  # s, upper bound of every wait (the reaper acts within a second or two of its deadline)
FAST = ("--activity-interval", "0.1")  # servers touch their activity file often: idle timeouts here are short
IDLE = 3.0  # s, for the tests where the reaper must NOT act: far above the servers' touch interval


@pytest.fixture(autouse=True)
def no_reaper_left(private_state: Path) -> Iterator[None]:
    """Stop every reaper (they detach) and server process this test's state directory has."""
    yield
    terminate(server_processes(private_state, "remrepl.server"))


@pytest.fixture
def fast_server(tmp_path: Path, password_file: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path, password_file, *FAST)
    yield running
    stop_server(running)


def start_reaper(
    *,
    command: Sequence[str],
    idle_timeout: float | None = None,
    max_lifetime: float | None = None,
    retry_delay: float | None = None,
    shell: str = "bash",
) -> dict[str, Any]:
    """Start (or replace) the reaper with its shell line, as a launcher does over SSH; its status line."""
    line = reaper_command(
        sys.executable, idle_timeout=idle_timeout, max_lifetime=max_lifetime, command=command, retry_delay=retry_delay
    )
    done = subprocess.run([shell, "-c", line], capture_output=True, text=True, timeout=WAIT, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert data["event"] == "reaper"
    return data


def fired(marker: Path) -> bool:
    return marker.exists()


def outlive(seconds: float) -> None:
    """Let the reaper watch for ``seconds`` of wall time (it would have acted by then, were it idle)."""
    started = status()["started_at"]
    wait_until(lambda: time.time() - started > seconds, seconds + WAIT, f"{seconds:g} s of reaper time")


def wait_done(expected: str = "done") -> dict[str, Any]:
    wait_until(lambda: status()["state"] in ("done", "failed") and not status()["running"], WAIT, "the reaper to end")
    result = status()
    assert result["state"] == expected
    return result


def log_text(private_state: Path) -> str:
    return (private_state / "reaper" / "reaper.log").read_text()


# --- when it acts, and when not ----------------------------------------------------------------


def test_fires_after_idle_with_no_client(fast_server: RunningServer, tmp_path: Path, private_state: Path) -> None:
    marker = tmp_path / "marker"
    started = start_reaper(idle_timeout=1.0, command=["touch", str(marker)])
    assert started["action"] == "started" and alive(started["pid"])
    wait_until(lambda: fired(marker), WAIT, "the reaper's command")
    result = wait_done()
    assert result["reason"] == "idle" and result["active_servers"] == [fast_server.process.pid]
    wait_until(lambda: not alive(started["pid"]), WAIT, "the reaper to exit")  # it ran its command once
    assert "idle: no activity for" in log_text(private_state)
    assert fast_server.process.poll() is None  # the command was harmless: the server runs on


def test_does_not_fire_while_a_client_is_attached_and_idle(fast_server: RunningServer, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with fast_server.connect() as session:
        session.run("x = 1")
        start_reaper(idle_timeout=IDLE, command=["touch", str(marker)])
        outlive(2 * IDLE)
        assert not fired(marker) and status()["running"]
    # detached: now the session is idle, and the reaper acts
    wait_until(lambda: fired(marker), WAIT, "the reaper's command after the client left")
    assert wait_done()["reason"] == "idle"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_a_client_gone_without_detaching_does_not_keep_the_machine(
    how: signal.Signals, fast_server: RunningServer, tmp_path: Path
) -> None:
    """The supervisor still counts the client as attached (nothing was sent to it since), but its
    connection is gone (killed: at once; frozen, like a closed laptop: after the ZeroMQ heartbeat
    timeout): the activity heartbeat stops (see server/supervisor/activity.py)."""
    marker = tmp_path / "marker"
    client_code = (
        "import sys, remrepl\n"
        "s = remrepl.connect(sys.argv[1], password=sys.argv[2])\n"
        "print(s.run('1').value, flush=True)\n"
        "sys.stdin.read()\n"
    )
    # the password goes on this test client's command line only because the test made it up
    client = subprocess.Popen(
        [sys.executable, "-c", client_code, str(fast_server.connection_file), fast_server.password],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert client.stdout is not None and client.stdout.readline() == "1\n"
        start_reaper(idle_timeout=IDLE, command=["touch", str(marker)])
        outlive(IDLE + 1)
        assert not fired(marker)  # the client is there, idle
        client.send_signal(how)
        wait_until(lambda: fired(marker), WAIT, "the reaper's command after the client went away")
    finally:
        client.kill()
        client.send_signal(signal.SIGCONT)
        client.wait(10)
        for stream in (client.stdin, client.stdout):
            if stream is not None:
                stream.close()


def test_does_not_fire_while_a_run_goes_on_without_client(fast_server: RunningServer, tmp_path: Path) -> None:
    marker, go = tmp_path / "marker", tmp_path / "go"
    code = (
        "import os, time\n"
        "print('started', flush=True)\n"
        "end = time.monotonic() + 120\n"
        f"while not os.path.exists({str(go)!r}) and time.monotonic() < end:\n"
        "    time.sleep(0.05)\n"
    )
    with fast_server.connect() as session:
        execution = session.execute(code)
        for event in execution.events(WAIT):
            if getattr(event, "data", b"") == b"started\n":
                break
    # detached with the run going on (as `exec --keep` or %exit during a run leaves it)
    start_reaper(idle_timeout=IDLE, command=["touch", str(marker)])
    outlive(2 * IDLE)
    assert not fired(marker) and status()["running"]
    go.touch()  # the run ends: nothing is going on any more
    wait_until(lambda: fired(marker), WAIT, "the reaper's command after the run ended")
    assert wait_done()["reason"] == "idle"


class LeaveTheQuestion(Exception):
    pass


def test_a_run_waiting_for_input_from_nobody_does_not_keep_the_machine(
    fast_server: RunningServer, tmp_path: Path
) -> None:
    """input() asked, then the client left: the run waits for an answer nobody will give."""

    def walk_away(prompt: str, password: bool) -> str | None:
        raise LeaveTheQuestion

    marker = tmp_path / "marker"
    with connect(info=fast_server.info, password=fast_server.password, input_handler=walk_away) as session:
        start_reaper(idle_timeout=IDLE, command=["touch", str(marker)])
        with pytest.raises(LeaveTheQuestion):
            for _ in session.execute("answer = input('well? ')").events(WAIT):
                pass
    # were it counted as a run in progress, the server would touch its file every second, forever
    wait_until(lambda: fired(marker), WAIT, "the reaper's command")
    assert wait_done()["reason"] == "idle"


def test_fires_at_max_lifetime_even_with_a_client_attached(fast_server: RunningServer, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with fast_server.connect() as session:
        session.run("x = 1")
        start_reaper(idle_timeout=3600, max_lifetime=1.0, command=["touch", str(marker)])
        wait_until(lambda: fired(marker), WAIT, "the reaper's command at max lifetime")
        assert wait_done()["reason"] == "max-lifetime"
        assert session.run("x").value == "1"  # (harmless command: the session is still there)


def test_a_second_start_replaces_the_first(tmp_path: Path, private_state: Path) -> None:
    first_marker, second_marker = tmp_path / "first", tmp_path / "second"
    first = start_reaper(idle_timeout=3600, max_lifetime=3600, command=["touch", str(first_marker)])
    before = status()
    assert first["action"] == "started" and before["idle_timeout"] == 3600.0
    second = start_reaper(idle_timeout=1.0, max_lifetime=7200, command=["touch", str(second_marker)])
    assert second["action"] == "replaced" and second["replaced_pid"] == first["pid"] != second["pid"]
    wait_until(lambda: not alive(first["pid"]), WAIT, "the first reaper to stop")
    now = status()
    assert (now["pid"], now["idle_timeout"], now["max_lifetime"]) == (second["pid"], 1.0, 7200.0)
    assert now["origin"] == before["origin"]  # the max lifetime still counts from the first start
    wait_until(lambda: fired(second_marker), WAIT, "the new reaper's command")
    assert not first_marker.exists()
    assert f"replacing pid {first['pid']}" in log_text(private_state)


def test_a_start_after_the_first_ended_is_a_fresh_start(tmp_path: Path) -> None:
    first = start_reaper(max_lifetime=0.5, command=["touch", str(tmp_path / "first")])
    origin = wait_done()["origin"]
    second = start_reaper(idle_timeout=3600, command=["touch", str(tmp_path / "second")])
    assert second["action"] == "started" and second["pid"] != first["pid"]
    assert status()["origin"] > origin


def test_ignores_activity_files_of_dead_processes(tmp_path: Path, password_file: Path, private_state: Path) -> None:
    crashed = start_server(tmp_path, password_file, *FAST)
    activity = private_state / "activity" / str(crashed.process.pid)
    wait_until(activity.exists, WAIT, "the server's activity file")
    crashed.process.send_signal(signal.SIGKILL)  # a crash: the file stays behind
    stop_server(crashed)
    assert activity.exists()
    future = time.time() + 86400  # were it counted, it would keep the machine up for a day
    os.utime(activity, (future, future))
    marker = tmp_path / "marker"
    start_reaper(idle_timeout=1.0, command=["touch", str(marker)])
    wait_until(lambda: fired(marker), WAIT, "the reaper's command")
    assert not activity.exists()  # removed, so a reused pid cannot revive it
    assert f"activity file of pid {crashed.process.pid}: that process is gone" in log_text(private_state)


def test_a_failing_command_is_logged_and_retried_a_bounded_number_of_times(tmp_path: Path, private_state: Path) -> None:
    attempts = tmp_path / "attempts"
    start_reaper(idle_timeout=0.2, retry_delay=0.05, command=["sh", "-c", f"echo run >> '{attempts}'; exit 3"])
    wait_done("failed")
    assert attempts.read_text() == "run\n" * ATTEMPTS
    text = log_text(private_state)
    assert text.count("the command failed with exit status 3") == ATTEMPTS
    assert f"giving up after {ATTEMPTS} attempts" in text


def test_a_command_that_cannot_start_is_logged(tmp_path: Path, private_state: Path) -> None:
    start_reaper(idle_timeout=0.2, retry_delay=0.05, command=[str(tmp_path / "no-such-command")])
    wait_done("failed")
    assert log_text(private_state).count("cannot run the command") == ATTEMPTS


# --- the shell line, status, files ---------------------------------------------------------------


@pytest.mark.parametrize("shell", ["sh", "bash", "zsh", "csh", "tcsh", "fish"])
def test_the_shell_line_works_in_every_login_shell(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    odd = tmp_path / "it's a $HOME * `dir`"
    odd.mkdir()
    marker = odd / "marker"
    started = start_reaper(idle_timeout=0.5, command=["touch", str(marker)], shell=shell)
    assert started["action"] == "started"
    wait_until(lambda: fired(marker), WAIT, "the reaper's command")


def test_the_shell_line_returns_at_once_with_the_reaper_detached(tmp_path: Path) -> None:
    started = start_reaper(idle_timeout=3600, command=["touch", str(tmp_path / "marker")])
    pid = started["pid"]
    assert alive(pid)  # start_reaper returned: the shell line ended, the reaper lives on
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    assert int(fields[3]) == pid  # its own session: no SIGHUP when the SSH session ends
    assert os.readlink(f"/proc/{pid}/cwd") == "/"


def test_status(tmp_path: Path, private_state: Path, fast_server: RunningServer) -> None:
    assert status() == {
        "event": "reaper-status",
        "running": False,
        "log": str(private_state / "reaper/reaper.log"),
        "state": None,
    }
    start_reaper(idle_timeout=3600, max_lifetime=7200, command=["touch", str(tmp_path / "marker")])
    line = reaper_status_command(sys.executable)
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=WAIT, check=True)
    data = json.loads(done.stdout)
    assert data["running"] and data["state"] == "watching" and data["reason"] == "idle"
    assert data["deadline"] == pytest.approx(data["started_at"] + 3600, abs=3600)
    assert fast_server.process.pid in data["active_servers"]
    for name in ("reaper.log", "reaper.json", "reaper.lock"):
        assert (private_state / "reaper" / name).stat().st_mode & 0o777 == 0o600


# --- guard and bad input -----------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "remrepl.reaper", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [[], ["--command", "sudo", "-n", "shutdown", "-h", "now"], ["--command", "sh", "-c", "sleep 1; poweroff"]],
    ids=["default", "explicit", "in-a-shell"],
)
def test_the_suite_can_never_power_this_machine_off(command: list[str], private_state: Path) -> None:
    assert os.environ[GUARD_ENV]  # set by tests/support/guard.py for every process the tests start
    done = run_cli("--idle-timeout", "0.1", *command)
    assert done.returncode == 2
    assert "refusing to run" in json.loads(done.stdout)["error"]
    now = status()
    assert not now["running"] and now["state"] is None  # nothing was started


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --idle-timeout, --max-lifetime or both"),
        (["--idle-timeout", "-5"], "--idle-timeout must be a positive number"),
        (["--max-lifetime", "0"], "--max-lifetime must be a positive number"),
        (["--max-lifetime", "nan"], "--max-lifetime must be a positive number"),
        (["--idle-timeout", "inf"], "--idle-timeout must be a positive number"),
        (["--idle-timeout", "5", "--retry-delay", "0"], "--retry-delay must be a positive number"),
        (["--idle-timeout", "5", "--command"], "--command needs the command"),
    ],
)
def test_bad_values_are_refused_clearly(args: list[str], message: str) -> None:
    done = run_cli(*args)
    assert done.returncode == 2 and message in json.loads(done.stdout)["error"] and message in done.stderr
    assert not status()["running"]


def test_bad_shell_words_are_refused() -> None:
    for word in ("a\\b", "a!b", "a\nb"):
        with pytest.raises(ConfigError, match="cannot contain"):
            reaper_command("python3", idle_timeout=60, max_lifetime=None, command=["echo", word])
    with pytest.raises(ConfigError, match="--idle-timeout must be a positive number"):
        reaper_command("python3", idle_timeout=-1, max_lifetime=None, command=["true"])
    with pytest.raises(ConfigError, match="give --idle-timeout"):
        reaper_command("python3", idle_timeout=None, max_lifetime=None, command=["true"])


def test_the_shell_line_is_what_a_launcher_expects() -> None:
    line = reaper_command("~/.remrepl/venv/bin/python", idle_timeout=3600, max_lifetime=43200, command=["true"])
    assert line == (
        'exec "$HOME"/.remrepl/venv/bin/python -c \'import sys; sys.path[:1] = [entry for entry in sys.path[:1] if '
        'entry]; import runpy; runpy.run_module("remrepl.reaper", run_name="__main__", alter_sys=True)\' '
        "--idle-timeout 3600.0 --max-lifetime 43200.0 --command true"
    )  # -m's work with a safe import path, for a head's Python of any version (3.10 has no -P)


def test_a_stopped_reaper_says_so(tmp_path: Path, private_state: Path) -> None:
    started = start_reaper(idle_timeout=3600, command=["touch", str(tmp_path / "marker")])
    terminate([started["pid"]])
    now = status()
    assert not now["running"] and now["state"] == "stopped"
    assert "stopped by SIGTERM" in log_text(private_state)
    assert not (tmp_path / "marker").exists()


def test_started_over_ssh_it_outlives_the_ssh_session(
    sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path, private_state: Path
) -> None:
    """As a launcher starts it on a head node: the shell line through a real sshd, then the session ends."""
    marker = tmp_path / "marker"
    line = reaper_command(sys.executable, idle_timeout=1.0, max_lifetime=None, command=["touch", str(marker)])
    done = ssh_hosts.ssh("target", line)
    assert done.returncode == 0, done.stdout + done.stderr
    started = json.loads(done.stdout.strip().splitlines()[-1])
    assert started["action"] == "started"
    assert started["log"] == str(private_state / "remote" / "reaper" / "reaper.log")  # the remote's state dir
    wait_until(lambda: fired(marker), WAIT, "the reaper's command, after the SSH session ended")
