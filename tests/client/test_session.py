"""The Session API's edges: a server that dies under it, a closed session, missing credentials."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from remrepl import ConnectionLost, SessionClosed, connect
from remrepl.client.session import Session
from remrepl.launchers import LocalLauncher


def test_a_server_that_dies_mid_run_is_reported_not_waited_for(launcher: LocalLauncher) -> None:
    assert launcher.info is not None
    session = launcher.connect()
    execution = session.execute("import time; time.sleep(60)")
    threading.Timer(0.5, os.kill, (launcher.info.pid, signal.SIGKILL)).start()
    started = time.monotonic()
    with pytest.raises(ConnectionLost, match="lost the connection"):
        execution.wait(30)
    assert time.monotonic() - started < 15
    assert session.closed


def test_a_closed_session_says_so(session: Session) -> None:
    session.close()
    session.close()  # idempotent
    with pytest.raises(SessionClosed):
        session.run("1")


def test_a_password_is_needed_unless_the_record_holds_a_key(launcher: LocalLauncher) -> None:
    assert launcher.info is not None
    record = dataclasses.replace(launcher.info, client_secret_key=b"")
    with pytest.raises(TypeError, match="password"):
        connect(info=record)
    with pytest.raises(TypeError, match="connection_file or info"):
        connect()


def test_a_launcher_record_reconnects_without_a_password(launcher: LocalLauncher, tmp_path: Path) -> None:
    assert launcher.info is not None
    path = tmp_path / "record.json"
    launcher.info.write(path, include_secret=True)
    with connect(path) as session:
        assert session.run("'again'").value == "'again'"
