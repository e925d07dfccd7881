"""Secrets stay secret: never in a process's command line or environment, a log, or a file we write."""

from __future__ import annotations

import ast
import grp
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from remrepl.launchers import LocalLauncher
from tests.support.processes import process_texts
from tests.support.servers import PASSWORD, RunningServer, start_server, stop_server

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)


def test_the_password_is_in_no_command_line_or_environment(server: RunningServer) -> None:
    with server.connect() as session:
        session.run("import os; os.system('sleep 0.1')")
        leaks = [pid for pid, text in process_texts().items() if PASSWORD.encode() in text]
    assert leaks == []


def test_the_launchers_key_is_in_no_command_line_or_environment(launcher: LocalLauncher) -> None:
    assert launcher.info is not None
    secret = launcher.info.client_secret_key
    with launcher.connect() as session:
        session.run("1")
        assert [pid for pid, text in process_texts().items() if secret in text] == []


def test_connection_file_is_private_and_holds_no_password(server: RunningServer) -> None:
    mode = stat.S_IMODE(server.connection_file.stat().st_mode)
    assert mode == 0o600
    text = server.connection_file.read_text()
    assert PASSWORD not in text
    data = json.loads(text)
    assert {"host", "port", "server_public_key", "pid", "protocol"} <= set(data)
    assert "client_secret_key" not in data


def test_an_existing_connection_file_becomes_private(tmp_path: Path, password_file: Path) -> None:
    from tests.support.servers import start_server, stop_server

    target = tmp_path / "server.json"
    target.write_text("old")
    target.chmod(0o644)
    running = start_server(tmp_path, password_file)
    try:
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    finally:
        stop_server(running)


def test_nothing_we_write_holds_the_password(server: RunningServer, private_state: Path, tmp_path: Path) -> None:
    with server.connect() as session:
        session.run("print('hello')")
    server.process.terminate()
    _, stderr = server.process.communicate(timeout=10)
    assert PASSWORD not in stderr
    for path in [*private_state.rglob("*"), *tmp_path.rglob("*")]:
        if path.is_file() and path.name != "password":
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_password_from_stdin_is_not_echoed_anywhere(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "remrepl.server", "--password-stdin", "--idle-timeout", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = process.communicate(PASSWORD + "\n", timeout=30)
    assert process.returncode == 0
    assert json.loads(out.splitlines()[0])["event"] == "ready"
    assert PASSWORD not in out + err


def test_a_password_in_the_clients_environment_never_reaches_the_server_or_user_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``REMREPL_PASSWORD`` is the client's; a server it launches, and the kernel, run without it."""
    monkeypatch.setenv("REMREPL_PASSWORD", PASSWORD)
    with LocalLauncher() as launched, launched.connect() as session:
        assert session.run("import os; 'REMREPL_PASSWORD' in os.environ").value == "False"
        assert session.run("import subprocess; subprocess.run(['env'], capture_output=True).stdout").value
        leaks = [pid for pid, text in process_texts().items() if PASSWORD.encode() in text and pid != os.getpid()]
    assert leaks == []


# --- the supervisor's own secrets, against user code in its kernel ----------------------------------------


def _server_group() -> int:
    """The group the hardened server runs with. As root (here), root reads any process's /proc files, so
    the test looks at their owner instead: a non-dumpable process's /proc/PID/* belong to root:root, so a
    server run with another group (still uid 0: it reaches root's interpreter) shows the flag in st_gid."""
    return grp.getgrnam("nogroup").gr_gid if os.geteuid() == 0 else os.getgid()


@contextmanager
def plain_server(tmp_path: Path, password_file: Path, env: dict[str, str]) -> Iterator[RunningServer]:
    """A password server as a user runs it by hand, with ``env`` (as root: in group nogroup, see above)."""
    running = start_server(
        tmp_path,
        password_file,
        env=env,
        group=_server_group() if os.geteuid() == 0 else None,
        extra_groups=[] if os.geteuid() == 0 else None,
    )
    try:
        yield running
    finally:
        stop_server(running)


PROBE = """
import os
def probe(name):
    path = f"/proc/{os.getppid()}/{name}"
    try:
        with open(path, "rb") as f:
            f.read(1)
        return "read"
    except OSError as exc:
        return type(exc).__name__
{
    "environ": probe("environ"),
    "mem": probe("mem"),
    "own_owner": os.stat("/proc/self/environ").st_uid,
    "own_group": os.stat("/proc/self/environ").st_gid,
}
"""


def _status_id(status: str, name: str) -> int:
    """The real uid or gid in /proc/PID/status (``Uid:`` and ``Gid:`` show real, effective, saved, fs)."""
    match = re.search(rf"^{name}:\s+(\d+)", status, re.MULTILINE)
    assert match, status
    return int(match.group(1))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_DUMPABLE and /proc are Linux's")
def test_the_supervisor_is_not_dumpable_and_its_kernel_is(tmp_path: Path, password_file: Path) -> None:
    """The supervisor is non-dumpable: its /proc/PID/* become root:root and a same-uid process (its
    kernel's user code) can neither read its environment nor open its memory (root, as here, still can:
    the ownership shows the flag then). The kernel stays dumpable (an exec resets the flag): the user may
    still debug their own code."""
    with plain_server(tmp_path, password_file, dict(os.environ)) as server, server.connect() as session:
        probed = session.run(PROBE).value
        assert probed is not None
        seen = ast.literal_eval(probed)
        supervisor = os.stat(f"/proc/{server.process.pid}/environ")
        status = Path(f"/proc/{server.process.pid}/status").read_text()
    real_uid, real_gid = (_status_id(status, name) for name in ("Uid", "Gid"))
    assert (real_uid, real_gid) != (0, 0)  # so root:root below is the kernel's doing, not the owner's
    assert (supervisor.st_uid, supervisor.st_gid) == (0, 0), (supervisor, real_uid, real_gid)
    assert (seen["own_owner"], seen["own_group"]) == (real_uid, real_gid), seen  # the kernel: its own
    if os.geteuid() != 0:
        assert seen["environ"] == "PermissionError" and seen["mem"] == "PermissionError", seen


def test_remrepl_password_is_dropped_from_the_servers_exec_environment(tmp_path: Path, password_file: Path) -> None:
    """``REMREPL_PASSWORD`` (the client's, inherited from the user's shell) is not the server's to keep:
    /proc/PID/environ shows the block a process was exec'd with, so the server re-execs without it (same
    pid) before it reads any secret; the kernel does not get it either."""
    leaked = "the client's own password, not this server's"
    env = {**os.environ, "REMREPL_PASSWORD": leaked}
    with plain_server(tmp_path, password_file, env) as server, server.connect() as session:
        assert server.ready["pid"] == server.process.pid  # re-exec'd in place: launchers' pids stay right
        assert session.run("import os; 'REMREPL_PASSWORD' in os.environ").value == "False"
        assert (
            session.run(f"open(f'/proc/{{os.getpid()}}/environ', 'rb').read().count({leaked.encode()!r})").value == "0"
        )
        if os.geteuid() != 0:
            pytest.skip("only root can read a non-dumpable process's environ: the check needs it")
        environ = Path(f"/proc/{server.process.pid}/environ").read_bytes()
        cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    assert leaked.encode() not in environ and b"REMREPL_PASSWORD" not in environ
    assert leaked.encode() not in cmdline
    assert b"REMREPL_STATE_DIR" in environ  # the rest of the environment is kept
