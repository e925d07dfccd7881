"""The server and the kernel never import from the working directory they start in (a user's random.py,
json.py, logging.py...): a directory with a module file for every standard-library name, each failing if
imported, and a server launched there (locally, and over SSH) that works as usual."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from testhosts import SSHD, SSHHosts

from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher
from remrepl.launchers.ssh.launcher import SSHLauncher
from tests.support.shadows import imported, modules_from, shadow_stdlib

pytestmark = pytest.mark.server  # starts real servers without the fixtures


def exercise(session: Session, directory: Path) -> None:
    """What a session does with the kernel's own code: runs, a traceback, completion and help (the side
    thread's lazy imports: introspection, jedi), ``!CMD`` (its module imports subprocess late)."""
    assert session.run("21 * 2").value == "42"
    error = session.run("1/0").error
    assert error is not None and error.ename == "ZeroDivisionError"
    assert "os" in session.complete("import o").matches
    session.run("import sys")
    assert "path" in session.complete("sys.pa").matches
    assert session.inspect("len").found
    shell = session.run("__import__('remrepl.server.kernel.shell', fromlist=['run']).run('echo from-the-shell')")
    assert shell.stdout == "from-the-shell\n"
    assert session.run(modules_from(directory)).value == "[]"  # none of the user's files is loaded


def test_a_local_server_started_among_every_stdlib_name(tmp_path: Path) -> None:
    names = shadow_stdlib(tmp_path)
    assert len(names) > 250
    with LocalLauncher(cwd=str(tmp_path)) as launcher, launcher.connect() as session:
        assert session.run("import os; os.getcwd()").value == repr(str(tmp_path))  # it did start there
        exercise(session, tmp_path)
    assert imported(tmp_path) == []


def test_an_ssh_server_started_among_every_stdlib_name(sshd: SSHD, ssh_hosts: SSHHosts, tmp_path: Path) -> None:
    """The remote check, the keeper, the server and the kernel all run in the login's directory (a wrapper
    "Python" moves there first, as a home directory holding the user's files would be)."""
    work = tmp_path / "home"
    work.mkdir()
    shadow_stdlib(work)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\ncd {str(work)!r} && exec {sys.executable!r} "$@"\n')
    python.chmod(0o700)
    launcher = SSHLauncher("target", ssh_config=str(ssh_hosts.ssh_config), remote_python=str(python))
    launcher.start(30)
    with launcher, launcher.connect() as session:
        assert session.run("import os; os.getcwd()").value == repr(str(work))
        exercise(session, work)
    assert imported(work) == []
