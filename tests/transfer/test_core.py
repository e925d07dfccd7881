"""The transfer core (``remrepl/transfer/core.py``) on real files, without a network: a Sender's chunks fed to
a Receiver; wrong, mismatched or hostile chunks; what is left on disk after each failure."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from remrepl import TransferError
from remrepl._exceptions import NoSuchPath
from remrepl.transfer.core import PART_SUFFIX, Chunk, Receiver, Sender, plan, resolve_target


def send(source: Path, receiver: Receiver, chunk_size: int = 1000) -> None:
    sender = Sender(plan(source).entries, chunk_size)
    while (chunk := sender.next_chunk()) is not None:
        receiver.write(chunk)


def nothing_left(directory: Path) -> bool:
    return not any(PART_SUFFIX in p.name for p in directory.rglob("*"))


def test_a_file_in_small_chunks_arrives_whole_and_checked(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(10_500))
    target = tmp_path / "out.bin"
    receiver = Receiver(target, "file")
    send(source, receiver)
    assert not target.exists()  # nothing at the target before commit
    assert receiver.commit() == target
    assert target.read_bytes() == source.read_bytes()
    assert receiver.last_sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert receiver.files == 1 and nothing_left(tmp_path)


def test_a_checksum_mismatch_keeps_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    receiver = Receiver(target, "file")
    receiver.write(Chunk("", "file", 0, b"hel"))
    with pytest.raises(TransferError, match="checksum mismatch"):  # found as the last chunk arrives
        receiver.write(Chunk("", "file", 3, b"lo", end=True, sha256=hashlib.sha256(b"HELLO").hexdigest()))
    assert not target.exists() and nothing_left(tmp_path)
    with pytest.raises(TransferError, match="the transfer is over"):
        receiver.commit()


@pytest.mark.parametrize(
    "chunks, message",
    [
        ([Chunk("a", "file", 0, b"x")], "must start with its root"),
        ([Chunk("", "dir", 0, b"", end=True), Chunk("../evil", "file", 0, b"x")], "refusing the entry path"),
        ([Chunk("", "dir", 0, b"", end=True), Chunk("/abs", "file", 0, b"x")], "refusing the entry path"),
        ([Chunk("", "dir", 0, b"", end=True), Chunk("a/../../b", "file", 0, b"x")], "refusing the entry path"),
        ([Chunk("", "dir", 0, b"", end=True), Chunk("a", "file", 5, b"x")], "starts at offset 5"),
        ([Chunk("", "dir", 0, b"", end=True), Chunk("a", "file", 0, b"x"), Chunk("b", "file", 0, b"y")], "did not end"),
        ([Chunk("", "dir", 0, b"", end=True), Chunk("", "dir", 0, b"", end=True)], "unexpected entry"),
        ([Chunk("", "dir", 0, b"", end=True), Chunk("no/parent", "dir", 0, b"", end=True)], "No such file"),
    ],
)
def test_wrong_or_hostile_chunks_fail_and_keep_nothing(tmp_path: Path, chunks: list[Chunk], message: str) -> None:
    target = tmp_path / "tree"
    receiver = Receiver(target, "dir")
    with pytest.raises(TransferError, match=message):
        for chunk in chunks:
            receiver.write(chunk)
        receiver.commit()
    assert not target.exists() and nothing_left(tmp_path)
    assert not (tmp_path / "evil").exists() and not Path("/abs").exists()


def test_an_incomplete_transfer_is_not_committed(tmp_path: Path) -> None:
    receiver = Receiver(tmp_path / "out", "file")
    receiver.write(Chunk("", "file", 0, b"half"))
    with pytest.raises(TransferError, match="before all of its data arrived"):
        receiver.commit()
    assert nothing_left(tmp_path) and not (tmp_path / "out").exists()


def test_abort_removes_a_partial_tree(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "f").write_bytes(b"x" * 5000)
    (source / "sub").chmod(0o500)  # read-only inside: abort still removes it
    receiver = Receiver(tmp_path / "copy", "dir")
    send(source, receiver)
    receiver.abort()
    receiver.abort()  # idempotent
    (source / "sub").chmod(0o700)
    assert nothing_left(tmp_path) and not (tmp_path / "copy").exists()


def test_a_tree_keeps_its_modes_and_skips_special_files(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "d").mkdir(parents=True)
    (source / "d" / "run").write_text("#!/bin/sh\n")
    (source / "d" / "run").chmod(0o750)
    os.symlink(source / "d", source / "link-to-dir")
    os.mkfifo(source / "pipe")
    found = plan(source)
    assert [e.path for e in found.entries] == ["", "d", "d/run"] and found.skipped == 2
    receiver = Receiver(tmp_path / "copy", "dir")
    send(source, receiver)
    receiver.commit()
    assert (tmp_path / "copy" / "d" / "run").stat().st_mode & 0o777 == 0o750


def test_resolve_target_follows_cp(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    assert resolve_target("", "a.txt", tmp_path, "file") == tmp_path / "a.txt"
    assert resolve_target("dir", "a.txt", tmp_path, "file") == tmp_path / "dir" / "a.txt"
    assert resolve_target("file", "a.txt", tmp_path, "file") == tmp_path / "file"  # replaced at commit
    assert resolve_target(str(tmp_path / "new.txt"), "a.txt", Path("/"), "file") == tmp_path / "new.txt"
    with pytest.raises(TransferError, match="no such directory"):
        resolve_target("missing/", "a.txt", tmp_path, "file")
    with pytest.raises(TransferError, match="already exists"):
        resolve_target("file", "tree", tmp_path, "dir")
    with pytest.raises(TransferError, match="not a usable file name"):
        resolve_target("", "..", tmp_path, "file")


def test_an_unreadable_source_says_so(tmp_path: Path) -> None:
    with pytest.raises(TransferError, match="cannot read"):
        plan(tmp_path / "missing")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(TransferError, match="neither a file nor a directory"):
        plan(tmp_path / "fifo")


def test_a_sender_asked_without_blocking_says_when_a_chunk_is_ready(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(10_500))
    ready = threading.Semaphore(0)
    sender = Sender(plan(source).entries, 1000, read_ahead=2, on_ready=ready.release)
    chunks: list[Chunk] = []
    for _ in range(1000):  # bounded: 11 chunks and the end
        if sender.finished:
            break
        chunk = sender.next_chunk(block=False)
        if chunk is not None:
            chunks.append(chunk)
        elif not sender.finished:  # nothing ready yet: wait for the reader's word, as the supervisor does
            assert ready.acquire(timeout=10), "the reader did not say a chunk was ready"
    sender.close()
    assert sender.finished and b"".join(c.data for c in chunks) == source.read_bytes()
    assert chunks[-1].end and chunks[-1].sha256 == hashlib.sha256(source.read_bytes()).hexdigest()


def test_a_mismatch_in_one_file_of_a_tree_fails_at_that_file_s_last_chunk(tmp_path: Path) -> None:
    """The hash runs in its own thread; the last chunk of each file waits for it, so the error still comes
    from that chunk's ``write`` and the next file is never opened."""
    target = tmp_path / "out"
    receiver = Receiver(target, "dir")
    receiver.write(Chunk("", "dir", 0, b"", True, mode=0o755))
    good = os.urandom(5000)
    receiver.write(Chunk("a", "file", 0, good[:4096]))
    receiver.write(Chunk("a", "file", 4096, good[4096:], True, hashlib.sha256(good).hexdigest()))
    receiver.write(Chunk("b", "file", 0, b"x" * 4096))
    with pytest.raises(TransferError, match=r"checksum mismatch for .*out/b"):
        receiver.write(Chunk("b", "file", 4096, b"y", True, hashlib.sha256(b"x" * 4097).hexdigest()))
    with pytest.raises(TransferError, match="over"):
        receiver.write(Chunk("c", "file", 0, b"z", True, hashlib.sha256(b"z").hexdigest()))
    assert not target.exists() and nothing_left(tmp_path)


