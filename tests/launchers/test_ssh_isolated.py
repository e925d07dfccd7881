"""The SSH launcher against an isolated host: the remote side logs in as an unprivileged user of its own
(fixtures ``isolated_ssh_hosts``/``isolated_sshd``), so what the remote session sees of this machine is
what a real host would see of the laptop: nothing of the test's files."""

from __future__ import annotations

import os
from pathlib import Path

from testhosts import SSHD, RemoteUser, SSHHosts

import remrepl
from remrepl.launchers.ssh.launcher import SSHLauncher


def test_the_server_runs_as_the_remote_user_and_cannot_open_the_local_project(
    isolated_sshd: SSHD, isolated_ssh_hosts: SSHHosts, remote_user: RemoteUser, remote_python: str, tmp_path: Path
) -> None:
    secret = tmp_path / "project" / "utils.py"
    secret.parent.mkdir()
    secret.write_text("ANSWER = 42\n")
    with remrepl.launch(
        "ssh://target", ssh_config=str(isolated_ssh_hosts.ssh_config), remote_python=remote_python
    ) as server:
        assert isinstance(server, SSHLauncher) and server.info is not None
        assert os.stat(f"/proc/{server.info.pid}").st_uid == remote_user.uid
        with server.connect() as session:
            assert session.run("import os; os.path.expanduser('~')").value == repr(str(remote_user.home))
            refused = session.run(f"open({str(secret)!r}).read()")
            assert refused.error is not None and refused.error.ename == "PermissionError", refused
            sys_path = session.run(f"import sys; sys.path.insert(0, {str(secret.parent)!r}); import utils")
            assert sys_path.error is not None and sys_path.error.ename == "ModuleNotFoundError", sys_path
