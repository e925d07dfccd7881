"""Sessions outlive clients: detach, reattach, replay, a killed client, a client taking over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from remrepl import SessionClosed
from remrepl.client.session import ACK_DELAY, Session
from remrepl.launchers import LocalLauncher
from remrepl.protocol import Done, OutputEvent, Result, Stream
from tests.support.servers import RunningServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)


def missed_output(session: Session, timeout: float = 20.0) -> list[OutputEvent]:
    """What a newly attached client receives: the replay, then the rest of any run in progress."""
    events: list[OutputEvent] = []
    deadline = time.monotonic() + timeout
    while session.replaying and time.monotonic() < deadline:
        event = session.next_event(deadline - time.monotonic())
        if event is not None:
            events.append(event)
    running = session.running()
    if running is not None:
        events.extend(running.events(timeout))
    return events


def stdout_of(events: list[OutputEvent]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, Stream) and e.name == "stdout")


def test_detach_and_reattach_reach_the_same_namespace(launcher: LocalLauncher) -> None:
    with launcher.connect() as first:
        first.run("x = 21 * 2")
    with launcher.connect() as second:
        assert second.run("x").value == "42"
        assert missed_output(second) == []  # everything was seen: nothing replayed twice


def test_output_made_while_detached_is_replayed(launcher: LocalLauncher, tmp_path: Path) -> None:
    flag, printed = tmp_path / "flag", tmp_path / "printed"
    with launcher.connect() as first:
        first.run(
            "import os, threading, time\n"
            "def later():\n"
            "    for _ in range(1000):\n"  # bounded: at most 20 s
            f"        if os.path.exists({str(flag)!r}):\n"
            "            break\n"
            "        time.sleep(0.02)\n"
            "    print('while you were away', flush=True)\n"
            f"    open({str(printed)!r}, 'w').close()\n"
            "threading.Thread(target=later).start()"
        )
    flag.touch()  # the first client has detached: now the kernel prints
    wait_until(printed.exists, 20, "the kernel's thread to print")
    with launcher.connect() as second:
        assert stdout_of(missed_output(second)) == b"while you were away\n"


def test_a_killed_client_loses_nothing(server: RunningServer, tmp_path: Path) -> None:
    client_code = (
        "import sys, remrepl\n"
        "s = remrepl.connect(sys.argv[1], password=sys.argv[2])\n"
        "code = 'import time\\nfor i in range(6):\\n    print(i, flush=True)\\n    time.sleep(0.3)\\n\"finished\"'\n"
        "for event in s.execute(code):\n"
        "    print('got', type(event).__name__, flush=True)\n"
    )
    # the password goes on this test client's command line only because the test made it up
    client = subprocess.Popen(
        [sys.executable, "-c", client_code, str(server.connection_file), server.password],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None
    assert client.stdout.readline().startswith("got Stream")
    client.send_signal(signal.SIGKILL)
    client.wait(10)
    client.stdout.close()
    with server.connect() as session:
        events = missed_output(session)
    # The client had been handed "0" (and may have acknowledged it before it died); nothing after it
    assert stdout_of(events) in (b"0\n1\n2\n3\n4\n5\n", b"1\n2\n3\n4\n5\n")
    assert [e.text for e in events if isinstance(e, Result)] == ["'finished'"]
    assert isinstance(events[-1], Done) and events[-1].status == "ok"


def test_a_new_client_takes_the_session_over(launcher: LocalLauncher) -> None:
    first = launcher.connect()
    try:
        first.run("x = 21")
        with launcher.connect() as second:
            assert second.run("x * 2").value == "42"
            with pytest.raises(SessionClosed) as closed:
                first.run("2")
    finally:
        first.close()
    # The first client is told what happened, and that the session itself was not lost
    assert str(closed.value) == (
        "the server detached this client: another client attached to this session and took it over "
        "(the namespace and any run go on; connect again to take it back)"
    )


def test_the_server_pid_is_the_launchers(launcher: LocalLauncher) -> None:
    assert launcher.info is not None
    with launcher.connect() as session:
        assert session.welcome is not None and session.welcome.server_pid == launcher.info.pid
    os.kill(launcher.info.pid, 0)


def test_a_killed_client_is_not_replayed_what_it_saw(server: RunningServer, tmp_path: Path) -> None:
    """A client killed at an idle prompt had shown its last run's output: the next plain attachment must not
    show it again, yet what was printed after it died (nobody attached) is replayed."""
    flag, printed = tmp_path / "flag", tmp_path / "printed"
    later = (
        "import os, threading, time\n"
        "def later():\n"
        f"    while not os.path.exists({str(flag)!r}):\n"
        "        time.sleep(0.02)\n"
        "    print('while nobody was attached', flush=True)\n"
        f"    open({str(printed)!r}, 'w').close()\n"
        "threading.Thread(target=later, daemon=True).start()\n"
        "print('the first client saw this')"
    )
    client_code = (
        "import sys, remrepl\n"
        "s = remrepl.connect(sys.argv[1], password=sys.argv[2])\n"
        "seen = s.run(sys.argv[3]).stdout\n"
        # Its ack goes out as the run ends, but a kill right after could beat libzmq's I/O thread to it: a
        # second run's Execute carries the ack too, and its Done proves the server has read it.
        "s.run('pass')\n"
        "print(seen, end='', flush=True)\n"
        "while True:\n"  # an idle prompt: waiting for output, until killed
        "    s.next_event(None)\n"
    )
    # the password goes on this test client's command line only because the test made it up
    client = subprocess.Popen(
        [sys.executable, "-c", client_code, str(server.connection_file), server.password, later],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None
    assert client.stdout.readline() == "the first client saw this\n"
    client.send_signal(signal.SIGKILL)
    client.wait(10)
    client.stdout.close()
    flag.touch()
    wait_until(printed.exists, 20, "the kernel's thread to print")
    with server.connect() as session:
        assert stdout_of(missed_output(session)) == b"while nobody was attached\n"


def test_a_client_taken_over_is_not_replayed_to_the_new_one(launcher: LocalLauncher) -> None:
    first = launcher.connect()
    try:
        assert first.run("print('seen by the first client')").stdout == "seen by the first client\n"
        with launcher.connect() as second:
            assert missed_output(second) == []
    finally:
        first.close()


def test_the_last_run_of_a_burst_is_acknowledged_once_the_client_waits_idle(launcher: LocalLauncher) -> None:
    """In a burst of runs each Execute carries the previous run's ack (no Ack of its own); the burst's last
    run is acknowledged while the client waits for output, so a client taking over is not replayed it."""
    first = launcher.connect()
    try:
        for i in range(3):
            assert first.run(f"print('burst {i}')").stdout == f"burst {i}\n"
        deadline = time.monotonic() + ACK_DELAY + 10
        while first._seen > first._acked and time.monotonic() < deadline:  # the prompt's idle wait
            first.next_event(0.1)
        with launcher.connect() as second:
            assert missed_output(second) == []
    finally:
        first.close()
