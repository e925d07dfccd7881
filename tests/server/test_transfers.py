"""The supervisor's transfer bookkeeping (``ServerTransfers``) driven directly: events in, events out, a
fake clock; real files in tmp_path."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from remrepl.protocol import (
    CancelTransfer,
    Download,
    DownloadAck,
    DownloadChunk,
    TransferDone,
    TransferFailed,
    TransferReady,
    Upload,
    UploadAck,
    UploadChunk,
    UploadEnd,
)
from remrepl.protocol.events import Event
from remrepl.server.supervisor.transfers import MAX_TRANSFERS, ServerTransfers
from remrepl.transfer.core import CHUNK, WINDOW


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def busy(transfers: ServerTransfers) -> bool:
    return transfers.active  # (a call: mypy would narrow the property across the asserts)


def make(tmp_path: Path, clock: Clock | None = None) -> tuple[ServerTransfers, list[Event]]:
    sent: list[Event] = []
    return ServerTransfers(sent.append, lambda: tmp_path, idle_timeout=5.0, clock=clock or Clock()), sent


def test_an_upload_is_acknowledged_and_committed(tmp_path: Path) -> None:
    transfers, sent = make(tmp_path)
    transfers.handle(Upload("u", "", "f.txt", "file", 5))
    transfers.handle(UploadChunk("u", "", "file", 0, b"hello", True, hashlib.sha256(b"hello").hexdigest()))
    transfers.handle(UploadEnd("u"))
    target = str(tmp_path / "f.txt")
    assert sent == [TransferReady("u", target, "file", 5), UploadAck("u", 5), TransferDone("u", target, 1, 5)]
    assert (tmp_path / "f.txt").read_bytes() == b"hello" and not busy(transfers)


def test_a_download_waits_for_acks_beyond_its_window(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * (40 << 20))
    transfers, sent = make(tmp_path)
    transfers.handle(Download("d", "big"))
    transfers.pump(lambda: True)
    chunks = [e for e in sent if isinstance(e, DownloadChunk)]
    assert len(chunks) == WINDOW // CHUNK  # a window's worth in flight, no more
    transfers.handle(DownloadAck("d", 40 << 20))
    transfers.pump(lambda: True)
    assert (
        isinstance(sent[-1], TransferDone)
        and sum(len(e.data) for e in sent if isinstance(e, DownloadChunk)) == 40 << 20
    )


def test_a_repeated_id_or_one_too_many_is_refused_without_harm(tmp_path: Path) -> None:
    transfers, sent = make(tmp_path)
    transfers.handle(Upload("u", "", "f.txt", "file", 1))
    transfers.handle(Upload("u", "", "g.txt", "file", 1))
    assert sent[-1] == TransferFailed("u", "transfer u is already in progress")
    assert busy(transfers)  # the first one goes on
    for n in range(MAX_TRANSFERS - 1):
        transfers.handle(Upload(f"x{n}", "", f"x{n}", "file", 0))
    transfers.handle(Upload("late", "", "late", "file", 0))
    assert sent[-1] == TransferFailed("late", f"too many transfers at once (at most {MAX_TRANSFERS})")
    transfers.abort_all("the client detached")
    assert not busy(transfers) and list(tmp_path.iterdir()) == []


def test_a_silent_client_or_a_cancel_ends_the_transfer_and_cleans_up(tmp_path: Path) -> None:
    clock = Clock()
    transfers, _ = make(tmp_path, clock)
    transfers.handle(Upload("u", "", "f.txt", "file", 10))
    transfers.handle(UploadChunk("u", "", "file", 0, b"hello"))
    transfers.handle(Upload("v", "", "g.txt", "file", 10))
    transfers.handle(CancelTransfer("v"))
    clock.now = 4.0
    transfers.expire()
    assert busy(transfers) and len(list(tmp_path.iterdir())) == 1  # u's temporary file, within its time
    clock.now = 10.0
    transfers.expire()
    assert not busy(transfers) and list(tmp_path.iterdir()) == []


def test_chunks_after_a_failure_are_ignored(tmp_path: Path) -> None:
    transfers, sent = make(tmp_path)
    transfers.handle(Upload("u", "", "f.txt", "file", 10))
    transfers.handle(UploadChunk("u", "evil/../../x", "file", 0, b"x"))
    transfers.handle(UploadChunk("u", "", "file", 0, b"x"))
    transfers.handle(UploadEnd("u"))
    failures = [e for e in sent if isinstance(e, TransferFailed)]
    assert len(failures) == 1 and not busy(transfers) and list(tmp_path.iterdir()) == []


def test_with_a_wake_the_pump_never_waits_for_the_disk(tmp_path: Path) -> None:
    """The supervisor's loop passes ``wake``: ``pump`` sends only what the reader has ready and returns;
    the reader's wake-up says when to pump again (here a semaphore stands in for the loop's poll)."""
    data = os.urandom(3 * CHUNK + 123)
    (tmp_path / "f.bin").write_bytes(data)
    woken = threading.Semaphore(0)
    sent: list[Event] = []
    transfers = ServerTransfers(sent.append, lambda: tmp_path, idle_timeout=5.0, clock=Clock(), wake=woken.release)
    transfers.handle(Download("d", "f.bin"))
    for _ in range(100):  # bounded: 4 chunks and the end take a handful of wake-ups
        if not busy(transfers):
            break
        assert woken.acquire(timeout=10), "the reader did not wake the loop"
        transfers.pump(lambda: True)
        received = sum(len(e.data) for e in sent if isinstance(e, DownloadChunk))
        transfers.handle(DownloadAck("d", received))
    chunks = [e for e in sent if isinstance(e, DownloadChunk)]
    assert isinstance(sent[-1], TransferDone) and b"".join(c.data for c in chunks) == data
    assert chunks[-1].end and chunks[-1].sha256 == hashlib.sha256(data).hexdigest()


def test_a_missing_download_says_so_for_a_program_to_tell(tmp_path: Path) -> None:
    transfers, sent = make(tmp_path)
    transfers.handle(Download("d", "nope.csv"))
    [failed] = sent
    assert isinstance(failed, TransferFailed) and failed.missing and "No such file" in failed.message
    os.mkfifo(tmp_path / "pipe")
    transfers.handle(Download("e", "pipe"))
    assert isinstance(sent[-1], TransferFailed) and not sent[-1].missing  # there, but not a file
