"""A host whose SSH server offers no SFTP subsystem (``Subsystem sftp`` missing from its sshd_config, as on
some hardened hosts): ``--bootstrap`` cannot copy remrepl there. ``remrepl up`` and ``connect --launch``
say so in one line naming what the host lacks, exit non-zero, and leave nothing behind."""

from __future__ import annotations

from pathlib import Path

from testhosts import SSHHosts

from tests.support.cli import run_cli
from tests.support.ec2 import ALLOW, leftovers, write_config
from tests.support.processes import server_processes

NO_PYTHON_WITH_REMREPL = "/usr/bin/python3"  # the host's own python: no remrepl, so --bootstrap must ship it


def one_clear_line(stderr: str, host: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if "SFTP" in line]
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("remrepl: ") and host in line, stderr
    assert "offers no SFTP subsystem" in line and "Subsystem sftp" in line, stderr
    return line


def test_connect_launch_bootstrap_to_a_host_without_sftp(
    ssh_hosts: SSHHosts, private_state: Path, tmp_path: Path
) -> None:
    ssh_hosts.start("target", sftp=False)
    venv = tmp_path / "remote-venv"
    result = run_cli(
        "connect",
        "--launch",
        "ssh://target",
        "--ssh-config",
        str(ssh_hosts.ssh_config),
        "--bootstrap",
        "--remote-python",
        NO_PYTHON_WITH_REMREPL,
        "--remote-venv",
        str(venv),
    )
    assert result.returncode != 0
    one_clear_line(result.stderr, "127.0.0.1")
    assert not venv.exists()
    assert server_processes(private_state / "remote") == []


def test_up_with_bootstrap_on_a_head_without_sftp(ssh_hosts: SSHHosts, aws: str, private_state: Path) -> None:
    ssh_hosts.start("head", sftp=False)
    ssh_hosts.map("54.214.*", "head")
    write_config(private_state, ssh_hosts.ssh_config, bootstrap=True, remote_python=NO_PYTHON_WITH_REMREPL)
    result = run_cli("up", "demo", "--yes", "--allow-cidr", ALLOW)
    assert result.returncode != 0
    one_clear_line(result.stderr, "127.0.0.1")  # the head, as the ssh_config maps it
    assert leftovers().none, leftovers()
