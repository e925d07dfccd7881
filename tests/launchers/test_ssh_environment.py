"""``SSHLauncher(environment=...)``: non-secret variables for the remote server reach its kernel (the EC2
head's identity, ``REMREPL_EC2_*``), through ``env`` on the remote command line."""

from __future__ import annotations

import sys

from testhosts import SSHD, SSHHosts

from remrepl.launchers.ssh import SSHLauncher


def test_the_environment_reaches_the_kernel(sshd: SSHD, ssh_hosts: SSHHosts) -> None:
    environment = {"REMREPL_EC2_CLUSTER": "demo", "REMREPL_EC2_OWNER": "arn:aws:iam::123456789012:user/o'brien x"}
    launcher = SSHLauncher(
        "target", ssh_config=str(ssh_hosts.ssh_config), remote_python=sys.executable, environment=environment
    )
    launcher.start(30)
    with launcher, launcher.connect() as session:
        code = "import os; {k: os.environ.get(k) for k in ('REMREPL_EC2_CLUSTER', 'REMREPL_EC2_OWNER')}"
        assert session.run(code).value == repr(environment)
