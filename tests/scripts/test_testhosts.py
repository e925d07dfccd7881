"""The private sshd fixture (scripts/testhosts.py) works with OpenSSH's own client, and cleans up."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest
from testhosts import SSHD, TEST_USER, RemoteUser, SSHHosts, descendants, ensure_test_user

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


def probe(project: Path, python: str) -> str:
    """A shell command: who the session runs as, its HOME and state directory, and whether it could read
    the local project's data file ("refused" or "read it")."""
    code = (
        "import os, pwd\n"
        "print(pwd.getpwuid(os.getuid()).pw_name, os.environ['HOME'], os.environ['REMREPL_STATE_DIR'])\n"
        "try:\n"
        f"    open({str(project / 'data.csv')!r}).read()\n"
        "except PermissionError:\n"
        "    print('refused')\n"
        "else:\n"
        "    print('read it')\n"
    )
    return f"{python} -c {shlex.quote(code)}"


def test_an_isolated_host_runs_its_sessions_as_the_test_user_who_cannot_read_the_tests_files(
    isolated_sshd: SSHD,
    isolated_ssh_hosts: SSHHosts,
    remote_user: RemoteUser,
    remote_python: str,
    sshd: SSHD,
    ssh_hosts: SSHHosts,
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "data.csv").write_text("a,b\n1,2\n")
    result = isolated_ssh_hosts.ssh("target", probe(project, remote_python))
    assert result.returncode == 0, result.stderr
    name, home, state, verdict = result.stdout.split()
    assert (name, home) == (remote_user.name, str(remote_user.home))
    assert state.startswith(str(remote_user.home) + "/")  # the remote side's state is in its own HOME
    assert verdict == "refused"
    assert remote_user.uid != os.getuid()
    shared = ssh_hosts.ssh("target", probe(project, remote_python))  # the plain hosts: our own user
    assert shared.returncode == 0 and shared.stdout.splitlines()[-1] == "read it", shared.stdout + shared.stderr


def test_the_test_user_is_made_once(remote_user: RemoteUser) -> None:
    again = ensure_test_user()
    assert again == remote_user and again.name == TEST_USER
    assert (again.home.stat().st_uid, again.home.stat().st_mode & 0o777) == (again.uid, 0o700)
