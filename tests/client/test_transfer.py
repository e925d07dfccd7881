"""File transfers through the Python API (``Session.upload`` / ``Session.download``) against a real server.

What lands at the target is checked byte for byte; failures must leave no partial file (nor a hidden
``.remrepl-part`` one) anywhere.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from remrepl import ConnectionLost, TransferError
from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher
from remrepl.protocol import Stream
from remrepl.transfer.core import WINDOW
from tests.support.files import leftovers, random_file, sha256
from tests.support.servers import RunningServer, start_server, stop_server
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)


def make_tree(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "empty").write_bytes(b"")
    (root / "sub" / "b.bin").write_bytes(os.urandom(3 * (1 << 20) + 17))  # several chunks, a ragged end
    (root / "sub" / "deeper" / "c.txt").write_text("gamma\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    return root


def tree(root: Path) -> dict[str, tuple[str, int]]:
    """Relative path -> (sha256 or "dir", permission bits)."""
    return {
        str(p.relative_to(root)): ("dir" if p.is_dir() else sha256(p), p.stat().st_mode & 0o777)
        for p in sorted(root.rglob("*"))
    }


def cd(session: Session, path: Path) -> None:
    assert session.run(f"import os; os.chdir({str(path)!r})").ok


def test_a_file_goes_up_and_comes_back(session: Session, tmp_path: Path) -> None:
    local = tmp_path / "data.bin"
    local.write_bytes(os.urandom(5 * (1 << 20) + 3))
    remote_dir, back_dir = tmp_path / "remote", tmp_path / "back"
    remote_dir.mkdir()
    back_dir.mkdir()
    cd(session, remote_dir)  # relative remote paths start in the kernel's current directory
    seen: list[tuple[int, int]] = []
    up = session.upload(local, progress=lambda done, total: seen.append((done, total)))
    assert up.target == str(remote_dir / "data.bin") and up.kind == "file" and up.files == 1
    assert up.sha256 == sha256(local) == sha256(remote_dir / "data.bin")
    assert seen[0] == (0, local.stat().st_size) and seen[-1] == (local.stat().st_size,) * 2
    assert session.run("os.path.getsize('data.bin')").value == str(local.stat().st_size)

    down = session.download("data.bin", back_dir / "copy.bin")
    assert down.source == str(remote_dir / "data.bin") and down.target == str(back_dir / "copy.bin")
    assert down.sha256 == sha256(back_dir / "copy.bin") == up.sha256
    assert leftovers(tmp_path) == []


def test_an_existing_directory_takes_the_file_inside_and_a_file_is_replaced(session: Session, tmp_path: Path) -> None:
    local = tmp_path / "notes.txt"
    local.write_text("v1\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    assert session.upload(local, str(dest)).target == str(dest / "notes.txt")
    local.write_text("version two\n")
    session.upload(local, str(dest / "notes.txt"))
    assert (dest / "notes.txt").read_text() == "version two\n"
    assert (tmp_path / "empty.txt").write_bytes(b"") == 0
    assert session.upload(tmp_path / "empty.txt", str(dest)).size == 0
    assert (dest / "empty.txt").read_bytes() == b""


def test_a_directory_tree_goes_up_and_comes_back(session: Session, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "project")
    remote_dir, back_dir = tmp_path / "remote", tmp_path / "back"
    remote_dir.mkdir()
    back_dir.mkdir()
    up = session.upload(source, str(remote_dir))
    assert up.kind == "dir" and up.files == 5 and up.target == str(remote_dir / "project")
    assert tree(remote_dir / "project") == tree(source)
    down = session.download(str(remote_dir / "project"), back_dir)
    assert down.files == 5 and tree(back_dir / "project") == tree(source)
    with pytest.raises(TransferError, match="is an existing directory"):
        session.upload(source, str(remote_dir))  # a directory is never merged into an existing one
    assert leftovers(tmp_path) == []


def test_thousands_of_small_files_go_up_and_come_back(session: Session, tmp_path: Path) -> None:
    """More small chunks than the sockets' HWM fit in WINDOW bytes: the sender stops at WINDOW_CHUNKS
    unacknowledged ones instead of filling the send queue (which the session took for a lost link)."""
    source = tmp_path / "many"
    for i in range(6000):
        folder = source / f"d{i // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.txt").write_bytes(os.urandom(2000))
    remote_dir, back_dir = tmp_path / "remote", tmp_path / "back"
    remote_dir.mkdir()
    back_dir.mkdir()
    up = session.upload(source, str(remote_dir))
    assert up.files == 6000 and tree(remote_dir / "many") == tree(source)
    down = session.download(str(remote_dir / "many"), back_dir)
    assert down.files == 6000 and tree(back_dir / "many") == tree(source)
    assert session.run("1+1").value == "2"


def test_bad_sources_and_targets_are_refused_and_leave_nothing(session: Session, tmp_path: Path) -> None:
    local = tmp_path / "f.txt"
    local.write_text("x")
    with pytest.raises(TransferError, match="cannot read"):
        session.upload(tmp_path / "missing.txt")
    with pytest.raises(TransferError, match="no such directory"):
        session.upload(local, str(tmp_path / "nowhere" / "f.txt"))
    with pytest.raises(TransferError, match="failed on the server: cannot read"):
        session.download(str(tmp_path / "missing.txt"), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(TransferError, match="no such directory"):  # a local target that cannot be
        session.download(str(local), tmp_path / "nowhere" / "g.txt")
    assert session.run("1 + 1").value == "2"  # the session goes on
    assert leftovers(tmp_path) == []


def test_an_unwritable_target_reports_the_remote_error_and_leaves_nothing(session: Session, tmp_path: Path) -> None:
    local = tmp_path / "f.txt"
    local.write_text("x")
    if os.geteuid() == 0:  # root writes anywhere a mode bit forbids; /proc refuses even root
        target = "/proc/remrepl-test-upload.txt"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "f.txt")
    with pytest.raises(TransferError, match=r"failed on the server: cannot write in /proc|Permission denied"):
        session.upload(local, target)
    assert not Path(target).exists()
    assert leftovers(tmp_path) == []


def test_a_transfer_interrupted_by_the_client_leaves_no_partial_file(session: Session, tmp_path: Path) -> None:
    local = random_file(tmp_path / "big.bin", 64)
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()

    def stop_half_way(done: int, total: int) -> None:
        if done > total // 4:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of the transfer loop

    with pytest.raises(KeyboardInterrupt):
        session.upload(local, str(remote_dir), progress=stop_half_way)
    # the server removes its temporary file when the cancel arrives: a run after it sees the result
    assert session.run(f"import os; os.listdir({str(remote_dir)!r})").value == "[]"
    back = tmp_path / "back"
    back.mkdir()
    with pytest.raises(KeyboardInterrupt):
        session.download(str(local), back, progress=stop_half_way)
    assert list(back.iterdir()) == []
    assert session.upload(local, str(remote_dir)).sha256 == sha256(local)  # and the next one works


def test_a_server_that_dies_mid_download_leaves_no_local_partial_file(launcher: LocalLauncher, tmp_path: Path) -> None:
    assert launcher.info is not None
    local = random_file(tmp_path / "big.bin", 64)
    back = tmp_path / "back"
    back.mkdir()
    killed = threading.Event()

    def kill_half_way(done: int, total: int) -> None:
        if done > total // 4 and not killed.is_set():
            killed.set()
            assert launcher.info is not None
            os.kill(launcher.info.pid, signal.SIGKILL)

    with launcher.connect() as session, pytest.raises((ConnectionLost, TransferError)):
        session.download(str(local), back, progress=kill_half_way)
    assert killed.is_set()
    assert list(back.iterdir()) == []


def test_a_client_that_falls_silent_mid_upload_leaves_no_partial_file(tmp_path: Path, password_file: Path) -> None:
    """The link is lost (the client stops talking without a word): the server gives up on the transfer
    (when its next ack finds no client, or after --transfer-timeout of silence: tests/server/
    test_transfers.py) and removes its temporary file."""
    running: RunningServer = start_server(tmp_path, password_file, "--transfer-timeout", "1")
    try:
        remote_dir = tmp_path / "remote"
        remote_dir.mkdir()
        local = tmp_path / "big.bin"
        local.write_bytes(os.urandom(3 * WINDOW))  # more than a window: the end cannot be sent before an ack
        session = running.connect()

        def vanish(done: int, total: int) -> None:
            if done > 0:
                session._teardown()  # the socket closes under the transfer, no cancel is sent
                raise ConnectionLost("gone")

        with pytest.raises(ConnectionLost):
            session.upload(local, str(remote_dir), progress=vanish)
        wait_until(lambda: not os.listdir(remote_dir), 15, "the partial file to be removed")
    finally:
        stop_server(running)


def test_a_transfer_while_code_runs_keeps_the_runs_output_in_order(session: Session, tmp_path: Path) -> None:
    local = tmp_path / "f.bin"
    local.write_bytes(os.urandom(3 << 20))
    execution = session.execute("import time\nfor i in range(5):\n    print(i)\n    time.sleep(0.1)\n")
    up = session.upload(local, str(tmp_path / "copy.bin"))  # the supervisor moves it; the kernel is busy
    assert up.sha256 == sha256(local) == sha256(tmp_path / "copy.bin")
    printed = b"".join(e.data for e in execution if isinstance(e, Stream))
    assert printed == b"0\n1\n2\n3\n4\n" and execution.done is not None and execution.done.status == "ok"


MEMORY_PROBE = """
import hashlib, json, resource, sys
import remrepl

source, remote_dir, back_dir = sys.argv[1:4]
with remrepl.launch() as server, server.connect() as session:
    session.run("1 + 1")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    up = session.upload(source, remote_dir)
    down = session.download(up.target, back_dir)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "after_kib": after, "up": up.sha256, "down": down.sha256}))
"""


def test_200_mb_through_the_api_with_flat_client_memory(tmp_path: Path) -> None:
    """The client in a process of its own, so its peak RSS (ru_maxrss) is the transfer's alone."""
    source = random_file(tmp_path / "big.bin", 200)
    remote_dir, back_dir = tmp_path / "remote", tmp_path / "back"
    remote_dir.mkdir()
    back_dir.mkdir()
    try:
        result = subprocess.run(
            [sys.executable, "-c", MEMORY_PROBE, str(source), str(remote_dir), str(back_dir)],
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["up"] == report["down"] == sha256(source) == sha256(back_dir / "big.bin")
        growth_mb = (report["after_kib"] - report["before_kib"]) / 1024
        assert growth_mb < 100, f"the client's peak memory grew by {growth_mb:.0f} MB moving 2 x 200 MB"
    finally:
        for path in (source, remote_dir / "big.bin", back_dir / "big.bin"):
            path.unlink(missing_ok=True)
