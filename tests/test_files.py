"""Private state: the state directory stays private even when it existed before with a looser mode, and
the client key of a record never shows in a repr."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from remrepl._files import state_dir
from remrepl._info import ConnectionInfo
from remrepl.launchers.records import LauncherData, SessionRecord
from remrepl.transport import KeyPair


def test_an_existing_state_directory_open_to_others_is_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SSH keeper's relink socket (``tethers/``), session records and logs rely on it: a directory made
    0755 earlier (by hand, or an older version) must not let other users reach the socket."""
    base = tmp_path / "state"
    (base / "tethers").mkdir(parents=True, mode=0o755)
    (base / "tethers").chmod(0o775)
    monkeypatch.setenv("REMREPL_STATE_DIR", str(base))
    path = state_dir("tethers")
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    assert stat.S_IMODE(state_dir().stat().st_mode) & 0o077 == 0


def test_the_client_key_of_a_record_never_shows_in_a_repr() -> None:
    """Records and launchers hold ``client_secret_key``; a repr ends up in logs, tracebacks and the REPL."""
    keys = KeyPair.generate()
    info = ConnectionInfo("127.0.0.1", 1, keys.public, client_secret_key=keys.secret)
    record = SessionRecord("s", info, LauncherData("local", {}), "local", 0.0)
    for text in (repr(info), str(info), repr(record), repr(keys)):
        assert keys.secret.decode() not in text and "secret_key" not in text
    assert info.to_json(include_secret=True)["client_secret_key"] == keys.secret.decode()