def test_a_failing_hash_fails_the_transfer_instead_of_hanging_it(tmp_path: Path) -> None:
    """Not bytes (a caller's bug): the hasher thread cannot hash it, the last chunk says so, nothing is kept."""
    target = tmp_path / "out.bin"
    receiver = Receiver(target, "file")
    with pytest.raises(TransferError, match="the hasher failed: TypeError"):
        receiver.write(Chunk("", "file", 0, "not bytes", True, "0" * 64))  # type: ignore[arg-type]
    assert not target.exists() and nothing_left(tmp_path)


def test_a_missing_source_is_no_such_path(tmp_path: Path) -> None:
    with pytest.raises(NoSuchPath, match="cannot read"):
        plan(tmp_path / "missing")
    with pytest.raises(NoSuchPath):
        plan(tmp_path / "missing" / "below")


@pytest.mark.parametrize("there", ["dir", "file", "link"])
@pytest.mark.parametrize("kind", ["dir", "file"])
def test_replace_puts_the_new_one_in_place_of_whatever_had_its_name(tmp_path: Path, kind: str, there: str) -> None:
    """``replace`` (exec --get): the old file, tree or link goes as a whole; nothing of it stays mixed in."""
    source = tmp_path / "src"
    if kind == "dir":
        (source / "d").mkdir(parents=True)
        (source / "d" / "new.txt").write_text("new")
    else:
        source.write_text("new")
    target = tmp_path / "into" / "result"
    target.parent.mkdir()
    if there == "dir":
        (target / "sub").mkdir(parents=True)
        (target / "sub" / "stale.txt").write_text("old")
    elif there == "file":
        target.write_text("old")
    else:
        (tmp_path / "keep").mkdir()
        os.symlink(tmp_path / "keep", target)
    receiver = Receiver(target, "dir" if kind == "dir" else "file", replace=True)
    send(source, receiver)
    assert receiver.commit() == target
    if kind == "dir":
        assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["d", "d/new.txt"]
    else:
        assert target.read_text() == "new" and not target.is_symlink()
    assert sorted(p.name for p in target.parent.iterdir()) == ["result"]  # no old one, no temporary sibling
    assert there != "link" or (tmp_path / "keep").is_dir()  # a link's target is not touched
