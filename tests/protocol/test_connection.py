"""The state machine, with a client and a server endpoint wired together in memory."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remrepl import LocalProtocolError, RemoteProtocolError, VersionMismatch
from remrepl.protocol import (
    PROTOCOL_VERSION,
    TRANSITIONS,
    Ack,
    Bye,
    Complete,
    Completions,
    Connection,
    Detach,
    Done,
    Execute,
    Hello,
    InputReply,
    InputRequest,
    Interrupt,
    ObjectReply,
    PutObject,
    Rejected,
    Restart,
    Role,
    Shutdown,
    State,
    Stream,
    Welcome,
    encode,
)
from remrepl.protocol.events import CLIENT_EVENTS, SERVER_EVENTS, Event
from tests.support.connections import Pair, states, welcome


def test_a_whole_conversation() -> None:
    pair = Pair().attached()
    assert states(pair) == (State.IDLE, State.IDLE)
    pair.c2s(Execute("r1", "input()"))
    assert states(pair) == (State.RUNNING, State.RUNNING)
    pair.s2c(Stream(1, "r1", "stdout", b"x"))
    pair.s2c(InputRequest(2, "r1", "? "))
    pair.c2s(InputReply("r1", 2, "answer"))
    pair.c2s(Interrupt("r1"))
    pair.s2c(Done(3, "r1", "ok"))
    assert states(pair) == (State.IDLE, State.IDLE)
    pair.c2s(Detach(ack=3))
    assert states(pair) == (State.CLOSED, State.CLOSED)


def test_attaching_to_a_run_in_progress() -> None:
    pair = Pair().attached(running="old")
    assert pair.client.state is State.RUNNING and pair.client.running == "old"
    with pytest.raises(LocalProtocolError):
        pair.client.send(Execute("r2", "1"))  # one run at a time
    pair.s2c(Done(9, "old", "ok"))
    assert states(pair)[0] is State.IDLE


def test_replayed_done_of_another_run_does_not_end_ours() -> None:
    pair = Pair().attached()
    pair.c2s(Execute("mine", "1"))
    pair.s2c(Done(1, "earlier", "ok"))
    assert pair.client.state is State.RUNNING
    pair.s2c(Rejected("mine", "busy", "a run is in progress"))
    assert states(pair)[0] is State.IDLE


def test_a_forced_restart_may_end_a_run_in_progress() -> None:
    pair = Pair().attached()
    pair.c2s(Execute("stuck", "while True: pass"))
    with pytest.raises(LocalProtocolError, match="unless forced"):
        pair.client.send(Restart("plain"))
    pair.c2s(Restart("forced", force=True))
    pair.c2s(Ack(1))  # acknowledging output changes nothing
    pair.s2c(Done(1, "stuck", "died", 137))  # the killed run ends first...
    assert states(pair) == (State.RUNNING, State.RUNNING)
    pair.s2c(Done(2, "forced", "ok"))  # ...then the restart
    assert states(pair) == (State.IDLE, State.IDLE)


def test_nothing_before_hello() -> None:
    with pytest.raises(RemoteProtocolError, match="not allowed in state start"):
        Connection(Role.SERVER).receive(encode(Execute("r", "1")))


def test_messages_in_the_wrong_direction() -> None:
    pair = Pair().attached()
    with pytest.raises(LocalProtocolError, match="server message"):
        pair.client.send(Stream(1, "r", "stdout", b""))
    with pytest.raises(RemoteProtocolError, match="client message"):
        pair.client.receive(Connection(Role.CLIENT).send(Hello()))


def test_version_mismatch_is_detected_on_both_sides() -> None:
    server = Connection(Role.SERVER)
    with pytest.raises(VersionMismatch, match="version"):
        server.receive(Connection(Role.CLIENT).send(Hello(protocol=PROTOCOL_VERSION + 1)))
    client = Connection(Role.CLIENT)
    client.send(Hello())
    with pytest.raises(VersionMismatch):
        client.receive(encode(Welcome(99, 1, "host", "3", 0.0)))
    assert client.state is State.CLOSED


def test_bye_after_we_left_is_fine() -> None:
    pair = Pair().attached()
    pair.client.send(Detach())
    pair.client.receive(encode(Bye("the server is shutting down")))
    assert pair.client.state is State.CLOSED


def test_the_table_names_every_event() -> None:
    assert set(TRANSITIONS) == set(CLIENT_EVENTS) | set(SERVER_EVENTS)


samples: list[Event] = [
    Hello(),
    Execute("r", "1"),
    Interrupt("r"),
    InputReply("r", 1),
    Detach(),
    welcome(),
    Stream(1, "r", "stdout", b""),
    InputRequest(1, "r", ""),
    Done(1, "r", "ok"),
    Rejected("r", "busy", ""),
    Bye(""),
    Hello(side=True),
    Restart("r"),
    Restart("f", force=True),
    Ack(1),
    Complete("c", "x", 1),
    Completions("c", 0, ("xy",)),
    PutObject("p", "x", b"data"),
    ObjectReply("p", True),
]


@given(st.lists(st.sampled_from(samples), max_size=12))
def test_any_sequence_either_moves_both_ends_alike_or_is_refused_locally(sequence: list[Event]) -> None:
    pair = Pair()
    for event in sequence:
        sender, receiver = (pair.client, pair.server) if type(event) in CLIENT_EVENTS else (pair.server, pair.client)
        try:
            frames = sender.send(event)
        except LocalProtocolError:
            continue
        receiver.receive(frames)  # what one end may send, the other accepts
        assert pair.client.state is pair.server.state


def test_progress_flows_to_the_client_while_attached() -> None:
    from remrepl.protocol import Progress

    pair = Pair().attached()
    pair.c2s(Execute("r1", "cl.map(f, xs)"))
    update = Progress(5, "r1", "t1", "map f", 10, 100, 1.5)
    assert pair.s2c(update) == update
    assert pair.s2c(Progress(6, "r1", "t1", "map f", 100, 100, 3.0, final=True)).final  # type: ignore[union-attr]
    assert states(pair) == (State.RUNNING, State.RUNNING)  # progress does not end the run
    pair.s2c(Done(7, "r1", "ok"))
    pair.s2c(Progress(8, "", "t2", "map g", 1, 2, 0.5))  # from a thread the user left running: still fine
    assert states(pair) == (State.IDLE, State.IDLE)


def test_progress_is_a_server_message_only() -> None:
    from remrepl.protocol import Progress

    pair = Pair().attached()
    with pytest.raises(LocalProtocolError, match="server message"):
        pair.client.send(Progress(1, "r", "t", "map", 1, 2, 0.1))
    with pytest.raises(LocalProtocolError, match="not allowed in state start"):
        Connection(Role.SERVER).send(Progress(1, "r", "t", "map", 1, 2, 0.1))


def test_output_still_in_flight_after_we_left_is_fine() -> None:
    """The server may have sent output before it saw our Shutdown; the client takes it, then the Bye."""
    pair = Pair().attached()
    pair.client.send(Shutdown())
    pair.client.receive(encode(Stream(7, "r", "stdout", b"late\n")))
    pair.client.receive(encode(Done(8, "r", "ok")))
    pair.client.receive(encode(Bye("the server is shutting down, as asked")))
    assert pair.client.state is State.CLOSED
