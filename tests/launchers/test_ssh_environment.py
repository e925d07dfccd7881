"""``SSHLauncher(environment=...)``: non-secret variables for the remote server reach its kernel (the EC2
head's identity, ``REMREPL_EC2_*``), through ``env`` on the remote command line."""

from __future__ import annotations

from testhosts import SSHD, SSHHosts

from remrepl.launchers.ssh.launcher import SSHLauncher


def test_the_environment_reaches_the_kernel(
    isolated_sshd: SSHD, isolated_ssh_hosts: SSHHosts, remote_python: str
) -> None:
    # On an isolated host (its own unprivileged user): nothing of ours can leak in by the shared environment
    environment = {"REMREPL_EC2_CLUSTER": "demo", "REMREPL_EC2_OWNER": "arn:aws:iam::123456789012:user/o'brien x"}
    launcher = SSHLauncher(
        "target", ssh_config=str(isolated_ssh_hosts.ssh_config), remote_python=remote_python, environment=environment
    )
    launcher.start(30)
    with launcher, launcher.connect() as session:
        code = "import os; {k: os.environ.get(k) for k in ('REMREPL_EC2_CLUSTER', 'REMREPL_EC2_OWNER')}"
        assert session.run(code).value == repr(environment)
