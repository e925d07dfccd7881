"""``%upload`` and ``%download`` typed at the ``remote>`` prompt in a real terminal (tmux).

The big test moves 200 MB each way and watches the client process's peak resident memory (VmHWM in
/proc): it must stay flat, since no file is ever held whole.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.support.files import PART, random_file, sha256
from tests.support.processes import read_proc
from tests.support.terminal import TmuxTerminal, client_pid


def peak_rss_kib(pid: int) -> int:
    match = re.search(rb"^VmHWM:\s+(\d+) kB", read_proc(pid, "status"), re.MULTILINE)
    assert match, f"no VmHWM for {pid}"
    return int(match.group(1))


def run_magic(terminal: TmuxTerminal, line: str, timeout: float = 120) -> str:
    return "\n".join(terminal.run(line, timeout))


def test_200_mb_up_and_down_with_checksums_and_flat_client_memory(launched: TmuxTerminal, tmp_path: Path) -> None:
    big = random_file(tmp_path / "big.bin", 200)
    remote, back = tmp_path / "remote", tmp_path / "back"
    remote.mkdir()
    back.mkdir()
    pid = client_pid(launched)
    assert launched.run("1 + 1") == ["2"]
    before = peak_rss_kib(pid)
    try:
        shown = run_magic(launched, f"%upload {big} {remote}")
        assert f"remrepl: uploaded to remote {remote / 'big.bin'} (209.7 MB, 1 file" in shown, shown
        assert "100%" in shown  # the progress bar's last state
        assert sha256(remote / "big.bin") == sha256(big)
        assert f"SHA-256 {sha256(big)}" in shown

        launched.run(f"import os; os.chdir({str(remote)!r})")
        shown = run_magic(launched, f"%download big.bin {back}")  # relative: the kernel's current directory
        assert f"remrepl: downloaded to {back / 'big.bin'} (209.7 MB" in shown, shown
        assert sha256(back / "big.bin") == sha256(big)
        growth_mb = (peak_rss_kib(pid) - before) / 1024
        assert growth_mb < 100, f"the client's peak memory grew by {growth_mb:.0f} MB"
        assert [p for p in tmp_path.rglob("*") if PART in p.name] == []
    finally:
        for path in (big, remote / "big.bin", back / "big.bin"):
            path.unlink(missing_ok=True)


def test_ctrl_c_stops_an_upload_and_leaves_no_partial_file(launched: TmuxTerminal, tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.bin"
    with open(sparse, "wb") as f:
        f.truncate(4 << 30)  # 4 GB of zeros that take no disk here: long enough to be caught mid-way
    remote = tmp_path / "remote"
    remote.mkdir()
    launched.run("x = 21 * 2")
    start = launched.mark()
    launched.type(f"%upload {sparse} {remote}")
    launched.send("Enter")
    launched.wait_for("uploading [", since=start)
    launched.send("C-c")
    shown = "\n".join(launched.wait_prompt(start, timeout=60))
    assert "remrepl: the upload was interrupted; nothing was left at the target" in shown, shown
    launched.run("import os")
    assert launched.run(f"os.listdir({str(remote)!r})") == ["[]"]  # the cancel came before this run
    assert launched.run("x") == ["42"]


def test_a_directory_and_bad_arguments_at_the_prompt(launched: TmuxTerminal, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "a.txt").write_text("alpha\n")
    (project / "sub" / "b.txt").write_text("beta\n")
    remote = tmp_path / "remote"
    remote.mkdir()
    shown = run_magic(launched, f"%upload {project} {remote}")
    assert f"remrepl: uploaded to remote {remote / 'project'} (" in shown and "2 files" in shown, shown
    assert (remote / "project" / "sub" / "b.txt").read_text() == "beta\n"

    assert "usage: %upload LOCAL [REMOTE]" in run_magic(launched, "%upload")
    assert "usage: %download REMOTE [LOCAL]" in run_magic(launched, "%download a b c")
    assert "No closing quotation" in run_magic(launched, "%upload 'unclosed")
    unwritable = "/proc/remrepl-test.txt" if os.geteuid() == 0 else "/remrepl-test.txt"
    shown = run_magic(launched, f"%upload {project / 'a.txt'} {unwritable}")
    assert "remrepl: the upload failed on the server: cannot write in" in shown, shown
    shown = run_magic(launched, "%download /no/such/file")
    assert "remrepl: the download of /no/such/file failed on the server: cannot read /no/such/file" in shown
    help_text = run_magic(launched, "%help")
    assert "%upload" in help_text and "%download" in help_text
    assert launched.run("1 + 1") == ["2"]
