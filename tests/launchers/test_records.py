"""Session records and reattaching by NAME: ``remrepl ls`` (alive/dead, --prune), ``remrepl connect NAME``
with the banner and the output printed while no client was attached, in a real terminal (tmux)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from remrepl import ConfigError, ConnectionInfo
from remrepl.launchers import LocalLauncher, records, registry
from tests.support.cli import remrepl_command
from tests.support.processes import alive, terminate
from tests.support.terminal import PROMPT, TmuxTerminal
from tests.support.waiting import wait_until

pytestmark = pytest.mark.server  # its tests start real servers (some without the fixtures)

# --- the record format --------------------------------------------------------------------------------


def test_a_record_is_private_extensible_and_a_connection_file(launcher: LocalLauncher, state_dir: Path) -> None:
    assert launcher.info is not None
    ssh_like = records.LauncherData("ssh", {"target": "ssh://me@head-node", "remote_port": "40113"})
    record = records.save(launcher.info, target="ssh://me@head-node", launcher=ssh_like)
    assert record.name == "head-node-1"
    path = state_dir / "sessions" / "head-node-1.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (state_dir / "sessions").stat().st_mode & 0o777 == 0o700
    data = json.loads(path.read_text())
    assert data["launcher"] == {"kind": "ssh", "target": "ssh://me@head-node", "remote_port": "40113"}
    assert data["record_version"] == 1
    data["from_a_later_version"] = {"anything": 1}  # unknown keys are ignored
    path.write_text(json.dumps(data))
    again = records.load("head-node-1")
    assert again.launcher == ssh_like and again.info == launcher.info
    assert ConnectionInfo.read(path) == launcher.info  # --connection-file RECORD works too
    assert records.save(launcher.info, target="ssh://me@head-node", launcher=ssh_like).name == "head-node-2"


@pytest.mark.parametrize("name", ["", "-x", "a/b", "../up", "x" * 65, "sp ace"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="not a session name"):
        records.check_name(name)


def test_an_unknown_or_garbled_record_says_so(state_dir: Path) -> None:
    with pytest.raises(ConfigError, match="no session named nope"):
        records.load("nope")
    (state_dir / "sessions").mkdir(exist_ok=True)
    (state_dir / "sessions" / "broken.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        records.load("broken")
    assert [(r, p.name) for r, p in records.all_records()] == [(None, "broken.json")]


def test_status_alive_then_dead(launcher: LocalLauncher) -> None:
    assert launcher.info is not None
    record = records.save(launcher.info, target="local", launcher=records.LauncherData("local"))
    assert registry.status(record) == ("alive", "pid and handshake")
    launcher.close()
    state, how = registry.status(record)
    assert state == "dead" and f"pid {launcher.info.pid}" in how


# --- the commands, in a terminal ----------------------------------------------------------------------


def remrepl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*remrepl_command(), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def keep_a_session(terminal: TmuxTerminal, marker: Path, *extra: str) -> tuple[str, int]:
    """``connect --launch --keep``, then Ctrl-D: (the session's name, its server's pid). A thread left
    running prints a line after we have gone (kept by the server, replayed when we come back), then
    creates ``marker``."""
    terminal.start([*remrepl_command(), "connect", "--launch", "--keep", *extra])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    terminal.run("kept = 'still here'")
    terminal.run("import threading, time")
    terminal.run(f"marker = {str(marker)!r}")
    terminal.run(
        "threading.Thread(target=lambda: (time.sleep(1), print('printed while detached', flush=True), "
        "open(marker, 'w').close())).start()"
    )
    terminal.send("C-d")
    assert terminal.wait_exit() == 0
    match = re.search(r"^\s*remrepl connect (\S+)$", terminal.screen(), re.MULTILINE)
    assert match, terminal.screen()
    name = match.group(1)
    return name, int(json.loads(records.path_of(name).read_text())["pid"])


def test_ls_then_connect_name_reattaches_and_replays(terminal: TmuxTerminal, tmp_path: Path) -> None:
    name, pid = keep_a_session(terminal, tmp_path / "printed", "--name", "work")
    assert name == "work"
    try:
        listing = remrepl("ls")
        assert listing.returncode == 0, listing.stderr
        assert re.search(rf"^work\s+local\s+127\.0\.0\.1:\d+\s+{pid}\s+\S+ \S+\s+alive", listing.stdout, re.M)

        wait_until((tmp_path / "printed").exists, 20, "the thread to print while no client is attached")
        terminal.start([*remrepl_command(), "connect", "work"])
        terminal.wait_for_line(lambda line: line == PROMPT, "the prompt after reattaching", timeout=30)
        terminal.wait_for("printed while detached")
        screen = terminal.screen()
        banner = re.search(r"remrepl: connected to work \((.+), Python (\S+), up \dh\d\dm\d\ds, idle\)", screen)
        assert banner, screen
        assert terminal.run("kept") == ["'still here'"]
        terminal.send("C-d")
        assert terminal.wait_exit() == 0
        assert alive(pid)
    finally:
        terminate([pid])


def test_a_command_still_running_is_announced_and_followed(terminal: TmuxTerminal, tmp_path: Path) -> None:
    name, pid = keep_a_session(terminal, tmp_path / "printed")
    try:
        import remrepl

        with remrepl.connect(records.path_of(name)) as session:
            session.execute("for i in range(4):\n    time.sleep(0.5)\n    print('tick', i)\n")
        terminal.start([*remrepl_command(), "connect", name])
        terminal.wait_for("a command is still running)")
        terminal.wait_for("tick 3")
        terminal.wait_for_line(lambda line: line == PROMPT, "the prompt after the run", timeout=30)
        terminal.type("%shutdown")
        terminal.send("Enter")
        assert terminal.wait_exit() == 0
        wait_until(lambda: not alive(pid), 10, "the server to stop")
        assert not records.path_of(name).exists()  # its record went with it
    finally:
        terminate([pid])


def test_ls_shows_dead_servers_and_prune_removes_them(terminal: TmuxTerminal, tmp_path: Path) -> None:
    name, pid = keep_a_session(terminal, tmp_path / "printed")
    terminate([pid])
    listing = remrepl("ls")
    assert re.search(rf"^{re.escape(name)}\s.*\sdead \(pid {pid} is not a remrepl server\)$", listing.stdout, re.M)
    refused = remrepl("connect", name)
    assert refused.returncode == 1
    assert f"the server of session {name} is gone" in refused.stderr and "--prune" in refused.stderr
    pruned = remrepl("ls", "--prune")
    assert f"removed the record of {name}" in pruned.stdout
    assert not records.path_of(name).exists()
    assert remrepl("ls").stdout.startswith("no sessions")
    unknown = remrepl("connect", "nope")
    assert unknown.returncode == 1 and "no session named nope" in unknown.stderr


def test_bad_session_options_are_refused_before_anything_starts(state_dir: Path) -> None:
    alone = remrepl("connect", "--launch", "--name", "work")
    assert alone.returncode == 1 and "--name goes with --launch --keep" in alone.stderr
    bad = remrepl("connect", "--launch", "--keep", "--name", "no good")
    assert bad.returncode == 1 and "not a session name: 'no good'" in bad.stderr
    both = remrepl("connect", "work", "--launch")
    assert both.returncode == 1 and "give one of NAME, --launch and --connection-file" in both.stderr
    (state_dir / "sessions").mkdir(exist_ok=True)
    (state_dir / "sessions" / "broken.json").write_text("{")
    listing = remrepl("ls")
    assert listing.returncode == 0 and re.search(r"^broken\s.*unreadable record", listing.stdout, re.M), listing
    assert not list(state_dir.glob("logs/*"))  # no server was started for any of them
