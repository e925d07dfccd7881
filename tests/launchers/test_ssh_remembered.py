"""One ``--bootstrap`` is enough: the venv's python is remembered per host (remrepl/ssh/known_pythons.py),
so a later launch to that host needs no flag; an explicit ``remote_python`` wins; a remembered venv that
is gone is one readable line. Against an isolated host (the remote side runs as another user), with a
venv of this test's own in that user's scratch directory: the first bootstrap is real (a minute at most
from the local index)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from testhosts import SSHD, RemoteUser, SSHHosts

from remrepl._exceptions import RemoteEnvironmentError
from remrepl.launchers.ssh.launcher import SSHLauncher
from remrepl.ssh.known_pythons import FILE_NAME
from tests.support.isolated import BASE_PYTHON


def prefix_of(launcher: SSHLauncher) -> str:
    """The remote server's ``sys.prefix`` (its venv)."""
    with launcher, launcher.connect() as session:
        value = session.run("import sys; sys.prefix").value
    assert isinstance(value, str)
    return value


@pytest.mark.timeout(900)
def test_one_bootstrap_is_enough_an_explicit_python_wins_and_a_removed_venv_says_so(
    isolated_sshd: SSHD,
    isolated_ssh_hosts: SSHHosts,
    remote_user: RemoteUser,
    remote_python: str,
    remote_scratch: Path,
    state_dir: Path,
) -> None:
    venv = remote_scratch / "venv"
    said: list[str] = []
    options = {"ssh_config": str(isolated_ssh_hosts.ssh_config), "notify": said.append}
    first = SSHLauncher("target", remote_python=BASE_PYTHON, bootstrap=True, remote_venv=str(venv), **options)  # type: ignore[arg-type]
    first.start(600)
    assert prefix_of(first) == repr(str(venv))
    assert [text for text in said if "installing remrepl" in text], said

    memory = state_dir / FILE_NAME
    assert stat.S_IMODE(os.stat(memory).st_mode) == 0o600
    host = f"{remote_user.name}@127.0.0.1:{isolated_sshd.port}"  # as ssh_config resolves "target"
    assert json.loads(memory.read_text())["hosts"][host]["python"] == str(venv / "bin" / "python")

    said.clear()
    assert prefix_of(_started(SSHLauncher("target", **options))) == repr(str(venv))  # type: ignore[arg-type]
    assert not [text for text in said if "installing" in text], said  # no flag, no install: the venv is used

    explicit = SSHLauncher("target", remote_python=remote_python, **options)  # type: ignore[arg-type]
    assert prefix_of(_started(explicit)) == repr(str(Path(remote_python).parent.parent))

    shutil.rmtree(venv)
    with pytest.raises(RemoteEnvironmentError) as info:
        SSHLauncher("target", **options).start(60)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message, message
    assert f"{venv}/bin/python on {host}, remembered from an earlier --bootstrap, no longer works" in message
    assert "--bootstrap installs remrepl there again" in message


def _started(launcher: SSHLauncher) -> SSHLauncher:
    launcher.start(60)
    return launcher
