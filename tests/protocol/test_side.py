"""Side requests in the state machine and the codec: two Connections wired in memory."""

from __future__ import annotations

import pytest

from remrepl import LocalProtocolError, RemoteProtocolError
from remrepl.protocol import (
    Complete,
    CompletePath,
    Completions,
    Connection,
    Done,
    Execute,
    GetObject,
    Hello,
    Inspect,
    Inspection,
    Notice,
    ObjectReply,
    PutObject,
    Restart,
    Role,
    State,
    decode,
    encode,
)
from tests.support.connections import Pair, states, welcome


def side_pair() -> Pair:
    pair = Pair()
    pair.c2s(Hello(side=True))
    pair.s2c(welcome())
    return pair


def test_a_side_connection_completes_inspects_and_moves_objects() -> None:
    pair = side_pair()
    assert pair.server.state is State.IDLE
    assert pair.c2s(Complete("c1", "my_va", 5)) == Complete("c1", "my_va", 5)
    reply = Completions("c1", 0, ("my_var",), ("instance",))
    assert pair.s2c(reply) == reply
    pair.c2s(Inspect("i1", "len", detail=1))
    pair.s2c(Inspection("i1", True, "Signature: len(obj, /)"))
    pair.c2s(PutObject("p1", "x", b"\x80\x05pickle"))
    pair.s2c(ObjectReply("p1", True))
    pair.c2s(GetObject("g1", "x"))
    assert pair.s2c(ObjectReply("g1", True, data=b"\x80\x05K\x01.")).data == b"\x80\x05K\x01."  # type: ignore[union-attr]
    assert (pair.client.state, pair.server.state) == (State.IDLE, State.IDLE)


def test_side_requests_are_answered_while_a_run_goes_on() -> None:
    pair = Pair().attached()
    pair.c2s(Execute("run", "import time; time.sleep(5)"))
    pair.c2s(Complete("c1", "ti", 2))
    pair.s2c(Completions("c1", 0, ("time",)))
    assert pair.client.state is State.RUNNING  # the side reply ends nothing
    pair.s2c(Done(1, "run", "ok"))
    assert states(pair) == (State.IDLE, State.IDLE)


def test_side_requests_need_a_hello_first() -> None:
    with pytest.raises(RemoteProtocolError, match="not allowed in state start"):
        Connection(Role.SERVER).receive(encode(Complete("c", "x", 1)))


def test_side_replies_go_from_server_to_client_only() -> None:
    pair = side_pair()
    with pytest.raises(LocalProtocolError, match="server message"):
        pair.client.send(Completions("c", 0))
    with pytest.raises(LocalProtocolError, match="client message"):
        pair.server.send(Complete("c", "x", 1))


def test_restart_is_a_run_that_ends_with_its_done() -> None:
    pair = Pair().attached()
    pair.c2s(Restart("r1"))
    assert (pair.client.state, pair.server.state) == (State.RUNNING, State.RUNNING)
    with pytest.raises(LocalProtocolError):
        pair.client.send(Execute("r2", "1"))  # one at a time
    pair.s2c(Notice(1, "The remote interpreter was restarted"))
    pair.s2c(Done(2, "r1", "ok"))
    assert (pair.client.state, pair.server.state) == (State.IDLE, State.IDLE)


def test_the_hello_side_flag_defaults_to_an_attachment() -> None:
    assert decode(encode(Hello())) == Hello(side=False)
    assert decode(encode(Hello(side=True))).side is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "event",
    [
        Complete("c", "os.pa", 5),
        CompletePath("c", "~/data/fi", directories_only=True),
        Completions("c", 3, ("path", "pardir"), ("module", "instance")),
        Inspect("i", "os.path.join", 1),
        Inspection("i", False, "Object `x` not found."),
        GetObject("g", "x"),
        PutObject("p", "x", b"\x00\x01 binary"),
        ObjectReply("g", False, "cannot pickle 'generator' object"),
        Restart("r"),
    ],
)
def test_side_events_round_trip(event: object) -> None:
    assert decode(encode(event)) == event  # type: ignore[arg-type]


def test_pickles_travel_as_binary_frames() -> None:
    frames = encode(PutObject("p", "x", b"\x80\x05raw"))
    assert frames[1:] == [b"\x80\x05raw"] and b"raw" not in frames[0]


@pytest.mark.parametrize(
    "frames, error",
    [
        ([b'{"type":"completions","req_id":"c","start":0,"matches":[1,2]}'], "matches"),
        ([b'{"type":"complete","req_id":"c","code":"x","cursor":"1"}'], "cursor"),
        ([b'{"type":"inspection","req_id":"i","found":1,"text":""}'], "found"),
        ([b'{"type":"put_object","req_id":"p","name":"x"}'], "frames"),
        ([b'{"type":"object_reply","req_id":"g","ok":true}'], "frames"),
    ],
)
def test_malformed_side_messages_are_refused(frames: list[bytes], error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=error):
        decode(frames)
