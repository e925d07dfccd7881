from __future__ import annotations

import stat
from pathlib import Path

from remrepl.protocol import Done, Notice, Stream, decode, encode
from remrepl.server.supervisor.replay import ReplayBuffer


def stream(buffer: ReplayBuffer, data: bytes) -> Stream:
    event = Stream(buffer.next_seq(), "r", "stdout", data)
    buffer.add(event)
    return event


def test_replays_what_was_not_acknowledged(tmp_path: Path) -> None:
    buffer = ReplayBuffer(tmp_path / "overflow.log")
    first = stream(buffer, b"a")
    buffer.ack(first.seq)
    second = stream(buffer, b"b")
    done = Done(buffer.next_seq(), "r", "ok")
    buffer.add(done)
    assert buffer.since(buffer.acked) == [second, done]
    assert buffer.since(done.seq) == []


def test_overflow_goes_to_a_private_file_and_is_announced(tmp_path: Path) -> None:
    path = tmp_path / "overflow.log"
    buffer = ReplayBuffer(path, limit=1000)
    for i in range(40):
        stream(buffer, f"{i:03d}".encode() * 10)
    replay = buffer.since(0)
    assert isinstance(replay[0], Notice) and str(path) in replay[0].text
    kept = b"".join(e.data for e in replay if isinstance(e, Stream))
    assert path.read_bytes() + kept == b"".join(f"{i:03d}".encode() * 10 for i in range(40))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not isinstance(buffer.since(0)[0], Notice)  # announced once
    buffer.discard_files()
    assert not path.exists()


def test_acknowledged_events_are_dropped_without_a_trace(tmp_path: Path) -> None:
    path = tmp_path / "overflow.log"
    buffer = ReplayBuffer(path, limit=500)
    for _ in range(20):
        buffer.ack(stream(buffer, b"x" * 100).seq)
    assert not path.exists()
    assert buffer.since(buffer.acked) == []


def test_an_event_kept_with_its_encoding_is_replayed_as_it_was_sent(tmp_path: Path) -> None:
    buffer = ReplayBuffer(tmp_path / "overflow.log")
    event = Stream(buffer.next_seq(), "r", "stdout", b"once\n")
    frames = encode(event)
    buffer.add(event, frames)
    plain = Stream(buffer.next_seq(), "r", "stdout", b"not encoded\n")
    buffer.add(plain)
    [(first, kept), (second, none)] = buffer.since_encoded(0)
    assert (first, second, none) == (event, plain, None)
    assert kept is frames  # the very frames: a replay encodes nothing again
    assert decode(kept) == event
