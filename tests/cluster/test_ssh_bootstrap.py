"""SSH worker hosts bootstrapped like EC2 workers: ``remrepl.cluster(hosts=..., bootstrap=True)`` installs
this remrepl with Dask into a venv on each host (remrepl/cluster/backends/hostprep.py), the workers run it
as the host's user, later clusters find it without ``python=``; a host whose install fails is named.

Against isolated hosts (fixtures ``isolated_ssh_hosts``: the remote side is another user, with the local
index and the wheels it lacks); every host here is that same user, so they share its venv, as hosts with
an NFS home do (the install is locked there: the second host finds it made).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from testhosts import SSHD, RemoteUser, SSHHosts

import remrepl
from remrepl import ClusterError
from remrepl.ssh.bootstrap import STAMP
from tests.support.isolated import BASE_PYTHON
from tests.support.processes import alive, children_of, processes_under
from tests.support.waiting import wait_until

pytestmark = pytest.mark.cluster  # real Dask schedulers and workers


# by value (a lambda: cloudpickle sends it whole), since the workers cannot import tests/
executable = lambda: __import__("sys").executable  # noqa: E731


@pytest.mark.timeout(900)
def test_bootstrap_installs_dask_on_the_hosts_and_later_clusters_find_it(
    isolated_ssh_hosts: SSHHosts, remote_user: RemoteUser, remote_scratch: Path
) -> None:
    w1 = isolated_ssh_hosts.start("w1")
    isolated_ssh_hosts.start("w2")
    venv = remote_scratch / "workers"
    ssh: dict[str, Any] = {"ssh_config": str(isolated_ssh_hosts.ssh_config)}
    with remrepl.cluster(hosts=["w1", "w2"], bootstrap=True, venv=str(venv), python=BASE_PYTHON, **ssh) as cl:
        assert cl.map(lambda x: x * x, range(200)) == [x * x for x in range(200)]  # by value: not in tests/
        assert cl.submit(executable).result(timeout=30) == str(venv / "bin" / "python")
        workers = processes_under(children_of(w1.process.pid), b"remrepl.cluster.remote_worker")
        assert workers and all(os.stat(f"/proc/{pid}").st_uid == remote_user.uid for pid in workers)
    wait_until(lambda: not [pid for pid in workers if alive(pid)], 20, "the remote workers to end")
    stamp = (venv / STAMP).stat().st_mtime_ns

    # No python=, no bootstrap: the interpreter the bootstrap installed into, remembered per host.
    with remrepl.cluster(hosts=["w1"], **ssh) as cl:
        assert cl.submit(executable).result(timeout=30) == str(venv / "bin" / "python")
    # The same code again: the venv is reused as it is (its stamp is not rewritten).
    with remrepl.cluster(hosts=["w2"], bootstrap=True, venv=str(venv), python=BASE_PYTHON, **ssh) as cl:
        assert cl.submit(pow, 2, 10).result(timeout=30) == 1024
    assert (venv / STAMP).stat().st_mtime_ns == stamp


@pytest.mark.timeout(300)
def test_a_host_whose_install_fails_is_named_with_the_reason_and_nothing_runs(
    isolated_ssh_hosts: SSHHosts, remote_scratch: Path
) -> None:
    isolated_ssh_hosts.start("good")
    # pip without an index (and without the machine's pip.conf, which names the local one): no pyzmq
    isolated_ssh_hosts.start("noindex", set_env={"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"})
    ssh: dict[str, Any] = {"ssh_config": str(isolated_ssh_hosts.ssh_config)}
    with pytest.raises(ClusterError) as info:
        remrepl.cluster(hosts=["noindex"], bootstrap=True, venv=str(remote_scratch / "v"), python=BASE_PYTHON, **ssh)
    message = str(info.value)
    assert "failed on 1 of 1 hosts" in message and "noindex:" in message, message
    assert "No matching distribution" in message or "Could not find a version" in message, message
    with pytest.raises(ClusterError, match=r"failed on 2 of 2 hosts") as info:  # every host tried, each named
        remrepl.cluster(
            hosts=["good", "noindex"], bootstrap=True, venv=str(remote_scratch / "w"), python="/nonexistent/py3", **ssh
        )
    lines = str(info.value).splitlines()
    for host in ("good", "noindex"):
        assert any(line.startswith(f"{host}: --bootstrap failed on ") for line in lines), lines
    assert "no Python at '/nonexistent/py3' on the host" in str(info.value)
    assert not processes_under(children_of(os.getpid()), b"remrepl.cluster.remote_worker")
    for sshd in isolated_ssh_hosts.servers.values():
        assert not processes_under(children_of(sshd.process.pid), b"remrepl.cluster.remote_worker")


def test_without_dask_the_head_says_how_to_install_it() -> None:
    import subprocess

    code = (
        "import sys; sys.modules['distributed'] = None\n"  # an interpreter without Dask, as far as import goes
        "from remrepl.cluster.pool import import_distributed\nimport_distributed()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert "%pip install 'remrepl[cluster]'" in done.stderr and "--bootstrap" in done.stderr, done.stderr


@pytest.mark.timeout(300)
def test_a_head_made_by_bootstrap_starts_workers_at_once(
    isolated_sshd: SSHD, isolated_ssh_hosts: SSHHosts, remote_python: str
) -> None:
    """``--bootstrap`` installs the cluster extra (``remote_python`` is such a venv): Dask is there."""
    from remrepl.launchers.ssh.launcher import SSHLauncher

    launcher = SSHLauncher("target", ssh_config=str(isolated_ssh_hosts.ssh_config), remote_python=remote_python)
    launcher.start(60)
    with launcher, launcher.connect() as session:
        code = (
            "import remrepl\nwith remrepl.cluster(workers=1) as cl:\n    squares = cl.map(lambda x: x * x, range(20))\n"
        )
        done = session.run(code, timeout=180)
        assert done.error is None, done
        assert session.run("sum(squares)").value == str(sum(x * x for x in range(20)))
