"""Transfer and display events in the state machine, two endpoints wired in memory: allowed while
attached (idle or running: the supervisor moves files while code runs), refused before, and only in
their own direction."""

from __future__ import annotations

import pytest

from remrepl import LocalProtocolError, RemoteProtocolError
from remrepl.protocol import (
    CancelTransfer,
    Display,
    Download,
    DownloadAck,
    DownloadChunk,
    Execute,
    State,
    TransferDone,
    TransferFailed,
    TransferReady,
    Upload,
    UploadAck,
    UploadChunk,
    UploadEnd,
    decode,
    encode,
)
from tests.support.connections import Pair


def test_an_upload_and_a_download_while_code_runs() -> None:
    pair = Pair().attached()
    pair.c2s(Execute("r1", "import time; time.sleep(9)"))
    assert pair.server.state is State.RUNNING
    for event in (
        Upload("x1", "", "f.txt", "file", 3),
        UploadChunk("x1", "", "file", 0, b"abc", end=True, sha256="00"),
        UploadEnd("x1"),
        Download("x2", "f.txt"),
        DownloadAck("x2", 3),
        CancelTransfer("x2", "Ctrl-C"),
    ):
        assert pair.c2s(event) == event
    for reply in (
        TransferReady("x1", "/tmp/f.txt", "file", 3),
        UploadAck("x1", 3),
        TransferDone("x1", "/tmp/f.txt", 1, 3),
        DownloadChunk("x2", "", "file", 0, b"abc"),
        TransferFailed("x2", "cancelled"),
        Display(5, "r1", "image/png", b"\x89PNG"),
    ):
        assert pair.s2c(reply) == reply
    assert pair.server.state is State.RUNNING and pair.client.state is State.RUNNING


def test_transfers_need_an_attachment_and_go_one_way() -> None:
    pair = Pair()
    with pytest.raises(LocalProtocolError, match="not allowed in state start"):
        pair.client.send(Upload("x", "", "f", "file", 0))
    pair.attached()
    with pytest.raises(LocalProtocolError, match="is a server message"):
        pair.client.send(DownloadChunk("x", "", "file", 0, b""))
    with pytest.raises(RemoteProtocolError, match="is a client message"):
        pair.client.receive(encode(UploadChunk("x", "", "file", 0, b"")))


def test_chunk_data_travels_as_a_binary_frame() -> None:
    frames = encode(UploadChunk("x", "a/b", "file", 1 << 20, b"\x00" * 10, end=True, sha256="ff", mode=0o755))
    assert len(frames) == 2 and frames[1] == b"\x00" * 10
    assert decode(frames) == UploadChunk("x", "a/b", "file", 1 << 20, b"\x00" * 10, True, "ff", 0o755)
    with pytest.raises(RemoteProtocolError, match="wrong type"):
        decode([b'{"type": "upload_chunk", "xfer_id": "x", "path": "", "kind": "socket", "offset": 0}', b""])
