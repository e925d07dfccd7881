"""``connect --workdir`` and ``%sync`` typed at the ``remote>`` prompt in a real terminal (tmux), on an SSH
host whose sessions run as another, unprivileged user: what the prompt imports there was synced."""

from __future__ import annotations

from pathlib import Path

from testhosts import SSHHosts

from tests.support.cli import remrepl_command
from tests.support.terminal import PROMPT, TmuxTerminal


def test_the_prompt_works_in_a_synced_copy_and_percent_sync_follows_edits(
    terminal: TmuxTerminal, isolated_ssh_hosts: SSHHosts, remote_python: str, remote_scratch: Path, tmp_path: Path
) -> None:
    isolated_ssh_hosts.start("target")
    root = tmp_path / "proj"
    root.mkdir()
    (root / "utils.py").write_text("ANSWER = 42\n")
    (root / "data.csv").write_text("a,b\n")
    (root / "notes.log").write_text("ignored\n")
    (root / ".remreplignore").write_text("*.log\n")
    launch = ["--launch", "ssh://target", "--ssh-config", str(isolated_ssh_hosts.ssh_config)]
    terminal.start([*remrepl_command(), "connect", *launch, "--remote-python", remote_python, "--workdir", str(root)])
    terminal.wait_for_line(lambda line: line == PROMPT, "the prompt in the synced copy", timeout=60)
    assert terminal.run("import utils; utils.ANSWER") == ["42"]
    assert terminal.run("open('data.csv').read()") == ["'a,b\\n'"]
    (cwd,) = terminal.run("import os; print(os.getcwd())")
    assert Path(cwd).is_relative_to(remote_scratch) and Path(cwd).name.startswith("proj-")
    assert terminal.run("os.path.exists('notes.log')") == ["False"]

    (root / "utils.py").write_text("ANSWER = 43\n")
    shown = "\n".join(terminal.run("%sync", timeout=60))
    assert "remrepl: synced" in shown and ": 1 file sent (12 B) in" in shown, shown
    assert terminal.run("import importlib; importlib.reload(utils).ANSWER") == ["43"]
    assert "(3 files, 22 B): unchanged" in "\n".join(terminal.run("%sync", timeout=60))

    terminal.send("C-d")
    assert terminal.wait_exit() == 0


def test_a_session_kept_with_a_workdir_syncs_it_again_at_reattach(terminal: TmuxTerminal, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "utils.py").write_text("ANSWER = 42\n")
    terminal.start([*remrepl_command(), "connect", "--launch", "--keep", "--name", "kept", "--workdir", str(root)])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first prompt", timeout=60)
    assert terminal.run("import utils; utils.ANSWER") == ["42"]
    terminal.send("C-d")
    assert terminal.wait_exit() == 0
    (root / "utils.py").write_text("ANSWER = 44\n")
    try:
        terminal.start([*remrepl_command(), "connect", "kept"])
        terminal.wait_for_line(lambda line: ": 1 file sent (12 B)" in line, "the re-sync at reattach", timeout=60)
        terminal.wait_for_line(lambda line: line == PROMPT, "the prompt again", timeout=60)
        assert terminal.run("import importlib; importlib.reload(utils).ANSWER") == ["44"]
        terminal.type("%shutdown")
        terminal.send("Enter")
    finally:
        assert terminal.wait_exit() == 0
