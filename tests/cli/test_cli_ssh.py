"""``remrepl exec``/``connect`` with ``--launch`` on an SSH host (a private sshd on 127.0.0.1), as a user runs them."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from testhosts import SSHD, SSHHosts, descendants

from tests.support.cli import remrepl_command, run_cli
from tests.support.processes import alive, read_proc, server_processes, terminate
from tests.support.terminal import PROMPT, TmuxTerminal
from tests.support.waiting import wait_until


def ssh_flags(hosts: SSHHosts) -> list[str]:
    return ["--ssh-config", str(hosts.ssh_config), "--remote-python", sys.executable]


def test_exec_on_an_ssh_host(sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path, private_state: Path) -> None:
    script = tmp_path / "hi.py"
    script.write_text("import sys\nprint('hi', *sys.argv[1:])\n")
    result = run_cli("exec", "--launch=ssh://target", *ssh_flags(ssh_hosts), str(script), "a", "b")
    assert (result.returncode, result.stdout) == (0, "hi a b\n"), result.stderr
    # the same with the value after a space (a script is never called ssh://...)
    result = run_cli("exec", "--launch", "ssh://target", *ssh_flags(ssh_hosts), str(script))
    assert (result.returncode, result.stdout) == (0, "hi\n"), result.stderr
    wait_until(lambda: server_processes(private_state / "remote") == [], 10, "the launched servers to stop")


def test_ssh_flags_without_an_ssh_target_are_refused(tmp_path: Path) -> None:
    script = tmp_path / "hi.py"
    script.write_text("print('hi')\n")
    result = run_cli("exec", "--launch", "--bootstrap", "--direct", str(script))
    assert result.returncode == 1 and result.stdout == ""
    assert "--bootstrap, --direct only go with --launch [ssh://][USER@]HOST[:PORT]" in result.stderr


def test_an_unknown_host_key_is_a_clear_error(ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    ssh_hosts.start("stranger", known=False)
    script = tmp_path / "hi.py"
    script.write_text("print('hi')\n")
    result = run_cli("exec", "--launch=ssh://stranger", *ssh_flags(ssh_hosts), str(script))
    assert result.returncode == 1 and result.stdout == ""
    assert re.match(r"remrepl: the host key of \[127.0.0.1\]:\d+ is unknown", result.stderr), result.stderr
    assert "--accept-new-host-key" in result.stderr and "Traceback" not in result.stderr


def test_keep_then_reattach_through_ssh(
    sshd: SSHD, ssh_hosts: SSHHosts, terminal: TmuxTerminal, private_state: Path
) -> None:
    terminal.start([*remrepl_command(), "connect", "--launch", "target", *ssh_flags(ssh_hosts), "--keep"])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    terminal.run("kept = 'over ssh'")
    terminal.send("C-d")
    assert terminal.wait_exit() == 0
    match = re.search(r"^\s*remrepl connect (\S+)$", terminal.screen(), re.MULTILINE)
    assert match, terminal.screen()
    name = match.group(1)
    record = private_state / "sessions" / f"{name}.json"
    assert record.stat().st_mode & 0o777 == 0o600
    data = json.loads(record.read_text())
    assert data["launcher"]["kind"] == "ssh" and data["launcher"]["target"] == "target"
    server_pid = int(data["pid"])
    try:
        assert alive(server_pid)
        listing = run_cli("ls")  # probed through a new SSH tunnel
        assert re.search(rf"^{name}\s+.*\salive \(SSH and handshake\)$", listing.stdout, re.MULTILINE), listing
        terminal.start([*remrepl_command(), "connect", name])  # by name: the record rebuilds the tunnel
        terminal.wait_for_line(lambda line: line == PROMPT, "the prompt after reattaching by name", timeout=30)
        assert terminal.run("kept") == ["'over ssh'"]
        terminal.send("C-d")
        assert terminal.wait_exit() == 0
        assert alive(server_pid)
        terminal.start([*remrepl_command(), "connect", "--connection-file", str(record)])
        terminal.wait_for_line(lambda line: line == PROMPT, "the prompt after reattaching", timeout=30)
        assert terminal.run("kept") == ["'over ssh'"]
        terminal.type("%shutdown")
        terminal.send("Enter")
        assert terminal.wait_exit() == 0
        wait_until(lambda: not alive(server_pid), 10, "the server to shut down")
    finally:
        terminate([server_pid])


def test_the_prompt_survives_a_dropped_link(sshd: SSHD, ssh_hosts: SSHHosts, terminal: TmuxTerminal) -> None:
    terminal.start([*remrepl_command(), "connect", "--launch", "target", *ssh_flags(ssh_hosts)])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    start = terminal.mark()
    terminal.type("import time\nfor i in range(30): print('line', i, flush=True); time.sleep(0.1)\n")
    terminal.send("Enter")
    terminal.wait_for("line 3", since=start)
    for pid in descendants(sshd.process.pid):  # the sshd processes serving the client's connection
        if read_proc(pid, "cmdline").startswith(b"sshd:"):
            os.kill(pid, 9)
    terminal.wait_for("remrepl: connection lost — reconnecting", since=start)
    terminal.wait_for("remrepl: reconnected", since=start)
    shown = terminal.wait_prompt(start, timeout=30)
    lines = [line for line in shown if line.startswith("line ")]
    assert lines == [f"line {i}" for i in range(30)], terminal.screen()
    assert terminal.run("6 * 7") == ["42"]
