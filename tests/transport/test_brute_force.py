"""Brute force against a real server process: guesses are rationed per address, the user is never locked
out by an attacker near one guess a second, "too many" is its own error, and idle connections are capped.

Source addresses 127.0.0.2... are bound with ZeroMQ's ``tcp://SRC:0;127.0.0.1:PORT`` connect syntax.
"""

from __future__ import annotations

import dataclasses
import resource
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from remrepl import AuthenticationFailed, TooManyAttempts
from remrepl.client.handshake import monitor_message
from remrepl.launchers import records, registry
from remrepl.transport import derive_client_keys
from remrepl.transport.zap import MAX_WAIT, STATUS_TOO_MANY, STATUS_WRONG_KEY
from tests.support.servers import RunningServer, start_server, stop_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)

SHED = -1
FLOOD_ADDRESSES = [f"127.0.0.{i}" for i in range(2, 52)]  # 50 source addresses


class Guesser:
    """Wrong-key CurveZMQ connections from chosen source addresses, each watched by its own monitor."""

    def __init__(self, server: RunningServer) -> None:
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.ctx.set(zmq.MAX_SOCKETS, 8192)
        self.server = server
        self.open: list[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]] = []

    def guess(self, source: str) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
        public, secret = zmq.curve_keypair()
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RECONNECT_IVL, -1)  # one attempt per guess
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.server.info.server_public_key)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
        monitor = sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
        )
        sock.connect(f"tcp://{source}:0;127.0.0.1:{self.server.info.port}")
        self.open.append((sock, monitor))
        return sock, monitor

    def outcomes(
        self,
        guesses: list[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]],
        within: float,
        answered: list[float] | None = None,
    ) -> list[int]:
        """The ZAP status each guess got (SHED: dropped by the connection gate; 0: nothing within ``within`` s);
        ``answered``, if given, is filled with when each answer arrived (``time.monotonic()``; 0: none)."""
        poller = zmq.Poller()
        index = {monitor: i for i, (_, monitor) in enumerate(guesses)}
        for monitor in index:
            poller.register(monitor, zmq.POLLIN)
        statuses = [0] * len(guesses)
        if answered is not None:
            answered[:] = [0.0] * len(guesses)
        deadline = time.monotonic() + within
        while index and (remaining := deadline - time.monotonic()) > 0:
            for monitor, _ in poller.poll(int(remaining * 1000) + 1):
                event, value = monitor_message(monitor.recv_multipart())
                if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                    statuses[index[monitor]] = value
                else:
                    statuses[index[monitor]] = 200 if event == zmq.EVENT_HANDSHAKE_SUCCEEDED else SHED
                if answered is not None:
                    answered[index[monitor]] = time.monotonic()
                poller.unregister(monitor)
                del index[monitor]
        return statuses

    def close(self) -> None:
        for sock, monitor in self.open:
            sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)
        self.ctx.term()


@pytest.fixture
def guesser(server: RunningServer) -> Iterator[Guesser]:
    made = Guesser(server)
    yield made
    made.close()


