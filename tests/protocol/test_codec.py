"""The codec: every event survives a round trip; no input makes the decoder do anything but
return an event or raise RemoteProtocolError."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from remrepl import LocalProtocolError, RemoteProtocolError
from remrepl.protocol import Done, Execute, Hello, Interrupt, Rejected, Result, Stream, decode, encode
from remrepl.protocol.codec import _BY_NAME, MAX_HEADER_BYTES, MAX_ID_CHARS
from remrepl.protocol.events import CLIENT_EVENTS, SERVER_EVENTS, Event
from remrepl.protocol.side import Complete
from remrepl.protocol.transfers import Upload

ALL_EVENTS = (*CLIENT_EVENTS, *SERVER_EVENTS)
# NaN is never equal to itself: a Welcome "started at NaN" could not compare equal after a round trip.
_FLOATS = {"started_at": st.floats(allow_nan=False)}
# Ids the codec accepts: 1 to MAX_ID_CHARS characters (some events may carry "", none needs to here).
_IDS = st.text(min_size=1, max_size=40)


def _strategy(cls: type) -> st.SearchStrategy[object]:
    fields = {name: _IDS for name in ("req_id", "xfer_id") if name in cls.__dataclass_fields__}  # type: ignore[attr-defined]
    return st.builds(cls, **fields, **(_FLOATS if cls.__name__ == "Welcome" else {}))


events = st.one_of(*(_strategy(cls) for cls in ALL_EVENTS))


@given(events)
def test_every_event_round_trips(event: object) -> None:
    assume(all(v == v for v in vars(event).values()))  # NaN (a float field) never equals itself
    frames = encode(event)  # type: ignore[arg-type]
    assert decode(frames) == event


def test_bytes_travel_as_their_own_frame() -> None:
    frames = encode(Stream(seq=1, req_id="r", name="stdout", data=b"\x00\xff raw"))
    assert frames[1] == b"\x00\xff raw"
    assert json.loads(frames[0]) == {"type": "stream", "seq": 1, "req_id": "r", "name": "stdout"}


def test_tuples_and_defaults() -> None:
    event = Execute("r1", "print(1)", "script", "a.py", ("a.py", "--x"))
    assert decode(encode(event)) == event
    assert decode([b'{"type": "hello"}']) == Hello()


@pytest.mark.parametrize(
    "frames, message",
    [
        ([], "1 to 4 frames"),
        ([b"{}"] * 5, "1 to 4 frames"),
        ([b"not json"], "not JSON"),
        ([b"\xff\xfe"], "not JSON"),
        ([b"[1, 2]"], "JSON object"),
        ([b'{"type": "pickle"}'], "unknown message type"),
        ([b'{"type": 7}'], "unknown message type"),
        ([b'{"type": "execute", "req_id": "r"}'], "lacks field 'code'"),
        ([b'{"type": "execute", "req_id": "r", "code": 1}'], "wrong type"),
        ([b'{"type": "execute", "req_id": "r", "code": "x", "mode": "eval"}'], "wrong type"),
        ([b'{"type": "hello", "protocol": true}'], "wrong type"),
        ([b'{"type": "stream", "seq": 1, "req_id": "r", "name": "stdout"}'], "takes 2 frames"),
        ([b'{"type": "hello"}', b"extra"], "takes 1 frames"),
        ([b"[" * 100_000], "not JSON"),
    ],
)
def test_garbage_is_a_remote_protocol_error(frames: list[bytes], message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        decode(frames)


def test_an_oversized_header_is_refused_before_parsing() -> None:
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        decode([b'{"type": "hello", "pad": "' + b"x" * (1 << 20) + b'"}'])


def test_sending_a_malformed_event_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        encode(Done(seq=1, req_id="r", status="bogus"))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        encode("not an event")  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(_BY_NAME)),
    st.dictionaries(st.sampled_from(["seq", "req_id", "code", "name", "protocol", "argv", "text", "x"]), json_values),
    st.lists(st.binary(max_size=16), max_size=3),
)
def test_structured_fuzz_never_crashes_the_decoder(
    type_name: str, fields: dict[str, object], extra: list[bytes]
) -> None:
    frames = [json.dumps({"type": type_name, **fields}).encode(), *extra]
    try:
        event = decode(frames)
    except RemoteProtocolError:
        return
    assert type(event) in ALL_EVENTS


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=64), max_size=6))
def test_raw_fuzz_never_crashes_the_decoder(frames: list[bytes]) -> None:
    try:
        event = decode(frames)
    except RemoteProtocolError:
        return
    assert type(event) in ALL_EVENTS


def test_progress_travels_as_json_and_is_validated() -> None:
    from remrepl.protocol import Progress

    event = Progress(3, "r1", "t1", "map f", 250, 1000, 1.25)
    header = json.loads(encode(event)[0])
    assert header == {
        "type": "progress",
        "seq": 3,
        "req_id": "r1",
        "task": "t1",
        "label": "map f",
        "done": 250,
        "total": 1000,
        "elapsed": 1.25,
        "final": False,
    }
    assert decode(encode(event)) == event
    bad = json.dumps({**header, "done": "250"}).encode()
    with pytest.raises(RemoteProtocolError, match=r"progress\.done has a wrong type"):
        decode([bad])
    with pytest.raises(RemoteProtocolError, match="lacks field 'total'"):
        decode([json.dumps({k: v for k, v in header.items() if k != "total"}).encode()])


def test_encode_refuses_a_header_that_decode_would_refuse() -> None:
    too_big = Result(seq=1, req_id="r", text="x" * MAX_HEADER_BYTES)
    with pytest.raises(LocalProtocolError, match="exceeds"):
        encode(too_big)
    header = json.dumps({"type": "result", "seq": 1, "req_id": "r", "text": "x" * MAX_HEADER_BYTES}).encode()
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        decode([header])


@pytest.mark.parametrize("bad_id", ["", "r" * (MAX_ID_CHARS + 1)])
def test_a_request_id_must_be_neither_empty_nor_absurdly_long(bad_id: str) -> None:
    events: tuple[Event, ...] = (Execute("ok", "1"), Complete("ok", "x", 1), Upload("ok", "a", "b", "file", 0))
    for event in events:
        field = "xfer_id" if hasattr(event, "xfer_id") else "req_id"
        with pytest.raises(LocalProtocolError):
            encode(replace(event, **{field: bad_id}))  # type: ignore[arg-type]
        frames = encode(event)
        header = json.loads(frames[0])
        header[field] = bad_id
        with pytest.raises(RemoteProtocolError):
            decode([json.dumps(header).encode(), *frames[1:]])


def test_output_events_and_refusals_may_name_no_request() -> None:
    for event in (Stream(1, "", "stdout", b"x"), Rejected("", "protocol", "bad"), Interrupt()):
        assert decode(encode(event)) == event
    with pytest.raises(LocalProtocolError):
        encode(Stream(1, "r" * (MAX_ID_CHARS + 1), "stdout", b"x"))
