"""The private sshd fixture (scripts/testhosts.py) works with OpenSSH's own client, and cleans up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from testhosts import SSHD, SSHHosts, descendants

pytestmark = pytest.mark.ssh  # its tests start sshd servers themselves


def test_a_command_runs_with_the_configured_environment(sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    result = ssh_hosts.ssh("target", 'echo "$PYTHONPATH"; echo "$REMREPL_STATE_DIR"')
    assert result.returncode == 0, result.stderr
    guard, state = result.stdout.splitlines()
    assert guard.endswith("_netguard")
    assert state == os.path.join(os.environ["REMREPL_STATE_DIR"], "remote")


def test_proxy_jump_through_a_second_sshd(ssh_jump: SSHD, ssh_hosts: SSHHosts) -> None:
    result = ssh_hosts.ssh("behind", "echo through")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "through\n"
    assert "Accepted publickey" in ssh_hosts.servers["hop"].log_text()


def test_an_unknown_host_key_is_refused(ssh_hosts: SSHHosts) -> None:
    ssh_hosts.start("stranger", known=False)
    result = ssh_hosts.ssh("stranger", "true")
    assert result.returncode == 255 and "Host key verification failed" in result.stderr


def test_stop_ends_the_server_and_its_sessions(tmp_path: Path) -> None:
    with SSHHosts(tmp_path) as hosts:
        server = hosts.start("target")
        assert hosts.ssh("target", "true").returncode == 0
    assert server.process.poll() is not None
    assert descendants(server.process.pid) == []