class SteadyAttacker(threading.Thread):
    """Wrong guesses from one address at ``rate`` a second (not waiting for answers) until stopped."""

    def __init__(self, server: RunningServer, source: str, rate: float) -> None:
        super().__init__(daemon=True)
        self.guesser = Guesser(server)
        self.source, self.rate = source, rate
        self.stopping = threading.Event()
        self.sent = 0

    def run(self) -> None:
        for _ in range(int(60 * self.rate)):  # bounded: a minute at most
            self.guesser.guess(self.source)
            self.sent += 1
            if self.stopping.wait(1 / self.rate):
                break

    def wait_for(self, sent: int, within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while self.sent < sent and time.monotonic() < deadline:
            self.stopping.wait(0.01)
        assert self.sent >= sent

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        self.guesser.close()


def test_a_flood_is_rationed_per_address_and_the_user_gets_in_beside_a_one_per_second_attacker(
    server: RunningServer, guesser: Guesser
) -> None:
    began = time.monotonic()
    flood = [guesser.guess(source) for _ in range(12) for source in FLOOD_ADDRESSES]  # 600 at once
    answered: list[float] = []
    statuses = guesser.outcomes(flood, within=12, answered=answered)
    # every guess is answered in time (never past the deadline), or dropped by the connection gate (more
    # than 256 connections wait for their answer at once)...
    assert set(statuses) <= {STATUS_WRONG_KEY, STATUS_TOO_MANY, SHED}
    assert statuses.count(STATUS_WRONG_KEY) >= 100
    # ... and at most 8 are compared per address in a burst. A wrong key's answer waits for its slot, one
    # per interval from the address's first guess, so the burst's answers come within MAX_WAIT of it; a
    # key compared later (a slot freed while a loaded server was still taking the flood's handshakes in)
    # is answered a whole MAX_WAIT after the first guess, which is after `began`: outside this window.
    for i, source in enumerate(FLOOD_ADDRESSES):
        in_burst = [
            at
            for status, at in zip(statuses[i::50], answered[i::50], strict=True)
            if status == STATUS_WRONG_KEY and at < began + MAX_WAIT
        ]
        assert len(in_burst) <= 8, source
    attacker = SteadyAttacker(server, "127.0.0.1", rate=1.0)
    attacker.start()
    try:
        for guesses in range(2, 5):  # the user's own address, an attacker beside it: in, three times
            attacker.wait_for(guesses)
            with server.connect(connect_timeout=10) as session:
                assert session.run("6 * 7").value == "42"
    finally:
        attacker.stop()
    assert server.process.poll() is None


def test_too_many_attempts_is_its_own_error_and_the_user_gets_in_once_the_guessing_stops(
    server: RunningServer, guesser: Guesser
) -> None:
    attacker = SteadyAttacker(server, "127.0.0.1", rate=100.0)  # a flood from the user's own address
    attacker.start()
    try:
        attacker.wait_for(30)
        refused = None
        for _ in range(5):  # the user may slip into a slot the flood freed: try again, a few times
            try:
                server.connect(connect_timeout=0.3).close()
            except TooManyAttempts as exc:
                refused = exc
                break
    finally:
        attacker.stop()
    assert refused is not None
    assert "too many failed attempts from this address; try again in 8 s" in str(refused)
    assert not isinstance(refused, AuthenticationFailed)  # not "wrong password"
    with pytest.raises(AuthenticationFailed, match="refused the password"):  # a wrong one still says so
        server.connect(password="wrong", connect_timeout=10)
    started = time.monotonic()
    with server.connect(connect_timeout=10) as session:  # within about a second of the flood's end
        assert session.run("1").value == "1"
    print(f"login after the flood stopped: {time.monotonic() - started:.3f} s")


def test_remrepl_ls_shows_a_flooded_server_alive(server: RunningServer) -> None:
    keys = derive_client_keys(server.password, server.info.server_public_key, server.info.kdf)
    info = dataclasses.replace(server.info, client_secret_key=keys.secret)
    record = records.save(info, target="local", launcher=records.LauncherData("local"))
    attacker = SteadyAttacker(server, "127.0.0.1", rate=100.0)
    attacker.start()
    try:
        attacker.wait_for(30)  # the address's burst is used up
        seen = [registry.status(record, timeout=1.0) for _ in range(5)]
    finally:
        attacker.stop()
    assert ("alive", "handshake refused for now: too many failed attempts from this address") in seen
    assert {state for state, _ in seen} == {"alive"}


def test_a_user_already_connecting_during_a_flood_gets_in_when_it_stops(server: RunningServer) -> None:
    attacker = SteadyAttacker(server, "127.0.0.1", rate=100.0)
    attacker.start()
    stopper = threading.Timer(2.0, attacker.stopping.set)  # the flood ends while the user waits
    stopper.start()
    try:
        with server.connect(connect_timeout=10) as session:  # retries while refused, within its deadline
            assert session.run("2 + 2").value == "4"
    finally:
        stopper.cancel()
        attacker.stop()


def _server_with_fd_limit(tmp_path: Path, password_file: Path, soft: int, hard: int) -> RunningServer:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return start_server(tmp_path, password_file, preexec_fn=limit)


def _open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts the server's fds in /proc")
def test_idle_connections_over_the_caps_are_dropped_and_logins_still_work(tmp_path: Path, password_file: Path) -> None:
    server = _server_with_fd_limit(tmp_path, password_file, soft=1024, hard=1024)
    idle: list[socket.socket] = []
    try:
        # 1,100 connections that never say a word: 30 from each of 35 addresses, 50 from one more
        sources = [f"127.0.0.{2 + i // 30}" for i in range(1050)] + ["127.0.0.100"] * 50
        for source in sources:
            conn = socket.socket()
            conn.settimeout(5)
            conn.bind((source, 0))
            conn.connect(("127.0.0.1", server.info.port))
            conn.setblocking(False)
            idle.append(conn)
        dropped = _count_dropped(idle, at_least=len(idle) - 256, within=10)
        assert dropped >= len(idle) - 256  # at most 256 unauthenticated connections stay
        assert _open_fds(server.info.pid) < 1024 - 100  # far from the fd limit
        for _ in range(10):
            with server.connect(connect_timeout=10) as session:
                assert session.run("1 + 1").value == "2"
    finally:
        for conn in idle:
            conn.close()
        stop_server(server)


def _count_dropped(conns: list[socket.socket], at_least: int, within: float) -> int:
    """How many of ``conns`` the server closed (EOF after its greeting), waiting up to ``within`` s."""
    selector = selectors.DefaultSelector()
    for conn in conns:
        selector.register(conn, selectors.EVENT_READ, conn)
    dropped = 0
    deadline = time.monotonic() + within
    while dropped < at_least and (remaining := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(remaining):
            conn = key.data
            try:
                data = conn.recv(4096)  # the server's ZMTP greeting, then EOF once shut down
            except (ConnectionResetError, BlockingIOError):
                data = b""
            if not data:
                selector.unregister(conn)
                dropped += 1
    selector.close()
    return dropped


@pytest.mark.skipif(not Path("/proc/self/limits").is_file(), reason="reads the server's limits in /proc")
def test_the_server_raises_its_soft_fd_limit_to_the_hard_limit(tmp_path: Path, password_file: Path) -> None:
    server = _server_with_fd_limit(tmp_path, password_file, soft=256, hard=2048)
    try:
        assert _fd_limits(server.info.pid) == ["2048", "2048"]
        # ...but user code (the kernel, and what it starts) keeps the user's own limit
        kernel = int(Path(f"/proc/{server.info.pid}/task/{server.info.pid}/children").read_text().split()[0])
        wait_until(lambda: _fd_limits(kernel) == ["256", "2048"], 30, "the kernel to set the user's fd limit")
    finally:
        stop_server(server)


def _fd_limits(pid: int) -> list[str]:
    """(soft, hard) of RLIMIT_NOFILE of process ``pid``, as /proc shows them."""
    limits = Path(f"/proc/{pid}/limits").read_text()
    return next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3:5]
