"""``remrepl exec`` and ``remrepl serve`` as a user runs them: real subprocesses, real pipes, exit statuses."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import stat
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from remrepl.protocol import Stream
from tests.support.cli import remrepl_command, run_cli
from tests.support.processes import alive, leftover_servers, server_processes, terminate
from tests.support.servers import RunningServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)

QUICK = 8.0  # "within a few seconds"


@pytest.fixture(autouse=True)
def no_leftover_servers(state_dir: Path) -> Iterator[None]:
    """Stop any server a CLI run of this test left behind (fixtures stop their own children themselves)."""
    yield
    terminate(leftover_servers(state_dir))


class ScriptMaker:
    """Writes a script file in the test's folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, source: str, name: str = "job.py") -> Path:
        path = self.folder / name
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path


@pytest.fixture
def script(tmp_path: Path) -> ScriptMaker:
    return ScriptMaker(tmp_path)


def server_args(server: RunningServer, password_file: Path) -> list[str]:
    return ["--connection-file", str(server.connection_file), "--password-file", str(password_file)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_line(stream: int, deadline: float) -> bytes:
    """Read from a pipe until a newline arrives or the deadline passes; whatever arrived."""
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
            break
        chunk = os.read(stream, 4096)
        if not chunk:
            break
        data += chunk
    return data


# --- exit statuses ------------------------------------------------------------------------------------


def test_a_script_that_ends_normally_exits_0(server: RunningServer, password_file: Path, script: ScriptMaker) -> None:
    path = script("print('hello from', __name__)\n")
    result = run_cli("exec", *server_args(server, password_file), str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from __main__\n"
    assert result.stderr == ""


def test_sys_exit_code_is_the_exit_status(server: RunningServer, password_file: Path, script: ScriptMaker) -> None:
    path = script("import sys\nprint('before')\nsys.exit(3)\nprint('never')\n")
    result = run_cli("exec", *server_args(server, password_file), str(path))
    assert result.returncode == 3, result.stderr
    assert result.stdout == "before\n"
    assert "Traceback" not in result.stderr


def test_sys_exit_with_a_message_prints_it_and_exits_1(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    path = script("import sys\nsys.exit('giving up: no input')\n")
    result = run_cli("exec", *server_args(server, password_file), str(path))
    assert result.returncode == 1
    assert "giving up: no input" in result.stderr
    assert "giving up" not in result.stdout
    assert "Traceback" not in result.stderr


def test_an_uncaught_exception_shows_the_remote_traceback_and_exits_1(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    path = script(
        """\
        def check(value):
            raise ValueError(f"bad value {value}")

        check(7)
        """,
        name="failing_job.py",
    )
    result = run_cli("exec", *server_args(server, password_file), str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    err = result.stderr
    assert "Traceback (most recent call last):" in err
    assert f'File "{path}", line 4, in <module>' in err
    assert f'File "{path}", line 2, in check' in err
    assert "ValueError: bad value 7" in err
    assert "remrepl/server" not in err and "kernel.py" not in err


def test_the_server_survives_a_failing_script(server: RunningServer, password_file: Path, script: ScriptMaker) -> None:
    failing = script("raise RuntimeError('boom')\n", name="boom.py")
    assert run_cli("exec", *server_args(server, password_file), str(failing)).returncode == 1
    fine = script("print('fine')\n", name="fine.py")
    result = run_cli("exec", *server_args(server, password_file), str(fine))
    assert (result.returncode, result.stdout) == (0, "fine\n")


# --- what the script sees -----------------------------------------------------------------------------


def test_argv_is_the_file_and_its_args_even_when_they_look_like_options(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    path = script("import json, sys\nprint(json.dumps(sys.argv))\n")
    args = ["--foo", "-x", "plain", "--timeout", "5", "--launch", "--", "-h", "with space"]
    result = run_cli("exec", *server_args(server, password_file), str(path), *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [str(path), *args]


def test_stdout_and_stderr_reach_the_matching_local_streams(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    path = script(
        """\
        import os, sys
        print("out 1")
        print("err 1", file=sys.stderr)
        sys.stdout.flush(); sys.stderr.flush()
        os.write(1, b"out 2 (fd)\\n")
        os.write(2, b"err 2 (fd)\\n")
        print("out 3")
        """
    )
    result = run_cli("exec", *server_args(server, password_file), str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "out 1\nout 2 (fd)\nout 3\n"
    assert result.stderr == "err 1\nerr 2 (fd)\n"


def test_output_streams_while_the_script_runs(
    server: RunningServer, password_file: Path, script: ScriptMaker, tmp_path: Path
) -> None:
    """The first line is readable locally while the script is still running (it waits for us)."""
    go = tmp_path / "go"
    path = script(
        """\
        import os, sys, time
        print("first line")
        deadline = time.monotonic() + 30
        while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
            time.sleep(0.02)
        print("second line" if os.path.exists(sys.argv[1]) else "gave up waiting")
        """
    )
    process = subprocess.Popen(
        [*remrepl_command(), "exec", *server_args(server, password_file), str(path), str(go)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first = read_line(process.stdout.fileno(), time.monotonic() + 20)
        assert first == b"first line\n"
        assert process.poll() is None  # still running: the script waits for the file we have not made yet
        go.touch()
        rest, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert rest == b"second line\n"
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_input_reads_the_local_stdin(server: RunningServer, password_file: Path, script: ScriptMaker) -> None:
    path = script(
        """\
        name = input("name? ")
        print(f"hello {name}")
        try:
            input("more? ")
        except EOFError:
            print("end of input")
        """
    )
    result = run_cli("exec", *server_args(server, password_file), str(path), stdin="Ada Lovelace\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "name? hello Ada Lovelace\nmore? end of input\n"


def test_timeout_interrupts_the_run_and_exits_124(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    path = script("while True:\n    pass\n", name="spin.py")
    started = time.monotonic()
    result = run_cli("exec", *server_args(server, password_file), "--timeout", "1", str(path))
    assert result.returncode == 124, result.stderr
    assert time.monotonic() - started < QUICK
    assert "interrupted" in result.stderr
    # the server's interpreter is free again afterwards
    after = script("print('next run')\n", name="after.py")
    result = run_cli("exec", *server_args(server, password_file), str(after), timeout=QUICK + 10)
    assert (result.returncode, result.stdout) == (0, "next run\n")


def start_spinning(args: list[str]) -> subprocess.Popen[bytes]:
    """``remrepl ARGS`` running a script that prints "spinning" and then spins; returns once it printed."""
    process = subprocess.Popen(
        [*remrepl_command(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        assert read_line(process.stdout.fileno(), time.monotonic() + 20) == b"spinning\n"
    except BaseException:
        process.kill()
        process.communicate()
        raise
    return process


def test_ctrl_c_interrupts_the_remote_script(server: RunningServer, password_file: Path, script: ScriptMaker) -> None:
    path = script("print('spinning', flush=True)\nwhile True:\n    pass\n", name="spin.py")
    process = start_spinning(["exec", *server_args(server, password_file), str(path)])
    try:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=QUICK)
        assert process.returncode == 130
        assert "KeyboardInterrupt" in err.decode()
        assert f'File "{path}"' in err.decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


IGNORES_SIGINT = """\
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
print("spinning", flush=True)
while True:
    pass
"""


def next_run_is_free(server: RunningServer, password_file: Path, script: ScriptMaker) -> None:
    """The server's interpreter runs the next script at once (the one that would not stop is gone)."""
    after = script("print('next run')\n", name="after.py")
    result = run_cli("exec", *server_args(server, password_file), str(after), timeout=QUICK + 10)
    assert (result.returncode, result.stdout) == (0, "next run\n"), result.stderr


def test_repeated_ctrl_c_ends_a_script_that_ignores_it(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    path = script(IGNORES_SIGINT, name="stubborn.py")
    process = start_spinning(["exec", *server_args(server, password_file), str(path)])
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            process.send_signal(signal.SIGINT)
            time.sleep(0.2)  # pacing between presses, not synchronisation
        _, err = process.communicate(timeout=QUICK)
        # 130, or killed by a press that came after the run ended: what a shell shows as 130 either way
        assert process.returncode in (130, -signal.SIGINT), err.decode()
        assert "interpreter was killed" in err.decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    next_run_is_free(server, password_file, script)


def test_timeout_ends_a_script_that_ignores_ctrl_c(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    path = script(IGNORES_SIGINT, name="stubborn.py")
    result = run_cli("exec", *server_args(server, password_file), "--timeout", "1", str(path))
    assert result.returncode == 124, result.stderr
    assert "interpreter was killed" in result.stderr
    next_run_is_free(server, password_file, script)


def test_repeated_ctrl_c_interrupts_the_script_without_killing_the_interpreter(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    """Ctrl-C pressed again and again stops the script (its interpreter formats the traceback and ends
    as python does, not killed); the server goes on. (It asserted once that the next exec ran in the same
    interpreter process: every exec now has a fresh one.)"""
    # deep in a call stack, so the interrupted run has a long traceback for the kernel to format
    spin = script(
        """\
        def spin(depth):
            if depth:
                spin(depth - 1)
            while True:
                pass

        print("spinning", flush=True)
        spin(800)
        """,
        name="deep_spin.py",
    )
    process = start_spinning(["exec", *server_args(server, password_file), str(spin)])
    try:
        deadline = time.monotonic() + QUICK
        while process.poll() is None and time.monotonic() < deadline:
            process.send_signal(signal.SIGINT)
            time.sleep(0.001)  # pacing between presses, not synchronisation
        _, err = process.communicate(timeout=QUICK)
        # 130, or killed by a press that came after the run ended: what a shell shows as 130 either way
        assert process.returncode in (130, -signal.SIGINT), err.decode()
        assert "interpreter was killed" not in err.decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    next_run_is_free(server, password_file, script)


# --- which server, and how to get in ------------------------------------------------------------------


def test_exec_launch_runs_the_script_and_leaves_no_server(script: ScriptMaker, state_dir: Path) -> None:
    path = script("import os, sys\nprint(os.getpid(), os.getppid())\nsys.exit(5)\n")
    result = run_cli("exec", "--launch", str(path), "--launch")
    assert result.returncode == 5, result.stderr
    kernel, supervisor = (int(word) for word in result.stdout.split())
    wait_until(lambda: not alive(kernel) and not alive(supervisor), 10, "the launched server to end")
    assert server_processes(state_dir) == []


def test_connection_file_with_password_from_the_environment(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    password = password_file.read_text().splitlines()[0]
    path = script("print('in with the password from the environment')\n")
    result = run_cli(
        "exec", "--connection-file", str(server.connection_file), str(path), env={"REMREPL_PASSWORD": password}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "in with the password from the environment\n"


def test_wrong_password_fails_clearly_and_the_server_still_serves(
    server: RunningServer, password_file: Path, script: ScriptMaker, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the password\n")
    path = script("print('inside')\n")
    started = time.monotonic()
    result = run_cli("exec", "--connection-file", str(server.connection_file), "--password-file", str(wrong), str(path))
    assert time.monotonic() - started < QUICK
    assert result.returncode != 0
    assert "authentication failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert "inside" not in result.stdout
    assert server.process.poll() is None
    result = run_cli("exec", *server_args(server, password_file), "--connect-timeout", "30", str(path))
    assert (result.returncode, result.stdout) == (0, "inside\n"), result.stderr


def test_no_server_listening_fails_clearly_within_the_connect_timeout(
    server: RunningServer, script: ScriptMaker, tmp_path: Path
) -> None:
    record = json.loads(server.connection_file.read_text())
    record["port"] = free_port()  # the same key, but nothing listens there
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(record))
    path = script("print('inside')\n")
    started = time.monotonic()
    result = run_cli(
        "exec", "--connection-file", str(stale), "--connect-timeout", "2", str(path), env={"REMREPL_PASSWORD": "x"}
    )
    assert time.monotonic() - started < QUICK
    assert result.returncode != 0
    assert f"127.0.0.1:{record['port']}" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_missing_file_fails_clearly(server: RunningServer, password_file: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_script.py"
    result = run_cli("exec", *server_args(server, password_file), str(missing))
    assert result.returncode != 0
    assert "no_such_script.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_exec_without_a_server_says_which_options_to_give(script: ScriptMaker) -> None:
    result = run_cli("exec", str(script("print(1)\n")))
    assert result.returncode != 0
    assert "--connection-file" in result.stderr and "--launch" in result.stderr
    assert "Traceback" not in result.stderr


# --- remrepl serve ------------------------------------------------------------------------------------


def test_serve_without_a_password_and_no_tty_fails_clearly(state_dir: Path) -> None:
    result = run_cli("serve", "--bind", "127.0.0.1", timeout=30)
    assert result.returncode != 0
    assert "password" in result.stderr
    assert "--password-file" in result.stderr or "--password-stdin" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert server_processes(state_dir) == []


def test_serve_reads_the_password_from_stdin_and_prints_its_ready_line(tmp_path: Path, script: ScriptMaker) -> None:
    password = "a password read from stdin"
    connection_file = tmp_path / "serve-connection.json"
    serve = ["serve", "--bind", "127.0.0.1", "--password-stdin", "--connection-file", str(connection_file)]
    process = subprocess.Popen(
        [*remrepl_command(), *serve],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(password.encode() + b"\n")
        process.stdin.close()
        line = read_line(process.stdout.fileno(), time.monotonic() + 30)
        assert line.endswith(b"\n"), line
        ready = json.loads(line)
        assert ready["event"] == "ready"
        assert ready["host"] == "127.0.0.1"
        assert isinstance(ready["port"], int) and ready["port"] > 0
        assert isinstance(ready["server_public_key"], str) and len(ready["server_public_key"]) == 40
        assert ready["pid"] == process.pid
        assert isinstance(ready["protocol"], int) and ready["protocol"] >= 1
        assert password not in line.decode()

        assert stat.S_IMODE(connection_file.stat().st_mode) == 0o600
        text = connection_file.read_text()
        assert password not in text
        record = json.loads(text)
        assert {k: record[k] for k in ("host", "port", "server_public_key", "pid")} == {
            k: ready[k] for k in ("host", "port", "server_public_key", "pid")
        }

        path = script("print('served')\n")
        result = run_cli(
            "exec", "--connection-file", str(connection_file), str(path), env={"REMREPL_PASSWORD": password}
        )
        assert (result.returncode, result.stdout) == (0, "served\n"), result.stderr
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_exec_prints_only_its_own_output_not_what_an_earlier_client_missed(
    server: RunningServer, password_file: Path, script: ScriptMaker
) -> None:
    """Output a crashed client never acknowledged is replayed to the next client that attaches; a script's
    stdout must not carry it. (An exec does not attach any more, so nothing is replayed to it and nothing
    is left out: the output waits for ``remrepl connect``, which this checks instead of the line on stderr
    that counted what was left out.)"""
    flag, printed = script.folder / "flag", script.folder / "printed"
    crashed = server.connect()
    crashed.execute(  # a run whose output comes after its client died: nobody ever saw it
        "import os, time\n"
        f"while not os.path.exists({str(flag)!r}):\n"
        "    time.sleep(0.02)\n"
        "print('missed by a client that crashed', flush=True)\n"
        f"open({str(printed)!r}, 'w').close()"  # the run's last step: it is over a moment later
    )
    crashed._teardown()  # no Detach, no ack: as if the client had been killed
    flag.touch()
    wait_until(printed.exists, QUICK, "the run to print")
    result = run_cli("exec", *server_args(server, password_file), str(script("print('mine')\n")))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "mine\n"
    assert "missed by a client" not in result.stderr
    later = server.connect()
    try:
        replayed = b""
        deadline = time.monotonic() + QUICK
        while later.replaying and time.monotonic() < deadline:
            event = later.next_event(deadline - time.monotonic())
            if isinstance(event, Stream):
                replayed += event.data
        assert b"missed by a client that crashed" in replayed
    finally:
        later.close()
