"""Workdir sync through the Python API (``Session.sync_workdir``) against a real local server.

The copy on the server is read back from disk and compared with the local tree; a second sync of an
unchanged tree must send nothing, a change must send only itself, and the remote side's own files (a
script's results) must survive every sync.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from remrepl import WorkdirTooLarge
from remrepl.client.session import Session
from remrepl.client.sync import project_place
from remrepl.protocol import Sync, SyncEnd, SyncReady, TransferDone, TransferFailed, UploadChunk

pytestmark = pytest.mark.server


def make_project(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("import utils\nprint(utils.ANSWER)\n")
    (root / "utils.py").write_text("ANSWER = 42\n")
    (root / "data.csv").write_text("x,y\n1,2\n")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "model.py").write_text("NAME = 'm1'\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    (root / "debug.log").write_text("never sent\n")
    (root / "build").mkdir()
    (root / "build" / "big.bin").write_bytes(b"\0" * 1000)
    return root


def remote_files(copy: Path) -> dict[str, bytes]:
    return {p.relative_to(copy).as_posix(): p.read_bytes() for p in copy.rglob("*") if p.is_file()}


def test_first_sync_sends_the_tree_without_what_git_would_ignore(session: Session, tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    result = session.sync_workdir(root)
    copy = Path(result.remote)
    assert copy.name.startswith("proj-") and copy != root
    files = remote_files(copy)
    assert set(files) == {".gitignore", "train.py", "utils.py", "data.csv", "pkg/__init__.py", "pkg/model.py", "run.sh"}
    assert files["utils.py"] == b"ANSWER = 42\n"
    assert os.stat(copy / "run.sh").st_mode & 0o100
    assert result.sent_files == result.files == 7 and not result.unchanged


def test_an_unchanged_tree_sends_nothing_and_a_change_only_itself(session: Session, tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    first = session.sync_workdir(root)
    again = session.sync_workdir(root)
    assert again.unchanged and again.sent_files == 0 and again.remote == first.remote
    (root / "utils.py").write_text("ANSWER = 43\n")
    changed = session.sync_workdir(root)
    assert changed.sent_files == 1 and changed.sent_bytes == len("ANSWER = 43\n")
    assert (Path(changed.remote) / "utils.py").read_text() == "ANSWER = 43\n"


def test_deletions_propagate_and_the_remote_sides_own_files_survive(session: Session, tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    copy = Path(session.sync_workdir(root).remote)
    (copy / "results").mkdir()
    (copy / "results" / "model.pkl").write_bytes(b"trained")  # what a run wrote there
    (root / "pkg" / "model.py").unlink()
    (root / "data.csv").unlink()
    result = session.sync_workdir(root)
    files = remote_files(copy)
    assert "pkg/model.py" not in files and "data.csv" not in files
    assert files["results/model.pkl"] == b"trained"
    assert result.sent_files == 0


def test_a_synced_file_the_remote_side_changed_is_sent_again(session: Session, tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    copy = Path(session.sync_workdir(root).remote)
    (copy / "utils.py").write_text("ANSWER = 'edited remotely'\n")
    result = session.sync_workdir(root)
    assert result.sent_files == 1
    assert (copy / "utils.py").read_text() == "ANSWER = 42\n"


def test_the_kernel_enters_the_copy(session: Session, tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    result = session.sync_workdir(root)
    run = session.run(
        "import os, utils, pkg.model\n"
        "print(os.getcwd(), utils.ANSWER, pkg.model.NAME, open('data.csv').read().split()[1])\n"
        "import remrepl.workdir.active as a; print(a.current())"
    )
    assert run.error is None, run.error
    cwd, answer, name, row, current = run.stdout.split()
    assert (cwd, answer, name, row, current) == (str(Path(result.remote).resolve()), "42", "m1", "1,2", cwd)


def test_a_tree_over_the_limit_is_refused_before_anything_is_sent(session: Session, tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    (root / "data").mkdir()
    for i in range(5):
        (root / "data" / f"part{i}.bin").write_bytes(b"x" * 10_000)
    with pytest.raises(WorkdirTooLarge) as caught:
        session.sync_workdir(root, max_bytes=20_000)
    assert "data" in str(caught.value)
    assert not session.last_sync
    assert session.run("print(1)").stdout == "1\n"  # the session is untouched


def _ask(session: Session, event: Sync | SyncEnd, xfer_id: str) -> object:
    transfers = session._transfers
    transfers.open(xfer_id)
    try:
        session.send(event)
        for _ in range(200):
            reply = transfers.next_event(xfer_id, 0.1)
            if reply is not None:
                return reply
        raise AssertionError("no reply")
    finally:
        transfers.close(xfer_id)


def test_a_sync_with_a_name_that_could_escape_is_refused(session: Session) -> None:
    xfer_id = uuid.uuid4().hex
    reply = _ask(session, Sync(xfer_id, "../../etc", "0123456789abcdef", "0" * 64), xfer_id)
    assert isinstance(reply, TransferFailed) and "refusing the workdir name" in reply.message
    assert session.run("print(2)").stdout == "2\n"


def _sync_with_manifest(session: Session, root: Path, manifest: bytes) -> object:
    """A hand-made sync of ``root``'s place: the root directory alone, then ``manifest``; the server's end."""
    name, key = project_place(root)
    xfer_id = uuid.uuid4().hex
    transfers = session._transfers
    transfers.open(xfer_id)
    try:
        session.send(Sync(xfer_id, name, key, "0" * 64))
        assert isinstance(transfers.next_event(xfer_id, 10.0), SyncReady)
        session.send(UploadChunk(xfer_id, "", "dir", 0, b"", True, "", 0o700))
        session.send(SyncEnd(xfer_id, manifest))
        reply = None
        for _ in range(100):
            reply = transfers.next_event(xfer_id, 0.1)
            if isinstance(reply, (TransferFailed, TransferDone)):
                break
        return reply
    finally:
        transfers.close(xfer_id)


def test_a_malformed_manifest_fails_that_sync_alone(session: Session, tmp_path: Path) -> None:
    reply = _sync_with_manifest(session, tmp_path, b'{"not": "a manifest"')
    assert isinstance(reply, TransferFailed), reply
    assert session.run("print(3)").stdout == "3\n"
    result = session.sync_workdir(make_project(tmp_path / "proj"))  # a good sync still works
    assert result.sent_files == 7


def test_inside_git_what_git_tracks_or_leaves_untracked_travels(session: Session, tmp_path: Path) -> None:
    root = make_project(tmp_path / "repo")
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "train.py", "utils.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    (root / "notes.md").write_text("untracked, not ignored\n")
    files = remote_files(Path(session.sync_workdir(root).remote))
    assert "notes.md" in files and "debug.log" not in files and not any(p.startswith(".git/") for p in files)


def test_a_manifest_naming_a_file_never_sent_fails_and_the_next_sync_repairs(session: Session, tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj")
    reply = _sync_with_manifest(session, root, b'[["ghost.py", 3, 420, "' + b"a" * 64 + b'"]]')
    assert isinstance(reply, TransferFailed) and "ghost.py" in reply.message
    result = session.sync_workdir(root)
    assert result.sent_files == 7 and "ghost.py" not in remote_files(Path(result.remote))


def test_launch_with_a_workdir_syncs_at_each_connect(tmp_path: Path) -> None:
    import remrepl

    root = make_project(tmp_path / "proj")
    with remrepl.launch(workdir=root) as server:
        with server.connect() as session:
            assert session.last_sync is not None and session.last_sync.sent_files == 7
            assert session.run("import utils; print(utils.ANSWER)").stdout == "42\n"
        (root / "utils.py").write_text("ANSWER = 7\n")
        with server.connect() as session:
            assert session.last_sync is not None and session.last_sync.sent_files == 1
            assert session.run("import importlib, utils; importlib.reload(utils); print(utils.ANSWER)").stdout == "7\n"
