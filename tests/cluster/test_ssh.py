"""Workers on SSH hosts, against the tests' private sshd on 127.0.0.1 (hosts are ssh_config aliases)."""

from __future__ import annotations

import os
import sys

import pytest
from testhosts import SSHHosts

import remrepl
from remrepl import ClusterError, ConfigError
from remrepl._exceptions import HostKeyError
from tests.support.processes import alive, children_of, processes_under
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster  # real Dask schedulers and workers


def test_workers_on_ssh_hosts_run_a_map_and_leave_nothing_after_close(ssh_hosts: SSHHosts) -> None:
    sshd = ssh_hosts.start("target")
    ssh_hosts.start("other")
    with remrepl.cluster(hosts=["target", "other"], ssh_config=str(ssh_hosts.ssh_config), python=sys.executable) as cl:
        assert "ssh: 2 workers, 2 cores" in repr(cl)
        assert cl.address.startswith("tls://127.0.0.1:")
        names = sorted(w["name"] for w in cl.workers().values())
        assert names == ["other-1", "target-0"]
        assert cl.map(lambda x: x * x, range(500)) == [x * x for x in range(500)]  # by value: not in tests/
        assert cl.submit(pow, 12, 2).result(timeout=30) == 144
        workers = processes_under(children_of(sshd.process.pid), b"remrepl.cluster.remote_worker")
        assert workers  # the remote worker runs under that sshd, as on a real host
        for pid in workers:  # its TLS key came down the channel's stdin
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert b"PRIVATE KEY" not in f.read()
    wait_until(lambda: not [pid for pid in workers if alive(pid)], 20, "the remote workers to end")


def test_an_unknown_host_key_is_refused_and_nothing_is_left(ssh_hosts: SSHHosts) -> None:
    ssh_hosts.start("stranger", known=False)
    with pytest.raises(ClusterError, match="could not start") as info:
        remrepl.cluster(hosts=["stranger"], ssh_config=str(ssh_hosts.ssh_config), python=sys.executable, timeout=30)
    assert isinstance(info.value.__cause__, HostKeyError) or "host key" in str(info.value).lower()
    assert not processes_under(children_of(os.getpid()), b"remrepl.cluster.remote_worker")


def test_a_host_without_remrepl_says_what_to_install(ssh_hosts: SSHHosts) -> None:
    ssh_hosts.start("target")
    with pytest.raises(ClusterError, match=r"remrepl\[cluster\] installed"):
        remrepl.cluster(hosts=["target"], ssh_config=str(ssh_hosts.ssh_config), python="/bin/false", timeout=30)


def test_bad_ssh_arguments_are_refused_up_front() -> None:
    with pytest.raises(ConfigError, match="bad SSH target"):
        remrepl.cluster(hosts=["user@host:notaport"])
    with pytest.raises(ValueError, match="non-empty list"):
        remrepl.cluster(hosts=[])
    with pytest.raises(TypeError, match="bogus"):
        remrepl.cluster(hosts=["w1"], bogus=1)
    with pytest.raises(TypeError, match="SSH options go with hosts="):
        remrepl.cluster(workers=1, ssh_config="x")


def test_the_remote_worker_refuses_a_bad_start_message() -> None:
    import json
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "remrepl.cluster.remote_worker"],
        input="not json\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"].startswith("bad start message from the head node")
