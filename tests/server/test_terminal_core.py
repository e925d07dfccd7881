"""The attached client's terminal in the session core (in memory), and the Terminal event on the wire."""

from __future__ import annotations

from pathlib import Path

import pytest

from remrepl._exceptions import RemoteProtocolError
from remrepl.protocol import PROTOCOL_VERSION, Connection, Hello, Role, Terminal, Welcome, decode, encode
from remrepl.server.supervisor.replay import ReplayBuffer
from remrepl.server.supervisor.session_core import ResizeTerminal, Send, SessionCore

WELCOME = Welcome(protocol=PROTOCOL_VERSION, server_pid=1, hostname="here", python="3", started_at=0.0)


@pytest.fixture
def core(tmp_path: Path) -> SessionCore:
    core = SessionCore(WELCOME, ReplayBuffer(tmp_path / "overflow.log"))
    core.kernel_started()
    core.kernel_became_ready()
    return core


def attach(core: SessionCore, peer: bytes) -> Connection:
    conn = Connection(Role.CLIENT)
    for action in core.handle(peer, conn.send(Hello()), 0.0):
        if isinstance(action, Send):  # the Welcome, through the core's state machine as the supervisor sends it
            conn.receive(core.conn.send(action.event))
    return conn


def terminal_of(core: SessionCore) -> Terminal | None:
    return core.terminal


def test_the_terminal_is_the_attached_clients_and_a_new_attachment_starts_without(core: SessionCore) -> None:
    conn = attach(core, b"a")
    terminal = Terminal(40, 120, "xterm-256color", "truecolor")
    assert core.handle(b"a", conn.send(terminal), 1.0) == [ResizeTerminal()]
    assert terminal_of(core) == terminal
    assert core.handle(b"a", conn.send(Terminal()), 2.0) == [ResizeTerminal()]  # it has none any more
    assert terminal_of(core) is None
    core.handle(b"a", conn.send(terminal), 3.0)
    attach(core, b"b")  # another client, which has not said what it has
    assert terminal_of(core) is None


def test_a_terminal_event_round_trips_and_bad_values_are_refused() -> None:
    terminal = Terminal(24, 80, "screen.xterm-256color", "24bit")
    assert decode(encode(terminal)) == terminal
    for header in (
        b'{"type":"terminal","rows":24,"columns":0}',  # rows without columns
        b'{"type":"terminal","rows":24,"columns":100000}',
        b'{"type":"terminal","rows":24,"columns":80,"term":"xterm\\u001b[2J"}',
        b'{"type":"terminal","rows":24,"columns":80,"colorterm":"true color"}',
    ):
        with pytest.raises(RemoteProtocolError):
            decode([header])
