"""``--bootstrap``: a remote without remrepl gets this remrepl in a fresh venv, reused the next time (slow: one test).

The remote's pip needs a package index: the local mirror this kind of machine has (``LOCAL_INDEX``), with the
socket guard on. Without one the test is skipped, saying why: tests never reach beyond loopback, pip included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testhosts import SSHHosts

from remrepl._exceptions import RemoteEnvironmentError
from remrepl.launchers.ssh import SSHLauncher

LOCAL_INDEX = Path("/opt/pypi/simple")


@pytest.mark.timeout(600)
def test_bootstrap_installs_into_a_fresh_venv_and_reuses_it(ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    if not LOCAL_INDEX.is_dir():
        pytest.skip(f"no local package index at {LOCAL_INDEX}: bootstrapping would need the network")
    ssh_hosts.start("target", set_env={"PIP_INDEX_URL": LOCAL_INDEX.as_uri()})
    venv = tmp_path / "remote-venv"
    said: list[str] = []
    options = {"ssh_config": str(ssh_hosts.ssh_config), "remote_python": "/usr/bin/python3", "notify": said.append}
    with pytest.raises(RemoteEnvironmentError, match="--bootstrap"):
        SSHLauncher("target", **options).start(30)  # type: ignore[arg-type]
    for _ in range(2):
        launcher = SSHLauncher("target", bootstrap=True, remote_venv=str(venv), **options)  # type: ignore[arg-type]
        launcher.start(60)
        with launcher, launcher.connect() as session:
            assert session.run("import remrepl, sys; sys.prefix").value == repr(str(venv))
        installs = [text for text in said if "installing remrepl" in text]
        assert len(installs) == 1, said  # the second launch reuses the venv
    assert (venv / "bin" / "remrepl").exists()
