"""The internal channels' messages (kernel control and side sockets, keeper lines, forwarded AWS
credentials), in memory: every message type survives encode -> decode, and what is malformed is refused
with the codec's errors, never another exception."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remrepl._exceptions import LocalProtocolError, RemoteProtocolError
from remrepl.protocol import keeper
from remrepl.protocol.aws_credentials import AwsCredentials
from remrepl.protocol.aws_credentials import decode as decode_credentials
from remrepl.protocol.aws_credentials import encode as encode_credentials
from remrepl.protocol.kernel_channel import (
    CONTROL,
    Ack,
    AskInput,
    ControlMessage,
    InputText,
    KernelReady,
    ReportProgress,
    Results,
    RunCode,
    RunDone,
    ShowDisplay,
    decode_line,
    encode_line,
)
from remrepl.protocol.message_codec import Codec
from remrepl.protocol.side import (
    Complete,
    CompletePath,
    Completions,
    GetObject,
    Inspect,
    Inspection,
    ObjectReply,
    PutObject,
)
from remrepl.protocol.side_channel import SIDE, Unpacker, pack, pack_frames, read_message
from remrepl.transport.connection_info import ConnectionInfo
from remrepl.transport.keys import KeyPair

CONTROL_MESSAGES: list[ControlMessage] = [
    RunCode("print(1)\n1+1", "script", "job.py", ("job.py", "-v")),
    RunCode("x"),
    InputText("typed"),
    InputText(eof=True),
    Ack(),
    KernelReady(1234, "3.12.1"),
    Results(("1", "'é'", "[1, 2]")),
    AskInput("Password: ", True),
    RunDone("ok", 0, ("2",)),
    RunDone("error", 1, (), "ValueError", "bad", "Traceback ...\nValueError: bad\n"),
    RunDone("exit", -(2**63)),
    ShowDisplay("image/png", "aGVsbG8=", True),
    ReportProgress("map", "items", 3, 10, 1.5, False),
    ReportProgress("map", "items", 10, 10, 2, True),
]


@pytest.mark.parametrize("message", CONTROL_MESSAGES, ids=lambda m: type(m).__name__)
def test_every_control_message_round_trips_as_one_line_that_starts_with_a_newline(message: ControlMessage) -> None:
    line = encode_line(message)
    assert line.startswith(b"\n") and line.endswith(b"\n") and line.count(b"\n") == 2
    assert decode_line(line.strip(b"\n")) == message


def test_half_a_line_of_user_code_cannot_swallow_the_next_message() -> None:
    stream = b'{"type": "done", "status": "o' + encode_line(Results(("1",)))
    lines = [line for line in stream.split(b"\n") if line]
    with pytest.raises(RemoteProtocolError):
        decode_line(lines[0])
    assert decode_line(lines[1]) == Results(("1",))


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\xff\xfe not json",
        b"[1, 2, 3]",
        b'"done"',
        b'{"op": "done", "status": "ok"}',  # the old, untyped form
        b'{"type": "pickle"}',
        b'{"type": "done"}',  # no status
        b'{"type": "done", "status": "died"}',  # not a status the kernel sends
        b'{"type": "done", "status": "ok", "exit_code": 1.5}',
        b'{"type": "done", "status": "ok", "exit_code": true}',
        b'{"type": "done", "status": "ok", "exit_code": 9223372036854775808}',  # beyond 64 bits
        b'{"type": "done", "status": "ok", "results": [1, {"a": 2}]}',
        b'{"type": "done", "status": "error", "ename": 5}',
        b'{"type": "progress", "task": "t", "label": "l", "done": 1, "total": 2, "elapsed": NaN}',
        b'{"type": "display", "mime": "image/png"}',
        b'{"type": "input_request", "prompt": {"a": 1}}',
        b"[" * 100_000,  # deep nesting: a RecursionError inside json
    ],
)
def test_malformed_control_lines_are_refused(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        decode_line(line)


def test_control_text_is_made_valid_and_numbers_typed() -> None:
    line = (
        b'{"type": "done", "status": "error", "ename": "E", "traceback": "File job-\\udce9.py", "results": ["\\ud800"]}'
    )
    done = decode_line(line)
    assert isinstance(done, RunDone)
    assert done.traceback == "File job-\\udce9.py" and done.results == ("\\ud800",)
    progress = decode_line(b'{"type": "progress", "task": "t", "label": "l", "done": 1, "total": 2, "elapsed": 3}')
    assert isinstance(progress, ReportProgress) and type(progress.elapsed) is float


def test_the_control_codec_refuses_to_send_what_it_would_refuse_to_read() -> None:
    with pytest.raises(LocalProtocolError):
        encode_line(RunDone("exit", 2**70))
    with pytest.raises(LocalProtocolError):
        encode_line(ReportProgress("t", "l", 1, 2, float("nan")))
    with pytest.raises(LocalProtocolError):
        CONTROL.encode(Results((1,)))  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(st.sampled_from([*CONTROL.by_name, "other"]), st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_any_control_line_is_a_typed_message_or_a_refusal(kind: str, fields: dict[str, object]) -> None:
    try:
        message = decode_line(json.dumps({**fields, "type": kind}).encode())
    except RemoteProtocolError:
        return
    assert decode_line(encode_line(message).strip()) == message  # what was read can be sent again


SIDE_MESSAGES = [
    Complete("r1", "pri", 3),
    Inspect("r2", "os.path", 1),
    GetObject("r3", "df"),
    PutObject("r4", "df", b"\x80\x05pickle"),
    CompletePath("r5", "data/", directories_only=False),
    Completions("r1", 0, ("print", "property"), ("function", "class")),
    Inspection("r2", True, "Help on module os.path"),
    ObjectReply("r3", True, data=b"\x80\x05" + b"x" * 100_000),
    ObjectReply("r4", False, "cannot unpickle"),
]


@pytest.mark.parametrize("message", SIDE_MESSAGES, ids=lambda m: type(m).__name__)
def test_every_side_message_round_trips_through_the_stream(message: object) -> None:
    data = pack(message)  # type: ignore[arg-type]
    unpacker = Unpacker()
    got = [frames for i in range(len(data)) for frames in unpacker.feed(data[i : i + 1])]  # a byte at a time
    assert [SIDE.decode(frames) for frames in got] == [message]
    stream = io.BytesIO(data + data)
    read = stream.read
    assert SIDE.decode(read_message(lambda n: read(n)) or []) == message
    assert SIDE.decode(read_message(lambda n: read(n)) or []) == message
    assert read_message(lambda n: read(n) or None) is None  # the end of the stream


@pytest.mark.parametrize(
    "frames",
    [
        [b"[]"],
        [b'{"type": "completions", "req_id": "", "start": 0}'],  # an empty id names no request
        [b'{"type": "completions", "req_id": "r", "start": 0, "matches": [1]}'],
        [b'{"type": "object_reply", "req_id": "r", "ok": true}'],  # its data frame is missing
        [b'{"type": "inspection", "req_id": "r", "found": true, "text": "t"}', b"extra"],
        [b'{"type": "execute", "req_id": "r", "code": "1"}'],  # the client's, not the side channel's
    ],
)
def test_malformed_side_messages_are_refused(frames: list[bytes]) -> None:
    (got,) = Unpacker().feed(pack_frames(frames))
    with pytest.raises(RemoteProtocolError):
        SIDE.decode(got)


def test_side_text_is_made_valid() -> None:
    (frames,) = Unpacker().feed(
        pack_frames([b'{"type": "inspection", "req_id": "r", "found": true, "text": "\\ud800"}'])
    )
    assert SIDE.decode(frames) == Inspection("r", True, "\\ud800")


def test_forwarded_credentials_round_trip_and_read_in_both_old_and_new_form() -> None:
    credentials = AwsCredentials("ASIAEXAMPLE", "secret", "token", 1.9e9, "eu-west-1")
    payload = encode_credentials(credentials)
    assert decode_credentials(payload) == credentials
    old = json.loads(payload)  # an older head reads the JSON object's keys, and ignores the type
    assert {k: old[k] for k in ("access_key_id", "secret_access_key", "session_token")} == {
        "access_key_id": "ASIAEXAMPLE",
        "secret_access_key": "secret",
        "session_token": "token",
    }
    untyped = json.dumps({k: v for k, v in old.items() if k != "type"}).encode()  # an older client's
    assert decode_credentials(untyped) == credentials
    with pytest.raises(ValueError, match="expiration"):
        decode_credentials(b'{"access_key_id": "a", "secret_access_key": "b", "session_token": "c", "expiration": NaN}')
    with pytest.raises(ValueError, match="unknown message type"):
        decode_credentials(b'{"type": "other", "access_key_id": "a", "secret_access_key": "b", "session_token": "c"}')


def _server_ready() -> keeper.ServerReady:
    key = KeyPair.generate().public.decode()
    return keeper.ServerReady("127.0.0.1", 40123, key, 77, 2, "3.12.1", {"iterations": 3, "memory_kib": 65536})


def test_keeper_lines_round_trip() -> None:
    server = _server_ready()
    assert keeper.decode_server_ready(keeper.encode_line(server).strip()) == server
    ready = keeper.keeper_ready(server, log="/s/log", tether="/s/t.sock", keeper_pid=88)
    assert keeper.decode_line(keeper.encode_line(ready).strip()) == ready
    failed = keeper.KeeperFailed(1, "/s/log", "Traceback ...\n")
    assert keeper.decode_line(keeper.encode_line(failed).strip()) == failed
    for word in (keeper.Stop(), keeper.Detach(), keeper.Attached(), keeper.Gone()):
        line = keeper.encode_word(word)
        assert line.endswith(b"\n") and keeper.decode_word(line.decode()) == word
        assert keeper.decode_words(b"login chatter\n" + line + b"torn") == [word]


def test_keeper_lines_are_those_of_older_releases() -> None:
    """A keeper and a launcher of different releases (same protocol version) read each other."""
    server = _server_ready()
    old_ready = {"event": "ready", **server.connection(), "log": "/s/log", "tether": "/s/t.sock", "keeper_pid": 88}
    ready = keeper.decode_line(json.dumps(old_ready).encode())  # what an older keeper printed
    assert isinstance(ready, keeper.KeeperReady) and ready.tether == "/s/t.sock" and ready.keeper_pid == 88
    new = json.loads(keeper.encode_line(ready))  # what an older launcher reads of a newer keeper's line
    assert new["event"] == "ready" and new["tether"] == "/s/t.sock"
    assert ConnectionInfo.from_json(new).port == 40123
    failed = keeper.decode_line(b'{"event": "failed", "status": 1, "log": "/l", "stderr": "boom"}')
    assert failed == keeper.KeeperFailed(1, "/l", "boom")
    assert [keeper.encode_word(w) for w in (keeper.Stop(), keeper.Detach())] == [b"stop\n", b"detach\n"]
    assert keeper.decode_word("attached") == keeper.Attached() and keeper.decode_word("gone") == keeper.Gone()


@pytest.mark.parametrize(
    "line",
    [b"remrepl-check ok 2 0.9", b"{}", b'{"event": "ready"}', b'{"event": "ready", "host": "h", "port": "22"}'],
)
def test_malformed_keeper_lines_are_refused(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        keeper.decode_line(line)
    assert keeper.decode_word(line.decode()) is None


@dataclass(frozen=True)
class CheckedThing:
    count: int
    names: dict[str, int]

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("a count is not negative")


def test_a_class_may_check_more_and_its_refusal_is_the_codecs() -> None:
    codec: Codec[CheckedThing] = Codec((CheckedThing,), max_header=1 << 10)
    assert codec.decode(codec.encode(CheckedThing(1, {"a": 2}))) == CheckedThing(1, {"a": 2})
    for header in (
        b'{"type": "checked_thing", "count": -1, "names": {}}',
        b'{"type": "checked_thing", "count": 1, "names": {"a": "b"}}',
    ):
        with pytest.raises(RemoteProtocolError):
            codec.decode([header])
    with pytest.raises(LocalProtocolError, match="exceeds"):
        codec.encode(CheckedThing(1, {"a" * 2000: 1}))
